//! Every rule of the contact body (`docs/protocol.md`, "Contact"), with a passing and a failing
//! case.

use misakey_box::validation::{
    AES_RSA_KEY_PREFIX, ContactRequest, DefaultKeySharePolicy, KeySharePolicy, NaclKeySharePolicy,
};
use misakey_box_testkit::builders::{
    ALICE_ID, BOB_ID, BOB_INVITATION_KEY, ContactRequestBuilder, SAMPLE_ENCRYPTED_INVITATION,
    SPEC_BOX_PUBLIC_KEY, SPEC_ENCRYPTED_INVITATION_KEY_SHARE, SPEC_MISAKEY_SHARE,
    SPEC_OTHER_SHARE_HASH, bob,
};
use serde_json::{Value, json};

fn parse(body: &Value) -> Result<ContactRequest, Value> {
    parse_with(body, &DefaultKeySharePolicy)
}

fn parse_with(body: &Value, policy: &dyn KeySharePolicy) -> Result<ContactRequest, Value> {
    ContactRequest::parse(body, ALICE_ID, policy).map_err(|error| error.to_json())
}

fn invalid(details: Value) -> Value {
    json!({"code": "bad_request", "origin": "body", "desc": "invalid contact request", "details": details})
}

fn valid() -> ContactRequestBuilder {
    ContactRequestBuilder::new(&bob())
}

#[test]
fn the_spec_example_passes_the_default_policy() {
    let body = json!({
        "contacted_identity_id": BOB_ID,
        "box": {"title": "User1 - User2", "public_key": "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw"},
        "key_share": {
            "misakey_share": "lBHT1vfwFAIBig5Nj+sD+w==",
            "other_share_hash": "Nz4nJMj5DOd4UGXXOlH8Ww",
            "encrypted_invitation_key_share": "cGYMzgIO9rc03WoSLAyoiQdLu7he5VbMRImLhRPmwTQ="
        },
        "invitation_data": {BOB_INVITATION_KEY: SAMPLE_ENCRYPTED_INVITATION}
    });
    assert_eq!(
        parse(&body),
        Ok(ContactRequest {
            contacted_identity_id: BOB_ID,
            box_title: "User1 - User2".to_owned(),
            box_public_key: SPEC_BOX_PUBLIC_KEY.to_owned(),
            misakey_share: SPEC_MISAKEY_SHARE.to_owned(),
            other_share_hash: SPEC_OTHER_SHARE_HASH.to_owned(),
            encrypted_invitation_key_share: SPEC_ENCRYPTED_INVITATION_KEY_SHARE.to_owned(),
            invitation_public_key: BOB_INVITATION_KEY.to_owned(),
            encrypted_invitation: SAMPLE_ENCRYPTED_INVITATION.to_owned(),
        })
    );
    assert_eq!(
        parse(&ContactRequestBuilder::spec_example(&bob()).build()).map(|r| r.box_title),
        Ok("User1 - User2".to_owned())
    );
}

#[test]
fn the_original_identity_id_name_is_accepted_and_unknown_fields_are_ignored() {
    let body = valid()
        .remove("contacted_identity_id")
        .set("identity_id", BOB_ID.to_string())
        .set("extra", json!({"x": 1}))
        .build();
    assert_eq!(parse(&body).map(|r| r.contacted_identity_id), Ok(BOB_ID));
}

#[test]
fn every_failure_is_reported_at_once() {
    assert_eq!(
        parse(&json!({})),
        Err(invalid(json!({
            "contacted_identity_id": "required",
            "box.title": "required",
            "box.public_key": "required",
            "key_share.misakey_share": "required",
            "key_share.other_share_hash": "required",
            "key_share.encrypted_invitation_key_share": "required",
            "invitation_data": "required",
        })))
    );
}

#[test]
fn a_body_that_is_not_an_object_is_refused() {
    for body in [json!([]), json!("text"), json!(null), json!(3)] {
        assert_eq!(
            parse(&body),
            Err(
                json!({"code": "bad_request", "origin": "body", "desc": "the body must be a JSON object", "details": {}})
            ),
            "{body}"
        );
    }
}

/// One field set to `value`: `Ok` if accepted, else the detail reported for `field`.
fn detail_for(field: &str, value: Value) -> Result<(), Value> {
    parse(&valid().set(field, value).build())
        .map(drop)
        .map_err(|error| {
            assert_eq!(
                error["details"].as_object().map(|d| d.len()),
                Some(1),
                "only {field} should fail: {error}"
            );
            error["details"][field].clone()
        })
}

#[test]
fn contacted_identity_id_rules() {
    assert_eq!(detail_for("contacted_identity_id", json!(BOB_ID)), Ok(()));
    assert_eq!(
        detail_for("contacted_identity_id", json!("")),
        Err(json!("required"))
    );
    assert_eq!(
        detail_for("contacted_identity_id", json!(null)),
        Err(json!("required"))
    );
    assert_eq!(
        detail_for("contacted_identity_id", json!("not-a-uuid")),
        Err(json!("malformed"))
    );
    assert_eq!(
        detail_for("contacted_identity_id", json!(42)),
        Err(json!("malformed"))
    );
    // Only the canonical hyphenated spelling is a UUID here.
    assert_eq!(
        detail_for("contacted_identity_id", json!(BOB_ID.simple().to_string())),
        Err(json!("malformed"))
    );
    assert_eq!(
        detail_for("contacted_identity_id", json!(ALICE_ID)),
        Err(json!("invalid")),
        "contacting oneself"
    );
}

