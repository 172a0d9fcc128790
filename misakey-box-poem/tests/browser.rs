//! A real browser (headless Chromium, driven through chromedriver) runs a web app served from
//! another origin than the API: with the allowed origin it reads the CSRF token, opens Bob's
//! socket, contacts Bob as Alice with `fetch`, and Bob's page receives the invitation; from an
//! origin not in the list the same page can neither open a socket nor read an answer, and its
//! contact never reaches the server.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); skipped without
//! them, except under `CI=true`.

mod common;

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use misakey_box::Ports;
use misakey_box::bus::InProcessBus;
use misakey_box::http::HttpSettings;
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::{Auth, head_count};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::{ALICE_TOKEN, BOB_TOKEN};
use serde_json::{Value, json};

/// The web app: a page of functions the test calls through WebDriver.
const APP_PAGE: &str = include_str!("browser/app.html");

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver of the test's own on a spare loopback port; killed when dropped.
struct Chromedriver {
    process: Child,
    url: String,
}

impl Chromedriver {
    fn start() -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            assert!(
                !std::env::var("CI").is_ok_and(|ci| ci == "true"),
                "chromium-driver must be installed when CI=true"
            );
            eprintln!(
                "skipped: {CHROMEDRIVER} is not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = spare_port();
        let process = Command::new(CHROMEDRIVER)
            .args([
                format!("--port={port}"),
                "--allowed-ips=127.0.0.1".to_owned(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A new browser: its own profile, so its own cookies.
    async fn browser(&self) -> Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // As root on a machine without a display or outside network: no sandbox, no GPU,
                // none of the background connections that a closed network refuses.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--disable-quic"],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a chromium session")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn spare_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a spare port")
}

/// Serves the app page on a loopback port of its own: one origin.
async fn serve_app() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let page = poem::endpoint::make_sync(|_| poem::web::Html(APP_PAGE));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(page));
    origin
}

/// The API, allowing `app_origin` only.
async fn serve_api(database: &TestDatabase, app_origin: &str) -> String {
    database.load_fixtures(&fixtures()).await.unwrap();
    let ports = Ports::with_storage(
        Arc::new((**database).clone()),
        Arc::new(InProcessBus::new()),
    );
    let settings = HttpSettings {
        allowed_origins: vec![app_origin.to_owned()],
        ..HttpSettings::default()
    };
    common::serve(ports, settings).await.base_url
}

/// Logs `browser` in at the API (its cookies set for the API's host, as a login page of the
/// deployment would), then opens the app from `app_origin`.
async fn log_in_and_open_app(browser: &Client, api: &str, token: &str, app_origin: &str) {
    browser.goto(&format!("{api}/healthz")).await.unwrap();
    // WebDriver's "add cookie" refuses a domain that is an IP address: set them from a
    // document of the API's host instead, which is what they are scoped to either way.
    for cookie in [
        format!("accesstoken={token}"),
        "tokentype=bearer".to_owned(),
    ] {
        browser
            .execute(
                "document.cookie = arguments[0] + '; path=/';",
                vec![json!(cookie)],
            )
            .await
            .unwrap();
    }
    browser
        .goto(&format!("{app_origin}/app.html?api={api}"))
        .await
        .unwrap();
}

/// Calls the page's function `name` with `args` and waits for the promise it returns.
async fn page_call(browser: &Client, name: &str, args: Vec<Value>) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         {name}(...Array.from(arguments).slice(0, -1)).then(done, (error) => done({{thrown: String(error)}}));"
    );
    browser.execute_async(&script, args).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_of_an_allowed_origin_contacts_and_is_notified_and_another_origin_is_refused() {
    let Some(chromedriver) = Chromedriver::start() else {
        return;
    };
    let app_origin = serve_app().await;
    let other_origin = serve_app().await;
    let database = TestDatabase::sqlite().await;
    let api = serve_api(&database, &app_origin).await;

    let bob_browser = chromedriver.browser().await;
    log_in_and_open_app(&bob_browser, &api, BOB_TOKEN, &app_origin).await;
    assert_eq!(
        page_call(&bob_browser, "openSocket", vec![json!(BOB_ID)]).await,
        json!("open")
    );

    let alice_browser = chromedriver.browser().await;
    log_in_and_open_app(&alice_browser, &api, ALICE_TOKEN, &app_origin).await;
    let csrf = page_call(&alice_browser, "csrfToken", vec![]).await;
    let token = csrf["body"]["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(
        csrf,
        json!({"status": 200, "body": {"csrf_token": token}, "request_id_readable": true})
    );
    let request = ContactRequestBuilder::new(&bob())
        .title("from a browser")
        .build();
    let contacted = page_call(
        &alice_browser,
        "contact",
        vec![json!(ALICE_ID), request.clone(), json!(token)],
    )
    .await;
    assert_eq!(
        (&contacted["status"], &contacted["request_id_readable"]),
        (&json!(201), &json!(true)),
        "{contacted}"
    );
    let box_view = &contacted["body"];
    assert_eq!(box_view["title"], json!("from a browser"));

    // Bob's page received the invitation on its socket.
    let notification = page_call(&bob_browser, "frameOfType", vec![json!("notification")]).await;
    let object = &notification["object"];
    assert_eq!(
        notification,
        json!({
            "seq": notification["seq"],
            "type": "notification",
            "object": {
                "id": object["id"],
                "type": "box.auto_invite",
                "details": {
                    "box_id": box_view["id"],
                    "box_title": "from a browser",
                    "owner_org_id": box_view["owner_org_id"],
                    "cryptoaction_id": object["details"]["cryptoaction_id"],
                },
                "created_at": object["created_at"],
                "acknowledged_at": null,
            }
        })
    );
    assert!(notification["seq"].as_u64().is_some(), "{notification}");

    // The same page from an origin not in the list: no socket, no answer readable, and the
    // contact stops at the preflight (the server never sees it).
    alice_browser
        .goto(&format!("{other_origin}/app.html?api={api}"))
        .await
        .unwrap();
    assert_eq!(
        page_call(&alice_browser, "openSocket", vec![json!(ALICE_ID)]).await,
        json!("refused")
    );
    assert_eq!(
        page_call(&alice_browser, "csrfToken", vec![]).await,
        json!({"refused": "TypeError"})
    );
    assert_eq!(
        page_call(
            &alice_browser,
            "contact",
            vec![json!(ALICE_ID), request, json!(token)]
        )
        .await,
        json!({"refused": "TypeError"})
    );
    let target = ConformanceTarget::new(api);
    assert_eq!(
        head_count(&target, "/boxes/joined", Auth::bearer(ALICE_TOKEN)).await,
        (204, Some(1)),
        "only the allowed origin's contact was written"
    );

    alice_browser.close().await.unwrap();
    bob_browser.close().await.unwrap();
}
