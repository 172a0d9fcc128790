//! The body of `POST /boxes/{id}/events`: `{"type", "content"}`.

use serde_json::{Value, json};

use super::{decode_standard_or_url_safe, decode_unpadded_url_safe};
use crate::error::{Detail, Error, ErrorCode, Origin};

/// Largest decoded `encrypted` of a message.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// A valid box event request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoxEventRequest {
    /// `member.join`.
    Join,
    /// `member.leave`.
    Leave,
    /// `msg.text` with its content, `{"encrypted", "public_key"}`, kept as sent.
    Message(Value),
}

/// Validates the body. `type` missing: `{"type": "required"}`; another type: `{"type":
/// "invalid"}`. A `msg.text` content reports every failing field at once: content absent or not
/// an object `{"content": "required"}`; `encrypted` / `public_key` absent `required`, not
/// base64 or empty `malformed`; `encrypted` over 32 KiB decoded `{"content.encrypted":
/// "invalid"}`. Membership events ignore their content.
pub fn parse_box_event(body: &Value) -> Result<BoxEventRequest, Error> {
    let bad = |field: &str, detail: Detail| {
        Error::new(ErrorCode::BadRequest, Origin::Body, "invalid box event")
            .with_detail(field, detail)
    };
    match body.get("type") {
        None | Some(Value::Null) => Err(bad("type", Detail::Required)),
        Some(Value::String(kind)) if kind == "member.join" => Ok(BoxEventRequest::Join),
        Some(Value::String(kind)) if kind == "member.leave" => Ok(BoxEventRequest::Leave),
        Some(Value::String(kind)) if kind == "msg.text" => message(body.get("content")),
        Some(_) => Err(bad("type", Detail::Invalid)),
    }
}

fn message(content: Option<&Value>) -> Result<BoxEventRequest, Error> {
    let Some(Value::Object(fields)) = content else {
        return Err(
            Error::new(ErrorCode::BadRequest, Origin::Body, "invalid box event")
                .with_detail("content", Detail::Required),
        );
    };
    let string = |name: &str| match fields.get(name) {
        None | Some(Value::Null) => Err(Detail::Required),
        Some(Value::String(text)) if !text.is_empty() => Ok(text.as_str()),
        Some(_) => Err(Detail::Malformed),
    };
    let encrypted = string("encrypted").and_then(|text| {
        let bytes = decode_standard_or_url_safe(text).ok_or(Detail::Malformed)?;
        match bytes.len() {
            0 => Err(Detail::Malformed),
            n if n > MAX_MESSAGE_BYTES => Err(Detail::Invalid),
            _ => Ok(text),
        }
    });
    let public_key = string("public_key").and_then(|text| {
        decode_unpadded_url_safe(text)
            .map(|_| text)
            .ok_or(Detail::Malformed)
    });
    match (encrypted, public_key) {
        (Ok(encrypted), Ok(public_key)) => Ok(BoxEventRequest::Message(
            json!({"encrypted": encrypted, "public_key": public_key}),
        )),
        (encrypted, public_key) => {
            let mut error = Error::new(ErrorCode::BadRequest, Origin::Body, "invalid box event");
            if let Err(detail) = encrypted {
                error = error.with_detail("content.encrypted", detail);
            }
            if let Err(detail) = public_key {
                error = error.with_detail("content.public_key", detail);
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(body: Value) -> Value {
        parse_box_event(&body).unwrap_err().to_json()["details"].clone()
    }

    #[test]
    fn types_and_contents() {
        assert_eq!(
            parse_box_event(&json!({"type": "member.join", "content": {"x": 1}})),
            Ok(BoxEventRequest::Join)
        );
        assert_eq!(
            parse_box_event(&json!({"type": "member.leave"})),
            Ok(BoxEventRequest::Leave)
        );
        assert_eq!(
            parse_box_event(
                &json!({"type": "msg.text", "content": {"encrypted": "aGk=", "public_key": "a2V5", "extra": 1}})
            ),
            Ok(BoxEventRequest::Message(
                json!({"encrypted": "aGk=", "public_key": "a2V5"})
            ))
        );
        assert_eq!(details(json!({})), json!({"type": "required"}));
        assert_eq!(
            details(json!({"type": "box.delete"})),
            json!({"type": "invalid"})
        );
        assert_eq!(details(json!({"type": 3})), json!({"type": "invalid"}));
        assert_eq!(
            details(json!({"type": "msg.text"})),
            json!({"content": "required"})
        );
        assert_eq!(
            details(json!({"type": "msg.text", "content": "text"})),
            json!({"content": "required"})
        );
        assert_eq!(
            details(json!({"type": "msg.text", "content": {}})),
            json!({"content.encrypted": "required", "content.public_key": "required"})
        );
        assert_eq!(
            details(
                json!({"type": "msg.text", "content": {"encrypted": "", "public_key": "pad=="}})
            ),
            json!({"content.encrypted": "malformed", "content.public_key": "malformed"})
        );
        assert_eq!(
            details(json!({"type": "msg.text", "content": {"encrypted": "!!", "public_key": 1}})),
            json!({"content.encrypted": "malformed", "content.public_key": "malformed"})
        );
        let big = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            vec![0u8; MAX_MESSAGE_BYTES + 1],
        );
        assert_eq!(
            details(
                json!({"type": "msg.text", "content": {"encrypted": big, "public_key": "a2V5"}})
            ),
            json!({"content.encrypted": "invalid"})
        );
        let fits = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            vec![0u8; MAX_MESSAGE_BYTES],
        );
        assert!(
            parse_box_event(
                &json!({"type": "msg.text", "content": {"encrypted": fits, "public_key": "a2V5"}})
            )
            .is_ok()
        );
    }
}
