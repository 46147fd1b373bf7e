//! The kubelet's image pull back-off (`flowcontrol.Backoff`, no jitter): per pod and
//! image, 10 s after the first failure, doubling up to 300 s; an entry idle for more than
//! twice the maximum (600 s) starts over. Durations are already time-scaled.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Instant,
}

/// Back-off state keyed by `<pod uid>_<image>`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max, entries: HashMap::new() }
    }

    /// The kubelet's defaults (10 s, 300 s) times `scale`.
    #[cfg(test)]
    pub fn kubelet_default(scale: f64) -> Self {
        Self::new(Duration::from_secs(10).mul_f64(scale), Duration::from_secs(300).mul_f64(scale))
    }

    fn expired(&self, now: Instant, e: &Entry) -> bool {
        now.saturating_duration_since(e.last_update) > self.max * 2
    }

    /// Record a failure at `now`.
    pub fn next(&mut self, key: &str, now: Instant) {
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(now, e) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(key.to_string(), Entry { backoff, last_update: now });
    }

    /// `IsInBackOffSinceUpdate`: still inside the window opened by the last failure.
    pub fn in_backoff(&self, key: &str, now: Instant) -> bool {
        self.entries.get(key).is_some_and(|e| {
            !self.expired(now, e) && now.saturating_duration_since(e.last_update) < e.backoff
        })
    }

    /// When the current window ends, if one is open.
    pub fn window_end(&self, key: &str, now: Instant) -> Option<Instant> {
        self.in_backoff(key, now).then(|| {
            let e = self.entries[key];
            e.last_update + e.backoff
        })
    }

    /// Current back-off duration for `key`.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.backoff)
    }

    #[cfg(test)]
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_max_and_resets_after_twice_max() {
        let mut b = Backoff::kubelet_default(1.0);
        let t0 = Instant::now();
        let k = "uid_img";
        assert!(!b.in_backoff(k, t0));
        let mut t = t0;
        let mut seen = vec![];
        for _ in 0..7 {
            b.next(k, t);
            let d = b.get(k).unwrap();
            seen.push(d.as_secs());
            assert!(b.in_backoff(k, t + d - Duration::from_millis(1)));
            assert!(!b.in_backoff(k, t + d));
            assert_eq!(b.window_end(k, t), Some(t + d));
            t += d;
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300]);
        // Idle for more than 600 s: starts over at 10 s.
        t += Duration::from_secs(601);
        b.next(k, t);
        assert_eq!(b.get(k), Some(Duration::from_secs(10)));
        // Exactly 600 s is not expired yet.
        let t2 = t + Duration::from_secs(600);
        b.next(k, t2);
        assert_eq!(b.get(k), Some(Duration::from_secs(20)));
    }

    #[test]
    fn scaled() {
        let b = Backoff::kubelet_default(0.01);
        assert_eq!(b.initial, Duration::from_millis(100));
        assert_eq!(b.max, Duration::from_secs(3));
    }
}
