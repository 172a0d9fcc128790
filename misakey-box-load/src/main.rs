//! `misakey-box-load`: measures a running misakey-box server from another process, so that
//! server and load can be pinned to cores of their own (`taskset`). Every loop is bounded in
//! count and time, and only loopback addresses are accepted as targets.
//!
//! Subcommands (`--help` on each):
//! - `fixtures`: writes a fixtures file of N identities with tokens `load-0`, `load-1`...;
//! - `contacts`: contacts per second over HTTP with concurrent clients;
//! - `sockets`: server memory per idle authenticated socket, read from `/proc/PID/status`;
//! - `publisher`: an application embedding the routes that publishes updates at a steady
//!   rate when asked (`POST /bench/publish`), through the core's publish API;
//! - `delivery`: opens sockets, has the publisher publish, and reports delivered updates per
//!   second and the publish-to-receive latency.

mod boxes;
mod contacts;
mod delivery;
mod identities;
mod inbox;
mod publisher;
mod sockets;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Load generator and benchmark server for misakey-box (loopback only)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a fixtures file of N identities (accounts, invitation keys, tokens `load-I`).
    Fixtures {
        /// How many identities.
        #[arg(long, default_value_t = 10_016)]
        identities: usize,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Contacts per second over HTTP.
    Contacts(contacts::Options),
    /// Server memory per idle authenticated socket.
    Sockets(sockets::Options),
    /// Serve the routes plus `POST /bench/publish` (an embedding application).
    Publisher(publisher::Options),
    /// Delivered updates per second and latency through sockets.
    Delivery(delivery::Options),
    /// The invitee's routes: listing a large inbox, consuming invitations.
    Inbox(inbox::Options),
    /// msg.text events per second into boxes of two members.
    Messages(boxes::MessagesOptions),
    /// One box's messages fanned out to every member's socket: frames/s and latency.
    Fanout(boxes::FanoutOptions),
}

/// Refuses targets that are not on this machine: 127.0.0.0/8, `localhost` or `[::1]`.
fn require_loopback(url: &str) -> Result<(), String> {
    let authority = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or_default();
    // An IPv6 host is bracketed and holds colons itself: only `[::1]` is loopback.
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let octets: Vec<&str> = host.split('.').collect();
    let ipv4_loopback =
        octets.len() == 4 && octets[0] == "127" && octets.iter().all(|o| o.parse::<u8>().is_ok());
    if ipv4_loopback || host == "localhost" || host == "::1" {
        Ok(())
    } else {
        Err(format!("{url}: only loopback targets are allowed"))
    }
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    match Cli::parse().command {
        Command::Fixtures { identities, out } => identities::write_fixtures(identities, &out),
        Command::Contacts(options) => contacts::run(options).await,
        Command::Sockets(options) => sockets::run(options).await,
        Command::Inbox(options) => inbox::run(options).await,
        Command::Messages(options) => boxes::messages(options).await,
        Command::Fanout(options) => boxes::fanout(options).await,
        Command::Publisher(options) => publisher::run(options).await,
        Command::Delivery(options) => delivery::run(options).await,
    }
}

#[cfg(test)]
mod tests {
    use super::require_loopback;

    #[test]
    fn only_loopback_targets_pass() {
        for url in [
            "http://127.0.0.1:8080",
            "ws://127.1.2.3/x",
            "http://localhost:1",
            "ws://[::1]:8080/ws",
            "127.0.0.1:80",
        ] {
            assert!(require_loopback(url).is_ok(), "{url}");
        }
        for url in [
            "http://10.0.0.1:8080",
            "http://[2001:db8::1]:8080",
            "http://[::2]/",
            "http://127.0.0.1.example.com/",
            "http://localhost.example.com/",
            "http://192.168.1.1",
        ] {
            assert!(require_loopback(url).is_err(), "{url}");
        }
    }
}
