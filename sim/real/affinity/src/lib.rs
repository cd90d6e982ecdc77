//! An AZ-affinity client library: the client side of the AZ-affinity pattern, as the AWS
//! Architecture Blog article on it recommends ("provide a client library").
//!
//! - **Zone-aware selection** ([`Balancer`]): the caller's own AZ first; spill-over to the other
//!   AZs of its Region (then other Regions) when too few local endpoints are available;
//!   failback with hysteresis; panic mode; power of two choices or round robin within a zone.
//! - **Outlier ejection** (Envoy's model) and **circuit breakers** per endpoint or per zone
//!   ([`breaker`], a state machine).
//! - **Retries** with full-jitter backoff, per-try timeouts and a deadline, on another zone
//!   where possible, under a **retry budget** (the AWS SDK's token bucket, or Envoy's and
//!   Finagle's share of requests) ([`retry`]). A [`Policy`] (tower's `retry::Policy` shape)
//!   classifies each attempt and copies the request for the next, or declines to: with
//!   [`HttpPolicy`], 429 is throttling (retried after `Retry-After`, within the deadline, not
//!   held against the endpoint), 5xx a failure retried per status, connect and reset errors
//!   told apart, and only idempotent requests with a replayable body go twice.
//! - **One rule for results**: `Ok` is a response the policy calls a success; a failed call is
//!   an [`Error`] carrying its last attempt's answer and why it stopped ([`GaveUp`]).
//! - **A transport** (feature `hyper-transport`): `HyperTransport`, HTTP/1.1 or HTTP/2 over
//!   hyper-util's pool, aimed at each endpoint's address with its host name, tagging responses
//!   with [`Served`] (endpoint, zone, attempt). No TLS.
//! - **tower composition**: [`AffinityLayer`] ([`Builder::layer`]), readiness that is the
//!   transport's, and a client type without closures, so it stacks under `Buffer`,
//!   `ConcurrencyLimit` and `Timeout`.
//! - **Discovery** ([`discovery`]): Cloud Map's `DiscoverInstances` over HTTP, or a static
//!   list, refreshed on a jittered interval, keeping the last good set when a refresh fails.
//! - **Presets** for the anchors' defaults ([`config::presets`]).
//! - **Observability**: [`AffinityClient::snapshot`] (mode, zones, breakers, ejections,
//!   [`Counters`]).
//!
//! Where to start: [`AffinityClient::builder`] (in `builder.rs`) makes a client or a layer with
//! production defaults; `client.rs` is the tower service and layer, `client/call.rs` one
//! call's retry loop, `client/error.rs` how a call fails; `policy.rs` what counts as a failure
//! and what may be retried; `balancer.rs` the synchronous choice of an endpoint (zones,
//! spill-over, panic); `breaker.rs` and `retry.rs` the state machines it uses; `config.rs`
//! every setting and its default; `hyper_transport.rs` the ready-made transport.
//!
//! Time, randomness and sockets are injected (`azsim-net`'s seam, whose tokio implementations
//! [`TokioEnv`] and [`OsSeededRng`] are re-exported here), so the very same code runs on real
//! sockets and inside the azsim simulation. Every state change is logged through `tracing`.
//!
//! Cargo features: `cloud-map` (`discovery::CloudMap`) and `ecs-metadata`
//! (`discovery::ecs_task_zone`), both on by default; without them the crate needs neither
//! TLS nor JSON. `hyper-transport` (`HyperTransport`, hyper-util's client, HTTP/2) is off by
//! default.
//!
//! ```
//! use std::convert::Infallible;
//! use affinity_client::{AffinityClient, Endpoint, Routed};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Whatever sends one request to one endpoint: here a stub; in an application, a hyper client.
//! let send = tower::service_fn(|r: Routed<http::Request<()>>| async move {
//!     Ok::<_, Infallible>(http::Response::new(format!("{} answered", r.endpoint.zone)))
//! });
//! let client = AffinityClient::builder("use1-az1").transport(send).build().expect("valid settings");
//! let endpoint = |id: &str, zone: &str| Endpoint::new(id, "10.0.0.1:80".parse().unwrap(), zone, "us-east-1");
//! client.set_endpoints(vec![endpoint("a", "use1-az1"), endpoint("b", "use1-az2")]);
//! let response = client.clone().oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(response.body(), "use1-az1 answered");
//! assert_eq!(client.snapshot().counters.attempts, 1);
//! # }
//! ```

mod balancer;
pub mod breaker;
mod builder;
mod client;
pub mod config;
pub mod discovery;
#[cfg(feature = "hyper-transport")]
mod hyper_transport;
mod policy;
pub mod retry;

pub use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
pub use azsim_net::{Clock, Rng};
pub use balancer::{Balancer, Counters, Endpoint, FailureKind, Mode, Outcome, Pick, PickError, Snapshot, ZoneSnapshot, ZoneStats};
pub use breaker::{BreakerConfig, BreakerState, Trip};
pub use builder::{Builder, InvalidConfig, NoTransport};
pub use client::{AffinityClient, AffinityLayer, Error, GaveUp, ResponseFuture, Routed, Served};
pub use config::{BreakerScope, Breakers, Config, OutlierConfig, Selection, ZoneConfig};
#[cfg(feature = "hyper-transport")]
pub use hyper_transport::{HttpClient, HyperError, HyperFuture, HyperTransport};
pub use policy::{AttemptError, HttpPolicy, Policy, ReplayBody};
pub use retry::{BudgetConfig, RetryConfig};

/// The caller's AZ from its environment: `AZSIM_ZONE` or `AWS_AVAILABILITY_ZONE` if set (ECS
/// task metadata's `AvailabilityZone` is the production source: `discovery::ecs_task_zone`,
/// with the `ecs-metadata` feature).
/// Pass it to [`AffinityClient::builder`]. It must be of the kind the endpoints carry, an AZ ID
/// or an AZ name (see [`Config`]'s `local_zone`).
pub fn local_zone_from_env() -> Option<String> {
    ["AZSIM_ZONE", "AWS_AVAILABILITY_ZONE"].iter().find_map(|k| std::env::var(k).ok()).filter(|v| !v.is_empty())
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
