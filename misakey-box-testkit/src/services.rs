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

/// A PostgreSQL server of the test's own, in a fresh data directory on a spare loopback port,
/// for tests that stop the database under a running server (the shared one is never stopped);
/// stopped and its directory removed when dropped.
///
/// Runs the machine's PostgreSQL binaries (`/usr/lib/postgresql/VERSION/bin`); as root, as the
/// `postgres` user, since PostgreSQL refuses to run as root.
#[derive(Debug)]
pub struct SparePostgres {
    port: u16,
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    owner: Option<(u32, u32)>,
    process: Option<Child>,
}

// Test setup: a failure to set the server up is the test's failure, told by the message.
#[allow(clippy::expect_used)]
impl SparePostgres {
    /// Creates and starts one, or `None` (skip) where PostgreSQL's binaries are not
    /// installed, except under `CI=true`, where that is a failure.
    pub fn start() -> Option<Self> {
        let Some(bin) = postgres_binaries() else {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("PostgreSQL's binaries must be installed when CI=true");
            }
            eprintln!("skipped: PostgreSQL's binaries are not installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a spare port");
        let dir = std::env::temp_dir().join(format!(
            "misakey-box-postgres-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the spare PostgreSQL");
        let owner = running_as_root().then(postgres_user);
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the data directory");
        }
        let mut postgres = Self {
            port,
            bin,
            dir,
            owner,
            process: None,
        };
        let data = postgres.dir.join("data");
        let status = postgres
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed: {status}");
        postgres.spawn();
        Some(postgres)
    }

    /// Its URL (user `postgres`, database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(&self.dir);
        if let Some((uid, gid)) = self.owner {
            use std::os::unix::process::CommandExt as _;
            command.uid(uid).gid(gid);
        }
        command
    }

    fn spawn(&mut self) {
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = self
                .command("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the spare PostgreSQL did not accept connections on port {} within 30 s",
            self.port
        )
    }

    /// Stops it the way an operator does (fast shutdown: clients see their connections
    /// end), and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let interrupted = Command::new("kill")
                .args(["-INT", &process.id().to_string()])
                .status()
                .is_ok_and(|status| status.success());
            if !interrupted {
                let _ = process.kill();
            }
            let _ = process.wait();
        }
    }

    /// Starts it again on the same port, with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for SparePostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/VERSION/bin` holding `initdb` and `postgres`.
fn postgres_binaries() -> Option<std::path::PathBuf> {
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// The uid and gid of the `postgres` user (as root, the server runs as it).
#[allow(clippy::expect_used)]
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a postgres user exists where PostgreSQL is installed as root")
    };
    (id("-u"), id("-g"))
}
