//! The coordinator: spreads one scenario over worker processes, measures the server from /proc
//! around each phase, merges the workers' histograms and computes the metrics.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::scenario::{Kind, Scenario};
use crate::util::{cpu_s, hist_from_b64, machine_busy_s, ncpus, new_hist, pct_ms, rss_kb};

/// Metrics of one run, by name.
pub(crate) type Metrics = BTreeMap<String, f64>;

/// The outcome of one scenario run against one server.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunResult {
    pub(crate) scenario: String,
    pub(crate) server: String,
    pub(crate) round: usize,
    pub(crate) metrics: Metrics,
    /// Why the numbers must not be reported (the generator was the bottleneck), if so.
    pub(crate) refused: Option<String>,
    /// The first client error seen, if any.
    pub(crate) error: Option<String>,
}

/// Above this share of the machine's CPU (all cores) the generator counts as the bottleneck.
pub(crate) const DEFAULT_MAX_GEN_SHARE: f64 = 0.5;
/// Paced senders must reach at least this fraction of the target rate.
pub(crate) const MIN_SEND_RATE: f64 = 0.9;

struct Worker {
    child: Child,
    stdin: ChildStdin,
}

fn gen_cpu(workers: &[Worker]) -> f64 {
    workers
        .iter()
        .filter_map(|w| cpu_s(w.child.id()))
        .sum::<f64>()
        + cpu_s(std::process::id()).unwrap_or(0.0)
}

/// Waits for one JSON line of the given phase from every worker.
fn collect(
    rx: &mpsc::Receiver<(usize, Value)>,
    n: usize,
    phase: &str,
    limit: Duration,
) -> Result<Vec<Value>, String> {
    let deadline = Instant::now() + limit;
    let mut got: Vec<Option<Value>> = vec![None; n];
    while got.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, v)) if v["phase"] == phase => got[i] = Some(v),
            Ok(_) => {}
            Err(_) => return Err(format!("workers did not report `{phase}` within {limit:?}")),
        }
    }
    Ok(got.into_iter().flatten().collect())
}

/// utime + stime of all of `pids` summed (a cluster: its nodes and redis-server); None when one
/// of them is gone.
fn cpu_all(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&p| cpu_s(p)).sum()
}

/// VmRSS of the server processes (all of `pids`) summed.
fn rss_all(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| rss_kb(p)).sum()
}

fn sum(vs: &[Value], k: &str) -> f64 {
    vs.iter().map(|v| v[k].as_f64().unwrap_or(0.0)).sum()
}

fn first_error(vs: &[Value]) -> Option<String> {
    vs.iter()
        .find_map(|v| v["error"].as_str().map(str::to_string))
}

