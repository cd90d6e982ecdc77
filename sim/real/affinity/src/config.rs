//! The library's settings, and presets that reproduce the defaults of the libraries architects
//! already know (see the README's side-by-side table).
//!
//! Every settings struct is `#[non_exhaustive]`: start from [`Config::new`] or a preset and
//! change what you need, by field (`config.retry.max_attempts = 5`) or with the builder-style
//! setters (`RetryConfig::default().max_attempts(5)`), so a field added later breaks nobody.

use std::time::Duration;

use crate::breaker::{BreakerConfig, Trip};
use crate::retry::{BudgetConfig, RetryConfig};

/// Each attempt's default time limit: 5 s. Envoy gives a connection 5 s to open
/// (`connect_timeout`), so an attempt is never cut shorter than a connect alone may take, and
/// three attempts fit in [`DEFAULT_DEADLINE`]. Without a limit a black-holed endpoint (packets
/// dropped, nothing refused) would hold a call forever.
pub const DEFAULT_PER_TRY_TIMEOUT: Duration = Duration::from_secs(5);

/// A whole call's default time limit, retries and backoff included: 15 s, Envoy's default
/// route `timeout`.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15);

/// Everything the client can be told. [`Config::new`] lists each default.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The caller's AZ, as the endpoints name theirs: an AZ ID (`use1-az1`, the same AZ in
    /// every account) or an AZ name (`us-east-1a`, which maps to a different AZ in each
    /// account); `None`: no zone preference. IDs and names cannot be mapped onto each other
    /// without the account's mapping, so a local zone of one kind among endpoints of the other
    /// is reported (a warning, and [`Snapshot::local_zone_found`](crate::Snapshot)) rather than
    /// guessed. See [`local_zone_from_env`](crate::local_zone_from_env).
    pub local_zone: Option<String>,
    /// How an endpoint is chosen within a zone.
    pub selection: Selection,
    pub zones: ZoneConfig,
    /// Outlier ejection (`None`: off).
    pub outlier: Option<OutlierConfig>,
    /// Circuit breakers per endpoint or per zone (`None`: off).
    pub breaker: Option<Breakers>,
    pub retry: RetryConfig,
}

/// Within a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Two endpoints at random; the one with fewer requests in flight.
    PowerOfTwoChoices,
    RoundRobin,
}

/// Zone-aware routing, failover and panic.
///
/// How they interact with outlier ejection and breakers: an endpoint is *available* unless it
/// is ejected or its own breaker is open. The local zone is left (spill-over) when its available
/// share falls below `spill_below` or its zone breaker opens. Panic comes last: with fewer than
/// `panic_threshold` of all endpoints available, health is ignored and every endpoint takes
/// traffic; and when every zone that could take a call has its breaker open, the call goes out
/// anyway as a probe of one of them (its breaker half-opens early), so a blip everywhere costs
/// the blip and not `open_for` after it. A `panic_threshold` of 0 turns panic off, this last
/// word included: the caller then gets [`Error::CircuitOpen`](crate::Error::CircuitOpen).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ZoneConfig {
    /// Spill over to other zones when the share of the local zone's endpoints that are
    /// available (not ejected, breaker not open) falls below this.
    pub spill_below: f64,
    /// Come back only once that share is at least this ...
    pub failback_above: f64,
    /// ... continuously for this long (hysteresis, so routing does not flap).
    pub failback_after: Duration,
    /// Zone awareness applies only when the local zone has at least this many endpoints
    /// (Envoy's `min_cluster_size`, there counted over the whole cluster).
    pub min_zone_size: u32,
    /// When fewer than this share of all endpoints are available, ignore health and use all of
    /// them (Envoy's panic threshold): better some load on sick endpoints than all of it on few.
    pub panic_threshold: f64,
}

