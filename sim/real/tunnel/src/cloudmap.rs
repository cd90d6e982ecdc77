//! The agent's registration in AWS Cloud Map: one instance per backend it serves
//! (`<agent>-<backend>`, with `BACKEND_ID`, `AGENT_ID`, `AVAILABILITY_ZONE` and the backend's
//! address), registered when the agent starts and deregistered when it shuts down, through
//! the Cloud Map API (AWS JSON 1.1 over HTTP; in the simulation, the Cloud Map fake).
//!
//! Calls go through `aws-json`: in the simulation, plain HTTP to the Cloud Map fake at
//! `endpoint`; against AWS (`aws:` set), HTTPS to `servicediscovery.<region>.amazonaws.com`
//! (or `endpoint`, e.g. a VPC endpoint), verified against the system's CA bundle and signed
//! with SigV4, with credentials from the environment or a profile ([`AwsSession::load`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use std::sync::Arc;

use aws_json::sigv4::{Credentials, Signer};
use azsim_net::{Connect, Resolve};
use serde::Deserialize;

/// Where and how the agent registers.
#[derive(Clone, Debug, Deserialize)]
pub struct Registration {
    /// The Cloud Map endpoint's address (required without `aws`; with it, overrides the
    /// Region's public endpoint, e.g. for a VPC interface endpoint).
    #[serde(default)]
    pub endpoint: Option<SocketAddr>,
    /// Call AWS itself: TLS and SigV4 in this Region.
    #[serde(default)]
    pub aws: Option<AwsApi>,
    /// Credentials and TLS for `aws`, loaded when the agent starts ([`AwsSession::load`]).
    #[serde(skip)]
    pub session: Option<Arc<AwsSession>>,
    /// The Cloud Map service (`srv-...`) the backends are registered in.
    pub service_id: String,
    /// The agent's AZ or site, as `AVAILABILITY_ZONE`.
    pub zone: String,
    /// More attributes for every instance.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Cloud Map in an AWS Region.
#[derive(Clone, Debug, Deserialize)]
pub struct AwsApi {
    pub region: String,
    /// PEM bundle of the CAs to trust (default: Debian's and Ubuntu's system bundle).
    #[serde(default = "AwsApi::default_ca_bundle")]
    pub ca_bundle: std::path::PathBuf,
}

impl AwsApi {
    fn default_ca_bundle() -> std::path::PathBuf {
        "/etc/ssl/certs/ca-certificates.crt".into()
    }
    /// The Region's public endpoint.
    pub fn host(&self) -> String {
        format!("servicediscovery.{}.amazonaws.com", self.region)
    }
}

/// What calling AWS needs at run time: credentials, TLS, and the wall clock SigV4 signs with.
pub struct AwsSession {
    pub credentials: Credentials,
    pub tls: tokio_rustls::TlsConnector,
    /// Seconds since the Unix epoch, now.
    pub wall_clock: fn() -> u64,
}

impl std::fmt::Debug for AwsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSession").field("credentials", &self.credentials).finish_non_exhaustive()
    }
}

impl AwsSession {
    /// Credentials from the environment or a profile (read through `var`), the CA bundle of
    /// `api`, and `wall_clock`.
    pub fn load(api: &AwsApi, var: impl Fn(&str) -> Option<String>, wall_clock: fn() -> u64) -> Result<AwsSession, String> {
        let credentials = Credentials::load(var)?;
        let pem = std::fs::read(&api.ca_bundle).map_err(|e| format!("{}: {e}", api.ca_bundle.display()))?;
        Ok(AwsSession { credentials, tls: crate::tls::public_connector(&pem)?, wall_clock })
    }
}

/// One Cloud Map operation.
async fn call<N: Connect + Resolve>(net: &N, reg: &Registration, operation: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
    let target = format!("Route53AutoNaming_v20170314.{operation}");
    let Some(api) = &reg.aws else {
        let endpoint = reg.endpoint.ok_or("cloud_map: give `endpoint` (or `aws` to call AWS itself)")?;
        return aws_json::call(net, endpoint, &target, &body).await;
    };
    let session = reg.session.as_ref().ok_or("cloud_map.aws: credentials were not loaded")?;
    let host = api.host();
    let endpoint = match reg.endpoint {
        Some(e) => e,
        None => {
            let ips = net.resolve(&host).await.map_err(|e| format!("{host}: {e}"))?;
            SocketAddr::new(*ips.first().ok_or_else(|| format!("{host}: no address"))?, 443)
        }
    };
    let signer = Signer { credentials: session.credentials.clone(), region: api.region.clone(), service: "servicediscovery".into() };
    let remote = aws_json::Remote { endpoint, host, tls: Some(session.tls.clone()), signing: Some((signer, (session.wall_clock)())) };
    aws_json::call_with(net, &remote, &target, &body).await
}

fn instance_id(agent: &str, backend: &str) -> String {
    format!("{agent}-{backend}")
}

/// Registers every backend of `agent`.
pub async fn register<N: Connect + Resolve>(net: &N, reg: &Registration, agent: &str, backends: &BTreeMap<String, SocketAddr>) -> Result<(), String> {
    for (backend, addr) in backends {
        let mut attributes = reg.attributes.clone();
        attributes.insert("AWS_INSTANCE_IPV4".into(), addr.ip().to_string());
        attributes.insert("AWS_INSTANCE_PORT".into(), addr.port().to_string());
        attributes.insert("AVAILABILITY_ZONE".into(), reg.zone.clone());
        attributes.insert("BACKEND_ID".into(), backend.clone());
        attributes.insert("AGENT_ID".into(), agent.to_string());
        let body = serde_json::json!({ "ServiceId": reg.service_id, "InstanceId": instance_id(agent, backend), "Attributes": attributes });
        call(net, reg, "RegisterInstance", body).await?;
        tracing::info!(%backend, "registered in Cloud Map");
    }
    Ok(())
}

/// Deregisters every backend of `agent` (on shutdown).
pub async fn deregister<N: Connect + Resolve>(net: &N, reg: &Registration, agent: &str, backends: &BTreeMap<String, SocketAddr>) -> Result<(), String> {
    for backend in backends.keys() {
        let body = serde_json::json!({ "ServiceId": reg.service_id, "InstanceId": instance_id(agent, backend) });
        call(net, reg, "DeregisterInstance", body).await?;
        tracing::info!(%backend, "deregistered from Cloud Map");
    }
    Ok(())
}
