//! `loadgen bench`: starts each server in turn, alternates them (A B C A B C ...) for every
//! scenario, and writes the table, raw JSON and chart.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::coord::{self, RunResult};
use crate::scenario::{Kind, Scenario};
use crate::util::Args;

/// A server under test.
pub(crate) struct Server {
    pub(crate) name: &'static str,
    program: String,
    args: Vec<String>,
    /// Serves only raw Engine.IO (the conformance baseline), so runs only `eio_only` scenarios.
    eio_only: bool,
    /// Can be a node of a Redis cluster (`--redis URL`), so runs the cluster scenarios.
    cluster: bool,
}

impl Server {
    /// Starts the server on `port` with `extra` arguments (a cluster node's `--redis URL`) and
    /// waits (at most 20 s) until it listens.
    fn start(&self, port: u16, extra: &[String], log: &Path) -> Result<Child, String> {
        let out = std::fs::File::create(log).map_err(|e| format!("log file: {e}"))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .args(["--port", &port.to_string()])
            .args(extra)
            .env("PORT", port.to_string())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.name))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "{} exited at start ({st}); see {}",
                    self.name,
                    log.display()
                ));
            }
            if TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                std::thread::sleep(Duration::from_millis(300));
                return Ok(child);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!(
            "{} did not listen on {port} within 20 s",
            self.name
        ))
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("/work/target-bench"), PathBuf::from)
}

/// The servers asked for, and why each missing one is skipped.
fn servers(args: &Args, bench_dir: &Path) -> (Vec<Server>, Vec<String>) {
    let wanted = args
        .str("servers")
        .unwrap_or("sockgate,socketioxide,node,conformance");
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for name in wanted.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bin = |flag: &str, default: PathBuf| args.str(flag).map_or(default, PathBuf::from);
        let (server, missing) = match name {
            "sockgate" => {
                let p = bin("sockgate-bin", target_dir().join("release/bench-server"));
                let ok = p.exists();
                (
                    Server {
                        name: "sockgate",
                        program: p.display().to_string(),
                        args: vec![],
                        eio_only: false,
                        cluster: true,
                    },
                    (!ok).then(|| {
                        format!(
                            "{} not built (cargo build --release -p sockgate-bench-server)",
                            p.display()
                        )
                    }),
                )
            }
            "socketioxide" => {
                let p = bin(
                    "socketioxide-bin",
                    target_dir().join("bench-socketioxide/release/socketioxide-bench-server"),
                );
                let ok = p.exists();
                (
                    Server {
                        name: "socketioxide",
                        program: p.display().to_string(),
                        args: vec![],
                        eio_only: false,
                        cluster: true,
                    },
                    (!ok).then(|| format!("{} not built (see bench/smoke.sh)", p.display())),
                )
            }
            "node" => {
                let dir = args
                    .str("node-dir")
                    .map_or_else(|| bench_dir.join("node-server"), PathBuf::from);
                let has_node = Command::new("node")
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
                // The redis adapter too: an older `npm ci` without it would fail the cluster scenarios.
                let has_mod = dir.join("node_modules/socket.io/package.json").exists()
                    && dir
                        .join("node_modules/@socket.io/redis-adapter/package.json")
                        .exists();
                let why = if !has_node {
                    Some("`node` is not installed".to_string())
                } else if !has_mod {
                    Some(format!("{}/node_modules missing (npm ci)", dir.display()))
                } else {
                    None
                };
                (
                    Server {
                        name: "node",
                        program: "node".into(),
                        args: vec![dir.join("server.js").display().to_string()],
                        eio_only: false,
                        cluster: true,
                    },
                    why,
                )
            }
            "conformance" => {
                let p = bin("conformance-bin", target_dir().join("release/conformance"));
                let ok = p.exists();
                (
                    Server {
                        name: "conformance",
                        program: p.display().to_string(),
                        args: vec![],
                        eio_only: true,
                        cluster: false,
                    },
                    (!ok).then(|| {
                        format!(
                            "{} not built (cargo build --release -p conformance)",
                            p.display()
                        )
                    }),
                )
            }
            other => {
                skipped.push(format!("{other}: unknown server"));
                continue;
            }
        };
        match missing {
            None => found.push(server),
            Some(why) => skipped.push(format!("{name}: skipped, {why}")),
        }
    }
    (found, skipped)
}

