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

mod contacts;
mod delivery;
mod identities;
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
}

/// Refuses targets that are not on this machine.
fn require_loopback(url: &str) -> Result<(), String> {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    if matches!(host, "127.0.0.1" | "localhost" | "[")
        || host.starts_with("127.")
        || url.contains("://[::1]")
    {
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
        Command::Publisher(options) => publisher::run(options).await,
        Command::Delivery(options) => delivery::run(options).await,
    }
}
