//! Server memory per idle authenticated socket: (RSS with N sockets - RSS with none) / N.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::identities::open_socket;
use crate::require_loopback;

/// Options of `sockets`.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// Base WebSocket URL of the server, e.g. ws://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// How many sockets (identities 0..N).
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// The server's process id, to read its memory.
    #[arg(long)]
    server_pid: u32,
    /// Seconds to let the server settle before each reading.
    #[arg(long, default_value_t = 3)]
    settle: u64,
}

/// Handshakes in flight at once.
const CONCURRENT_HANDSHAKES: usize = 200;

pub(crate) fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("process {pid}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS for process {pid}"))
}

/// Opens socket `index` and keeps reading (so pings are answered) until `stop`.
async fn hold_socket(
    url: String,
    index: usize,
    handshake: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut socket = open_socket(&url, index).await?;
    // Open: the next handshake may start.
    drop(handshake);
    open.fetch_add(1, Ordering::Relaxed);
    tokio::select! {
        _ = async { while socket.next().await.is_some() {} } => Err(format!("socket {index} closed by the server")),
        _ = stop.wait_for(|stop| *stop) => Ok(()),
    }
}

pub(crate) async fn run(options: Options) -> Result<(), String> {
    require_loopback(&options.url)?;
    let url = options.url.trim_end_matches('/').to_owned();
    let settle = Duration::from_secs(options.settle);
    tokio::time::sleep(settle).await;
    let before = rss_kib(options.server_pid)?;

    let (stop, stopped) = watch::channel(false);
    let handshakes = Arc::new(Semaphore::new(CONCURRENT_HANDSHAKES));
    let open = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for index in 0..options.count {
        let permit = handshakes
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (url, stopped, open) = (url.clone(), stopped.clone(), open.clone());
        tasks.push(tokio::spawn(hold_socket(url, index, permit, open, stopped)));
    }
    // Bounded wait for every handshake.
    for _ in 0..600 {
        if open.load(Ordering::Relaxed) >= options.count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(settle).await;
    let after = rss_kib(options.server_pid)?;
    let failed = tasks.iter().filter(|task| task.is_finished()).count();
    stop.send_replace(true);
    for task in tasks {
        if let Ok(Err(error)) = task.await {
            eprintln!("{error}");
        }
    }
    if failed > 0 {
        return Err(format!("{failed} sockets ended early"));
    }
    let per_socket = (after.saturating_sub(before)) as f64 / options.count as f64;
    println!(
        "server RSS: {before} KiB with no socket, {after} KiB with {} sockets: {per_socket:.1} KiB per socket",
        options.count
    );
    Ok(())
}
