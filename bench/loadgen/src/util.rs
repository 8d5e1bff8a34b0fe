//! Small helpers: argument parsing, /proc readings, clocks, histogram transport.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

/// `--key value` / `--key=value` / `--flag` arguments.
#[derive(Debug, Default)]
pub(crate) struct Args {
    map: HashMap<String, String>,
}

impl Args {
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut map = HashMap::new();
        let mut it = args.into_iter().peekable();
        while let Some(a) = it.next() {
            let Some(key) = a.strip_prefix("--") else {
                eprintln!("ignoring stray argument {a:?}");
                continue;
            };
            if let Some((k, v)) = key.split_once('=') {
                map.insert(k.to_string(), v.to_string());
            } else if it.peek().is_some_and(|n| !n.starts_with("--")) {
                map.insert(key.to_string(), it.next().unwrap_or_default());
            } else {
                map.insert(key.to_string(), "true".to_string());
            }
        }
        Self { map }
    }
    pub(crate) fn str(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }
    pub(crate) fn flag(&self, k: &str) -> bool {
        self.map.get(k).is_some_and(|v| v != "false" && v != "0")
    }
    pub(crate) fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> T {
        match self.map.get(k) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("bad value for --{k}: {v:?}");
                std::process::exit(2)
            }),
        }
    }
}

/// Microseconds since the Unix epoch (the timestamp carried in payloads; one machine, so one clock).
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Resident set size (VmRSS) of `pid` in KiB.
pub(crate) fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of `pid` (all its threads, dead ones included) in seconds, from /proc/PID/stat.
pub(crate) fn cpu_s(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm field: state is field 3, utime field 14, stime field 15 (1-based).
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck())
}

fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Number of CPUs of the machine.
pub(crate) fn ncpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// A latency histogram in microseconds, 1 us .. 120 s, 3 significant digits.
pub(crate) fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

pub(crate) fn hist_to_b64(h: &Histogram<u64>) -> String {
    let mut v = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut v)
        .expect("serialize histogram");
    base64::engine::general_purpose::STANDARD.encode(v)
}

pub(crate) fn hist_from_b64(s: &str) -> Option<Histogram<u64>> {
    let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    Deserializer::new().deserialize(&mut &v[..]).ok()
}

/// Percentile of a histogram in milliseconds (NaN when empty).
pub(crate) fn pct_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        f64::NAN
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Median of the finite values.
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Busy CPU seconds of the whole machine (all cores, everything but idle and iowait), from /proc/stat.
pub(crate) fn machine_busy_s() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = s.lines().next() else {
        return 0.0;
    };
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    busy / clk_tck()
}
