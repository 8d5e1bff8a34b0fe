//! Results: one line per run on the console, and `results.md`, `results.json`, `chart.svg`.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::coord::RunResult;
use crate::scenario::{Kind, Scenario};
use crate::util::{median, ncpus};

/// The metrics shown for a scenario: those of its kind, then those of its variety (attachments,
/// msgpack, idle clients, polling sessions, broadcast payload): (key, label).
fn shown(sc: &Scenario) -> Vec<(&'static str, &'static str)> {
    let mut v = shown_for_kind(sc.kind).to_vec();
    if sc.attachment > 0 || sc.msgpack {
        v.push(("mismatches", "acks not carrying back what was sent"));
    }
    if sc.kind == Kind::Echo && sc.idle > 0 {
        v.extend([
            ("idle_clients", "idle clients (connected, pings only)"),
            ("active_clients", "active echo clients"),
            ("rss_per_conn_kb", "RSS per connection, all clients (KiB)"),
            ("rss_kb", "server RSS (KiB)"),
            (
                "settle_cpu_us_per_conn_s",
                "server CPU while only idle (us per conn per s)",
            ),
            ("cpu_per_conn_us", "server CPU per connect (us)"),
        ]);
    }
    if sc.kind == Kind::Polling {
        v.extend([
            ("rss_per_conn_kb", "RSS per polling session (KiB)"),
            ("cpu_per_conn_us", "server CPU per session opened (us)"),
        ]);
    }
    if matches!(sc.kind, Kind::Broadcast | Kind::Rooms) {
        let label = if sc.kind == Kind::Broadcast {
            "server CPU per broadcast (us)"
        } else {
            "server CPU per room message (us)"
        };
        // Right after CPU per delivery.
        v.insert(4, ("cpu_per_msg_us", label));
    }
    v
}

/// The metrics shown for a kind of scenario: (key, label).
fn shown_for_kind(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::Idle => &[
            ("connected", "clients connected"),
            ("connect_failed", "connect failures"),
            ("connect_p50_ms", "connect p50 (ms)"),
            ("connect_p99_ms", "connect p99 (ms)"),
            ("rss_kb", "server RSS (KiB)"),
            ("rss_per_conn_kb", "RSS per connection (KiB)"),
            ("cpu_per_conn_us", "server CPU per connect (us)"),
            ("idle_cpu_us_per_conn_s", "idle CPU (us per conn per s)"),
            ("gen_share_connect", "generator CPU share"),
            ("other_share_run", "other load on the machine (hold)"),
        ],
        Kind::Echo | Kind::Polling => &[
            ("rt_per_s", "round trips/s"),
            ("cpu_per_rt_us", "server CPU per round trip (us)"),
            ("lat_p50_ms", "latency p50 (ms)"),
            ("lat_p99_ms", "latency p99 (ms)"),
            ("lat_p999_ms", "latency p99.9 (ms)"),
            ("timeouts", "ack timeouts"),
            ("server_cores_run", "server CPU (cores)"),
            ("gen_share_run", "generator CPU share"),
            ("other_share_run", "other load on the machine"),
        ],
        Kind::Broadcast | Kind::Rooms => &[
            ("deliveries_per_s", "deliveries/s"),
            ("loss", "loss (fraction)"),
            ("late", "late arrivals (>1 s)"),
            ("cpu_per_delivery_us", "server CPU per delivery (us)"),
            ("lat_p50_ms", "latency p50 (ms)"),
            ("lat_p99_ms", "latency p99 (ms)"),
            ("lat_p999_ms", "latency p99.9 (ms)"),
            ("send_rate_ratio", "sent / target rate"),
            ("server_cores_run", "server CPU (cores)"),
            ("gen_share_run", "generator CPU share"),
            ("other_share_run", "other load on the machine"),
        ],
    }
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// A one-line summary of a run for the console.
pub(crate) fn one_line(sc: &Scenario, r: &RunResult) -> String {
    let g = |k: &str| fmt(r.metrics.get(k).copied().unwrap_or(f64::NAN));
    let mut s = match sc.kind {
        Kind::Idle => format!(
            "{} conn ({} failed), connect p99 {} ms, RSS {} KiB/conn, CPU {} us/conn, gen {}",
            g("connected"), g("connect_failed"), g("connect_p99_ms"), g("rss_per_conn_kb"), g("cpu_per_conn_us"), g("gen_share_connect")
        ),
        Kind::Echo | Kind::Polling => format!(
            "{} rt/s, {} us CPU/rt, p50 {} p99 {} p999 {} ms, {} timeouts, {} mismatches, RSS {} KiB/conn, gen {}, other {}",
            g("rt_per_s"), g("cpu_per_rt_us"), g("lat_p50_ms"), g("lat_p99_ms"), g("lat_p999_ms"), g("timeouts"), g("mismatches"), g("rss_per_conn_kb"), g("gen_share_run"), g("other_share_run")
        ),
        Kind::Broadcast | Kind::Rooms => format!(
            "{} deliveries/s, loss {}, {} us CPU/delivery, {} us CPU/msg, p50 {} p99 {} p999 {} ms, sent {}x target, gen {}, other {}",
            g("deliveries_per_s"), g("loss"), g("cpu_per_delivery_us"), g("cpu_per_msg_us"), g("lat_p50_ms"), g("lat_p99_ms"), g("lat_p999_ms"), g("send_rate_ratio"), g("gen_share_run"), g("other_share_run")
        ),
    };
    if let Some(why) = &r.refused {
        let _ = write!(s, "  REFUSED: {why}");
    }
    s
}