#[test]
fn title_rules() {
    assert_eq!(detail_for("box.title", json!("t")), Ok(()));
    assert_eq!(
        detail_for("box.title", json!("é".repeat(50))),
        Ok(()),
        "50 two-byte characters"
    );
    assert_eq!(
        detail_for("box.title", json!("🦀".repeat(50))),
        Ok(()),
        "50 four-byte characters"
    );
    assert_eq!(
        detail_for("box.title", json!("a".repeat(51))),
        Err(json!("invalid"))
    );
    assert_eq!(detail_for("box.title", json!("")), Err(json!("required")));
    assert_eq!(detail_for("box.title", json!(12)), Err(json!("invalid")));
    assert_eq!(
        parse(&valid().remove("box.title").build()).unwrap_err()["details"],
        json!({"box.title": "required"})
    );
}

#[test]
fn box_public_key_rules() {
    assert_eq!(
        detail_for("box.public_key", json!(SPEC_BOX_PUBLIC_KEY)),
        Ok(())
    );
    assert_eq!(
        detail_for(
            "box.public_key",
            json!(format!("{AES_RSA_KEY_PREFIX}{SPEC_BOX_PUBLIC_KEY}"))
        ),
        Ok(())
    );
    assert_eq!(
        detail_for("box.public_key", json!("")),
        Err(json!("required"))
    );
    assert_eq!(
        detail_for("box.public_key", json!("SXval+kvh/uhcj2U")),
        Err(json!("malformed")),
        "standard alphabet"
    );
    assert_eq!(
        detail_for("box.public_key", json!(format!("{SPEC_BOX_PUBLIC_KEY}="))),
        Err(json!("malformed")),
        "padded"
    );
    assert_eq!(
        detail_for("box.public_key", json!(["k"])),
        Err(json!("malformed"))
    );
}

#[test]
fn share_rules() {
    for field in [
        "key_share.misakey_share",
        "key_share.encrypted_invitation_key_share",
    ] {
        assert_eq!(
            detail_for(field, json!("lBHT1vfwFAIBig5Nj+sD+w==")),
            Ok(()),
            "{field} standard padded"
        );
        assert_eq!(
            detail_for(field, json!("lBHT1vfwFAIBig5Nj-sD-w")),
            Ok(()),
            "{field} url-safe unpadded"
        );
        assert_eq!(
            detail_for(field, json!("")),
            Err(json!("required")),
            "{field}"
        );
        assert_eq!(
            detail_for(field, json!("not base64!")),
            Err(json!("malformed")),
            "{field}"
        );
        assert_eq!(
            detail_for(field, json!("===")),
            Err(json!("malformed")),
            "{field} decodes to nothing"
        );
        assert_eq!(
            detail_for(field, json!(true)),
            Err(json!("malformed")),
            "{field}"
        );
    }
}

#[test]
fn other_share_hash_rules() {
    let field = "key_share.other_share_hash";
    assert_eq!(detail_for(field, json!(SPEC_OTHER_SHARE_HASH)), Ok(()));
    assert_eq!(detail_for(field, json!("")), Err(json!("required")));
    assert_eq!(
        detail_for(field, json!(format!("{SPEC_OTHER_SHARE_HASH}=="))),
        Err(json!("malformed")),
        "padded"
    );
    assert_eq!(
        detail_for(field, json!("Nz4nJMj5+Od4UGXXOlH8Ww")),
        Err(json!("malformed")),
        "standard alphabet"
    );
}

#[test]
fn invitation_data_rules() {
    assert_eq!(
        detail_for("invitation_data", json!({BOB_INVITATION_KEY: "ZW5j"})),
        Ok(())
    );
    assert_eq!(
        detail_for("invitation_data", json!(null)),
        Err(json!("required"))
    );
    assert_eq!(
        detail_for("invitation_data", json!({})),
        Err(json!("required"))
    );
    assert_eq!(
        detail_for("invitation_data", json!({"a": "x", "b": "y"})),
        Err(json!("invalid")),
        "two entries"
    );
    assert_eq!(
        detail_for("invitation_data", json!({BOB_INVITATION_KEY: 3})),
        Err(json!("invalid")),
        "not a string"
    );
    assert_eq!(
        detail_for("invitation_data", json!({BOB_INVITATION_KEY: ""})),
        Err(json!("invalid")),
        "empty action"
    );
    assert_eq!(
        detail_for("invitation_data", json!({"": "ZW5j"})),
        Err(json!("invalid")),
        "empty key"
    );
    assert_eq!(
        detail_for("invitation_data", json!("ZW5j")),
        Err(json!("invalid")),
        "not an object"
    );
}

#[test]
fn sections_that_are_not_objects_count_as_missing() {
    let body = valid()
        .set("box", "oops")
        .set("key_share", json!([1]))
        .build();
    assert_eq!(
        parse(&body),
        Err(invalid(json!({
            "box.title": "required",
            "box.public_key": "required",
            "key_share.misakey_share": "required",
            "key_share.other_share_hash": "required",
            "key_share.encrypted_invitation_key_share": "required",
        })))
    );
}

#[test]
fn the_nacl_policy_checks_sizes() {
    let key_32 = "QWxpY2VOb25JZGVudGlmaWVkUHVibGljS2V5MzJieXQ";
    let hash_64 = "A".repeat(86);
    let nacl_sized = valid()
        .set("box.public_key", key_32)
        .set("key_share.misakey_share", key_32)
        .set("key_share.encrypted_invitation_key_share", key_32)
        .set("key_share.other_share_hash", hash_64)
        .build();
    assert!(parse_with(&nacl_sized, &NaclKeySharePolicy).is_ok());
    // The spec's example has 16-byte shares and hash: shaped right, sized wrong.
    assert_eq!(
        parse_with(
            &ContactRequestBuilder::spec_example(&bob()).build(),
            &NaclKeySharePolicy
        ),
        Err(invalid(json!({
            "key_share.misakey_share": "malformed",
            "key_share.other_share_hash": "malformed",
        })))
    );
}
