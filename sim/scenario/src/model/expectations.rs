//! `expectations:`: what must hold after the run, each with exactly one check.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::one_of::{deserialize_through, exactly_one, given};
use crate::units::Dur;

mod limits;
use limits::{BareOrLimits, bare_is_max};
pub use limits::{Figure, Limits};

/// An expectation: an optional name and filter, and exactly one check.
#[derive(Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectationSpec {
    /// Shown in reports (default: derived from the check).
    #[serde(default)]
    pub name: Option<String>,
    /// Only this client's requests.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub client: Option<Ref>,
    /// Only requests of clients in this AZ.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub az: Option<Ref>,
    /// Only requests started in this window.
    #[serde(default)]
    #[schemars(with = "Option<Window>")]
    pub window: Option<Spanned<Window>>,
    /// Only requests with this method (`GET`; of a client's `http` entries).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// Only requests to this path (of a client's `http` entries): exact, or a prefix when it
    /// ends in `*` (`/orders/*`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// Only requests answered with one of these statuses: codes and ranges as
    /// `expected_statuses` (`"500-599"`, `"401,403"`); unanswered requests are left out.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub status: Option<Spanned<String>>,
    /// Pass when no request is selected (by `client`, `az`, `window`, `method`, `path` or
    /// `status`). Without it a check of
    /// requests fails with "no requests in the window": a budget over nothing proves nothing.
    #[serde(default)]
    pub allow_empty: bool,
    #[serde(flatten)]
    pub check: ExpectationCheck,
}

/// What an expectation checks: exactly one of these keys.
#[derive(Clone, Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpectationCheck {
    /// End-to-end latency of answered requests.
    Latency(LatencyBudget),
    /// Latency of the requests that took the most AZ crossings (the worst-case path).
    WorstPathLatency(LatencyBudget),
    /// AZ crossings per request.
    AzCrossings(CountBudget),
    /// Region crossings per request.
    RegionCrossings(CountBudget),
    /// Share of requests answered successfully.
    SuccessRatio(RatioBudget),
    /// What the whole run cost, in US dollars: every component and all data transfer (the
    /// report's cost table).
    CostUsd(AmountBudget),
    /// What the run cost per million requests the clients sent, in US dollars.
    CostPerMillionRequests(AmountBudget),
    /// Bytes that crossed AZ boundaries.
    CrossAzBytes(AmountBudget),
    /// Time to recover after every fault on the timeline.
    Recovery(RecoveryBudget),
    /// Failed requests (answered with an error, or not at all).
    Failures(FailureBudget),
    /// Attempts per request of clients using the library (retry amplification): `max` for a
    /// budget, `min` to document a retry storm.
    RetryAmplification(RatioBudget),
    /// After a fault takes down hosts registered in Cloud Map: how long `DiscoverInstances`
    /// kept returning them.
    DiscoveryStaleness(StalenessBudget),
    /// Requests nobody answered: the client timed out, or they were still in flight at the
    /// end. An error status (502, 503, 504) is an answer: the failure was explicit.
    Unanswered(FailureBudget),
    /// Requests the tunnel's backend executed more than once (the whole run; needs `tunnel`).
    ExecutedTwice(FailureBudget),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectationSpecRaw {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    client: Option<Ref>,
    #[serde(default)]
    az: Option<Ref>,
    #[serde(default)]
    window: Option<Spanned<Window>>,
    #[serde(default)]
    method: Option<Spanned<String>>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    status: Option<Spanned<String>>,
    #[serde(default)]
    allow_empty: bool,
    #[serde(default)]
    latency: Option<Spanned<LatencyBudget>>,
    #[serde(default)]
    worst_path_latency: Option<Spanned<LatencyBudget>>,
    #[serde(default)]
    az_crossings: Option<Spanned<CountBudget>>,
    #[serde(default)]
    region_crossings: Option<Spanned<CountBudget>>,
    #[serde(default)]
    success_ratio: Option<Spanned<RatioBudget>>,
    #[serde(default)]
    cost_usd: Option<Spanned<AmountBudget>>,
    #[serde(default)]
    cost_per_million_requests: Option<Spanned<AmountBudget>>,
    #[serde(default)]
    cross_az_bytes: Option<Spanned<AmountBudget>>,
    #[serde(default)]
    recovery: Option<Spanned<RecoveryBudget>>,
    #[serde(default)]
    failures: Option<Spanned<FailureBudget>>,
    #[serde(default)]
    retry_amplification: Option<Spanned<RatioBudget>>,
    #[serde(default)]
    discovery_staleness: Option<Spanned<StalenessBudget>>,
    #[serde(default)]
    unanswered: Option<Spanned<FailureBudget>>,
    #[serde(default)]
    executed_twice: Option<Spanned<FailureBudget>>,
}

