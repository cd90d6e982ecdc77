//! The agent's registration in AWS Cloud Map: one instance per backend it serves
//! (`<agent>-<backend>`, with `BACKEND_ID`, `AGENT_ID`, `AVAILABILITY_ZONE` and the backend's
//! address), registered when the agent starts and deregistered when it shuts down, through
//! the Cloud Map API (AWS JSON 1.1 over HTTP; in the simulation, the Cloud Map fake).
//!
//! Not yet: SigV4 signing, which AWS requires (credentials from the environment or a profile);
//! until then, reach AWS through a signing proxy.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use azsim_net::Connect;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
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

/// One Cloud Map call: `operation` with a JSON body; the JSON answer, or the error type.
async fn call<N: Connect>(net: &N, endpoint: SocketAddr, operation: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
    let stream = net.connect(endpoint).await.map_err(|e| format!("connect {endpoint}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let request = http::Request::post("/")
        .header("host", endpoint.to_string())
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("Route53AutoNaming_v20170314.{operation}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(|e| format!("{operation}: {e}"))?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| format!("{operation}: {e}"))?.to_bytes();
        Ok::<_, String>((status, bytes))
    };
    let (status, bytes) = tokio::select! {
        r = exchange => r?,
        c = conn => return Err(format!("{operation}: connection closed early: {c:?}")),
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{operation}: answer is not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("{operation}: {status} {}", json["__type"].as_str().unwrap_or("error")));
    }
    Ok(json)
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
