//! Authorisation of `/box-users/{id}/...` requests: every failure and the order of the checks.

use chrono::TimeDelta;
use misakey_box::ports::TokenInfo;
use misakey_box::{Caller, Config, Credentials};
use misakey_box_testkit::builders::{ALICE_ACCOUNT_ID, ALICE_ID, BOB_ID};
use misakey_box_testkit::{ALICE_TOKEN, TEST_OWNER_ORG_ID, TestBed};
use serde_json::{Value, json};

async fn authorize(
    bed: &TestBed,
    token: Option<&str>,
    token_type: Option<&str>,
    path_id: &str,
) -> Result<Caller, Value> {
    let credentials = Credentials {
        access_token: token,
        token_type,
    };
    bed.service
        .authorize(credentials, path_id)
        .await
        .map_err(|error| error.to_json())
}

fn unauthorized(field: &str, detail: &str) -> Value {
    json!({"code": "unauthorized", "origin": "cookies", "desc": format!("{field} cookie {detail}"), "details": {field: detail}})
}

fn acr_forbidden(required: u8) -> Value {
    json!({
        "code": "forbidden", "origin": "acr", "desc": format!("an ACR of at least {required} is required"),
        "details": {"acr": "forbidden", "required_acr": required.to_string()}
    })
}

fn malformed_path() -> Value {
    json!({"code": "bad_request", "origin": "path", "desc": "the id in the path must be a UUID", "details": {"id": "malformed"}})
}

fn foreign_path() -> Value {
    json!({"code": "forbidden", "origin": "not_defined", "desc": "the id in the path is not the identity of the access token", "details": {}})
}

#[tokio::test]
async fn a_valid_token_on_its_own_path_is_the_caller() {
    let bed = TestBed::new();
    let alice = ALICE_ID.to_string();
    let expected = Caller {
        identity_id: ALICE_ID,
        account_id: Some(ALICE_ACCOUNT_ID),
        acr: 2,
        token_expires_at: None,
    };
    assert_eq!(
        authorize(&bed, Some(ALICE_TOKEN), Some("bearer"), &alice).await,
        Ok(expected)
    );
    assert_eq!(
        authorize(&bed, Some(ALICE_TOKEN), Some("Bearer"), &alice).await,
        Ok(expected),
        "case-insensitive"
    );
}

#[tokio::test]
async fn each_authentication_failure() {
    let bed = TestBed::new();
    let alice = ALICE_ID.to_string();
    assert_eq!(
        authorize(&bed, None, Some("bearer"), &alice).await,
        Err(unauthorized("accesstoken", "required"))
    );
    assert_eq!(
        authorize(&bed, Some(""), Some("bearer"), &alice).await,
        Err(unauthorized("accesstoken", "required"))
    );
    assert_eq!(
        authorize(&bed, Some(ALICE_TOKEN), None, &alice).await,
        Err(unauthorized("tokentype", "invalid"))
    );
    assert_eq!(
        authorize(&bed, Some(ALICE_TOKEN), Some("basic"), &alice).await,
        Err(unauthorized("tokentype", "invalid"))
    );
    assert_eq!(
        authorize(&bed, Some("nope"), Some("bearer"), &alice).await,
        Err(unauthorized("accesstoken", "invalid"))
    );
    bed.tokens.revoke(ALICE_TOKEN);
    assert_eq!(
        authorize(&bed, Some(ALICE_TOKEN), Some("bearer"), &alice).await,
        Err(unauthorized("accesstoken", "invalid"))
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_from_its_expiry_on() {
    let bed = TestBed::new();
    let expires_at = misakey_box_testkit::default_instant() + TimeDelta::seconds(10);
    let info = TokenInfo {
        identity_id: ALICE_ID,
        account_id: None,
        acr: 2,
        expires_at: Some(expires_at),
    };
    bed.tokens.insert("short-lived", info);
    let alice = ALICE_ID.to_string();
    assert!(
        authorize(&bed, Some("short-lived"), Some("bearer"), &alice)
            .await
            .is_ok()
    );
    bed.clock.advance(TimeDelta::seconds(10));
    assert_eq!(
        authorize(&bed, Some("short-lived"), Some("bearer"), &alice).await,
        Err(unauthorized("accesstoken", "invalid"))
    );
}

#[tokio::test]
async fn acr_below_the_required_level_is_forbidden() {
    let bed = TestBed::new();
    bed.tokens.insert(
        "weak",
        TokenInfo {
            identity_id: ALICE_ID,
            account_id: None,
            acr: 0,
            expires_at: None,
        },
    );
    assert_eq!(
        authorize(&bed, Some("weak"), Some("bearer"), &ALICE_ID.to_string()).await,
        Err(acr_forbidden(1))
    );

    let strict = TestBed::with_config(Config::new(TEST_OWNER_ORG_ID).with_required_acr(3));
    assert_eq!(
        authorize(
            &strict,
            Some(ALICE_TOKEN),
            Some("bearer"),
            &ALICE_ID.to_string()
        )
        .await,
        Err(acr_forbidden(3))
    );
}

#[tokio::test]
async fn path_id_must_be_a_uuid_and_the_token_identity() {
    let bed = TestBed::new();
    for malformed in [
        "",
        "alice",
        "a11ce00000004000800000000000000 1",
        &ALICE_ID.simple().to_string(),
    ] {
        assert_eq!(
            authorize(&bed, Some(ALICE_TOKEN), Some("bearer"), malformed).await,
            Err(malformed_path()),
            "{malformed:?}"
        );
    }
    assert_eq!(
        authorize(&bed, Some(ALICE_TOKEN), Some("bearer"), &BOB_ID.to_string()).await,
        Err(foreign_path())
    );
}

#[tokio::test]
async fn checks_run_in_the_documented_order() {
    let bed = TestBed::new();
    bed.tokens.insert(
        "weak",
        TokenInfo {
            identity_id: ALICE_ID,
            account_id: None,
            acr: 0,
            expires_at: None,
        },
    );
    // Token before ACR before path shape before identity match.
    assert_eq!(
        authorize(&bed, None, None, "bad").await,
        Err(unauthorized("accesstoken", "required"))
    );
    assert_eq!(
        authorize(&bed, Some("nope"), Some("bearer"), "bad").await,
        Err(unauthorized("accesstoken", "invalid"))
    );
    assert_eq!(
        authorize(&bed, Some("weak"), Some("bearer"), "bad").await,
        Err(acr_forbidden(1))
    );
    assert_eq!(
        authorize(&bed, Some(ALICE_TOKEN), Some("bearer"), "bad").await,
        Err(malformed_path())
    );
}
