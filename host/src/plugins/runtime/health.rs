//! A plugin's calls over the last hour, for the dashboard's health figures: per minute, the
//! calls, the failures and a histogram of call times, so p50 and p99 come out of 60 small
//! arrays instead of a list of every call. The histogram has four buckets per doubling (a
//! reported percentile is at most 19 % above the true one, and never below it). Kept per
//! process: each process reports the calls it made.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Four buckets per doubling from 1 µs: the last one holds everything from about 16 s up,
/// beyond any call budget the host grants.
const BUCKETS: usize = 96;
const MINUTES: usize = 60;
/// The failures whose messages are kept for the dashboard.
const LAST_ERRORS: usize = 5;

#[derive(Clone)]
struct Minute {
    /// Minutes since the Unix epoch this slot counts (a slot from an older hour is stale).
    stamp: u64,
    calls: u32,
    failures: u32,
    buckets: [u32; BUCKETS],
}

impl Minute {
    const EMPTY: Minute = Minute {
        stamp: 0,
        calls: 0,
        failures: 0,
        buckets: [0; BUCKETS],
    };
}

/// One failure as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentError {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub message: String,
}

/// The last hour's figures of one plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourSummary {
    pub calls: u64,
    pub failures: u64,
    /// Call time percentiles (upper bounds of their histogram bucket); `None` without calls.
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// Newest first.
    pub last_errors: Vec<RecentError>,
}

pub(crate) struct CallWindow {
    minutes: Vec<Minute>,
    errors: VecDeque<RecentError>,
}

impl Default for CallWindow {
    fn default() -> Self {
        CallWindow {
            minutes: vec![Minute::EMPTY; MINUTES],
            errors: VecDeque::with_capacity(LAST_ERRORS),
        }
    }
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn bucket(micros: u64) -> usize {
    if micros < 2 {
        return 0;
    }
    let doubling = u64::from(63 - micros.leading_zeros());
    // The two bits after the leading one: which quarter of the doubling.
    let quarter = ((micros << 2) >> doubling) & 3;
    usize::try_from(doubling * 4 + quarter)
        .unwrap_or(BUCKETS - 1)
        .min(BUCKETS - 1)
}

/// The largest call time bucket `i` holds.
fn bucket_upper(i: usize) -> Duration {
    let (doubling, quarter) = ((i / 4) as u32, (i % 4) as u64);
    let micros = (1u64 << doubling) * (4 + quarter + 1) / 4;
    Duration::from_micros(micros.max(1))
}

impl CallWindow {
    pub(crate) fn record(&mut self, took: Duration, failure: Option<&str>) {
        self.record_at(now(), took, failure);
    }

    fn record_at(&mut self, at: Duration, took: Duration, failure: Option<&str>) {
        let stamp = at.as_secs() / 60;
        let slot = &mut self.minutes[(stamp % MINUTES as u64) as usize];
        if slot.stamp != stamp {
            *slot = Minute {
                stamp,
                ..Minute::EMPTY
            };
        }
        slot.calls = slot.calls.saturating_add(1);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        slot.buckets[bucket(micros)] += 1;
        if let Some(message) = failure {
            slot.failures = slot.failures.saturating_add(1);
            if self.errors.len() == LAST_ERRORS {
                self.errors.pop_back();
            }
            self.errors.push_front(RecentError {
                at: at.as_secs(),
                message: message.to_string(),
            });
        }
    }

    pub(crate) fn summary(&self) -> HourSummary {
        self.summary_at(now())
    }

    fn summary_at(&self, at: Duration) -> HourSummary {
        let current = at.as_secs() / 60;
        let live = self
            .minutes
            .iter()
            .filter(|m| m.calls > 0 && m.stamp + (MINUTES as u64) > current);
        let mut merged = [0u64; BUCKETS];
        let (mut calls, mut failures) = (0u64, 0u64);
        for minute in live {
            calls += u64::from(minute.calls);
            failures += u64::from(minute.failures);
            for (sum, n) in merged.iter_mut().zip(minute.buckets) {
                *sum += u64::from(n);
            }
        }
        let percentile = |p: u64| {
            // The smallest bucket at which at least p % of the calls are counted.
            let rank = (calls * p).div_ceil(100).max(1);
            let mut seen = 0;
            merged.iter().enumerate().find_map(|(i, n)| {
                seen += n;
                (seen >= rank).then(|| bucket_upper(i))
            })
        };
        let hour_ago = at.as_secs().saturating_sub(60 * MINUTES as u64);
        HourSummary {
            calls,
            failures,
            p50: (calls > 0).then(|| percentile(50)).flatten(),
            p99: (calls > 0).then(|| percentile(99)).flatten(),
            last_errors: self
                .errors
                .iter()
                .filter(|e| e.at >= hour_ago)
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_never_report_less_than_the_call_took() {
        for micros in [1u64, 2, 3, 5, 7, 100, 999, 1_000, 1_234, 50_000, 3_000_000] {
            let upper = bucket_upper(bucket(micros));
            assert!(upper >= Duration::from_micros(micros), "{micros} µs");
            assert!(
                upper.as_micros() as f64 <= micros as f64 * 1.25 + 1.0,
                "{micros} µs reported as {upper:?}"
            );
        }
    }

    #[test]
    fn percentiles_and_the_hour_window() {
        let mut w = CallWindow::default();
        let t0 = Duration::from_secs(1_000_000 * 60);
        for _ in 0..98 {
            w.record_at(t0, Duration::from_micros(100), None);
        }
        w.record_at(t0, Duration::from_millis(20), Some("trapped"));
        w.record_at(t0, Duration::from_millis(20), None);
        let s = w.summary_at(t0);
        assert_eq!((s.calls, s.failures), (100, 1));
        assert!(s.p50.unwrap() >= Duration::from_micros(100));
        assert!(s.p50.unwrap() < Duration::from_micros(130));
        assert!(s.p99.unwrap() >= Duration::from_millis(20));
        assert_eq!(s.last_errors.len(), 1);
        assert_eq!(s.last_errors[0].message, "trapped");
        // An hour and a minute later the old calls have left the window.
        let later = t0 + Duration::from_secs(61 * 60);
        w.record_at(later, Duration::from_millis(2), None);
        let s = w.summary_at(later);
        assert_eq!((s.calls, s.failures), (1, 0));
        assert!(s.last_errors.is_empty());
        assert!(s.p99.unwrap() >= Duration::from_millis(2));
    }
}
