//! `loadgen`: the sockgate benchmark load generator and runner.
//!
//! It speaks Engine.IO v4 / Socket.IO v5 itself, over a minimal WebSocket client of its own and
//! over HTTP long-polling (hyper), to 127.0.0.1 only. Subcommands:
//! - `loadgen run --scenario KIND --port P --server-pid PID [sizes]`: one scenario against a
//!   running server; prints the metrics as JSON;
//! - `loadgen bench [--smoke] [--rounds N] [--servers a,b,c] [--only s1,s2] [--out DIR]`: starts
//!   each server in turn, alternates them, and writes `results.md`, `results.json` and
//!   `chart.svg` (see `bench/BENCHMARKS.md`);
//! - `loadgen report --from results.json [--out DIR]`: renders the table and chart again from
//!   the raw JSON;
//! - `loadgen worker ...`: internal, one worker process of a run.

mod coord;
mod msgpack;
mod report;
mod runner;
mod scenario;
mod util;
mod worker;

use scenario::{Kind, Scenario};
use util::Args;

const USAGE: &str = "usage:
  loadgen run --scenario idle|echo|broadcast|rooms|polling --port P --server-pid PID
              [--clients N] [--connect-rate R] [--procs P] [--duration S] [--rate R]
              [--senders K] [--room-size M] [--payload B] [--eio-only] [--path /socket.io/]
              [--attachment BYTES] [--msgpack] [--idle N] [--max-gen-share 0.5]
              (start the server with --msgpack for --msgpack, --binary for --attachment)
  loadgen bench [--smoke] [--rounds 2]
                [--servers sockgate,sockgate:coalesce=20,socketioxide,node,conformance]
                [--only NAME,...] [--out bench/results] [--max-gen-share 0.5] [--quiet-share 0.15] [--quiet-wait 10]
                [--sockgate-bin P] [--socketioxide-bin P] [--conformance-bin P] [--node-dir D]
                [--redis-bin redis-server]
  loadgen report --from bench/results/results.json [--out DIR]";

fn main() {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().unwrap_or_default();
    let args = Args::parse(argv);
    match cmd.as_str() {
        "worker" => worker::main(&args),
        "run" => run_one(&args),
        "bench" => std::process::exit(runner::main(&args)),
        "report" => std::process::exit(report::rerender(&args)),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

fn run_one(args: &Args) {
    let kind = match args.str("scenario").unwrap_or("") {
        "idle" => Kind::Idle,
        "echo" => Kind::Echo,
        "broadcast" => Kind::Broadcast,
        "rooms" => Kind::Rooms,
        "polling" => Kind::Polling,
        other => {
            eprintln!("unknown scenario {other:?}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let Some(pid) = args.str("server-pid").and_then(|p| p.parse().ok()) else {
        eprintln!("--server-pid required\n{USAGE}");
        std::process::exit(2);
    };
    let mut sc = Scenario::new(
        args.str("scenario").unwrap_or(""),
        kind,
        args.num("clients", 100),
    );
    sc.connect_rate = args.num("connect-rate", sc.connect_rate);
    sc.procs = args.num("procs", sc.procs);
    sc.duration_s = args.num("duration", sc.duration_s);
    sc.rate = args.num(
        "rate",
        match kind {
            Kind::Broadcast => 100.0,
            Kind::Rooms => 500.0,
            _ => 0.0,
        },
    );
    sc.senders = args.num("senders", sc.senders);
    sc.room_size = args.num("room-size", sc.room_size);
    sc.payload = args.num("payload", sc.payload);
    sc.eio_only = args.flag("eio-only");
    sc.attachment = args.num("attachment", 0);
    sc.msgpack = args.flag("msgpack");
    sc.idle = args.num("idle", 0);
    sc.path = args.str("path").map_or_else(
        || {
            if sc.eio_only {
                "/engine.io/".into()
            } else {
                "/socket.io/".into()
            }
        },
        str::to_string,
    );
    sc.settle_s = args.num("settle", sc.settle_s);
    sc.drain_s = args.num("drain", sc.drain_s);
    let port = args.num("port", 3000u16);
    let max_share = args.num("max-gen-share", coord::DEFAULT_MAX_GEN_SHARE);
    match coord::run(&sc, &[pid], &[port], max_share) {
        Ok((m, refused, error)) => {
            let out = serde_json::json!({"scenario": sc, "metrics": m, "refused": refused, "error": error});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            if refused.is_some() {
                std::process::exit(3);
            }
        }
        Err(e) => {
            eprintln!("run failed: {e}");
            std::process::exit(1);
        }
    }
}
