//! Counters of what the server did, exposed at `/metrics` in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The server's counters. Every method is cheap and safe to call from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    decisions: Mutex<BTreeMap<(String, String), u64>>,
    evaluations: AtomicU64,
    cache_hits: AtomicU64,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    bytes_served: AtomicU64,
    upstream_seconds: Mutex<(f64, u64)>,
}

impl Metrics {
    /// Counts a decision served, by result (`allowed`, `warned`, `denied`, `error`) and mode.
    pub fn decision(&self, result: &str, mode: &str) {
        let mut map = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((result.to_owned(), mode.to_owned())).or_default() += 1;
    }

    /// Counts a decision evaluated (not answered from a cache).
    pub fn evaluation(&self) {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
    }

    /// How many decisions were evaluated.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Counts a decision answered from a cache.
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request answered, by route and status.
    pub fn request(&self, route: &'static str, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((route, status)).or_default() += 1;
    }

    /// Adds body bytes sent to clients.
    pub fn served(&self, bytes: u64) {
        self.bytes_served.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records the time one upstream request took.
    pub fn upstream(&self, seconds: f64) {
        let mut sum = self
            .upstream_seconds
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sum.0 += seconds;
        sum.1 += 1;
    }

    /// The text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP vouch_decisions_total Decisions served, by result and mode.\n");
        out.push_str("# TYPE vouch_decisions_total counter\n");
        for ((result, mode), n) in self
            .decisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "vouch_decisions_total{{result=\"{result}\",mode=\"{mode}\"}} {n}"
            );
        }
        out.push_str("# HELP vouch_decision_evaluations_total Decisions evaluated (evidence fetched and verified).\n");
        out.push_str("# TYPE vouch_decision_evaluations_total counter\n");
        let _ = writeln!(
            out,
            "vouch_decision_evaluations_total {}",
            self.evaluations()
        );
        out.push_str("# HELP vouch_decision_cache_hits_total Decisions answered from a cache.\n");
        out.push_str("# TYPE vouch_decision_cache_hits_total counter\n");
        let _ = writeln!(
            out,
            "vouch_decision_cache_hits_total {}",
            self.cache_hits.load(Ordering::Relaxed)
        );
        out.push_str("# HELP vouch_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE vouch_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "vouch_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP vouch_bytes_served_total Body bytes sent to clients.\n");
        out.push_str("# TYPE vouch_bytes_served_total counter\n");
        let _ = writeln!(
            out,
            "vouch_bytes_served_total {}",
            self.bytes_served.load(Ordering::Relaxed)
        );
        let (sum, count) = *self
            .upstream_seconds
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP vouch_upstream_request_seconds Time spent on upstream requests.\n");
        out.push_str("# TYPE vouch_upstream_request_seconds summary\n");
        let _ = writeln!(out, "vouch_upstream_request_seconds_sum {sum}");
        let _ = writeln!(out, "vouch_upstream_request_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_lists_every_counter_with_its_labels() {
        let metrics = Metrics::default();
        metrics.decision("denied", "enforce");
        metrics.decision("denied", "enforce");
        metrics.evaluation();
        metrics.request("manifest", 403);
        metrics.served(10);
        metrics.upstream(0.5);
        let text = metrics.render();
        assert!(text.contains("vouch_decisions_total{result=\"denied\",mode=\"enforce\"} 2"));
        assert!(text.contains("vouch_decision_evaluations_total 1"));
        assert!(text.contains("vouch_requests_total{route=\"manifest\",status=\"403\"} 1"));
        assert!(text.contains("vouch_bytes_served_total 10"));
        assert!(text.contains("vouch_upstream_request_seconds_count 1"));
    }
}
