//! Fixed-bucket histograms of atomics, rendered in the Prometheus text format.
//!
//! Why not the exporter's histograms: `metrics-exporter-prometheus` queues every observation
//! in an epoch-based bucket that allocates a block every 64 samples and is emptied only by a
//! scrape or an upkeep task, so an unscraped server grows and a handler call could allocate.
//! Here an observation is two atomic adds into buckets fixed at registration; the scrape sums
//! them up.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds (seconds) of the handler duration buckets.
pub(crate) const HANDLER_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds (seconds) of the adapter request latency buckets.
pub(crate) const ADAPTER_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One histogram series: a count per bucket (not cumulative; the last one is `+Inf`) and the
/// sum in nanoseconds.
pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &'static [f64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one duration: no allocation, no lock.
    pub(crate) fn record(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Label names and values of one series.
type Labels = Vec<(&'static str, String)>;

/// A histogram family: its name, help, and one series per label set.
pub(crate) struct HistogramFamily {
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    series: Mutex<Vec<(Labels, Arc<AtomicHistogram>)>>,
}

impl HistogramFamily {
    pub(crate) fn new(
        name: &'static str,
        help: &'static str,
        bounds: &'static [f64],
    ) -> HistogramFamily {
        HistogramFamily {
            name,
            help,
            bounds,
            series: Mutex::new(Vec::new()),
        }
    }

    /// The series of `labels`, created on first use (once per namespace: never on the
    /// recording path).
    pub(crate) fn series(&self, labels: &[(&'static str, &str)]) -> Arc<AtomicHistogram> {
        let mut series = self.series.lock();
        let same = |existing: &[(&'static str, String)]| {
            existing.len() == labels.len()
                && existing
                    .iter()
                    .zip(labels)
                    .all(|((a, av), (b, bv))| a == b && av == bv)
        };
        if let Some((_, histogram)) = series.iter().find(|(l, _)| same(l)) {
            return histogram.clone();
        }
        let histogram = Arc::new(AtomicHistogram::new(self.bounds));
        let owned = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        series.push((owned, histogram.clone()));
        histogram
    }

    /// Appends the family in the Prometheus text format (nothing when it has no series).
    pub(crate) fn render(&self, out: &mut String) {
        let series = self.series.lock();
        if series.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        for (labels, histogram) in series.iter() {
            let mut prefix = String::new();
            for (key, value) in labels {
                let _ = write!(prefix, "{key}=\"{}\",", escape_label(value));
            }
            let mut cumulative = 0u64;
            for (i, count) in histogram.counts.iter().enumerate() {
                cumulative += count.load(Ordering::Relaxed);
                let le = match self.bounds.get(i) {
                    Some(bound) => bound.to_string(),
                    None => "+Inf".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{}_bucket{{{prefix}le=\"{le}\"}} {cumulative}",
                    self.name
                );
            }
            let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let labels = prefix.trim_end_matches(',');
            let _ = writeln!(out, "{}_sum{{{labels}}} {sum}", self.name);
            let _ = writeln!(out, "{}_count{{{labels}}} {cumulative}", self.name);
        }
    }
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_the_count_is_the_last_one() {
        let family = HistogramFamily::new("t_seconds", "Test.", &[0.001, 0.01]);
        let series = family.series(&[("namespace", "/a\"b")]);
        series.record(Duration::from_micros(500));
        series.record(Duration::from_millis(5));
        series.record(Duration::from_millis(5));
        series.record(Duration::from_secs(1));
        // The same labels give the same series.
        family
            .series(&[("namespace", "/a\"b")])
            .record(Duration::from_millis(1));
        let mut out = String::new();
        family.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_seconds Test.\n# TYPE t_seconds histogram\n\
             t_seconds_bucket{namespace=\"/a\\\"b\",le=\"0.001\"} 2\n\
             t_seconds_bucket{namespace=\"/a\\\"b\",le=\"0.01\"} 4\n\
             t_seconds_bucket{namespace=\"/a\\\"b\",le=\"+Inf\"} 5\n\
             t_seconds_sum{namespace=\"/a\\\"b\"} 1.0115\n\
             t_seconds_count{namespace=\"/a\\\"b\"} 5\n"
        );
    }
}
