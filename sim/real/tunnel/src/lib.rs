//! An inverting proxy and its forwarding agent.
//!
//! A private backend sits behind a firewall that accepts no inbound connection. An **agent**
//! next to it dials *out* to every **proxy** (in AWS, behind a load balancer), greets it
//! ([`protocol`]), and keeps that one connection: HTTP/2 with the roles inverted, the proxy as
//! the client. Each client request reaching a proxy becomes one stream on an agent's
//! connection: no polling, no round trip per request, bodies streamed both ways.
//!
//! Where things live: [`proxy`] (its config in `proxy/config.rs`, request-target checks in
//! [`proxy::target`]), [`agent`] (its config in `agent/config.rs`), the greeting
//! ([`protocol`]), accept loops that outlive accept errors ([`accept`]), config-file checks
//! ([`config`]), token comparison ([`secret`]), [`metrics`], [`tls`] and [`cloudmap`]; what
//! only the binaries use (logging, process metrics, file watching) is in [`ops`]. Start
//! reading at [`proxy`].
//!
//! Sockets, time and randomness come through the `azsim-net` seam: the binaries
//! (`inverting-proxy`, `forwarding-agent`) use real ones, the simulation its own.
//!
//! Status: the core (greeting with a server-side check of each agent's token and backends,
//! TLS with the agent always verifying the proxy and optional mutual TLS ([`tls`]), routing by
//! host, path prefix or header, the failure semantics in [`proxy`], readiness, Prometheus and
//! EMF metrics, reconnects with capped backoff and jitter, proxies by address, DNS name or
//! Cloud Map discovery, the agent's Cloud Map registration (SigV4-signed against AWS), the
//! proxy's graceful drain, WebSocket pass-through, the proxy's slow-client limits: header and
//! request-body read timeouts), reload without restart (SIGHUP or a file watch) with token
//! lists and token files, certificate-bound agent names, forwarding headers, request ids and
//! access logs, readiness with a minimum of agents, a start grace. The same code runs in
//! `scenarios/reference/inverting-proxy.yaml`.

pub mod accept;
pub mod agent;
pub mod cloudmap;
pub mod config;
pub mod metrics;
pub mod ops;
pub mod protocol;
pub mod proxy;
pub mod secret;
pub mod tls;

pub use agent::AgentConfig;
pub use config::ConfigError;
pub use proxy::{Proxy, ProxyConfig};
