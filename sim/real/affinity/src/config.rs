//! The library's settings, and presets that reproduce the defaults of the libraries architects
//! already know (see the README's side-by-side table).

use std::time::Duration;

use crate::breaker::{BreakerConfig, Trip};
use crate::retry::{BudgetConfig, RetryConfig};

/// Everything the client can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The caller's AZ (e.g. `use1-az1`); `None`: no zone preference. See
    /// [`local_zone_from_env`](crate::local_zone_from_env) for ECS and environment variables.
    pub local_zone: Option<String>,
    /// How an endpoint is chosen within a zone.
    pub selection: Selection,
    pub zones: ZoneConfig,
    /// Outlier ejection (`None`: off).
    pub outlier: Option<OutlierConfig>,
    /// A circuit breaker per endpoint or per zone (`None`: off).
    pub breaker: Option<(BreakerScope, BreakerConfig)>,
    pub retry: RetryConfig,
}

/// Within a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Two endpoints at random; the one with fewer requests in flight.
    PowerOfTwoChoices,
    RoundRobin,
}

/// Zone-aware routing and failover.
#[derive(Clone, Copy, Debug, PartialEq)]
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

impl Config {
    /// This library's defaults: AZ affinity with spill-over below 70 % and failback after 30 s
    /// above 90 %, power of two choices, Envoy's outlier ejection, a per-zone breaker (5
    /// failures in a row, 30 s open, 3 probes), and the AWS SDK's standard retries.
    pub fn new(local_zone: Option<&str>) -> Self {
        Config {
            local_zone: local_zone.map(str::to_string),
            selection: Selection::PowerOfTwoChoices,
            zones: ZoneConfig { spill_below: 0.7, failback_above: 0.9, failback_after: Duration::from_secs(30), min_zone_size: 1, panic_threshold: 0.5 },
            outlier: Some(presets::envoy_outlier_detection()),
            breaker: Some((BreakerScope::Zone, BreakerConfig { trip: Trip::ConsecutiveFailures(5), open_for: Duration::from_secs(30), probes: 3 })),
            retry: presets::aws_sdk_standard_retry(),
        }
    }
}

/// The anchors' defaults, one function each.
pub mod presets {
    use super::*;

    /// The AWS SDKs' `standard` retry mode: 3 attempts, full-jitter backoff from 100 ms
    /// doubling to 20 s, a 500-token bucket (retry 5, timeout retry 10, success 1).
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
