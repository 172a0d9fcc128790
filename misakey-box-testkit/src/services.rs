//! The external services tests use: URLs from the environment, and a Redis server of a test's
//! own that it can stop and restart.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming the Redis server tests use (`redis://127.0.0.1:6379`).
pub const REDIS_URL_VAR: &str = "MISAKEY_BOX_TEST_REDIS_URL";

/// The URL in `var`: `None` (the caller skips) when unset, except under `CI=true`, where a
/// missing service is a failure, never a skip.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{var} must be set when CI=true: tests that need it never skip in CI")
        }
        _ => {
            eprintln!("skipped: set {var} to run this test");
            None
        }
    }
}

/// The shared Redis of [`REDIS_URL_VAR`], or `None` to skip.
pub fn redis_url() -> Option<String> {
    service_url(REDIS_URL_VAR)
}

/// A channel prefix of its own for a test, so that tests sharing one Redis never see each
/// other's updates.
pub fn unique_channel_prefix() -> String {
    format!("test-{}:", uuid::Uuid::new_v4().simple())
}

/// A `redis-server` of the test's own on a spare loopback port, keeping nothing on disk;
/// killed when dropped.
#[derive(Debug)]
pub struct SpareRedis {
    port: u16,
    process: Option<Child>,
}

impl SpareRedis {
    /// Starts one, or `None` (skip) where `redis-server` is not installed, except under
    /// `CI=true`, where that is a failure.
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let mut redis = Self {
            port,
            process: None,
        };
        if redis.spawn() {
            Some(redis)
        } else if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("redis-server must be installed when CI=true")
        } else {
            eprintln!("skipped: redis-server is not installed");
            None
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not listen on port {} within 10 s",
            self.port
        )
    }

    /// Kills it (clients see their connections drop).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.spawn(), "redis-server could not be started again");
    }
}

impl Drop for SpareRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