/// Envoy-style outlier ejection.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct OutlierConfig {
    /// Failures in a row (5xx, connect errors, timeouts) that eject an endpoint.
    pub consecutive_failures: u32,
    /// Ejected for `base_ejection * times ejected`, at most `max_ejection`.
    pub base_ejection: Duration,
    pub max_ejection: Duration,
    /// At most this share of endpoints ejected at once (at least one may always be).
    pub max_ejected_share: f64,
}

/// What a breaker guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerScope {
    Endpoint,
    Zone,
}

/// Circuit breakers: one per endpoint or one per zone, each with `config`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Breakers {
    pub scope: BreakerScope,
    pub config: BreakerConfig,
}

impl Breakers {
    /// One breaker per zone: a zone that keeps failing is left as a whole.
    pub fn per_zone(config: BreakerConfig) -> Self {
        Breakers { scope: BreakerScope::Zone, config }
    }

    /// One breaker per endpoint.
    pub fn per_endpoint(config: BreakerConfig) -> Self {
        Breakers { scope: BreakerScope::Endpoint, config }
    }
}

impl Config {
    /// This library's defaults, each of which a field or setter changes:
    ///
    /// | setting | default | from |
    /// |---|---|---|
    /// | `selection` | power of two choices | tower's `p2c`, Envoy's least request |
    /// | `zones.spill_below` | 0.7: spill when under 70 % of the local zone is available | this library |
    /// | `zones.failback_above`, `failback_after` | back after 30 s at 90 % or more | this library (hysteresis) |
    /// | `zones.min_zone_size` | 1: zone awareness with any number of local endpoints | this library (Envoy's `min_cluster_size` is 6, see [`presets::envoy_zone_aware`]) |
    /// | `zones.panic_threshold` | 0.5: panic under 50 % available | Envoy's `healthy_panic_threshold` |
    /// | `outlier` | 5 failures in a row eject for 30 s x times ejected, at most 300 s, at most 10 % | [`presets::envoy_outlier_detection`] |
    /// | `breaker` | per zone: 5 failures in a row open it for 30 s, then 3 probes | this library |
    /// | `retry` | 3 attempts, full-jitter backoff from 100 ms to 20 s, 500-token bucket | [`presets::aws_sdk_standard_retry`] |
    /// | `retry.per_try_timeout` | 5 s | [`DEFAULT_PER_TRY_TIMEOUT`] |
    /// | `retry.deadline` | 15 s | [`DEFAULT_DEADLINE`] |
    pub fn new(local_zone: Option<&str>) -> Self {
        Config {
            local_zone: local_zone.map(str::to_string),
            selection: Selection::PowerOfTwoChoices,
            zones: ZoneConfig::default(),
            outlier: Some(presets::envoy_outlier_detection()),
            breaker: Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(5)))),
            retry: RetryConfig::default(),
        }
    }

    /// Sets the caller's AZ (`None`: no zone preference).
    pub fn local_zone<'a>(mut self, zone: impl Into<Option<&'a str>>) -> Self {
        self.local_zone = zone.into().map(str::to_string);
        self
    }

    pub fn selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    pub fn zones(mut self, zones: ZoneConfig) -> Self {
        self.zones = zones;
        self
    }

    /// Outlier ejection, or `None` for none.
    pub fn outlier(mut self, outlier: impl Into<Option<OutlierConfig>>) -> Self {
        self.outlier = outlier.into();
        self
    }

    /// Circuit breakers, or `None` for none.
    pub fn breaker(mut self, breaker: impl Into<Option<Breakers>>) -> Self {
        self.breaker = breaker.into();
        self
    }

    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }
}

/// The library's zone defaults (see [`Config::new`]).
impl Default for ZoneConfig {
    fn default() -> Self {
        ZoneConfig { spill_below: 0.7, failback_above: 0.9, failback_after: Duration::from_secs(30), min_zone_size: 1, panic_threshold: 0.5 }
    }
}

