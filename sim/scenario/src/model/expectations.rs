//! `expectations:`: what must hold after the run, each with exactly one check.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::one_of::{deserialize_through, exactly_one, given};
use crate::units::Dur;

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
    pub window: Option<Window>,
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
    /// Data-transfer cost of the whole run, in US dollars.
    CostUsd(MaxBudget),
    /// Bytes that crossed AZ boundaries.
    CrossAzBytes(MaxBudget),
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
    window: Option<Window>,
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
    cost_usd: Option<Spanned<MaxBudget>>,
    #[serde(default)]
    cross_az_bytes: Option<Spanned<MaxBudget>>,
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
                "an expectation has exactly one check (latency, worst_path_latency, az_crossings, region_crossings, success_ratio, cost_usd, cross_az_bytes, recovery, failures, discovery_staleness, retry_amplification, unanswered, executed_twice); `{name}` has {n}"
            )
        })?;
        Ok(ExpectationSpec { name: self.name, client: self.client, az: self.az, window: self.window, check })
    }
}

deserialize_through!(ExpectationSpec, ExpectationSpecRaw);

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

/// Latency budgets by percentile (each a maximum), and `at_least`, a minimum for every request
/// (to document a cost, e.g. that each request paid a cold start).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyBudget {
    #[serde(default)]
    pub at_least: Option<Dur>,
    #[serde(default)]
    pub p0: Option<Dur>,
    #[serde(default)]
    pub p50: Option<Dur>,
    #[serde(default)]
    pub p90: Option<Dur>,
    #[serde(default)]
    pub p99: Option<Dur>,
    #[serde(default)]
    pub p999: Option<Dur>,
    #[serde(default)]
    pub max: Option<Dur>,
}

/// Bounds on a count per request.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountBudget {
    /// The largest count any request may have.
    #[serde(default)]
    pub max: Option<u32>,
    /// The mean over requests may not exceed this.
    #[serde(default)]
    pub mean: Option<f64>,
}

/// Bounds on a ratio: `min` for a budget; `max` to state that a design *does* lose requests
/// (a scenario that documents a weakness).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatioBudget {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// An upper bound on a number.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaxBudget {
    pub max: f64,
}

/// How fast service must return after each fault.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryBudget {
    /// The last failed request (of the selected ones) must have started at most this long after
    /// the fault began, and a successful request must follow it.
    #[schemars(with = "Dur")]
    pub within: Spanned<Dur>,
}

/// A bound on failed requests.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureBudget {
    pub max: u64,
}

/// A bound on how long discovery returns instances that are gone.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StalenessBudget {
    #[schemars(with = "Dur")]
    pub max: Spanned<Dur>,
}
