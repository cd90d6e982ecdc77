//! Retries: exponential backoff with full jitter, and retry budgets that stop retries from
//! multiplying load when a dependency fails.
//!
//! - [`BudgetConfig::TokenBucket`]: the AWS SDKs' standard retry mode. A bucket of `capacity` tokens;
//!   a retry costs `retry_cost` (`timeout_cost` after a timeout); a success refunds the retry's
//!   cost if it was a retry, else `success_refund`. With too few tokens, no retry.
//! - [`BudgetConfig::Ratio`]: Finagle's and Envoy's idea. Every request deposits `ratio` of a retry;
//!   a reserve of `min_per_sec` retries per second always exists; a retry withdraws one.
//!   (Finagle's deposits expire after a TTL; here the balance is capped at what `window` of
//!   deposits and reserve would hold.)
//! - [`BudgetConfig::Unlimited`]: retries up to the attempt limit, nothing else (the retry-storm
//!   baseline).

use std::time::Duration;

use azsim_net::Rng;
use tokio::time::Instant;

/// How retries are paced and limited. [`RetryConfig::default`] is this library's: the AWS SDKs'
/// standard mode ([`presets::aws_sdk_standard_retry`](crate::config::presets::aws_sdk_standard_retry))
/// with a per-try timeout of [`DEFAULT_PER_TRY_TIMEOUT`](crate::config::DEFAULT_PER_TRY_TIMEOUT)
/// (5 s) and a deadline of [`DEFAULT_DEADLINE`](crate::config::DEFAULT_DEADLINE) (15 s).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Backoff before retry `n` (1-based) is uniform in `[0, min(cap, base * 2^(n-1))]`. A
    /// `Retry-After` the endpoint sends ([`Policy::retry_after`](crate::Policy::retry_after))
    /// lengthens it; without a deadline, `cap` bounds that too.
    pub base: Duration,
    pub cap: Duration,
    /// Each attempt gives up after this long (`None`: never; default 5 s).
    pub per_try_timeout: Option<Duration>,
    /// The whole call gives up after this long, retries and backoff included (`None`: never;
    /// default 15 s).
    pub deadline: Option<Duration>,
    /// Retry on a different AZ than the failed attempt when one is available (a throttled
    /// attempt's zone too: its endpoints asked to be spared).
    pub other_zone: bool,
    pub budget: BudgetConfig,
}

impl Default for RetryConfig {
    fn default() -> Self {
        crate::config::presets::aws_sdk_standard_retry().per_try_timeout(crate::config::DEFAULT_PER_TRY_TIMEOUT).deadline(crate::config::DEFAULT_DEADLINE)
    }
}

impl RetryConfig {
    /// Attempts in all, the first included (1 = no retries).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }
    /// The backoff's first ceiling and its cap.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        (self.base, self.cap) = (base, cap);
        self
    }
    /// A `Duration`, or `None` for no limit.
    pub fn per_try_timeout(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.per_try_timeout = limit.into();
        self
    }
    /// A `Duration`, or `None` for no limit.
    pub fn deadline(mut self, limit: impl Into<Option<Duration>>) -> Self {
        self.deadline = limit.into();
        self
    }
    pub fn other_zone(mut self, other_zone: bool) -> Self {
        self.other_zone = other_zone;
        self
    }
    pub fn budget(mut self, budget: BudgetConfig) -> Self {
        self.budget = budget;
        self
    }
}

/// The budget's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum BudgetConfig {
    Unlimited,
    TokenBucket { capacity: u32, retry_cost: u32, timeout_cost: u32, success_refund: u32 },
    Ratio { ratio: f64, min_per_sec: f64, window: Duration },
}

/// Full-jitter exponential backoff before retry `retry` (1 = the first retry).
pub fn backoff(config: &RetryConfig, retry: u32, rng: &mut dyn Rng) -> Duration {
    let exp = config.base.saturating_mul(1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX));
    let ceiling = exp.min(config.cap);
    let nanos = ceiling.as_nanos().min(u128::from(u64::MAX)) as u64;
    Duration::from_nanos(if nanos == 0 { 0 } else { rng.below(nanos + 1) })
}

/// A retry budget's state.
#[derive(Clone, Debug)]
pub struct Budget {
    config: BudgetConfig,
    balance: f64,
    at: Option<Instant>,
}

impl Budget {
    pub fn new(config: BudgetConfig) -> Self {
        let balance = match config {
            BudgetConfig::TokenBucket { capacity, .. } => f64::from(capacity),
            BudgetConfig::Ratio { min_per_sec, window, .. } => min_per_sec * window.as_secs_f64(),
            BudgetConfig::Unlimited => 0.0,
        };
        Budget { config, balance, at: None }
    }

