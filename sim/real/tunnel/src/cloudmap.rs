//! The agent's registration in AWS Cloud Map: one instance per backend it serves
//! (`<agent>-<backend>`, with `BACKEND_ID`, `AGENT_ID`, `AVAILABILITY_ZONE` and the backend's
//! address), registered when the agent starts and deregistered when it shuts down, through
//! the Cloud Map API (AWS JSON 1.1 over HTTP; in the simulation, the Cloud Map fake).
//!
//! Calls go through `aws-json`. Not yet: SigV4 signing, which AWS requires (credentials from the environment or a profile);
//! until then, reach AWS through a signing proxy.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use azsim_net::Connect;
use serde::Deserialize;

/// Where and how the agent registers.
#[derive(Clone, Debug, Deserialize)]
pub struct Registration {
    /// The Cloud Map endpoint.
    pub endpoint: SocketAddr,
    /// The Cloud Map service (`srv-...`) the backends are registered in.
    pub service_id: String,
    /// The agent's AZ or site, as `AVAILABILITY_ZONE`.
    pub zone: String,
    /// More attributes for every instance.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// One Cloud Map operation.
async fn call<N: Connect>(net: &N, endpoint: SocketAddr, operation: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
    aws_json::call(net, endpoint, &format!("Route53AutoNaming_v20170314.{operation}"), &body).await
}

fn instance_id(agent: &str, backend: &str) -> String {
    format!("{agent}-{backend}")
}

/// Registers every backend of `agent`.
pub async fn register<N: Connect>(net: &N, reg: &Registration, agent: &str, backends: &BTreeMap<String, SocketAddr>) -> Result<(), String> {
    for (backend, addr) in backends {
        let mut attributes = reg.attributes.clone();
        attributes.insert("AWS_INSTANCE_IPV4".into(), addr.ip().to_string());
        attributes.insert("AWS_INSTANCE_PORT".into(), addr.port().to_string());
        attributes.insert("AVAILABILITY_ZONE".into(), reg.zone.clone());
        attributes.insert("BACKEND_ID".into(), backend.clone());
        attributes.insert("AGENT_ID".into(), agent.to_string());
        let body = serde_json::json!({ "ServiceId": reg.service_id, "InstanceId": instance_id(agent, backend), "Attributes": attributes });
        call(net, reg.endpoint, "RegisterInstance", body).await?;
        tracing::info!(%backend, "registered in Cloud Map");
    }
    Ok(())
}

/// Deregisters every backend of `agent` (on shutdown).
pub async fn deregister<N: Connect>(net: &N, reg: &Registration, agent: &str, backends: &BTreeMap<String, SocketAddr>) -> Result<(), String> {
    for backend in backends.keys() {
        let body = serde_json::json!({ "ServiceId": reg.service_id, "InstanceId": instance_id(agent, backend) });
        call(net, reg.endpoint, "DeregisterInstance", body).await?;
        tracing::info!(%backend, "deregistered from Cloud Map");
    }
    Ok(())
}
