//! The invitee's routes under load: listing notifications from a large inbox, and consuming
//! invitations.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::contacts::{Client, client, contact};
use crate::identities::account;
use crate::{median, require_loopback};

/// Options of `inbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Notifications (and invitations) given to the invitee first, by contacts.
    #[arg(long, default_value_t = 1000)]
    notifications: usize,
    /// Concurrent clients, all the invitee's.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds each listing run lasts.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Listing runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// Identity 0 is the invitee; identities 1..=16 contact it.
const INVITEE: usize = 0;
const SENDERS: usize = 16;

pub(crate) async fn run(options: Options) -> Result<(), String> {
    require_loopback(&options.url)?;
    let url = options.url.trim_end_matches('/').to_owned();
    fill_the_inbox(&url, options.notifications).await?;
    let mut invitee = Vec::new();
    for _ in 0..options.clients {
        invitee.push(Arc::new(client(&url, INVITEE).await?));
    }

    let list = Arc::new(format!(
        "{url}/identities/{}/notifications",
        crate::identities::id(INVITEE)
    ));
    let mut rates = Vec::new();
    for run in 1..=options.runs {
        let seconds = Duration::from_secs(options.seconds);
        let list = list.clone();
        let (done, elapsed) = for_each_client(&invitee, usize::MAX, seconds, move |c, _| {
            let list = list.clone();
            async move { expect(get(&c, &list).await?, 200) }
        })
        .await?;
        let rate = done as f64 / elapsed;
        println!("run {run}: {done} lists of 50 in {elapsed:.2} s = {rate:.0} requests/s");
        rates.push(rate);
    }
    println!(
        "median: {:.0} GET notifications/s ({} stored, {} clients)",
        median(&mut rates),
        options.notifications,
        options.clients
    );

    let actions_url = format!("{url}/accounts/{}/crypto/actions", account(INVITEE));
    let actions: Vec<serde_json::Value> = invitee[0]
        .http
        .get(&actions_url)
        .header("cookie", &invitee[0].cookies)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let paths: Arc<Vec<String>> = Arc::new(
        actions
            .iter()
            .filter_map(|action| action["id"].as_str())
            .map(|id| format!("{actions_url}/{id}"))
            .collect(),
    );
    let (done, elapsed) = for_each_client(
        &invitee,
        paths.len(),
        Duration::from_secs(60),
        move |c, n| {
            let paths = paths.clone();
            async move {
                let response = c
                    .http
                    .delete(&paths[n])
                    .header("cookie", &c.cookies)
                    .header("x-csrf-token", &c.csrf)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                expect(response, 204)
            }
        },
    )
    .await?;
    println!(
        "{done} invitations consumed (DELETE) in {elapsed:.2} s = {:.0} requests/s",
        done as f64 / elapsed
    );
    Ok(())
}

/// Gives the invitee `count` notifications and invitations, from 16 senders at once.
async fn fill_the_inbox(url: &str, count: usize) -> Result<(), String> {
    let mut senders = Vec::new();
    for index in 1..=SENDERS {
        senders.push(Arc::new(client(url, index).await?));
    }
    let started = Instant::now();
    let (done, _) = for_each_client(
        &senders,
        count,
        Duration::from_secs(120),
        |c, n| async move { contact(&c, INVITEE, n).await },
    )
    .await?;
    println!(
        "the invitee has {done} notifications and invitations ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn get(client: &Client, url: &str) -> Result<reqwest::Response, String> {
    client
        .http
        .get(url)
        .header("cookie", &client.cookies)
        .send()
        .await
        .map_err(|e| e.to_string())
}

fn expect(response: reqwest::Response, status: u16) -> Result<(), String> {
    if response.status().as_u16() == status {
        Ok(())
    } else {
        Err(format!("expected {status}, got {}", response.status()))
    }
}

/// Runs `work(client, n)` for n = 0, 1, ... below `count`, each client one request at a time,
/// for at most `limit`; returns how many were done and the seconds it took.
async fn for_each_client<F, Fut>(
    clients: &[Arc<Client>],
    count: usize,
    limit: Duration,
    work: F,
) -> Result<(usize, f64), String>
where
    F: Fn(Arc<Client>, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, next, work) = (client.clone(), next.clone(), work.clone());
            tokio::spawn(async move {
                let mut done = 0usize;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count || started.elapsed() > limit {
                        return Ok::<usize, String>(done);
                    }
                    work(client.clone(), n).await?;
                    done += 1;
                }
            })
        })
        .collect();
    let mut done = 0;
    for worker in workers {
        done += worker.await.map_err(|e| e.to_string())??;
    }
    Ok((done, started.elapsed().as_secs_f64()))
}
