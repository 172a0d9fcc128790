//! Every answer the suite receives is checked against the OpenAPI document the server under
//! test serves (`GET /openapi.json`): the route and status must be documented, and the body
//! must validate against the schema documented for them. A drifted document fails the suite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

use super::ConformanceTarget;
use super::client::PATIENCE;

/// The documents fetched so far, by base URL: one fetch per server.
static DOCUMENTS: Mutex<Option<HashMap<String, Arc<Value>>>> = Mutex::new(None);

/// Checks one answer of `target` to `method path` (the path below the base URL, query
/// included); panics with the reason if the document does not describe it.
pub async fn check_answer(
    target: &ConformanceTarget,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) {
    let document = document_of(target).await;
    if let Err(why) = check_against(&document, method, path, status, body) {
        panic!(
            "{method} {path} answered {status} {body}, which the OpenAPI document does not allow: {why}"
        );
    }
}

async fn document_of(target: &ConformanceTarget) -> Arc<Value> {
    let cached = DOCUMENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .get(&target.base_url)
        .cloned();
    if let Some(document) = cached {
        return document;
    }
    let response = reqwest::Client::new()
        .get(target.url("/openapi.json"))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status().as_u16(), 200, "GET /openapi.json");
    let document: Arc<Value> = Arc::new(response.json().await.expect("the document is JSON"));
    DOCUMENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(target.base_url.clone(), document.clone());
    document
}

/// Whether `document` allows `status` with `body` as the answer to `method path`.
pub fn check_against(
    document: &Value,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let path = path.split('?').next().unwrap_or_default();
    let path_item = document["paths"]
        .as_object()
        .ok_or("the document has no paths")?
        .iter()
        .find(|(template, _)| matches_template(template, path))
        .map(|(_, item)| item);
    let operation = path_item.and_then(|item| item.get(method.to_ascii_lowercase()));
    let schema = match operation {
        Some(operation) => {
            let answer = operation["responses"]
                .get(status.to_string())
                .ok_or_else(|| format!("status {status} is not documented for this route"))?;
            match answer.pointer("/content/application~1json/schema") {
                Some(schema) => schema.clone(),
                None if body.is_null() => return Ok(()),
                None => return Err("this answer is documented without a body".to_owned()),
            }
        }
        // A route the document does not list: "no such route", in the error format.
        None if status == 404 => json!({"$ref": "#/components/schemas/Error"}),
        // A listed path asked with an unlisted method: 405, in the error format; OPTIONS: 204.
        None if path_item.is_some() && status == 405 => {
            json!({"$ref": "#/components/schemas/Error"})
        }
        None if path_item.is_some() && method == "OPTIONS" && status == 204 && body.is_null() => {
            return Ok(());
        }
        None => return Err("the route is not documented".to_owned()),
    };
    let root = json!({"allOf": [schema], "components": document["components"]});
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .map_err(|error| format!("the documented schema does not compile: {error}"))?;
    validator
        .validate(body)
        .map_err(|error| format!("{error} (at {})", error.instance_path()))
}

/// `/box-users/{id}/ws` matches `/box-users/123/ws`.
fn matches_template(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(expected, actual)| {
            (expected.starts_with('{') && expected.ends_with('}') && !actual.is_empty())
                || expected == actual
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestBed;
    use misakey_box::http::{HttpApi, HttpSettings};

    fn document() -> Value {
        HttpApi::new(TestBed::new().service, HttpSettings::default())
            .openapi()
            .clone()
    }

    #[test]
    fn documented_answers_pass() {
        let document = document();
        let error = json!({"code": "forbidden", "origin": "acr", "desc": "an ACR of at least 1 is required",
                           "details": {"acr": "forbidden", "required_acr": "1"}});
        assert_eq!(
            check_against(&document, "POST", "/box-users/x/contact", 403, &error),
            Ok(())
        );
        assert_eq!(
            check_against(&document, "GET", "/box-users/x/ws?since=1", 403, &error),
            Ok(())
        );
        assert_eq!(
            check_against(&document, "GET", "/healthz", 200, &json!({"status": "ok"})),
            Ok(())
        );
        let no_route = json!({"code": "not_found", "origin": "not_defined", "desc": "no such route", "details": {}});
        assert_eq!(
            check_against(&document, "GET", "/nowhere", 404, &no_route),
            Ok(())
        );
        assert_eq!(
            check_against(&document, "GET", "/box-users/x/contact", 404, &no_route),
            Ok(())
        );
        let other_method = json!({"code": "method_not_allowed", "origin": "not_defined",
                                  "desc": "GET is not served on this path", "details": {}});
        assert_eq!(
            check_against(&document, "GET", "/box-users/x/contact", 405, &other_method),
            Ok(())
        );
        assert_eq!(
            check_against(
                &document,
                "OPTIONS",
                "/box-users/x/contact",
                204,
                &Value::Null
            ),
            Ok(())
        );
    }

    #[tokio::test]
    async fn answers_the_document_does_not_allow_fail() {
        let document = document();
        let error = json!({"code": "forbidden", "origin": "acr", "desc": "d", "details": {}});
        // A status the route does not document.
        assert!(check_against(&document, "GET", "/csrf", 403, &error).is_err());
        // A body of the wrong shape: a word outside the enum, a missing field, an extra field,
        // a malformed UUID.
        let wrong_code = json!({"code": "teapot", "origin": "acr", "desc": "d", "details": {}});
        assert!(
            check_against(&document, "POST", "/box-users/x/contact", 403, &wrong_code).is_err()
        );
        assert!(check_against(&document, "GET", "/csrf", 200, &json!({})).is_err());
        assert!(
            check_against(
                &document,
                "GET",
                "/healthz",
                200,
                &json!({"status": "ok", "extra": 1})
            )
            .is_err()
        );
        assert!(
            check_against(
                &document,
                "GET",
                "/healthz",
                200,
                &json!({"status": "fine"})
            )
            .is_err()
        );
        let bed = TestBed::new();
        let alice = bed.alice_caller().await;
        let created = bed
            .service
            .contact(&alice, &bed.request_to_bob().build())
            .await;
        let mut created = serde_json::to_value(created.unwrap()).unwrap();
        assert_eq!(
            check_against(&document, "POST", "/box-users/x/contact", 201, &created),
            Ok(())
        );
        created["creator"]["id"] = json!("not-a-uuid");
        assert!(check_against(&document, "POST", "/box-users/x/contact", 201, &created).is_err());
        // An undocumented route answering anything but 404.
        assert!(check_against(&document, "GET", "/nowhere", 200, &json!({})).is_err());
        let other_method = json!({"code": "method_not_allowed", "origin": "not_defined",
                                  "desc": "d", "details": {}});
        assert!(check_against(&document, "GET", "/nowhere", 405, &other_method).is_err());
        assert!(check_against(&document, "OPTIONS", "/nowhere", 204, &Value::Null).is_err());
    }
}
