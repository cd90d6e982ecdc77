//! [`AffinityClient::builder`]: production defaults (tokio's clock, OS-seeded randomness, HTTP's
//! retry policy, [`Config::new`]'s settings) that a simulation or a test replaces through the
//! same calls, and the one place a configuration is validated.

use std::time::Duration;

use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
use azsim_net::{Clock, Rng};

use crate::breaker::Trip;
use crate::client::{AffinityClient, AffinityLayer, Shared};
use crate::config::Config;
use crate::policy::HttpPolicy;
use crate::retry::BudgetConfig;

/// Builds an [`AffinityClient`]; see [`AffinityClient::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<S, C = TokioEnv, P = HttpPolicy> {
    config: Config,
    transport: S,
    clock: C,
    policy: P,
    rng: Option<Box<dyn Rng + Send>>,
}

/// The transport before [`Builder::transport`] is called: `build` needs a real one.
#[derive(Debug)]
pub struct NoTransport;

impl AffinityClient<NoTransport, TokioEnv, HttpPolicy> {
    /// A builder for a client in `local_zone` (`"use1-az1"`, or `None` for no zone preference)
    /// with [`Config::new`]'s settings, tokio's clock, randomness seeded from the operating
    /// system and [`HttpPolicy`]. Give it a transport (whatever sends one request to one
    /// endpoint) and build:
    ///
    /// ```
    /// # use affinity_client::{AffinityClient, Routed};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let send = tower::service_fn(|r: Routed<http::Request<()>>| async move {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(r.endpoint.zone))
    /// });
    /// let client = AffinityClient::builder("use1-az1").transport(send).build().expect("valid settings");
    /// # let _ = client;
    /// # }
    /// ```
    pub fn builder<'a>(local_zone: impl Into<Option<&'a str>>) -> Builder<NoTransport> {
        Builder { config: Config::new(local_zone.into()), transport: NoTransport, clock: TokioEnv, policy: HttpPolicy::default(), rng: None }
    }
}

impl<S, C, P> Builder<S, C, P> {
    /// Replaces every setting, the local zone included.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Changes some settings: `.configure(|c| c.retry.max_attempts = 5)`.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// What sends one attempt to one endpoint: a tower `Service<Routed<R>>`.
    pub fn transport<S2>(self, transport: S2) -> Builder<S2, C, P> {
        Builder { config: self.config, transport, clock: self.clock, policy: self.policy, rng: self.rng }
    }

    /// Tells successes from failures and which requests may be retried (default [`HttpPolicy`]).
    pub fn policy<P2>(self, policy: P2) -> Builder<S, C, P2> {
        Builder { config: self.config, transport: self.transport, clock: self.clock, policy, rng: self.rng }
    }

    /// Where time comes from (default tokio's; a simulation passes its own).
    pub fn clock<C2: Clock>(self, clock: C2) -> Builder<S, C2, P> {
        Builder { config: self.config, transport: self.transport, clock, policy: self.policy, rng: self.rng }
    }

    /// Where randomness comes from (default seeded from the operating system when `build`
    /// runs; a simulation or a test passes a seeded generator).
    pub fn rng(mut self, rng: impl Rng) -> Self {
        self.rng = Some(Box::new(rng));
        self
    }
}

impl<S, C: Clock, P> Builder<S, C, P> {
    /// The client, once its settings are checked.
    pub fn build(self) -> Result<AffinityClient<S, C, P>, InvalidConfig> {
        let transport = self.transport;
        let layer = Builder { config: self.config, transport: NoTransport, clock: self.clock, policy: self.policy, rng: self.rng }.layer()?;
        Ok(tower::Layer::layer(&layer, transport))
    }

    /// A tower layer instead of a client, once the settings are checked: every service it
    /// makes over a transport shares one balancer, budget and randomness (the transport given
    /// here, if any, is not used).
    ///
    /// ```
    /// # use affinity_client::{AffinityClient, Endpoint, Routed};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tower::{ServiceBuilder, ServiceExt};
    /// let affinity = AffinityClient::builder("use1-az1").layer().expect("valid settings");
    /// affinity.set_endpoints(vec![Endpoint::new("a", "10.0.0.1:80".parse().unwrap(), "use1-az1", "us-east-1")]);
    /// let send = tower::service_fn(|r: Routed<http::Request<()>>| async move {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(r.endpoint.zone))
    /// });
    /// let stack = ServiceBuilder::new().concurrency_limit(64).layer(affinity.clone()).service(send);
    /// let response = stack.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(response.body(), "use1-az1");
    /// # }
    /// ```
    pub fn layer(self) -> Result<AffinityLayer<C, P>, InvalidConfig> {
        validate(&self.config)?;
        let rng = self.rng.unwrap_or_else(|| Box::new(OsSeededRng::new()));
        Ok(AffinityLayer { shared: std::sync::Arc::new(Shared::new(self.config, self.policy, self.clock, rng)) })
    }
}

