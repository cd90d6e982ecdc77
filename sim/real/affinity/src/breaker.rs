//! A circuit breaker, as a state machine:
//!
//! ```text
//!   Closed --trip condition--> Open --open_for elapsed--> HalfOpen
//!   HalfOpen --`probes` successes--> Closed
//!   HalfOpen --any failure--> Open
//! ```
//!
//! The trip condition is either a run of consecutive failures, or a failure rate over a
//! count-based sliding window once it holds `min_calls` outcomes (resilience4j's model).
//! While half-open, at most `probes` calls are let through at a time.

use std::time::Duration;

use tokio::time::Instant;

/// When a closed breaker opens.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Trip {
    /// This many failures in a row.
    ConsecutiveFailures(u32),
    /// A failure rate at or above `threshold` (0..=1) over the last `window` calls, once at least
    /// `min_calls` have been recorded.
    FailureRate { threshold: f64, window: u32, min_calls: u32 },
}

/// A breaker's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerConfig {
    pub trip: Trip,
    /// How long it stays open before letting probes through (default 30 s).
    pub open_for: Duration,
    /// Calls let through while half-open; that many successes close it (default 3; at least 1).
    pub probes: u32,
}

impl BreakerConfig {
    /// A breaker that opens on `trip`, stays open 30 s, then lets 3 probes through.
    pub fn new(trip: Trip) -> Self {
        BreakerConfig { trip, open_for: Duration::from_secs(30), probes: 3 }
    }
    pub fn open_for(mut self, span: Duration) -> Self {
        self.open_for = span;
        self
    }
    /// At least 1 (0 would never close it again).
    pub fn probes(mut self, probes: u32) -> Self {
        self.probes = probes;
        self
    }
}

