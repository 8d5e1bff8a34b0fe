#![allow(unreachable_pub)]
//! A throwaway `redis-server` for tests: a free port on 127.0.0.1, no persistence, stopped
//! by its PID when dropped.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sockgate_core::Adapter;
use sockgate_redis::FredConfig;

/// A running `redis-server` owned by the test.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

fn binary() -> Option<String> {
    if let Ok(path) = std::env::var("REDIS_SERVER") {
        return Some(path);
    }
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then(|| "redis-server".to_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl RedisServer {
    /// Starts one, or returns `None` (after saying why) when `redis-server` is not installed:
    /// `apt-get install -y redis-server`, or set `REDIS_SERVER` to its path.
    pub fn start() -> Option<RedisServer> {
        if binary().is_none() {
            eprintln!(
                "SKIPPED: redis-server not found (apt-get install -y redis-server, or set \
                 REDIS_SERVER=/path/to/redis-server)"
            );
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let child = Command::new(binary().expect("redis-server was found"))
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
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL, by PID): clients see the connection drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fred configuration that notices an outage and reconnects within a test's patience.
pub fn fred_config(url: &str) -> FredConfig {
    FredConfig {
        command_timeout: Duration::from_millis(500),
        min_reconnect_delay: Duration::from_millis(50),
        max_reconnect_delay: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        ..FredConfig::new(url)
    }
}

/// Collects log lines, to count how often an outage is reported.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// How many times `needle` was logged.
    pub fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock())
            .matches(needle)
            .count()
    }
}

/// `adapter.server_count()` once it is `n`, or its last value after 5 s. A count on a real
/// Redis converges: a node that just subscribed, or just died, shows a moment later (with two
/// CPU hogs on this 2-core machine, a node whose `subscribed()` had resolved was missing from
/// the first `PUBSUB NUMSUB` in 3 runs of 6; not explained yet).
#[allow(dead_code)] // not every test binary that includes `support` counts servers
pub async fn server_count_reaching(adapter: &dyn Adapter, n: usize) -> usize {
    let mut count = 0;
    for _ in 0..50 {
        count = adapter.server_count().await;
        if count == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count
}
