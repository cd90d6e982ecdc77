//! `tunnel:`: an inverting-proxy tunnel, the real proxy and agent code on simulated hosts.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::units::Dur;

/// An inverting-proxy tunnel (crate `tunnel`, run unchanged through the I/O seam): proxies on
/// the instances of one service, forwarding agents beside a backend, usually in an
/// on-premises site whose Region is `inbound: closed`. Agents dial out to the proxies; a request
/// that reaches a proxy (through a load balancer) travels to an agent as an HTTP/2 stream on
/// the agent's connection, and the agent sends it to the backend.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TunnelSpec {
    /// The service whose instances run the inverting proxy (its `instances` place them; its
    /// other settings do not apply). Put a load balancer in front of it.
    #[schemars(with = "String")]
    pub proxies: Ref,
    /// The service the agents serve: its instances run a real HTTP server that takes the
    /// service's `processing` time per request and answers with the client's response size.
    #[schemars(with = "String")]
    pub backend: Ref,
    /// Forwarding agents per AZ (hosts `tunnel-agent-<az>-<n>`; fault scope `tunnel-agent`).
    #[schemars(with = "BTreeMap<String, u32>")]
    pub agents: Spanned<BTreeMap<String, u32>>,
    /// Which proxies each agent connects to (default `every_proxy`).
    #[serde(default)]
    pub connect: AgentConnect,
    /// What a proxy's health check answers (default `agents`).
    #[serde(default)]
    pub readiness: Readiness,
    /// The proxy's deadline for an agent's answer; 504 after it (default 30s).
    #[serde(default = "TunnelSpec::default_timeout")]
    pub request_timeout: Dur,
    /// Send an idempotent request again to another agent when its agent is lost before
    /// answering (default false).
    #[serde(default)]
    pub retry_idempotent: bool,
    /// The cap of an agent's reconnection backoff (default 2s).
    #[serde(default = "TunnelSpec::default_backoff_cap")]
    pub backoff_cap: Dur,
}

impl TunnelSpec {
    fn default_timeout() -> Dur {
        Dur(30_000_000_000)
    }
    fn default_backoff_cap() -> Dur {
        Dur(2_000_000_000)
    }
}

/// Which proxies an agent connects to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentConnect {
    /// Every agent to every proxy (the HA the tunnel is built for).
    #[default]
    EveryProxy,
    /// Agent n to proxy n alone (the AWS sample's HA: one agent per proxy).
    Pinned,
}

/// What a proxy's health check reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// `/ready`: healthy only while an agent serves each backend (a proxy with no agent leaves
    /// the load balancer).
    #[default]
    Agents,
    /// Healthy while the process runs, agents or not (the AWS sample's check).
    Process,
}