impl ExpectationSpecRaw {
    fn parse<E: serde::de::Error>(self) -> Result<ExpectationSpec, E> {
        use ExpectationCheck as C;
        let checks = [
            given(self.latency, C::Latency),
            given(self.worst_path_latency, C::WorstPathLatency),
            given(self.az_crossings, C::AzCrossings),
            given(self.region_crossings, C::RegionCrossings),
            given(self.success_ratio, C::SuccessRatio),
            given(self.cost_usd, C::CostUsd),
            given(self.cost_per_million_requests, C::CostPerMillionRequests),
            given(self.cross_az_bytes, C::CrossAzBytes),
            given(self.recovery, C::Recovery),
            given(self.failures, C::Failures),
            given(self.retry_amplification, C::RetryAmplification),
            given(self.discovery_staleness, C::DiscoveryStaleness),
            given(self.unanswered, C::Unanswered),
            given(self.executed_twice, C::ExecutedTwice),
        ];
        let name = self.name.clone().unwrap_or_default();
        let check = exactly_one(checks, self.client.as_ref().map(|c| c.referenced), |n| {
            format!(
                "an expectation has exactly one check (latency, worst_path_latency, az_crossings, region_crossings, success_ratio, cost_usd, cost_per_million_requests, cross_az_bytes, recovery, failures, discovery_staleness, retry_amplification, unanswered, executed_twice); `{name}` has {n}"
            )
        })?;
        Ok(ExpectationSpec {
            name: self.name,
            client: self.client,
            az: self.az,
            window: self.window,
            method: self.method,
            path: self.path,
            status: self.status,
            allow_empty: self.allow_empty,
            check,
        })
    }
}

deserialize_through!(ExpectationSpec, ExpectationSpecRaw);

impl ExpectationSpec {
    /// Whether the `method` and `path` filters select a request sent as `method path`: the
    /// method equal (any case), the path equal or, for a filter ending in `*`, its prefix.
    pub fn selects_http(&self, method: &str, path: &str) -> bool {
        let path_ok = |filter: &str| match filter.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => filter == path,
        };
        self.method.as_ref().is_none_or(|m| m.value.eq_ignore_ascii_case(method)) && self.path.as_ref().is_none_or(|p| path_ok(&p.value))
    }
}

/// Which requests an expectation looks at.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Requests started at or after this time.
    #[serde(default)]
    pub from: Dur,
    /// Requests started before this time (default: the end).
    #[serde(default)]
    pub to: Option<Dur>,
}

/// Latency budgets by percentile, and `at_least`, a minimum for every request (to document a
/// cost, e.g. that each request paid a cold start). A percentile's bare value is a maximum
/// (`p99: 40ms`); a map states it exactly or from both sides (`p50: { equals: 15.2ms,
/// tolerance: 1us }`, `p50: { between: [14ms, 16ms] }`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyBudget {
    #[serde(default)]
    pub at_least: Option<Dur>,
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<Dur>>")]
    pub p0: Option<Limits<Dur>>,
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<Dur>>")]
    pub p50: Option<Limits<Dur>>,
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<Dur>>")]
    pub p90: Option<Limits<Dur>>,
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<Dur>>")]
    pub p99: Option<Limits<Dur>>,
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<Dur>>")]
    pub p999: Option<Limits<Dur>>,
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<Dur>>")]
    pub max: Option<Limits<Dur>>,
}

impl LatencyBudget {
    /// Each percentile's bounds, by the key that states them.
    pub fn percentiles(&self) -> [(&'static str, Option<Limits<Dur>>); 6] {
        [("p0", self.p0), ("p50", self.p50), ("p90", self.p90), ("p99", self.p99), ("p999", self.p999), ("max", self.max)]
    }
}

/// Bounds on a count per request. Each bare value is a maximum (`max: 8`); a map states the
/// figure exactly or from both sides (`max: { equals: 8 }`, `mean: { between: [1.3, 1.4] }`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountBudget {
    /// The largest count of any request.
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<u64>>")]
    pub max: Option<Limits<u64>>,
    /// The mean over requests.
    #[serde(default, deserialize_with = "bare_is_max")]
    #[schemars(with = "Option<BareOrLimits<f64>>")]
    pub mean: Option<Limits<f64>>,
}

/// Bounds on a ratio: `min` for a budget; `max` to state that a design *does* lose requests
/// (a scenario that documents a weakness); both, `between`, or `equals` with a `tolerance`.
pub type RatioBudget = Limits<f64>;

/// Bounds on a whole-run amount (dollars, bytes): `max`, `min`, `between` or `equals`.
pub type AmountBudget = Limits<f64>;

/// Bounds on a number of requests: `max` (the budget), `min`, `between` or `equals`.
pub type FailureBudget = Limits<u64>;

/// How fast service must return after each fault.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryBudget {
    /// The last failed request (of the selected ones) must have started at most this long after
    /// the fault began, and a successful request must follow it.
    #[schemars(with = "Dur")]
    pub within: Spanned<Dur>,
}

/// A bound on how long discovery returns instances that are gone.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StalenessBudget {
    #[schemars(with = "Dur")]
    pub max: Spanned<Dur>,
}
