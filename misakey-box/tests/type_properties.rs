//! Compile-time checks: the use-case futures and the service can cross threads, so that any
//! multi-threaded server (poem, axum, actix...) can hold them across `.await`.

use misakey_box::{BoxService, Caller, Credentials, SocketSession};
use misakey_box_testkit::TestBed;
use uuid::Uuid;

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn services_and_use_case_futures_are_send() {
    assert_send_sync_static::<BoxService>();
    assert_send_sync_static::<SocketSession>();

    let bed = TestBed::new();
    let caller = Caller {
        identity_id: Uuid::nil(),
        account_id: None,
        acr: 1,
        token_expires_at: None,
    };
    let body = serde_json::json!({});
    assert_send(&bed.service.authorize(Credentials::default(), "id"));
    assert_send(&bed.service.contact(&caller, &body));
    let session = bed.service.socket_session(&caller);
    assert_send(&session.handle_text("{}"));
    assert_send(&session.subscribe());
}