/// The scenarios of a full run (sizes chosen so that it stays well under 15 minutes on 2 cores).
fn full_scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();
    for (name, n, rate, procs) in [
        ("idle-1k", 1000, 1000.0, 1),
        ("idle-5k", 5000, 1000.0, 1),
        ("idle-19k", 19000, 1500.0, 2),
    ] {
        let mut s = Scenario::new(name, Kind::Idle, n);
        s.connect_rate = rate;
        s.procs = procs;
        s.duration_s = 3.0;
        s.drain_s = 0.0;
        v.push(s);
    }
    let mut s = Scenario::new("echo-50", Kind::Echo, 50);
    s.rate = 100.0;
    v.push(s);
    for rate in [100.0, 400.0] {
        let mut s = Scenario::new(&format!("broadcast-1000@{rate}"), Kind::Broadcast, 1000);
        s.rate = rate;
        s.senders = 4;
        // One process for the 4 senders, two for the 1,000 receivers.
        s.procs = 3;
        v.push(s);
    }
    let mut s = Scenario::new("rooms-2000x10@1000", Kind::Rooms, 2000);
    s.rate = 1000.0;
    s.room_size = 10;
    s.procs = 2;
    v.push(s);
    let mut s = Scenario::new("polling-50", Kind::Polling, 50);
    s.rate = 50.0;
    s.connect_rate = 200.0;
    v.push(s);
    // Clusters: 2 nodes of one server kind on one redis-server; the 4 senders on node 0, the
    // 996 receivers spread over both; every broadcast reaches all 1,000 clients.
    for rate in [100.0, 400.0] {
        let mut s = Scenario::new(
            &format!("cluster-broadcast-1000@{rate}"),
            Kind::Broadcast,
            1000,
        );
        s.rate = rate;
        s.senders = 4;
        s.procs = 3;
        s.nodes = 2;
        v.push(s);
    }
    let mut s = Scenario::new("eio-idle-5k", Kind::Idle, 5000);
    s.eio_only = true;
    s.path = "/engine.io/".into();
    s.duration_s = 3.0;
    s.drain_s = 0.0;
    v.push(s);
    v
}

/// Every scenario at a tiny size, for the test command.
fn smoke_scenarios() -> Vec<Scenario> {
    let tiny = |name: &str, kind: Kind, n: usize, rate: f64| {
        let mut s = Scenario::new(name, kind, n);
        s.rate = rate;
        s.duration_s = 1.0;
        s.drain_s = 0.5;
        s.settle_s = 0.2;
        s.connect_rate = 500.0;
        s
    };
    let mut v = vec![
        tiny("idle-20", Kind::Idle, 20, 0.0),
        tiny("echo-5", Kind::Echo, 5, 50.0),
        tiny("broadcast-20@50", Kind::Broadcast, 20, 50.0),
        tiny("rooms-40x5@50", Kind::Rooms, 40, 50.0),
        tiny("polling-5", Kind::Polling, 5, 20.0),
        tiny("cluster-broadcast-20@50", Kind::Broadcast, 20, 50.0),
        tiny("eio-idle-20", Kind::Idle, 20, 0.0),
    ];
    v[2].senders = 2;
    v[2].procs = 2;
    v[5].senders = 2;
    v[5].procs = 2;
    v[5].nodes = 2;
    v[3].room_size = 5;
    let last = v.len() - 1;
    v[last].eio_only = true;
    v[last].path = "/engine.io/".into();
    v
}

/// Why a smoke run failed, if it did.
fn smoke_failure(sc: &Scenario, r: &RunResult) -> Option<String> {
    let m = &r.metrics;
    let g = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
    if g("connect_failed") > 0.0 || g("connected") < sc.clients as f64 {
        return Some(format!(
            "{} of {} clients connected",
            g("connected"),
            sc.clients
        ));
    }
    if g("closed_during_run") > 0.0 {
        return Some(format!(
            "{} connections closed during the run",
            g("closed_during_run")
        ));
    }
    match sc.kind {
        Kind::Idle => None,
        Kind::Echo | Kind::Polling => {
            (!(g("round_trips") > 0.0 && g("timeouts") == 0.0)).then(|| {
                format!(
                    "{} round trips, {} timeouts",
                    g("round_trips"),
                    g("timeouts")
                )
            })
        }
        Kind::Broadcast | Kind::Rooms => (!(g("received") > 0.0 && g("loss") <= 0.01))
            .then(|| format!("{} received, loss {:.3}", g("received"), g("loss"))),
    }
}