/// Median of a metric over the unrefused runs of (scenario, server); None when there are none.
fn med(runs: &[RunResult], sc: &str, server: &str, key: &str) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter(|r| r.scenario == sc && r.server == server && r.refused.is_none())
        .filter_map(|r| r.metrics.get(key).copied())
        .collect();
    (!v.is_empty()).then(|| median(&v))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1048576.0
            })
        })
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{} cores ({cpu}), {mem:.0} GiB RAM, Linux {}, node {node}",
        ncpus(),
        kernel.trim()
    )
}

/// Writes `results.md`, `results.json` and `chart.svg` into `dir`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_all(
    dir: &Path,
    scenarios: &[Scenario],
    servers: &[&str],
    runs: &[RunResult],
    rounds: usize,
    max_share: f64,
    skipped: &[String],
    smoke: bool,
) -> std::io::Result<()> {
    let machine = machine();
    let json = serde_json::json!({
        "machine": machine, "smoke": smoke, "rounds": rounds, "max_gen_share": max_share,
        "servers": servers, "skipped": skipped, "scenarios": scenarios, "runs": runs,
    });
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "# sockgate-bench results{}\n",
        if smoke {
            " (smoke run: tiny sizes, not a benchmark)"
        } else {
            ""
        }
    );
    let _ = writeln!(md, "Machine: {machine}. Servers alternated {rounds}x per scenario (A B C A B C ...), each a fresh process; cells are medians of the runs. A run is refused (not counted) when the load generator used more than {:.0}% of the machine's CPU or sent under 90% of its target rate.\n", max_share * 100.0);
    for s in skipped {
        let _ = writeln!(md, "- {s}");
    }
    for v in servers.iter().filter(|s| s.starts_with("sockgate:")) {
        let _ = writeln!(md, "Column `{v}`: the same sockgate bench server with that setting changed (`coalesce=MS`: `SOCKGATE_WRITE_COALESCING_MS`, the write-coalescing window), in the single-server broadcast scenarios only.\n");
    }
    let subject = servers.iter().find(|s| **s == "sockgate").copied();
    for sc in scenarios {
        let on: Vec<&str> = servers
            .iter()
            .copied()
            .filter(|s| runs.iter().any(|r| r.scenario == sc.name && r.server == *s))
            .collect();
        if on.is_empty() {
            continue;
        }
        let _ = writeln!(md, "\n## {}\n", sc.name);
        let _ = writeln!(md, "{}\n", describe(sc));
        // Ratio columns: sockgate against each peer, and each sockgate variant against
        // socketioxide (the pairs the targets compare).
        let mut pairs: Vec<(&str, &str)> = ["socketioxide", "node"]
            .into_iter()
            .filter(|o| on.contains(o))
            .filter_map(|o| subject.filter(|s| on.contains(s)).map(|s| (s, o)))
            .collect();
        if on.contains(&"socketioxide") {
            pairs.extend(
                on.iter()
                    .filter(|s| s.starts_with("sockgate:"))
                    .map(|s| (*s, "socketioxide")),
            );
        }
        let mut head = String::from("| metric |");
        let mut rule = String::from("|---|");
        for s in &on {
            let n = runs
                .iter()
                .filter(|r| r.scenario == sc.name && r.server == *s)
                .count();
            let refused = runs
                .iter()
                .filter(|r| r.scenario == sc.name && r.server == *s && r.refused.is_some())
                .count();
            let _ = write!(
                head,
                " {s} (n={}{}) |",
                n - refused,
                if refused > 0 {
                    format!(", {refused} refused")
                } else {
                    String::new()
                }
            );
            rule.push_str("---:|");
        }
        for (a, b) in &pairs {
            let _ = write!(head, " {a} / {b} |");
            rule.push_str("---:|");
        }
        let _ = writeln!(md, "{head}\n{rule}");
        let cluster_rows: &[(&str, &str)] = if sc.nodes > 1 {
            &[("redis_cpu_per_delivery_us", "of which redis-server (us)")]
        } else {
            &[]
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            // A share of about zero (1e-13 from float sums) gives no ratio, not "4905984307x".
            (Some(a), Some(b)) if b.abs() >= 1e-6 && a.is_finite() && b.is_finite() => {
                format!("{:.2}x", a / b)
            }
            _ => "-".into(),
        };
        for (key, label) in shown(sc).iter().chain(cluster_rows) {
            let mut line = format!("| {label} |");
            for s in &on {
                let cell = med(runs, &sc.name, s, key).map_or_else(|| "refused".to_string(), fmt);
                let _ = write!(line, " {cell} |");
            }
            for (a, b) in &pairs {
                let r = ratio(med(runs, &sc.name, a, key), med(runs, &sc.name, b, key));
                let _ = write!(line, " {r} |");
            }
            let _ = writeln!(md, "{line}");
        }
        // The baseline scenario's numbers (the same active load without the idle clients), and
        // this scenario's over them: 1.00x is "the idle clients cost the active path nothing".
        if let Some(base) = sc.baseline.as_deref() {
            for (key, label) in [
                ("cpu_per_rt_us", "server CPU per round trip (us)"),
                ("lat_p99_ms", "latency p99 (ms)"),
            ] {
                let mut line = format!("| {base} alone, same run: {label} |");
                let mut over = format!("| {} / {base}: {label} |", sc.name);
                for s in &on {
                    let b = med(runs, base, s, key);
                    let _ = write!(line, " {} |", b.map_or_else(|| "-".to_string(), fmt));
                    let _ = write!(over, " {} |", ratio(med(runs, &sc.name, s, key), b));
                }
                for (a, b) in &pairs {
                    let r = ratio(med(runs, base, a, key), med(runs, base, b, key));
                    let _ = write!(line, " {r} |");
                    over.push_str(" |");
                }
                let _ = writeln!(md, "{line}\n{over}");
            }
        }
        for r in runs
            .iter()
            .filter(|r| r.scenario == sc.name && r.refused.is_some())
        {
            let _ = writeln!(
                md,
                "\nRefused: {} round {}: {}",
                r.server,
                r.round,
                r.refused.as_deref().unwrap_or("")
            );
        }
    }
    let _ = writeln!(md, "\n![chart](chart.svg)");
    std::fs::write(dir.join("results.md"), md)?;
    chart(&dir.join("chart.svg"), scenarios, servers, runs).map_err(std::io::Error::other)
}

