//! Box events under load: messages per second into a few or many boxes, and the fan-out of
//! one box's messages to a thousand members' sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::contacts::{Client, client};
use crate::delivery::{latencies, open_listeners, percentile};
use crate::identities::{INVITATION_KEY, id};
use crate::publisher::now_us;
use crate::{median, require_loopback};

/// Options of `messages`.
#[derive(Debug, clap::Args)]
pub(crate) struct MessagesOptions {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Boxes of two members each (identity 2b creates box b, identity 2b+1 joins it).
    #[arg(long, default_value_t = 1)]
    boxes: usize,
    /// Concurrent clients posting messages (box and sender taken in turn).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Messages per run.
    #[arg(long, default_value_t = 4000)]
    count: usize,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// Options of `fanout`.
#[derive(Debug, clap::Args)]
pub(crate) struct FanoutOptions {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Members of the box (identities 0..N), each with one socket open.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Messages per second (each reaches every member: frames/s = rate x members).
    #[arg(long, default_value_t = 50)]
    rate: u64,
    /// Seconds of posting (at most 60).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

const RUN_TIME_LIMIT: Duration = Duration::from_secs(60);
const PUBLIC_KEY: &str = "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw";

async fn send(client: &Client, path: &str, body: &Value, expected: u16) -> Result<Value, String> {
    let response = client
        .http
        .post(path)
        .header("cookie", &client.cookies)
        .header("x-csrf-token", &client.csrf)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status == expected {
        Ok(answer)
    } else {
        Err(format!("{path} answered {status}: {answer}"))
    }
}

/// Identity `creator` makes a box with identity `invitee`; returns the box id.
async fn new_box(
    url: &str,
    creator: &Client,
    creator_index: usize,
    invitee: usize,
) -> Result<String, String> {
    let body = json!({
        "contacted_identity_id": id(invitee),
        "box": {"title": "load", "public_key": PUBLIC_KEY},
        "key_share": {
            "misakey_share": "lBHT1vfwFAIBig5Nj+sD+w==",
            "other_share_hash": uuid::Uuid::new_v4().simple().to_string(),
            "encrypted_invitation_key_share": "cGYMzgIO9rc03WoSLAyoiQdLu7he5VbMRImLhRPmwTQ="
        },
        "invitation_data": {INVITATION_KEY: "ZW5jcnlwdGVkIGludml0YXRpb24"}
    });
    let path = format!("{url}/box-users/{}/contact", id(creator_index));
    let created = send(creator, &path, &body, 201).await?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no box id in {created}"))
}

fn message(encrypted: &[u8]) -> Value {
    let encrypted = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(encrypted);
    json!({"type": "msg.text", "content": {"encrypted": encrypted, "public_key": PUBLIC_KEY}})
}

pub(crate) async fn messages(options: MessagesOptions) -> Result<(), String> {
    require_loopback(&options.url)?;
    let url = options.url.trim_end_matches('/').to_owned();
    // Box b: identity 2b creates it with identity 2b+1, which joins.
    let mut members = Vec::new();
    let mut paths = Vec::new();
    for b in 0..options.boxes {
        let (creator, invitee) = (
            Arc::new(client(&url, 2 * b).await?),
            Arc::new(client(&url, 2 * b + 1).await?),
        );
        let box_id = new_box(&url, &creator, 2 * b, 2 * b + 1).await?;
        let path = format!("{url}/boxes/{box_id}/events");
        send(&invitee, &path, &json!({"type": "member.join"}), 201).await?;
        members.push([creator, invitee]);
        paths.push(path);
    }
    println!("{} boxes of 2 members ready", options.boxes);
    let (members, paths) = (Arc::new(members), Arc::new(paths));
    let mut rates = Vec::new();
    for run in 1..=options.runs {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..options.clients)
            .map(|_| {
                let (next, members, paths, count) =
                    (next.clone(), members.clone(), paths.clone(), options.count);
                tokio::spawn(async move {
                    let mut done = 0usize;
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= count || started.elapsed() > RUN_TIME_LIMIT {
                            return Ok::<usize, String>(done);
                        }
                        let b = n % paths.len();
                        let sender = &members[b][(n / paths.len()) % 2];
                        send(sender, &paths[b], &message(b"load message"), 201).await?;
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
        println!("run {run}: {done} messages in {elapsed:.2} s = {rate:.0} messages/s");
        rates.push(rate);
    }
    println!(
        "median: {:.0} msg.text events/s ({} boxes, {} clients)",
        median(&mut rates),
        options.boxes,
        options.clients
    );
    Ok(())
}

/// The send time a fan-out message carries in its `encrypted` content.
fn sent_us(text: &str) -> Option<u64> {
    let start = text.find("\"encrypted\":\"")? + "\"encrypted\":\"".len();
    let encoded = text[start..].split('"').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

pub(crate) async fn fanout(options: FanoutOptions) -> Result<(), String> {
    require_loopback(&options.url)?;
    let url = options.url.trim_end_matches('/').to_owned();
    let seconds = options.seconds.min(60);
    let creator = Arc::new(client(&url, 0).await?);
    let box_id = new_box(&url, &creator, 0, 1).await?;
    let path = Arc::new(format!("{url}/boxes/{box_id}/events"));
    // Identities 1..N join, 16 at a time.
    let joined = Arc::new(AtomicUsize::new(1));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (joined, path, url) = (joined.clone(), path.clone(), url.clone());
            let members = options.members;
            tokio::spawn(async move {
                loop {
                    let index = joined.fetch_add(1, Ordering::Relaxed);
                    if index >= members {
                        return Ok::<(), String>(());
                    }
                    let member = client(&url, index).await?;
                    send(&member, &path, &json!({"type": "member.join"}), 201).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.map_err(|e| e.to_string())??;
    }
    println!("box of {} members ready", options.members);

    let ws_url = format!("ws{}", url.trim_start_matches("http"));
    let listen_for = Duration::from_secs(seconds + 5);
    let (start, listeners) =
        open_listeners(&[ws_url], options.members, listen_for, sent_us).await?;
    let total = options.rate * seconds;
    println!(
        "{} sockets open; posting {} messages/s for {seconds} s ({} frames/s)",
        options.members,
        options.rate,
        options.rate * options.members as u64
    );
    start.send_replace(true);
    let started_at = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate as f64));
    let mut posts = Vec::new();
    for _ in 0..total {
        ticks.tick().await;
        let (creator, path) = (creator.clone(), path.clone());
        posts.push(tokio::spawn(async move {
            let body = message(now_us().to_string().as_bytes());
            send(&creator, &path, &body, 201).await.map(drop)
        }));
    }
    for post in posts {
        post.await.map_err(|e| e.to_string())??;
    }
    let posting = started_at.elapsed().as_secs_f64();
    let (latencies, received) = latencies(listeners).await?;
    // Sockets that received fewer frames than messages were posted, and the fewest received.
    let short = received.iter().filter(|&&n| n < total as usize).count();
    let fewest = received.iter().copied().min().unwrap_or(0);
    if short > 0 {
        println!("{short} sockets received fewer than {total} frames (the fewest: {fewest})");
    }
    let expected = total as usize * options.members;
    println!(
        "posted {total} messages in {posting:.2} s; {} of {expected} frames delivered = {:.0} frames/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / posting,
        percentile(&latencies, 0.50) as f64 / 1000.0,
        percentile(&latencies, 0.99) as f64 / 1000.0,
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
    Ok(())
}