    /// Tokens (or retries) left.
    pub fn balance(&self) -> f64 {
        self.balance
    }

    /// A new request (not a retry) starts.
    pub fn on_request(&mut self, now: Instant) {
        if let BudgetConfig::Ratio { ratio, min_per_sec, window } = self.config {
            let elapsed = self.at.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            self.at = Some(now);
            let cap = (ratio * 1000.0).max(1.0) + min_per_sec * window.as_secs_f64();
            self.balance = (self.balance + ratio + min_per_sec * elapsed.as_secs_f64()).min(cap);
        }
    }

    /// Takes what a retry costs; false (and nothing taken) if the budget is spent.
    pub fn try_withdraw(&mut self, after_timeout: bool) -> bool {
        let cost = match self.config {
            BudgetConfig::Unlimited => return true,
            BudgetConfig::TokenBucket { retry_cost, timeout_cost, .. } => f64::from(if after_timeout { timeout_cost } else { retry_cost }),
            BudgetConfig::Ratio { .. } => 1.0,
        };
        // (A hair of tolerance: deposits of 0.2 should make whole retries.)
        if self.balance + 1e-9 < cost {
            return false;
        }
        self.balance -= cost;
        true
    }

    /// Gives back what [`try_withdraw`](Self::try_withdraw) took for a retry that is not made
    /// after all (the deadline would pass before it could start).
    pub fn refund(&mut self, after_timeout: bool) {
        self.balance += match self.config {
            BudgetConfig::Unlimited => 0.0,
            BudgetConfig::TokenBucket { retry_cost, timeout_cost, .. } => f64::from(if after_timeout { timeout_cost } else { retry_cost }),
            BudgetConfig::Ratio { .. } => 1.0,
        };
    }

    /// A call succeeded: `retried` if it took a retry (whose cost, `after_timeout` or not, is
    /// refunded), else the bucket gains `success_refund`.
    pub fn on_success(&mut self, retried: bool, after_timeout: bool) {
        if let BudgetConfig::TokenBucket { capacity, retry_cost, timeout_cost, success_refund } = self.config {
            let refund = if retried { if after_timeout { timeout_cost } else { retry_cost } } else { success_refund };
            self.balance = (self.balance + f64::from(refund)).min(f64::from(capacity));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Max;
    impl Rng for Max {
        fn next_u64(&mut self) -> u64 {
            u64::MAX
        }
    }

    fn cfg(budget: BudgetConfig) -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            per_try_timeout: None,
            deadline: None,
            other_zone: true,
            budget,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let c = cfg(BudgetConfig::Unlimited);
        let ceilings: Vec<Duration> = (1..=6).map(|n| backoff(&c, n, &mut Max)).collect();
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(ceilings, [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
    }

    #[test]
    fn the_token_bucket_runs_dry_and_successes_refill_it() {
        let mut b = Budget::new(BudgetConfig::TokenBucket { capacity: 20, retry_cost: 5, timeout_cost: 10, success_refund: 1 });
        assert!(b.try_withdraw(true), "timeout retry: 10");
        assert!(b.try_withdraw(false) && b.try_withdraw(false), "two retries: 5 each");
        assert!(!b.try_withdraw(false), "empty");
        b.on_success(false, false);
        assert_eq!(b.balance(), 1.0);
        b.on_success(true, false);
        assert_eq!(b.balance(), 6.0, "a successful retry refunds its cost");
    }

    #[test]
    fn the_ratio_budget_allows_a_share_of_requests_plus_a_reserve() {
        let t0 = Instant::now(); // determinism: ok (a test's reference point)
        let mut b = Budget::new(BudgetConfig::Ratio { ratio: 0.2, min_per_sec: 0.0, window: Duration::from_secs(10) });
        for _ in 0..10 {
            b.on_request(t0);
        }
        assert!(b.try_withdraw(false) && b.try_withdraw(false), "20 % of 10 requests");
        assert!(!b.try_withdraw(false));
        b.on_request(t0 + Duration::from_secs(1));
        let mut r = Budget::new(BudgetConfig::Ratio { ratio: 0.0, min_per_sec: 3.0, window: Duration::from_secs(1) });
        r.on_request(t0);
        assert!((0..3).all(|_| r.try_withdraw(false)) && !r.try_withdraw(false), "the reserve: 3 per second");
    }
}