fn describe(sc: &Scenario) -> String {
    let transport = if sc.kind == Kind::Polling {
        "long-polling"
    } else if sc.eio_only {
        "WebSocket, raw Engine.IO (no Socket.IO namespace)"
    } else {
        "WebSocket"
    };
    let what = match sc.kind {
        Kind::Idle => format!("{} clients opened at {}/s over {} process(es), then held {} s", sc.clients, sc.connect_rate, sc.procs, sc.duration_s),
        Kind::Echo | Kind::Polling => {
            let rate = if sc.rate > 0.0 { format!("{}", sc.rate) } else { "as fast as possible".into() };
            let who = if sc.idle > 0 {
                format!("{} clients: {} idle ones (connected, answering pings only) and {} active ones", sc.clients, sc.idle, sc.active_count())
            } else {
                format!("{} clients", sc.clients)
            };
            let mut what = format!("{who}, each active one emitting `echo` with an ack {rate} per second (waiting for each ack), {} s", sc.duration_s);
            if sc.attachment > 0 {
                let _ = write!(what, "; each event carries a {} B binary attachment (`451-<id>[\"echo\",{{\"_placeholder\":true,\"num\":0}}]` + one binary frame) that the binary ack must carry back byte for byte", sc.attachment);
            }
            if sc.msgpack {
                what.push_str("; msgpack parser (socket.io-msgpack-parser's format, one binary frame per packet; every server started with `--msgpack`)");
            }
            if let Some(base) = &sc.baseline {
                let _ = write!(what, "; `{base}` is the same active load alone");
            }
            what
        }
        Kind::Broadcast => format!("{} clients all receiving; {} of them emit{} `broadcast`, {} msg/s in total, {} s", sc.clients, sc.senders, if sc.senders == 1 { "s" } else { "" }, sc.rate, sc.duration_s),
        Kind::Rooms => format!("{} clients in {} rooms of {}; one member per room emits `room` to its room, {} msg/s in total, {} s", sc.clients, sc.clients.div_ceil(sc.room_size.max(1)), sc.room_size, sc.rate, sc.duration_s),
    };
    let cluster = if sc.nodes > 1 {
        format!(
            "; a cluster of {} nodes of the same server on one redis-server (senders on node 0, the other clients spread over the nodes; server CPU = the nodes' and redis-server's summed)",
            sc.nodes
        )
    } else {
        String::new()
    };
    format!(
        "{what}{cluster}; {transport}; payload padding {} B.",
        sc.payload
    )
}