/// Runs `sc` against the server processes `pids`, listening on 127.0.0.1:`ports` (one port per
/// node, in node order). `pids` are the nodes' processes in node order, then any process the
/// servers need (a cluster's redis-server): the server CPU and RSS are the sums over all of them.
pub(crate) fn run(
    sc: &Scenario,
    pids: &[u32],
    ports: &[u16],
    max_gen_share: f64,
) -> Result<(Metrics, Option<String>, Option<String>), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let cores = ncpus();
    let config = serde_json::to_string(sc).map_err(|e| e.to_string())?;
    let port = *ports.first().ok_or("no server port")?;
    let port_list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let cpu0 = cpu_all(pids).ok_or("server process not found")?;
    let rss0 = rss_all(pids).unwrap_or(0);
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut workers = Vec::new();
    for i in 0..sc.procs {
        let mut child = Command::new(&exe)
            .args([
                "worker",
                "--config",
                &config,
                "--index",
                &i.to_string(),
                "--port",
                &port.to_string(),
                "--ports",
                &port_list,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn worker: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send((i, v)).is_err() {
                        break;
                    }
                }
            }
        });
        workers.push(Worker { child, stdin });
    }
    let result = measure(
        sc,
        pids,
        &mut workers,
        &rx,
        cores,
        (cpu0, rss0, t0),
        max_gen_share,
    );
    for w in &mut workers {
        let _ = writeln!(w.stdin, "close");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for w in &mut workers {
        while Instant::now() < deadline && matches!(w.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = w.child.kill();
        let _ = w.child.wait();
    }
    let _ = config;
    result
}

#[allow(clippy::too_many_arguments)]
fn measure(
    sc: &Scenario,
    pids: &[u32],
    workers: &mut [Worker],
    rx: &mpsc::Receiver<(usize, Value)>,
    cores: f64,
    (cpu0, rss0, t0): (f64, u64, Instant),
    max_gen_share: f64,
) -> Result<(Metrics, Option<String>, Option<String>), String> {
    let gen0 = cpu_s(std::process::id()).unwrap_or(0.0);
    let limit = Duration::from_secs_f64(sc.clients as f64 / sc.connect_rate + 90.0);
    let conn = collect(rx, workers.len(), "connected", limit)?;
    let connect_wall = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_all(pids).ok_or("server died while clients connected")?;
    let gen1 = gen_cpu(workers);
    let mut m = Metrics::new();
    let ok = sum(&conn, "ok");
    let failed = sum(&conn, "failed");
    let mut ch = new_hist();
    for v in &conn {
        if let Some(h) = v["connect_hist"].as_str().and_then(hist_from_b64) {
            ch.add(&h).map_err(|e| e.to_string())?;
        }
    }
    m.insert("clients".into(), sc.clients as f64);
    m.insert("connected".into(), ok);
    m.insert("connect_failed".into(), failed);
    m.insert("connect_p50_ms".into(), pct_ms(&ch, 0.5));
    m.insert("connect_p99_ms".into(), pct_ms(&ch, 0.99));
    m.insert("connect_p999_ms".into(), pct_ms(&ch, 0.999));
    m.insert("connect_wall_s".into(), connect_wall);
    m.insert("server_cpu_connect_ms".into(), (cpu1 - cpu0) * 1000.0);
    m.insert("cpu_per_conn_us".into(), (cpu1 - cpu0) * 1e6 / ok.max(1.0));
    let gen_share_connect = (gen1 - gen0) / connect_wall / cores;
    m.insert("gen_share_connect".into(), gen_share_connect);
    m.insert("rss_base_kb".into(), rss0 as f64);
    std::thread::sleep(Duration::from_secs_f64(sc.settle_s));
    let rss1 = rss_all(pids).ok_or("server died after connecting")?;
    m.insert("rss_kb".into(), rss1 as f64);
    m.insert(
        "rss_per_conn_kb".into(),
        (rss1 as f64 - rss0 as f64) / ok.max(1.0),
    );

    let cpu2 = cpu_all(pids).ok_or("server died")?;
    // What the connected clients cost while nobody sends (pings only): the idle cost the mixed
    // scenario's active path must not see.
    m.insert(
        "settle_cpu_us_per_conn_s".into(),
        (cpu2 - cpu1) * 1e6 / ok.max(1.0) / sc.settle_s.max(1e-3),
    );
    // A cluster's extra processes (redis-server), after its nodes: their share is reported too.
    let extra = &pids[sc.nodes.min(pids.len())..];
    let extra2 = cpu_all(extra).unwrap_or(0.0);
    let gen2 = gen_cpu(workers);
    let busy2 = machine_busy_s();
    let t2 = Instant::now();
    for w in workers.iter_mut() {
        writeln!(w.stdin, "go").map_err(|e| format!("worker stdin: {e}"))?;
    }
    let done = collect(
        rx,
        workers.len(),
        "done",
        Duration::from_secs_f64(sc.duration_s + sc.drain_s + 60.0),
    )?;
    let wall = t2.elapsed().as_secs_f64();
    let cpu3 = cpu_all(pids).ok_or("server died during the run")?;
    let extra3 = cpu_all(extra).unwrap_or(0.0);
    let gen3 = gen_cpu(workers);
    let busy3 = machine_busy_s();
    let rss3 = rss_all(pids).unwrap_or(0);
    let run_s = done
        .iter()
        .map(|v| v["run_s"].as_f64().unwrap_or(sc.duration_s))
        .fold(0.0, f64::max);
    let server_cpu = cpu3 - cpu2;
    let gen_share_run = (gen3 - gen2) / wall / cores;
    m.insert("rss_end_kb".into(), rss3 as f64);
    m.insert("server_cpu_run_ms".into(), server_cpu * 1000.0);
    m.insert("server_cores_run".into(), server_cpu / wall);
    m.insert("gen_share_run".into(), gen_share_run);
    m.insert("gen_cores_run".into(), (gen3 - gen2) / wall);
    // CPU used by anything else on the machine meanwhile (other jobs make a run noisy).
    m.insert(
        "other_share_run".into(),
        ((busy3 - busy2) - server_cpu - (gen3 - gen2)).max(0.0) / wall / cores,
    );
    let mut lh = new_hist();
    for v in &done {
        if let Some(h) = v["lat_hist"].as_str().and_then(hist_from_b64) {
            lh.add(&h).map_err(|e| e.to_string())?;
        }
    }
    let sent = sum(&done, "sent");
    let received = sum(&done, "received");
    let closed = sum(&done, "closed");
    m.insert("closed_during_run".into(), closed);
    m.insert("sent".into(), sent);
    m.insert("received".into(), received);
    m.insert("late".into(), sum(&done, "late"));
    m.insert("mismatches".into(), sum(&done, "mismatches"));
    let mut refused = None;
    match sc.kind {
        Kind::Idle => {
            m.insert(
                "idle_cpu_us_per_conn_s".into(),
                server_cpu * 1e6 / ok.max(1.0) / wall,
            );
        }
        Kind::Echo | Kind::Polling => {
            m.insert("round_trips".into(), received);
            m.insert("rt_per_s".into(), received / run_s);
            m.insert("timeouts".into(), sum(&done, "timeouts"));
            m.insert("cpu_per_rt_us".into(), server_cpu * 1e6 / received.max(1.0));
            m.insert("lat_p50_ms".into(), pct_ms(&lh, 0.5));
            m.insert("lat_p99_ms".into(), pct_ms(&lh, 0.99));
            m.insert("lat_p999_ms".into(), pct_ms(&lh, 0.999));
            m.insert("idle_clients".into(), sc.idle as f64);
            m.insert("active_clients".into(), sc.active_count() as f64);
            if sc.rate > 0.0 {
                let active = (ok - sc.idle as f64).max(0.0);
                let target = active * sc.rate * run_s;
                m.insert("send_rate_ratio".into(), sent / target.max(1.0));
            }
        }
        Kind::Broadcast | Kind::Rooms => {
            let per_msg = if sc.kind == Kind::Broadcast {
                ok
            } else {
                sc.room_size as f64
            };
            let expected = sent * per_msg;
            m.insert("expected".into(), expected);
            m.insert("deliveries_per_s".into(), received / run_s);
            m.insert(
                "loss".into(),
                if expected > 0.0 {
                    (1.0 - received / expected).max(0.0)
                } else {
                    f64::NAN
                },
            );
            m.insert(
                "cpu_per_delivery_us".into(),
                server_cpu * 1e6 / received.max(1.0),
            );
            // Per message sent (a broadcast, a room emit): what encoding once must keep flat in
            // the payload size when the per-delivery cost is only the write.
            m.insert("cpu_per_msg_us".into(), server_cpu * 1e6 / sent.max(1.0));
            if !extra.is_empty() {
                m.insert(
                    "redis_cpu_per_delivery_us".into(),
                    (extra3 - extra2) * 1e6 / received.max(1.0),
                );
            }
            m.insert("lat_p50_ms".into(), pct_ms(&lh, 0.5));
            m.insert("lat_p99_ms".into(), pct_ms(&lh, 0.99));
            m.insert("lat_p999_ms".into(), pct_ms(&lh, 0.999));
            let ratio = sent / (sc.rate * run_s);
            m.insert("send_rate_ratio".into(), ratio);
            if ratio < MIN_SEND_RATE {
                refused = Some(format!(
                    "generator sent only {:.0}% of the target {} msg/s",
                    ratio * 100.0,
                    sc.rate
                ));
            }
        }
    }
    let share = if sc.kind == Kind::Idle {
        gen_share_connect
    } else {
        gen_share_run
    };
    if share > max_gen_share {
        refused = Some(format!(
            "generator used {:.0}% of the machine's CPU ({:.2} of {} cores), above the {:.0}% limit",
            share * 100.0,
            share * cores,
            cores,
            max_gen_share * 100.0
        ));
    }
    let error = first_error(&conn).or_else(|| first_error(&done));
    Ok((m, refused, error))
}
