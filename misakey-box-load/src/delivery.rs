//! Delivered updates per second and publish-to-receive latency, with many sockets open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::identities::open_socket;
use crate::publisher::now_us;
use crate::require_loopback;

/// Options of `delivery`.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// Base URL of the publisher, e.g. http://127.0.0.1:8090.
    #[arg(long)]
    url: String,
    /// More instances to spread the sockets over (round robin with `--url`), e.g. instances
    /// sharing the publisher's Redis.
    #[arg(long)]
    also: Vec<String>,
    /// Sockets to open (identities 0..N).
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Updates published per second.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// Seconds of publishing (at most 60).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// The publish time carried by an update, read without a full JSON parse: the client must
/// stay cheaper than the server, or its own queueing is what the latency measures.
fn sent_us(text: &str) -> Option<u64> {
    let start = text.find("\"sent_us\":")? + "\"sent_us\":".len();
    let digits = text[start..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

pub(crate) fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * fraction) as usize)
        .copied()
        .unwrap_or(0)
}

/// Sockets reading until their deadline: each yields the latencies of the frames it dated.
pub(crate) type Listeners = Vec<tokio::task::JoinHandle<Result<Vec<u64>, String>>>;

/// Opens sockets for identities 0..count (identity i on `ws_urls[i % len]`) and waits until all
/// are open. Once the returned switch is set, each reads for `listen_for` and keeps the
/// publish-to-receive latency of every frame `sent_us` can date.
pub(crate) async fn open_listeners(
    ws_urls: &[String],
    count: usize,
    listen_for: Duration,
    sent_us: fn(&str) -> Option<u64>,
) -> Result<(tokio::sync::watch::Sender<bool>, Listeners), String> {
    let handshakes = Arc::new(Semaphore::new(200));
    let open = Arc::new(AtomicUsize::new(0));
    let (start, started) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for index in 0..count {
        let permit = handshakes
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let ws_url = ws_urls[index % ws_urls.len()].clone();
        let (open, mut started) = (open.clone(), started.clone());
        tasks.push(tokio::spawn(async move {
            let mut socket = open_socket(&ws_url, index).await?;
            drop(permit);
            open.fetch_add(1, Ordering::Relaxed);
            let _ = started.wait_for(|s| *s).await;
            let mut latencies = Vec::new();
            let deadline = tokio::time::Instant::now() + listen_for;
            while let Ok(Some(message)) = tokio::time::timeout_at(deadline, socket.next()).await {
                match message {
                    Ok(Message::Text(text)) => {
                        let received = now_us();
                        if let Some(sent) = sent_us(&text) {
                            latencies.push(received.saturating_sub(sent));
                        }
                    }
                    // Said, so that frames missing from the count have a visible cause.
                    Ok(Message::Close(frame)) => {
                        eprintln!("socket {index} closed by the server: {frame:?}");
                    }
                    Err(error) => eprintln!("socket {index} failed: {error}"),
                    Ok(_) => {}
                }
            }
            Ok::<Vec<u64>, String>(latencies)
        }));
    }
    while open.load(Ordering::Relaxed) < count {
        if tasks.iter().any(|t| t.is_finished()) {
            return Err("a socket failed to open".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((start, tasks))
}

/// Every listener's latencies, sorted, and how many frames each listener received.
pub(crate) async fn latencies(listeners: Listeners) -> Result<(Vec<u64>, Vec<usize>), String> {
    let mut latencies = Vec::new();
    let mut received = Vec::with_capacity(listeners.len());
    for listener in listeners {
        let socket = listener.await.map_err(|e| e.to_string())??;
        received.push(socket.len());
        latencies.extend(socket);
    }
    latencies.sort_unstable();
    Ok((latencies, received))
}

pub(crate) async fn run(options: Options) -> Result<(), String> {
    require_loopback(&options.url)?;
    let url = options.url.trim_end_matches('/').to_owned();
    let mut instances = vec![url.clone()];
    for other in &options.also {
        require_loopback(other)?;
        instances.push(other.trim_end_matches('/').to_owned());
    }
    let ws_urls: Vec<String> = instances
        .iter()
        .map(|u| format!("ws{}", u.trim_start_matches("http")))
        .collect();
    let listen_for = Duration::from_secs(options.seconds + 5);
    let (start, listeners) = open_listeners(&ws_urls, options.sockets, listen_for, sent_us).await?;
    println!(
        "{} sockets open; publishing {} updates/s for {} s",
        options.sockets, options.rate, options.seconds
    );
    start.send_replace(true);
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/bench/publish"))
        .json(&json!({"rate": options.rate, "seconds": options.seconds, "identities": options.sockets}))
        .timeout(Duration::from_secs(options.seconds + 30))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let (latencies, _) = latencies(listeners).await?;
    let published = answer["published"].as_u64().unwrap_or(0);
    let publish_seconds = answer["seconds"].as_f64().unwrap_or(options.seconds as f64);
    println!(
        "published {published} in {publish_seconds:.2} s; delivered {} = {:.0} delivered/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / publish_seconds,
        percentile(&latencies, 0.50) as f64 / 1000.0,
        percentile(&latencies, 0.99) as f64 / 1000.0,
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
    Ok(())
}
