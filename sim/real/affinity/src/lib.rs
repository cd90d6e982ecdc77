//! An AZ-affinity client library: the client side of the AZ-affinity pattern, as the AWS
//! Architecture Blog article on it recommends ("provide a client library").
//!
//! - **Zone-aware selection** ([`Balancer`]): the caller's own AZ first; spill-over to the other
//!   AZs of its Region (then other Regions) when too few local endpoints are available;
//!   failback with hysteresis; panic mode; power of two choices or round robin within a zone.
//! - **Outlier ejection** (Envoy's model) and **circuit breakers** per endpoint or per zone
//!   ([`breaker`], a state machine).
//! - **Retries** with full-jitter backoff, per-try timeouts and a deadline, on another zone
//!   where possible, for idempotent requests only, under a **retry budget** (the AWS SDK's
//!   token bucket, or Envoy's and Finagle's share of requests) ([`retry`]).
//! - **Discovery** ([`discovery`]): Cloud Map's `DiscoverInstances` over HTTP, or a static
//!   list, refreshed on a jittered interval, keeping the last good set when a refresh fails.
//! - **Presets** for the anchors' defaults ([`config::presets`]).
//!
//! Time, randomness and sockets are injected (`azsim-net`'s seam), so the very same code runs
//! on real sockets and inside the azsim simulation. Every state change is logged through
//! `tracing`.
//!
//! ```
//! use std::convert::Infallible;
//! use affinity_client::{AffinityClient, Config, Endpoint, HttpPolicy, Routed};
//! use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Whatever sends one request to one endpoint: here a stub; in an application, a hyper client.
//! let send = tower::service_fn(|r: Routed<http::Request<()>>| async move {
//!     Ok::<_, Infallible>(http::Response::new(format!("{} answered", r.endpoint.zone)))
//! });
//! let client = AffinityClient::new(Config::new(Some("use1-az1")), send, HttpPolicy::default(), TokioEnv, Box::new(OsSeededRng::new()));
//! let endpoint = |id: &str, zone: &str| Endpoint {
//!     id: id.into(),
//!     addr: "10.0.0.1:80".parse().unwrap(),
//!     zone: zone.into(),
//!     region: "us-east-1".into(),
//! };
//! client.set_endpoints(vec![endpoint("a", "use1-az1"), endpoint("b", "use1-az2")]);
//! let response = client.clone().oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(response.body(), "use1-az1 answered");
//! # }
//! ```

mod balancer;
pub mod breaker;
mod client;
pub mod config;
pub mod discovery;
pub mod retry;

pub use balancer::{Balancer, Endpoint, FailureKind, Mode, Outcome, Pick, PickError, ZoneStats};
pub use client::{AffinityClient, Error, HttpPolicy, Policy, Routed};
pub use config::{BreakerScope, Config, OutlierConfig, Selection, ZoneConfig};

/// The caller's AZ from its environment: `AZSIM_ZONE` or `AWS_AVAILABILITY_ZONE` if set (ECS
/// task metadata's `AvailabilityZone` is the production source; fetch it and pass it in
/// [`Config::local_zone`]).
pub fn local_zone_from_env() -> Option<String> {
    ["AZSIM_ZONE", "AWS_AVAILABILITY_ZONE"].iter().find_map(|k| std::env::var(k).ok()).filter(|v| !v.is_empty())
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