/// A setting out of range: which one, and what it must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidConfig {
    /// The setting's path, e.g. `retry.max_attempts`.
    pub setting: &'static str,
    pub reason: String,
}

impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "affinity-client setting `{}`: {}", self.setting, self.reason)
    }
}

impl std::error::Error for InvalidConfig {}

/// Longer than this is a mistake (and `now + it` could overflow an `Instant`).
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

fn share(setting: &'static str, value: f64) -> Result<(), InvalidConfig> {
    match (0.0..=1.0).contains(&value) {
        true => Ok(()),
        false => Err(InvalidConfig { setting, reason: format!("{value} is not a share between 0 and 1") }),
    }
}

fn span(setting: &'static str, value: Duration) -> Result<(), InvalidConfig> {
    match value <= LONGEST {
        true => Ok(()),
        false => Err(InvalidConfig { setting, reason: format!("{value:?} is longer than a year") }),
    }
}

fn at_least_one(setting: &'static str, value: u32, meaning: &str) -> Result<(), InvalidConfig> {
    match value >= 1 {
        true => Ok(()),
        false => Err(InvalidConfig { setting, reason: format!("0; at least 1 ({meaning})") }),
    }
}

/// Every share in `[0, 1]`, every count that must be positive positive, every span at most a
/// year.
pub(crate) fn validate(c: &Config) -> Result<(), InvalidConfig> {
    let z = &c.zones;
    share("zones.spill_below", z.spill_below)?;
    share("zones.failback_above", z.failback_above)?;
    share("zones.panic_threshold", z.panic_threshold)?;
    span("zones.failback_after", z.failback_after)?;
    if let Some(o) = &c.outlier {
        at_least_one("outlier.consecutive_failures", o.consecutive_failures, "failures in a row that eject")?;
        share("outlier.max_ejected_share", o.max_ejected_share)?;
        span("outlier.base_ejection", o.base_ejection)?;
        span("outlier.max_ejection", o.max_ejection)?;
    }
    if let Some(b) = &c.breaker {
        at_least_one("breaker.config.probes", b.config.probes, "that many successes close it")?;
        span("breaker.config.open_for", b.config.open_for)?;
        match b.config.trip {
            Trip::ConsecutiveFailures(n) => at_least_one("breaker.config.trip", n, "failures in a row that open it")?,
            Trip::FailureRate { threshold, window, min_calls } => {
                share("breaker.config.trip.threshold", threshold)?;
                at_least_one("breaker.config.trip.window", window, "calls the rate is taken over")?;
                if min_calls > window {
                    return Err(InvalidConfig {
                        setting: "breaker.config.trip.min_calls",
                        reason: format!("{min_calls} is more than the window ({window}): it would never open"),
                    });
                }
            }
        }
    }
    let r = &c.retry;
    at_least_one("retry.max_attempts", r.max_attempts, "attempts in all; 1 = no retries")?;
    span("retry.base", r.base)?;
    span("retry.cap", r.cap)?;
    for (setting, limit) in [("retry.per_try_timeout", r.per_try_timeout), ("retry.deadline", r.deadline)] {
        match limit {
            Some(d) if d.is_zero() => return Err(InvalidConfig { setting, reason: "zero: every attempt would time out; `None` for no limit".into() }),
            Some(d) => span(setting, d)?,
            None => {}
        }
    }
    if let BudgetConfig::Ratio { ratio, min_per_sec, window } = r.budget {
        share("retry.budget.ratio", ratio)?;
        if !(min_per_sec.is_finite() && min_per_sec >= 0.0) {
            return Err(InvalidConfig { setting: "retry.budget.min_per_sec", reason: format!("{min_per_sec} is not a rate of 0 or more") });
        }
        span("retry.budget.window", window)?;
    }
    Ok(())
}