/// Panels of the chart: (scenario, metric, title).
const PANELS: &[(&str, &str, &str)] = &[
    ("idle-5k", "rss_per_conn_kb", "idle 5k: RSS/conn (KiB)"),
    ("idle-19k", "rss_per_conn_kb", "idle 19k: RSS/conn (KiB)"),
    ("idle-5k", "cpu_per_conn_us", "5k connects: CPU/conn (us)"),
    ("echo-50", "cpu_per_rt_us", "echo 50: CPU/round trip (us)"),
    ("echo-50", "lat_p99_ms", "echo 50: p99 (ms)"),
    ("polling-50", "cpu_per_rt_us", "polling 50: CPU/rt (us)"),
    (
        "broadcast-1000@100",
        "cpu_per_delivery_us",
        "bcast 1000@100: CPU/delivery (us)",
    ),
    (
        "broadcast-1000@100",
        "lat_p99_ms",
        "bcast 1000@100: p99 (ms)",
    ),
    (
        "broadcast-1000@400",
        "cpu_per_delivery_us",
        "bcast 1000@400: CPU/delivery (us)",
    ),
    (
        "broadcast-1000@400",
        "lat_p99_ms",
        "bcast 1000@400: p99 (ms)",
    ),
    (
        "broadcast64k-200@20",
        "cpu_per_delivery_us",
        "64 KiB bcast 200@20: CPU/delivery (us)",
    ),
    (
        "broadcast64k-200@20",
        "cpu_per_msg_us",
        "64 KiB bcast: CPU/broadcast (us)",
    ),
    (
        "broadcast64k-200@20",
        "lat_p99_ms",
        "64 KiB bcast 200@20: p99 (ms)",
    ),
    (
        "rooms-2000x200",
        "cpu_per_delivery_us",
        "rooms 2000x200: CPU/delivery (us)",
    ),
    ("rooms-2000x200", "lat_p99_ms", "rooms 2000x200: p99 (ms)"),
    ("binary-50", "cpu_per_rt_us", "binary 4 KiB 50: CPU/rt (us)"),
    ("binary-50", "lat_p99_ms", "binary 4 KiB 50: p99 (ms)"),
    ("msgpack-50", "cpu_per_rt_us", "msgpack 50: CPU/rt (us)"),
    ("msgpack-50", "lat_p99_ms", "msgpack 50: p99 (ms)"),
    (
        "mixed-10k+100",
        "cpu_per_rt_us",
        "10k idle + 100 active: CPU/rt (us)",
    ),
    ("echo-100", "cpu_per_rt_us", "100 active alone: CPU/rt (us)"),
    (
        "mixed-10k+100",
        "lat_p99_ms",
        "10k idle + 100 active: p99 (ms)",
    ),
    (
        "mixed-10k+100",
        "rss_per_conn_kb",
        "10k idle + 100: RSS/conn (KiB)",
    ),
    (
        "polling-50",
        "rss_per_conn_kb",
        "polling 50: RSS/session (KiB)",
    ),
    (
        "cluster-broadcast-1000@100",
        "cpu_per_delivery_us",
        "cluster 1000@100: CPU/delivery (us)",
    ),
    (
        "cluster-broadcast-1000@100",
        "lat_p99_ms",
        "cluster 1000@100: p99 (ms)",
    ),
    (
        "cluster-broadcast-1000@400",
        "cpu_per_delivery_us",
        "cluster 1000@400: CPU/delivery (us)",
    ),
    (
        "cluster-broadcast-1000@400",
        "lat_p99_ms",
        "cluster 1000@400: p99 (ms)",
    ),
    // Smoke-size panels, used when the full scenarios are absent.
    ("idle-20", "rss_per_conn_kb", "idle 20: RSS/conn (KiB)"),
    ("echo-5", "lat_p99_ms", "echo 5: p99 (ms)"),
    ("broadcast-20@50", "lat_p99_ms", "bcast 20@50: p99 (ms)"),
    ("polling-5", "lat_p99_ms", "polling 5: p99 (ms)"),
    ("binary-5", "lat_p99_ms", "binary 5: p99 (ms)"),
    ("msgpack-5", "lat_p99_ms", "msgpack 5: p99 (ms)"),
    ("mixed-50+5", "cpu_per_rt_us", "mixed 50+5: CPU/rt (us)"),
    (
        "broadcast64k-10@5",
        "cpu_per_msg_us",
        "64k bcast 10@5: CPU/bcast (us)",
    ),
];