/// A redis-server of the runner's own for one cluster run: 127.0.0.1 only, no persistence, no
/// other clients; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts `program` on a free port of 28800-28999 and waits (at most 10 s) until it answers
    /// PING.
    fn start(program: &str, log: &Path) -> Result<Redis, String> {
        let port = (28800..29000)
            .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
            .ok_or("no free port in 28800-28999 for redis-server")?;
        let out = std::fs::File::create(log).map_err(|e| format!("log file: {e}"))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {program}: {e}"))?;
        let mut redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = redis.child.try_wait() {
                return Err(format!(
                    "redis-server exited at start ({st}); see {}",
                    log.display()
                ));
            }
            if redis.ping() {
                return Ok(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "redis-server did not answer PING on {port} within 10 s"
        ))
    }

    fn ping(&self) -> bool {
        use std::io::Read as _;
        let Ok(mut s) = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(200),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` (redis-server) can be run here.
fn redis_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One run's server side: the server's process(es) and, for a cluster, its redis-server.
struct Running {
    nodes: Vec<Child>,
    redis: Option<Redis>,
    ports: Vec<u16>,
}

impl Running {
    /// The nodes' pids, then redis-server's.
    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.nodes.iter().map(Child::id).collect();
        pids.extend(self.redis.as_ref().map(|r| r.child.id()));
        pids
    }

    fn stop(mut self) {
        for c in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
        drop(self.redis.take());
    }
}

/// Starts what one run of `sc` needs: the server alone, or `sc.nodes` nodes of it on a fresh
/// redis-server. Every process started is stopped again on failure.
fn start_run(
    server: &Server,
    sc: &Scenario,
    port: &mut u16,
    redis_bin: &str,
    log: &Path,
) -> Result<Running, String> {
    let mut run = Running {
        nodes: Vec::new(),
        redis: None,
        ports: Vec::new(),
    };
    let mut extra = Vec::new();
    if sc.nodes > 1 {
        let redis = Redis::start(redis_bin, &log.with_extension("redis.log"))?;
        extra = vec!["--redis".to_string(), redis.url()];
        run.redis = Some(redis);
    }
    for node in 0..sc.nodes.max(1) {
        let log = if node == 0 {
            log.to_path_buf()
        } else {
            log.with_extension(format!("node{node}.log"))
        };
        let mut started = Err(String::new());
        for _ in 0..3 {
            *port = if *port >= 28700 { 28200 } else { *port + 1 };
            started = server.start(*port, &extra, &log);
            if started.is_ok() {
                break;
            }
        }
        match started {
            Ok(child) => {
                run.nodes.push(child);
                run.ports.push(*port);
            }
            Err(e) => {
                run.stop();
                return Err(e);
            }
        }
    }
    Ok(run)
}

/// Waits (at most `limit`) until the whole machine is busy less than `share` of its CPU, so that
/// other jobs on the shared machine disturb the runs as little as possible; returns the last share.
fn wait_quiet(share: f64, limit: Duration) -> f64 {
    let deadline = Instant::now() + limit;
    loop {
        let b0 = crate::util::machine_busy_s();
        std::thread::sleep(Duration::from_millis(500));
        let busy = (crate::util::machine_busy_s() - b0) / 0.5 / crate::util::ncpus();
        if busy < share || Instant::now() >= deadline {
            return busy;
        }
    }
}

/// Entry point of `loadgen bench`; returns the exit code.
pub(crate) fn main(args: &Args) -> i32 {
    let smoke = args.flag("smoke");
    // The bench/ folder: given by the scripts, else where this package was built from.
    let bench_dir = std::env::var_os("SOCKGATE_BENCH_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        PathBuf::from,
    );
    let out_dir = args.str("out").map_or_else(
        || {
            if smoke {
                std::env::temp_dir().join("sockgate-bench-smoke")
            } else {
                bench_dir.join("results")
            }
        },
        PathBuf::from,
    );
    let rounds: usize = args.num("rounds", if smoke { 1 } else { 2 });
    let max_share: f64 = args.num("max-gen-share", coord::DEFAULT_MAX_GEN_SHARE);
    let (servers, skipped) = servers(args, &bench_dir);
    for s in &skipped {
        println!("{s}");
    }
    if servers.is_empty() {
        eprintln!("no server available");
        return 1;
    }
    let mut scenarios = if smoke {
        smoke_scenarios()
    } else {
        full_scenarios()
    };
    if let Some(only) = args.str("only") {
        let only: Vec<&str> = only.split(',').collect();
        scenarios.retain(|s| only.contains(&s.name.as_str()));
    }
    let logs = std::env::temp_dir().join("sockgate-bench-logs");
    let _ = std::fs::create_dir_all(&logs);
    let _ = std::fs::create_dir_all(&out_dir);
    let started = Instant::now();
    let mut runs: Vec<RunResult> = Vec::new();
    let mut failures = Vec::new();
    // Server ports below the ephemeral range (32768-60999 here), so that the clients' own source
    // ports can never occupy the next server's port.
    let mut port: u16 = 28200;
    let quiet: f64 = args.num("quiet-share", 0.15);
    let quiet_wait: f64 = args.num("quiet-wait", 10.0);
    let redis_bin = args.str("redis-bin").unwrap_or("redis-server").to_string();
    let has_redis = redis_available(&redis_bin);
    for sc in &scenarios {
        if sc.nodes > 1 && !has_redis {
            println!(
                "{}: skipped, `{redis_bin}` cannot be run (apt-get install redis-server)",
                sc.name
            );
            continue;
        }
        let on: Vec<&Server> = servers
            .iter()
            .filter(|s| s.eio_only == sc.eio_only && (sc.nodes <= 1 || s.cluster))
            .collect();
        for round in 1..=rounds {
            for server in &on {
                let log = logs.join(format!("{}-{}-{round}.log", server.name, sc.name));
                let busy_before = if smoke {
                    0.0
                } else {
                    wait_quiet(quiet, Duration::from_secs_f64(quiet_wait))
                };
                print!(
                    "[{:>6.1}s] {:<22} {:<13} round {round}: ",
                    started.elapsed().as_secs_f64(),
                    sc.name,
                    server.name
                );
                let _ = std::io::stdout().flush();
                let running = match start_run(server, sc, &mut port, &redis_bin, &log) {
                    Ok(r) => r,
                    Err(e) => {
                        println!("FAILED to start: {e}");
                        failures.push(format!("{} {}: {e}", sc.name, server.name));
                        continue;
                    }
                };
                let outcome = coord::run(sc, &running.pids(), &running.ports, max_share).map(
                    |(mut m, r, e)| {
                        m.insert("busy_before_share".into(), busy_before);
                        (m, r, e)
                    },
                );
                running.stop();
                match outcome {
                    Ok((metrics, refused, error)) => {
                        let r = RunResult {
                            scenario: sc.name.clone(),
                            server: server.name.to_string(),
                            round,
                            metrics,
                            refused,
                            error,
                        };
                        println!("{}", crate::report::one_line(sc, &r));
                        if smoke {
                            if let Some(why) = smoke_failure(sc, &r) {
                                println!(
                                    "    SMOKE FAILURE: {why}{}",
                                    r.error
                                        .as_deref()
                                        .map(|e| format!(" (first error: {e})"))
                                        .unwrap_or_default()
                                );
                                failures.push(format!("{} {}: {why}", sc.name, server.name));
                            }
                        }
                        runs.push(r);
                    }
                    Err(e) => {
                        println!("FAILED: {e}");
                        failures.push(format!("{} {}: {e}", sc.name, server.name));
                    }
                }
            }
        }
    }
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    if let Err(e) = crate::report::write_all(
        &out_dir, &scenarios, &names, &runs, rounds, max_share, &skipped, smoke,
    ) {
        eprintln!("writing results: {e}");
        return 1;
    }
    println!(
        "results in {} ({:.0} s)",
        out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        println!("{} passed, 0 failed", runs.len());
        0
    } else {
        for f in &failures {
            println!("FAILED: {f}");
        }
        println!(
            "{} passed, {} failed",
            runs.len().saturating_sub(failures.len()),
            failures.len()
        );
        1
    }
}
