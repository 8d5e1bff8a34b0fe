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
    /// Its column in the tables: `sockgate`, `socketioxide`, `node`, `conformance`, or a variant
    /// such as `sockgate:coalesce=20`.
    pub(crate) name: String,
    program: String,
    args: Vec<String>,
    /// Environment the process is started with (a variant's setting).
    env: Vec<(String, String)>,
    /// A variant of a server with one documented setting changed: run only where that setting
    /// matters (the single-server broadcast scenarios), next to the default.
    variant: bool,
    /// Serves only raw Engine.IO (the conformance baseline), so runs only `eio_only` scenarios.
    /// (The fields below are what `servers` fills in.)
    eio_only: bool,
    /// Can be a node of a Redis cluster (`--redis URL`), so runs the cluster scenarios.
    cluster: bool,
}

impl Server {
    /// Starts the server on `port` with `extra` arguments (a cluster node's `--redis URL`, the
    /// scenario's [`Scenario::server_args`]) and waits (at most 20 s) until it listens.
    fn start(&self, port: u16, extra: &[String], log: &Path) -> Result<Child, String> {
        let out = std::fs::File::create(log).map_err(|e| format!("log file: {e}"))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .args(["--port", &port.to_string()])
            .args(extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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
                // Still running: the answer came from our server, not from another process
                // holding the port (another bench run on this shared machine), which would
                // make ours exit with "address in use".
                if let Ok(Some(st)) = child.try_wait() {
                    return Err(format!(
                        "{} exited at start ({st}); see {}",
                        self.name,
                        log.display()
                    ));
                }
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

/// The servers of a full run when `--servers` is not given: the three, sockgate once more with a
/// 20 ms write-coalescing window (the latency budget the broadcast targets name), and the raw
/// Engine.IO baseline.
pub(crate) const DEFAULT_SERVERS: &str =
    "sockgate,sockgate:coalesce=20,socketioxide,node,conformance";

/// The environment of a sockgate variant `sockgate:SETTING=VALUE`: the settings the bench server
/// reads from its environment. `None` for an unknown setting or a bad value.
fn sockgate_variant(spec: &str) -> Option<Vec<(String, String)>> {
    let (key, value) = spec.split_once('=')?;
    match key {
        "coalesce" => {
            let ms: u64 = value.parse().ok()?;
            Some(vec![(
                "SOCKGATE_WRITE_COALESCING_MS".to_string(),
                ms.to_string(),
            )])
        }
        _ => None,
    }
}

/// Whether `server` runs scenario `sc`.
fn runs_on(server: &Server, sc: &Scenario) -> bool {
    server.eio_only == sc.eio_only
        && (sc.nodes <= 1 || server.cluster)
        && (!server.variant || (sc.kind == Kind::Broadcast && sc.nodes <= 1))
}

/// The servers asked for, and why each missing one is skipped.
fn servers(args: &Args, bench_dir: &Path) -> (Vec<Server>, Vec<String>) {
    let wanted = args.str("servers").unwrap_or(DEFAULT_SERVERS);
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for name in wanted.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bin = |flag: &str, default: PathBuf| args.str(flag).map_or(default, PathBuf::from);
        let (server, missing) = match name {
            _ if name == "sockgate" || name.starts_with("sockgate:") => {
                let env = match name.strip_prefix("sockgate:") {
                    None => Vec::new(),
                    Some(spec) => match sockgate_variant(spec) {
                        Some(env) => env,
                        None => {
                            skipped.push(format!(
                                "{name}: unknown variant (known: sockgate:coalesce=MS)"
                            ));
                            continue;
                        }
                    },
                };
                let p = bin("sockgate-bin", target_dir().join("release/bench-server"));
                let ok = p.exists();
                (
                    Server {
                        name: name.to_string(),
                        program: p.display().to_string(),
                        args: vec![],
                        variant: !env.is_empty(),
                        env,
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
                        name: "socketioxide".into(),
                        program: p.display().to_string(),
                        args: vec![],
                        env: vec![],
                        variant: false,
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
                // The redis adapter and the msgpack parser too: an older `npm ci` without them
                // would fail the cluster and msgpack scenarios.
                let has_mod = [
                    "socket.io",
                    "@socket.io/redis-adapter",
                    "socket.io-msgpack-parser",
                ]
                .iter()
                .all(|m| dir.join(format!("node_modules/{m}/package.json")).exists());
                let why = if !has_node {
                    Some("`node` is not installed".to_string())
                } else if !has_mod {
                    Some(format!("{}/node_modules missing (npm ci)", dir.display()))
                } else {
                    None
                };
                (
                    Server {
                        name: "node".into(),
                        program: "node".into(),
                        args: vec![dir.join("server.js").display().to_string()],
                        env: vec![],
                        variant: false,
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
                        name: "conformance".into(),
                        program: p.display().to_string(),
                        args: vec![],
                        env: vec![],
                        variant: false,
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

/// The 64 KiB broadcast scenario's name.
const BROADCAST_64K: &str = "broadcast64k-200@20";
/// The rooms scenario's name: 2,000 clients in 200 rooms (of 10).
const ROOMS_2000X200: &str = "rooms-2000x200";

/// The scenario a `--only` name means: the current names, and the older or shorter names they
/// replace (`rooms-2000x10@1000`, the rooms scenario's name before issue 14; `broadcast64k`).
fn canonical_name(name: &str) -> &str {
    match name.trim() {
        "rooms-2000x10@1000" => ROOMS_2000X200,
        "broadcast64k" => BROADCAST_64K,
        other => other,
    }
}

/// The scenarios of a full run (sizes chosen so that it stays under about 25 minutes on 2 cores).
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
    // The echo of echo-50 with a 4 KiB binary attachment per event (and per ack).
    let mut s = Scenario::new("binary-50", Kind::Echo, 50);
    s.rate = 100.0;
    s.attachment = 4096;
    v.push(s);
    // The echo of echo-50 over the msgpack parser (every server started in msgpack mode).
    let mut s = Scenario::new("msgpack-50", Kind::Echo, 50);
    s.rate = 100.0;
    s.msgpack = true;
    v.push(s);
    // 10,000 idle clients next to 100 active ones (100 round trips/s each); echo-100 is the same
    // active load alone, the baseline the mixed table shows next to it.
    let mut s = Scenario::new("echo-100", Kind::Echo, 100);
    s.rate = 100.0;
    v.push(s);
    let mut s = Scenario::new("mixed-10k+100", Kind::Echo, 10_100);
    s.rate = 100.0;
    s.idle = 10_000;
    s.procs = 2;
    s.connect_rate = 1500.0;
    s.settle_s = 2.0;
    s.baseline = Some("echo-100".into());
    v.push(s);
    for rate in [100.0, 400.0] {
        let mut s = Scenario::new(&format!("broadcast-1000@{rate}"), Kind::Broadcast, 1000);
        s.rate = rate;
        s.senders = 4;
        // One process for the 4 senders, two for the 1,000 receivers.
        s.procs = 3;
        v.push(s);
    }
    // 64 KiB broadcasts: 200 clients, 1 sender, 20 msg/s = 4,000 deliveries/s, 256 MiB/s for the
    // generator to read (sized to stay under the 50 % refusal rule; see BENCHMARKS.md).
    let mut s = Scenario::new(BROADCAST_64K, Kind::Broadcast, 200);
    s.rate = 20.0;
    s.senders = 1;
    s.payload = 64 * 1024;
    s.procs = 2;
    v.push(s);
    let mut s = Scenario::new(ROOMS_2000X200, Kind::Rooms, 2000);
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
        // Short phases: the smoke run is part of the test command (about a minute for all).
        s.duration_s = 0.6;
        s.drain_s = 0.3;
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
    let mut s = tiny("binary-5", Kind::Echo, 5, 50.0);
    s.attachment = 4096;
    v.push(s);
    let mut s = tiny("msgpack-5", Kind::Echo, 5, 50.0);
    s.msgpack = true;
    v.push(s);
    let mut s = tiny("mixed-50+5", Kind::Echo, 55, 50.0);
    s.idle = 50;
    s.procs = 2;
    v.push(s);
    let mut s = tiny("broadcast64k-10@5", Kind::Broadcast, 10, 5.0);
    s.senders = 1;
    s.payload = 64 * 1024;
    s.procs = 2;
    v.push(s);
    v[2].senders = 2;
    v[2].procs = 2;
    v[5].senders = 2;
    v[5].procs = 2;
    v[5].nodes = 2;
    v[3].room_size = 5;
    v[6].eio_only = true;
    v[6].path = "/engine.io/".into();
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
    if g("mismatches") > 0.0 {
        return Some(format!(
            "{} acks did not carry back what was sent",
            g("mismatches")
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
    let mut extra = sc.server_args();
    if sc.nodes > 1 {
        let redis = Redis::start(redis_bin, &log.with_extension("redis.log"))?;
        extra.extend(["--redis".to_string(), redis.url()]);
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
            // The next port nobody listens on (another bench run may use the same range).
            for _ in 0..500 {
                *port = if *port >= 28700 { 28200 } else { *port + 1 };
                if std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok() {
                    break;
                }
            }
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
        let only: Vec<&str> = only.split(',').map(canonical_name).collect();
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
        let on: Vec<&Server> = servers.iter().filter(|s| runs_on(s, sc)).collect();
        for round in 1..=rounds {
            for server in &on {
                let log = logs.join(format!(
                    "{}-{}-{round}.log",
                    server.name.replace(':', "_"),
                    sc.name
                ));
                let busy_before = if smoke {
                    0.0
                } else {
                    wait_quiet(quiet, Duration::from_secs_f64(quiet_wait))
                };
                print!(
                    "[{:>6.1}s] {:<22} {:<20} round {round}: ",
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
                            server: server.name.clone(),
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
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_scenarios_are_sized_as_documented() {
        let full = full_scenarios();
        let get = |n: &str| {
            full.iter()
                .find(|s| s.name == n)
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        let b = get("binary-50");
        assert_eq!(
            (b.kind, b.clients, b.attachment, b.msgpack),
            (Kind::Echo, 50, 4096, false)
        );
        let m = get("msgpack-50");
        assert!(m.msgpack && m.attachment == 0 && m.clients == 50);
        let x = get("mixed-10k+100");
        assert_eq!((x.clients, x.idle, x.active_count()), (10_100, 10_000, 100));
        assert_eq!(x.baseline.as_deref(), Some("echo-100"));
        assert_eq!(get("echo-100").active_count(), x.active_count());
        assert_eq!(get("echo-100").rate, x.rate);
        let bc = get(BROADCAST_64K);
        assert_eq!((bc.clients, bc.senders, bc.payload), (200, 1, 65_536));
        // 4,000 deliveries of 64 KiB a second: 256 MiB/s for the generator to read.
        assert_eq!(bc.rate * bc.clients as f64, 4000.0);
        let r = get(ROOMS_2000X200);
        assert_eq!(r.clients / r.room_size, 200);
        // Every smoke scenario name is distinct, and the new kinds are all in the smoke run.
        let smoke = smoke_scenarios();
        assert!(smoke.iter().any(|s| s.attachment > 0));
        assert!(smoke.iter().any(|s| s.msgpack));
        assert!(smoke.iter().any(|s| s.idle > 0 && s.idle < s.clients));
        assert!(smoke.iter().any(|s| s.payload >= 65_536));
        assert!(smoke[6].eio_only);
        let mut names: Vec<_> = smoke.iter().map(|s| &s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), smoke.len());
    }

    #[test]
    fn old_scenario_names_are_still_accepted() {
        assert_eq!(canonical_name("rooms-2000x10@1000"), "rooms-2000x200");
        assert_eq!(canonical_name("broadcast64k"), BROADCAST_64K);
        assert_eq!(canonical_name(" echo-50"), "echo-50");
    }

    #[test]
    fn the_coalescing_variant_runs_only_the_single_server_broadcasts() {
        assert_eq!(
            sockgate_variant("coalesce=20"),
            Some(vec![("SOCKGATE_WRITE_COALESCING_MS".into(), "20".into())])
        );
        assert_eq!(sockgate_variant("coalesce=x"), None);
        assert_eq!(sockgate_variant("window=20"), None);
        let variant = Server {
            name: "sockgate:coalesce=20".into(),
            program: String::new(),
            args: vec![],
            env: sockgate_variant("coalesce=20").unwrap_or_default(),
            variant: true,
            eio_only: false,
            cluster: true,
        };
        let mut sc = Scenario::new("b", Kind::Broadcast, 10);
        assert!(runs_on(&variant, &sc));
        sc.nodes = 2;
        assert!(!runs_on(&variant, &sc));
        assert!(!runs_on(&variant, &Scenario::new("e", Kind::Echo, 10)));
        let plain = Server {
            variant: false,
            ..variant
        };
        assert!(runs_on(&plain, &Scenario::new("e", Kind::Echo, 10)));
    }
}