fn color(server: &str) -> RGBColor {
    match server {
        "sockgate" => RGBColor(0x1b, 0x9e, 0x77),
        "socketioxide" => RGBColor(0xd9, 0x5f, 0x02),
        "node" => RGBColor(0x75, 0x70, 0xb3),
        // Variants of sockgate (a setting changed): a lighter green.
        s if s.starts_with("sockgate:") => RGBColor(0x8f, 0xd6, 0xbd),
        _ => RGBColor(0x66, 0x66, 0x66),
    }
}

fn chart(
    path: &Path,
    scenarios: &[Scenario],
    servers: &[&str],
    runs: &[RunResult],
) -> Result<(), String> {
    let panels: Vec<_> = PANELS
        .iter()
        .filter(|(sc, _, _)| {
            scenarios.iter().any(|s| s.name == *sc) && runs.iter().any(|r| r.scenario == *sc)
        })
        .collect();
    let cols = 4usize;
    let rows = panels.len().div_ceil(cols).max(1);
    let root = SVGBackend::new(path, (1200, 64 + 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (title, body) = root.split_vertically(64);
    title
        .titled(
            "sockgate-bench: medians of alternating runs (lower is better)",
            ("sans-serif", 20),
        )
        .map_err(|e| e.to_string())?;
    // The legend: one colour per server, in the bars' order (bars carry only their value: with
    // five servers the names no longer fit above them).
    let mut x = 20;
    for s in servers {
        title
            .draw(&Rectangle::new([(x, 40), (x + 12, 52)], color(s).filled()))
            .map_err(|e| e.to_string())?;
        title
            .draw(&Text::new(s.to_string(), (x + 16, 40), ("sans-serif", 13)))
            .map_err(|e| e.to_string())?;
        x += 30 + 8 * s.len() as i32;
    }
    let areas = body.split_evenly((rows, cols));
    for ((sc, key, label), area) in panels.iter().zip(areas.iter()) {
        let vals: Vec<(usize, &str, f64)> = servers
            .iter()
            .filter_map(|s| {
                med(runs, sc, s, key)
                    .filter(|v| v.is_finite())
                    .map(|v| (*s, v))
            })
            .enumerate()
            .map(|(i, (s, v))| (i, s, v))
            .collect();
        let top = vals.iter().map(|v| v.2).fold(0.0f64, f64::max).max(1e-9) * 1.2;
        let mut ch = ChartBuilder::on(area)
            .caption(*label, ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(20)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..vals.len().max(1) as f64, 0.0..top)
            .map_err(|e| e.to_string())?;
        ch.configure_mesh()
            .disable_x_mesh()
            .disable_x_axis()
            .y_labels(5)
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| e.to_string())?;
        ch.draw_series(vals.iter().map(|(i, s, v)| {
            Rectangle::new(
                [(*i as f64 + 0.15, 0.0), (*i as f64 + 0.85, *v)],
                color(s).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
        ch.draw_series(vals.iter().map(|(i, _, v)| {
            Text::new(
                fmt(*v),
                (*i as f64 + 0.12, *v + top * 0.06),
                ("sans-serif", 11),
            )
        }))
        .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// `loadgen report --from results.json [--out DIR]`: renders `results.md` and `chart.svg` again
/// from the raw JSON of a run.
pub(crate) fn rerender(args: &crate::util::Args) -> i32 {
    let Some(from) = args.str("from") else {
        eprintln!("--from results.json required");
        return 2;
    };
    let parsed = std::fs::read_to_string(from)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()));
    let v = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{from}: {e}");
            return 1;
        }
    };
    let get = |k: &str| v.get(k).cloned().unwrap_or_default();
    let scenarios: Vec<Scenario> = serde_json::from_value(get("scenarios")).unwrap_or_default();
    let runs: Vec<RunResult> = serde_json::from_value(get("runs")).unwrap_or_default();
    let servers: Vec<String> = serde_json::from_value(get("servers")).unwrap_or_default();
    let skipped: Vec<String> = serde_json::from_value(get("skipped")).unwrap_or_default();
    let names: Vec<&str> = servers.iter().map(String::as_str).collect();
    let dir = args.str("out").map_or_else(
        || {
            Path::new(from)
                .parent()
                .unwrap_or(Path::new("."))
                .to_path_buf()
        },
        std::path::PathBuf::from,
    );
    let rounds = v["rounds"].as_u64().unwrap_or(2) as usize;
    let share = v["max_gen_share"]
        .as_f64()
        .unwrap_or(crate::coord::DEFAULT_MAX_GEN_SHARE);
    let smoke = v["smoke"].as_bool().unwrap_or(false);
    match write_all(
        &dir, &scenarios, &names, &runs, rounds, share, &skipped, smoke,
    ) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scenario: &str, server: &str, m: &[(&str, f64)]) -> RunResult {
        RunResult {
            scenario: scenario.into(),
            server: server.into(),
            round: 1,
            metrics: m.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            refused: None,
            error: None,
        }
    }

    #[test]
    fn tables_show_the_baseline_the_variant_and_the_new_rows() {
        let mut base = Scenario::new("echo-100", Kind::Echo, 100);
        base.rate = 100.0;
        let mut mixed = Scenario::new("mixed-10k+100", Kind::Echo, 10_100);
        mixed.idle = 10_000;
        mixed.baseline = Some("echo-100".into());
        let mut bc = Scenario::new("broadcast64k-200@20", Kind::Broadcast, 200);
        bc.payload = 65_536;
        let mut poll = Scenario::new("polling-50", Kind::Polling, 50);
        poll.rate = 50.0;
        let servers = ["sockgate", "sockgate:coalesce=20", "socketioxide"];
        let runs = vec![
            run(
                "echo-100",
                "sockgate",
                &[("cpu_per_rt_us", 10.0), ("lat_p99_ms", 0.5)],
            ),
            run(
                "echo-100",
                "socketioxide",
                &[("cpu_per_rt_us", 20.0), ("lat_p99_ms", 1.0)],
            ),
            run(
                "mixed-10k+100",
                "sockgate",
                &[("cpu_per_rt_us", 11.0), ("rss_per_conn_kb", 3.0)],
            ),
            run(
                "mixed-10k+100",
                "socketioxide",
                &[("cpu_per_rt_us", 20.0), ("rss_per_conn_kb", 28.0)],
            ),
            run(
                "broadcast64k-200@20",
                "sockgate",
                &[("cpu_per_msg_us", 400.0)],
            ),
            run(
                "broadcast64k-200@20",
                "sockgate:coalesce=20",
                &[("cpu_per_msg_us", 300.0)],
            ),
            run(
                "broadcast64k-200@20",
                "socketioxide",
                &[("cpu_per_msg_us", 600.0)],
            ),
            run("polling-50", "sockgate", &[("rss_per_conn_kb", 12.0)]),
        ];
        let dir = std::env::temp_dir().join(format!("loadgen-report-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let scenarios = [base, mixed, bc, poll];
        write_all(&dir, &scenarios, &servers, &runs, 1, 0.5, &[], false).expect("write_all");
        let md = std::fs::read_to_string(dir.join("results.md")).unwrap_or_default();
        let svg = std::fs::read_to_string(dir.join("chart.svg")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        // The mixed table: echo-100's numbers of the same run and the ratio to them.
        assert!(md.contains("| echo-100 alone, same run: server CPU per round trip (us) | 10.0 | 20.0 | 0.50x |"), "{md}");
        assert!(
            md.contains(
                "| mixed-10k+100 / echo-100: server CPU per round trip (us) | 1.10x | 1.00x | |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| RSS per connection, all clients (KiB) | 3.00 | 28.0 | 0.11x |"),
            "{md}"
        );
        // The variant has its column and its ratio to socketioxide in the broadcast table only.
        assert!(
            md.contains("| sockgate / socketioxide | sockgate:coalesce=20 / socketioxide |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| server CPU per broadcast (us) | 400.0 | 300.0 | 600.0 | 0.67x | 0.50x |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| RSS per polling session (KiB) | 12.0 |"),
            "{md}"
        );
        // The chart has the new panels and a legend entry for the variant.
        assert!(
            svg.contains("64 KiB bcast: CPU/broadcast (us)")
                && svg.contains("sockgate:coalesce=20")
        );
        assert!(
            svg.contains("10k idle + 100 active: CPU/rt (us)")
                && svg.contains("polling 50: RSS/session (KiB)")
        );
    }
}
