//! What the core measures, through the [`metrics`] facade: a server installs a recorder (the
//! reference server installs `metrics-exporter-prometheus` and serves `GET /metrics`); without
//! one, recording costs next to nothing. The names, all prefixed `misakey_box_`:
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `sockets_open` | gauge | | sockets open now |
//! | `sockets_opened_total` | counter | | sockets opened |
//! | `socket_closes_total` | counter | `code` (a close code, `client`, or `dropped`) | how sockets ended |
//! | `frames_sent_total` | counter | `type` (an update type, `ping`, `close`) | frames sent to clients (handed to their connection) |
//! | `frames_received_total` | counter | | frames received from clients |
//! | `socket_acks_total` | counter | `reset` (`written`, `not_needed`, `failed`) | own acks: reset written before the echo, count known at zero (echoed at once), or no echo |
//! | `socket_gap_fills_total` | counter | | gaps in a socket's live updates filled from the log (a frame waited longer than the in-order wait) |
//! | `http_requests_total` | counter | `route` (the pattern, `/box-users/:id/contact`; `unknown`), `status` | answered requests |
//! | `http_request_duration_seconds` | histogram | `route` | time to answer |
//! | `contacts_total` | counter | `outcome` (`created` or an error code) | contact requests |
//! | `box_events_total` | counter | `outcome` | box event posts |
//! | `outbox_relayed_total` | counter | | updates republished by the relay |
//! | `outbox_unpublished_age_seconds` | gauge | | age of the oldest update this instance may not have published |
//! | `bus_publish_failures_total` | counter | | frames whose live publish failed (kept for the relay when durable) |
//! | `store_batch_retries_total` | counter | | batches of change sets written again after PostgreSQL gave them up for another transaction (a deadlock) |
//! | `introspections_total` | counter | `result` (`active`, `inactive`, `failed`) | requests to the authorization server |
//! | `introspection_cache_total` | counter | `result` (`hit`, `miss`) | token lookups answered by the cache or not |
//! | `token_rechecks_total` | counter | `result` (`active`, `revoked`, `unknown`) | re-checks of open sockets' tokens |

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::domain::UpdateType;
use crate::socket::SocketEnd;

/// A socket started.
pub(crate) fn socket_opened() {
    counter!("misakey_box_sockets_opened_total").increment(1);
    gauge!("misakey_box_sockets_open").increment(1.0);
}

/// A socket ended.
pub(crate) fn socket_closed(end: SocketEnd) {
    gauge!("misakey_box_sockets_open").decrement(1.0);
    let code = match end {
        SocketEnd::Closed(reason) => close_code_label(reason.code()),
        SocketEnd::ClientClosed => "client",
        SocketEnd::SendFailed => "dropped",
    };
    counter!("misakey_box_socket_closes_total", "code" => code).increment(1);
}

fn close_code_label(code: u16) -> &'static str {
    match code {
        1000 => "1000",
        1001 => "1001",
        1009 => "1009",
        1011 => "1011",
        1013 => "1013",
        4001 => "4001",
        _ => "other",
    }
}

/// The kinds of frame counted besides the update types.
const OTHER_FRAME_KINDS: [&str; 3] = ["ping", "close", "other"];

/// Handles of the per-frame counters, taken once: looking a labelled counter up costs an
/// allocation and a hash per call, which thousands of frames a second would pay. Taken at the
/// first frame, so a host installs its recorder before it serves sockets.
struct FrameCounters {
    /// One per [`UpdateType::ALL`], then one per [`OTHER_FRAME_KINDS`].
    sent: Vec<metrics::Counter>,
    received: metrics::Counter,
}

fn frame_kinds() -> impl Iterator<Item = &'static str> {
    UpdateType::ALL
        .iter()
        .map(|kind| kind.as_str())
        .chain(OTHER_FRAME_KINDS)
}

fn frame_counters() -> &'static FrameCounters {
    static COUNTERS: std::sync::OnceLock<FrameCounters> = std::sync::OnceLock::new();
    COUNTERS.get_or_init(|| FrameCounters {
        sent: frame_kinds()
            .map(|kind| counter!("misakey_box_frames_sent_total", "type" => kind))
            .collect(),
        received: counter!("misakey_box_frames_received_total"),
    })
}

