//! Contacts per second over HTTP: each client is one identity contacting another.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::identities::{INVITATION_KEY, id, token};
use crate::{median, require_loopback};

/// Options of `contacts`.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Concurrent clients (identities 0..N contact identity N).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Contacts per run.
    #[arg(long, default_value_t = 4000)]
    count: usize,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const RUN_TIME_LIMIT: Duration = Duration::from_secs(60);

pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    /// `accesstoken`, `tokentype` and `csrftoken`.
    pub(crate) cookies: String,
    /// The CSRF token, for the `X-CSRF-Token` header.
    pub(crate) csrf: String,
    path: String,
}

/// Identity `index` as a client of the server at `url`, with its CSRF token.
pub(crate) async fn client(url: &str, index: usize) -> Result<Client, String> {
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{url}/csrf"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|c| c.starts_with("csrftoken=")))
        .ok_or("no csrftoken cookie")?
        .to_owned();
    let csrf = cookie.trim_start_matches("csrftoken=").to_owned();
    Ok(Client {
        http,
        cookies: format!("accesstoken={}; tokentype=bearer; {cookie}", token(index)),
        csrf,
        path: format!("{url}/box-users/{}/contact", id(index)),
    })
}

/// `client` contacts identity `target` (the `n`th contact of a run).
pub(crate) async fn contact(client: &Client, target: usize, n: usize) -> Result<(), String> {
    let body = json!({
        "contacted_identity_id": id(target),
        "box": {"title": format!("load {n}"), "public_key": "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw"},
        "key_share": {
            "misakey_share": "lBHT1vfwFAIBig5Nj+sD+w==",
            "other_share_hash": uuid::Uuid::new_v4().simple().to_string(),
            "encrypted_invitation_key_share": "cGYMzgIO9rc03WoSLAyoiQdLu7he5VbMRImLhRPmwTQ="
        },
        "invitation_data": {INVITATION_KEY: "ZW5jcnlwdGVkIGludml0YXRpb24"}
    });
    let response = client
        .http
        .post(&client.path)
        .header("cookie", &client.cookies)
        .header("x-csrf-token", &client.csrf)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        201 => Ok(()),
        status => Err(format!(
            "contact answered {status}: {}",
            response.text().await.unwrap_or_default()
        )),
    }
}

pub(crate) async fn run(options: Options) -> Result<(), String> {
    require_loopback(&options.url)?;
    let url = options.url.trim_end_matches('/').to_owned();
    let mut clients = Vec::new();
    for index in 0..options.clients {
        clients.push(Arc::new(client(&url, index).await?));
    }
    let mut rates = Vec::new();
    for run in 1..=options.runs {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = clients
            .iter()
            .map(|client| {
                let (client, next, count, target) =
                    (client.clone(), next.clone(), options.count, options.clients);
                tokio::spawn(async move {
                    let mut done = 0usize;
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= count || started.elapsed() > RUN_TIME_LIMIT {
                            return Ok::<usize, String>(done);
                        }
                        contact(&client, target, n).await?;
                        done += 1;
                    }
                })
            })
            .collect();
        let mut done = 0;
        for worker in workers {
            done += worker.await.map_err(|e| e.to_string())??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed;
        println!("run {run}: {done} contacts in {elapsed:.2} s = {rate:.0} contacts/s");
        rates.push(rate);
    }
    println!(
        "median: {:.0} contacts/s ({} clients, {} contacts per run)",
        median(&mut rates),
        options.clients,
        options.count
    );
    Ok(())
}