impl ZoneConfig {
    pub fn spill_below(mut self, share: f64) -> Self {
        self.spill_below = share;
        self
    }
    pub fn failback_above(mut self, share: f64) -> Self {
        self.failback_above = share;
        self
    }
    pub fn failback_after(mut self, wait: Duration) -> Self {
        self.failback_after = wait;
        self
    }
    pub fn min_zone_size(mut self, endpoints: u32) -> Self {
        self.min_zone_size = endpoints;
        self
    }
    /// 0 turns panic off (see the type's documentation).
    pub fn panic_threshold(mut self, share: f64) -> Self {
        self.panic_threshold = share;
        self
    }
}

/// Envoy's outlier detection ([`presets::envoy_outlier_detection`]).
impl Default for OutlierConfig {
    fn default() -> Self {
        presets::envoy_outlier_detection()
    }
}

impl OutlierConfig {
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.consecutive_failures = failures;
        self
    }
    pub fn base_ejection(mut self, span: Duration) -> Self {
        self.base_ejection = span;
        self
    }
    pub fn max_ejection(mut self, span: Duration) -> Self {
        self.max_ejection = span;
        self
    }
    pub fn max_ejected_share(mut self, share: f64) -> Self {
        self.max_ejected_share = share;
        self
    }
}

/// The anchors' defaults, one function each.
pub mod presets {
    use super::*;

    /// The AWS SDKs' `standard` retry mode: 3 attempts, full-jitter backoff from 100 ms
    /// doubling to 20 s, a 500-token bucket (retry 5, timeout retry 10, success 1). The SDKs
    /// set no per-attempt timeout nor deadline, and neither does this preset (`None`); set them
    /// with [`RetryConfig::per_try_timeout`] and [`RetryConfig::deadline`], or start from
    /// [`RetryConfig::default`], which has them.
    pub fn aws_sdk_standard_retry() -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
            per_try_timeout: None,
            deadline: None,
            other_zone: true,
            budget: BudgetConfig::TokenBucket { capacity: 500, retry_cost: 5, timeout_cost: 10, success_refund: 1 },
        }
    }

    /// Envoy's outlier detection: 5 consecutive 5xx, 30 s base ejection, at most 10 % ejected,
    /// ejection time capped at 300 s.
    pub fn envoy_outlier_detection() -> OutlierConfig {
        OutlierConfig { consecutive_failures: 5, base_ejection: Duration::from_secs(30), max_ejection: Duration::from_secs(300), max_ejected_share: 0.1 }
    }

    /// Envoy's zone-aware routing thresholds: zone awareness from 6 endpoints, panic below 50 %.
    /// (Envoy balances by the caller fleet's size per zone; this library, without that figure,
    /// spills when the local zone's available share drops.)
    pub fn envoy_zone_aware() -> ZoneConfig {
        ZoneConfig { spill_below: 0.7, failback_above: 0.7, failback_after: Duration::ZERO, min_zone_size: 6, panic_threshold: 0.5 }
    }

    /// Envoy's retry budget: retries at most 20 % of requests, with a floor of 3 concurrent
    /// retries (here: 3 per second).
    pub fn envoy_retry_budget() -> BudgetConfig {
        BudgetConfig::Ratio { ratio: 0.2, min_per_sec: 3.0, window: Duration::from_secs(10) }
    }

    /// Finagle's `RetryBudget()`: 20 % of requests, 10 retries per second reserve, 10 s TTL.
    pub fn finagle_retry_budget() -> BudgetConfig {
        BudgetConfig::Ratio { ratio: 0.2, min_per_sec: 10.0, window: Duration::from_secs(10) }
    }

    /// resilience4j's `CircuitBreakerConfig.ofDefaults()`: 50 % failure rate over a 100-call
    /// window (100 calls minimum), 60 s open, 10 calls half-open.
    pub fn resilience4j_breaker() -> BreakerConfig {
        BreakerConfig { trip: Trip::FailureRate { threshold: 0.5, window: 100, min_calls: 100 }, open_for: Duration::from_secs(60), probes: 10 }
    }
}