/// A frame went to a client: an update type's wire name, `ping` or `close` (else `other`).
pub(crate) fn frame_sent(kind: &'static str) {
    let counters = frame_counters();
    let index = frame_kinds()
        .position(|known| known == kind)
        .unwrap_or(counters.sent.len() - 1);
    counters.sent[index].increment(1);
}

/// The values of `socket_acks_total`'s `reset` label.
const ACK_RESETS: [&str; 3] = ["written", "not_needed", "failed"];

/// An own ack was handled: its reset `written` before the echo, `not_needed` (the count was
/// known at zero: echoed at once), or `failed` (no echo). Handles taken once, as for frames.
pub(crate) fn ack(reset: &'static str) {
    static COUNTERS: std::sync::OnceLock<Vec<metrics::Counter>> = std::sync::OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        ACK_RESETS
            .iter()
            .map(|reset| counter!("misakey_box_socket_acks_total", "reset" => *reset))
            .collect()
    });
    if let Some(index) = ACK_RESETS.iter().position(|known| *known == reset) {
        counters[index].increment(1);
    }
}

/// A socket read a gap in its live updates from the log: the frames around it came out of
/// order and the missing one did not arrive within the in-order wait. Rare unless the server
/// is overloaded; each costs a log read.
pub(crate) fn gap_filled() {
    counter!("misakey_box_socket_gap_fills_total").increment(1);
}

/// A frame came from a client.
pub(crate) fn frame_received() {
    frame_counters().received.increment(1);
}

/// A request was answered.
pub(crate) fn http_request(route: String, status: u16, elapsed: Duration) {
    histogram!("misakey_box_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    counter!("misakey_box_http_requests_total", "route" => route, "status" => status.to_string())
        .increment(1);
}

/// A contact request ended with `outcome` (`created`, or the error code).
pub(crate) fn contact(outcome: &'static str) {
    counter!("misakey_box_contacts_total", "outcome" => outcome).increment(1);
}

/// A box event post ended with `outcome` (`created`, or the error code).
pub(crate) fn box_event(outcome: &'static str) {
    counter!("misakey_box_box_events_total", "outcome" => outcome).increment(1);
}

/// The relay republished `count` updates.
pub(crate) fn relayed(count: usize) {
    counter!("misakey_box_outbox_relayed_total").increment(count as u64);
}

/// Everything this instance committed more than `age` ago is published.
pub(crate) fn unpublished_age(age: Duration) {
    gauge!("misakey_box_outbox_unpublished_age_seconds").set(age.as_secs_f64());
}

/// A live publish of `frames` frames failed.
pub(crate) fn bus_publish_failed(frames: usize) {
    counter!("misakey_box_bus_publish_failures_total")
        .increment(u64::try_from(frames).unwrap_or(u64::MAX));
}

/// A batch of change sets is written again: PostgreSQL gave it up for another transaction.
#[cfg(feature = "sea-orm")]
pub(crate) fn store_batch_retried() {
    counter!("misakey_box_store_batch_retries_total").increment(1);
}

/// An introspection request ended with `result`.
#[cfg(feature = "introspection")]
pub(crate) fn introspection(result: &'static str) {
    counter!("misakey_box_introspections_total", "result" => result).increment(1);
}

/// A token lookup was answered by the cache (`hit`) or needed an introspection (`miss`).
#[cfg(feature = "introspection")]
pub(crate) fn introspection_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    counter!("misakey_box_introspection_cache_total", "result" => result).increment(1);
}

/// A socket's token was re-checked.
pub(crate) fn token_recheck(result: &'static str) {
    counter!("misakey_box_token_rechecks_total", "result" => result).increment(1);
}

/// The outcome label of a use case's result.
pub(crate) fn outcome<T>(result: &Result<T, crate::Error>) -> &'static str {
    match result {
        Ok(_) => "created",
        Err(error) => error.code().as_str(),
    }
}