/// The states. `Open` carries when it may half-open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// A circuit breaker. Allocates once, at construction.
#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    consecutive: u32,
    /// Ring of the last outcomes (true = failure), for `Trip::FailureRate`.
    window: Vec<bool>,
    next: usize,
    filled: u32,
    failures: u32,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        let size = match config.trip {
            Trip::FailureRate { window, .. } => window.max(1) as usize,
            Trip::ConsecutiveFailures(_) => 0,
        };
        Breaker { config, state: BreakerState::Closed, consecutive: 0, window: vec![false; size], next: 0, filled: 0, failures: 0 }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go through now, without taking a half-open permit.
    pub fn is_available(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open { until } => now >= until,
            BreakerState::HalfOpen { in_flight, .. } => in_flight < self.config.probes.max(1),
        }
    }

    /// Takes a permit for a call: false when the breaker refuses it. An open breaker whose
    /// time is up becomes half-open here.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        if let BreakerState::Open { until } = self.state {
            if now < until {
                return false;
            }
            self.state = BreakerState::HalfOpen { in_flight: 0, successes: 0 };
        }
        match &mut self.state {
            BreakerState::Closed => true,
            BreakerState::HalfOpen { in_flight, .. } if *in_flight < self.config.probes.max(1) => {
                *in_flight += 1;
                true
            }
            _ => false,
        }
    }

    /// Lets a call through whatever the state: the balancer's last word when every zone's
    /// breaker refuses (panic). An open breaker half-opens early, so the call is a probe and its
    /// outcome counts: `probes` successes close it, a failure opens it for another `open_for`.
    /// A half-open breaker takes the call as one more probe, beyond `probes` if need be.
    pub fn probe(&mut self) {
        if let BreakerState::Open { .. } = self.state {
            self.state = BreakerState::HalfOpen { in_flight: 0, successes: 0 };
        }
        if let BreakerState::HalfOpen { in_flight, .. } = &mut self.state {
            *in_flight += 1;
        }
    }

    /// A call that went through ends without a verdict (the endpoint asked to slow down): a
    /// half-open breaker gets its permit back; nothing else changes.
    pub fn release(&mut self) {
        if let BreakerState::HalfOpen { in_flight, .. } = &mut self.state {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Records a call's outcome; returns the new state if it moved to another state.
    pub fn record(&mut self, now: Instant, failed: bool) -> Option<BreakerState> {
        let before = self.state;
        match &mut self.state {
            BreakerState::Closed => {
                self.consecutive = if failed { self.consecutive + 1 } else { 0 };
                if !self.window.is_empty() {
                    if self.filled as usize == self.window.len() && self.window[self.next] {
                        self.failures -= 1;
                    }
                    self.window[self.next] = failed;
                    self.failures += u32::from(failed);
                    self.next = (self.next + 1) % self.window.len();
                    self.filled = (self.filled + 1).min(self.window.len() as u32);
                }
                if self.should_trip() {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen { in_flight, successes } => {
                *in_flight = in_flight.saturating_sub(1);
                if failed {
                    self.open(now);
                } else {
                    *successes += 1;
                    if *successes >= self.config.probes.max(1) {
                        self.close();
                    }
                }
            }
            // An answer to a call started before it opened: it changes nothing.
            BreakerState::Open { .. } => {}
        }
        (std::mem::discriminant(&self.state) != std::mem::discriminant(&before)).then_some(self.state)
    }

    fn should_trip(&self) -> bool {
        match self.config.trip {
            Trip::ConsecutiveFailures(n) => self.consecutive >= n.max(1),
            Trip::FailureRate { threshold, min_calls, .. } => self.filled >= min_calls.max(1) && f64::from(self.failures) / f64::from(self.filled) >= threshold,
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open { until: now + self.config.open_for };
    }

    fn close(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive = 0;
        self.window.iter_mut().for_each(|w| *w = false);
        (self.next, self.filled, self.failures) = (0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any instant will do: the breaker only compares the ones it is given.
    fn at(ms: u64) -> Instant {
        tokio::time::Instant::now() + Duration::from_millis(ms) // determinism: ok (a test's reference point)
    }

    #[test]
    fn opens_after_consecutive_failures_half_opens_after_the_wait_and_closes_after_probes() {
        let t0 = at(0);
        let mut b = Breaker::new(BreakerConfig { trip: Trip::ConsecutiveFailures(3), open_for: Duration::from_secs(10), probes: 2 });
        assert_eq!(b.record(t0, true), None);
        assert_eq!(b.record(t0, false), None, "a success resets the run");
        b.record(t0, true);
        b.record(t0, true);
        assert_eq!(b.record(t0, true), Some(BreakerState::Open { until: t0 + Duration::from_secs(10) }));
        assert!(!b.try_acquire(t0 + Duration::from_secs(9)), "open refuses");
        let t1 = t0 + Duration::from_secs(10);
        assert!(b.try_acquire(t1) && b.try_acquire(t1), "two probes");
        assert!(!b.try_acquire(t1), "no third while half-open");
        assert_eq!(b.record(t1, false), None);
        assert_eq!(b.record(t1, false), Some(BreakerState::Closed));
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let t0 = at(0);
        let mut b = Breaker::new(BreakerConfig { trip: Trip::ConsecutiveFailures(1), open_for: Duration::from_secs(1), probes: 1 });
        b.record(t0, true);
        let t1 = t0 + Duration::from_secs(1);
        assert!(b.try_acquire(t1));
        assert_eq!(b.record(t1, true), Some(BreakerState::Open { until: t1 + Duration::from_secs(1) }));
    }

    #[test]
    fn a_probe_half_opens_an_open_breaker_early_and_its_outcome_counts() {
        let t0 = at(0);
        let mut b = Breaker::new(BreakerConfig::new(Trip::ConsecutiveFailures(1)).open_for(Duration::from_secs(30)).probes(2));
        b.record(t0, true);
        assert!(!b.try_acquire(t0), "open for 30 s");
        b.probe();
        assert_eq!(b.state(), BreakerState::HalfOpen { in_flight: 1, successes: 0 }, "half-open at once");
        b.probe();
        b.probe();
        assert_eq!(b.state(), BreakerState::HalfOpen { in_flight: 3, successes: 0 }, "beyond `probes` if need be");
        assert_eq!(b.record(t0, false), None);
        assert_eq!(b.record(t0, false), Some(BreakerState::Closed), "two successes close it, 29 s early");
        b.record(t0, true);
        b.probe();
        assert_eq!(b.record(t0, true), Some(BreakerState::Open { until: t0 + Duration::from_secs(30) }), "a failed probe opens it again");
    }

    #[test]
    fn failure_rate_needs_the_minimum_number_of_calls() {
        let t0 = at(0);
        let cfg = BreakerConfig { trip: Trip::FailureRate { threshold: 0.5, window: 10, min_calls: 10 }, open_for: Duration::from_secs(60), probes: 3 };
        let mut b = Breaker::new(cfg);
        for _ in 0..9 {
            assert_eq!(b.record(t0, true), None, "fewer than min_calls: no verdict");
        }
        assert!(matches!(b.record(t0, false), Some(BreakerState::Open { .. })), "9 of 10 failed");
    }

    #[test]
    fn failure_rate_slides() {
        let t0 = at(0);
        let cfg = BreakerConfig { trip: Trip::FailureRate { threshold: 0.5, window: 4, min_calls: 4 }, open_for: Duration::from_secs(60), probes: 3 };
        let mut b = Breaker::new(cfg);
        for failed in [true, false, false, false, false, true, false] {
            assert_eq!(b.record(t0, failed), None, "never 2 failures among the last 4");
        }
        assert!(matches!(b.record(t0, true), Some(BreakerState::Open { .. })), "the last 4 are ok, failed, ok, failed: 2 of 4");
    }
}
