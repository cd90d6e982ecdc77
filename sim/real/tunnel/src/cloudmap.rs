//! The agent's use of AWS Cloud Map, through its API (AWS JSON 1.1 over HTTP; in the
//! simulation, the Cloud Map fake):
//! - registration ([`Registration`]): one instance per backend it serves
//!   (`<agent>-<backend>`, with `BACKEND_ID`, `AGENT_ID`, `AVAILABILITY_ZONE` and the backend's
//!   address), registered when the agent starts and deregistered when it shuts down;
//! - discovery of the proxies ([`ProxyDiscovery`]): `DiscoverInstances` of the proxies'
//!   service, every instance's `AWS_INSTANCE_IPV4` and `AWS_INSTANCE_PORT` (or a fixed port).
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

/// Where Cloud Map calls go (in the agent's config, beside each use's own fields).
// No `deny_unknown_fields` here: it is flattened into its users, which refuse unknown keys.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CloudMapApi {
    /// The Cloud Map endpoint's address (required without `aws`; with it, overrides the
    /// Region's endpoint, e.g. for a VPC interface endpoint).
    #[serde(default)]
    pub endpoint: Option<SocketAddr>,
    /// Call AWS itself: TLS and SigV4 in this Region.
    #[serde(default)]
    pub aws: Option<AwsApi>,
    /// Credentials and TLS for `aws`, loaded when the agent starts ([`AwsSession::load`]).
    #[serde(skip)]
    pub session: Option<Arc<AwsSession>>,
}

impl CloudMapApi {
    /// The API of the fake (or any plain-HTTP endpoint) at `endpoint`.
    pub fn at(endpoint: SocketAddr) -> CloudMapApi {
        CloudMapApi { endpoint: Some(endpoint), ..CloudMapApi::default() }
    }

    fn calls(&self, data_plane: bool) -> Api<'_> {
        Api { endpoint: self.endpoint, aws: self.aws.as_ref(), session: self.session.as_ref(), data_plane }
    }
}

/// Where and how the agent registers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    #[serde(flatten)]
    pub api: CloudMapApi,
    /// The Cloud Map service (`srv-...`) the backends are registered in.
    pub service_id: String,
    /// The agent's AZ or site, as `AVAILABILITY_ZONE`.
    pub zone: String,
    /// More attributes for every instance.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// How the agent finds the proxies in Cloud Map: the instances of one service
/// (`DiscoverInstances`, served by the Region's data-plane endpoint).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyDiscovery {
    #[serde(flatten)]
    pub api: CloudMapApi,
    pub namespace: String,
    pub service: String,
    /// `QueryParameters`: only instances with these attributes.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// The proxies' agent port when an instance has no `AWS_INSTANCE_PORT`.
    #[serde(default)]
    pub port: Option<u16>,
}

/// The proxies' agent addresses that Cloud Map lists now: the healthy instances, or all of
/// them if none is healthy (`HEALTHY_OR_ELSE_ALL`, so that a health-check outage does not
/// empty the list), up to 1,000. An empty answer is an error: the caller keeps the proxies it
/// has rather than leaving every one of them (static stability).
pub async fn discover_proxies<N: Connect + Resolve>(net: &N, d: &ProxyDiscovery) -> Result<Vec<SocketAddr>, String> {
    let api = d.api.calls(true);
    let body = serde_json::json!({
        "NamespaceName": d.namespace,
        "ServiceName": d.service,
        "QueryParameters": d.query,
        "HealthStatus": "HEALTHY_OR_ELSE_ALL",
        "MaxResults": 1000,
    });
    let answer = call(net, api, "DiscoverInstances", body).await?;
    let instances = answer.get("Instances").and_then(|i| i.as_array()).ok_or("DiscoverInstances: no `Instances` in the answer")?;
    let mut out = Vec::new();
    for i in instances {
        let attr = |k: &str| i.get("Attributes").and_then(|a| a.get(k)).and_then(|v| v.as_str());
        let ip = attr("AWS_INSTANCE_IPV4").and_then(|ip| ip.parse().ok());
        let port = attr("AWS_INSTANCE_PORT").and_then(|p| p.parse().ok()).or(d.port);
        match (ip, port) {
            (Some(ip), Some(port)) => out.push(SocketAddr::new(ip, port)),
            _ => tracing::warn!(instance = ?i.get("InstanceId"), "a proxy instance without an IPv4 address or a port: skipped"),
        }
    }
    if out.is_empty() {
        return Err(format!("Cloud Map lists no proxy in {}/{}", d.namespace, d.service));
    }
    Ok(out)
}

/// Cloud Map in an AWS Region.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// Where Cloud Map calls go: the fake's (or a VPC endpoint's) address, or AWS itself.
struct Api<'a> {
    endpoint: Option<SocketAddr>,
    aws: Option<&'a AwsApi>,
    session: Option<&'a Arc<AwsSession>>,
    /// `DiscoverInstances` is served by the data plane: `data-servicediscovery.<region>`.
    data_plane: bool,
}

/// One Cloud Map operation.
async fn call<N: Connect + Resolve>(net: &N, api: Api<'_>, operation: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
    let target = format!("Route53AutoNaming_v20170314.{operation}");
    let Some(aws) = api.aws else {
        let endpoint = api.endpoint.ok_or("cloud_map: give `endpoint` (or `aws` to call AWS itself)")?;
        return aws_json::call(net, endpoint, &target, &body).await;
    };
    let session = api.session.ok_or("cloud_map.aws: credentials were not loaded")?;
    let host = if api.data_plane { format!("data-{}", aws.host()) } else { aws.host() };
    let endpoint = match api.endpoint {
        Some(e) => e,
        None => {
            let ips = net.resolve(&host).await.map_err(|e| format!("{host}: {e}"))?;
            SocketAddr::new(*ips.first().ok_or_else(|| format!("{host}: no address"))?, 443)
        }
    };
    let signer = Signer { credentials: session.credentials.clone(), region: aws.region.clone(), service: "servicediscovery".into() };
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
        call(net, reg.api.calls(false), "RegisterInstance", body).await?;
        tracing::info!(%backend, "registered in Cloud Map");
    }
    Ok(())
}

/// Deregisters every backend of `agent` (on shutdown).
pub async fn deregister<N: Connect + Resolve>(net: &N, reg: &Registration, agent: &str, backends: &BTreeMap<String, SocketAddr>) -> Result<(), String> {
    for backend in backends.keys() {
        let body = serde_json::json!({ "ServiceId": reg.service_id, "InstanceId": instance_id(agent, backend) });
        call(net, reg.api.calls(false), "DeregisterInstance", body).await?;
        tracing::info!(%backend, "deregistered from Cloud Map");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent's config file spells the API's fields beside each use's own.
    #[test]
    fn configs_read_the_api_beside_their_own_fields() {
        let reg: Registration = serde_json::from_str(r#"{ "service_id": "srv-1", "zone": "dc1", "aws": { "region": "us-east-1" } }"#).unwrap();
        assert_eq!((reg.api.aws.as_ref().map(|a| a.host()), reg.api.endpoint), (Some("servicediscovery.us-east-1.amazonaws.com".into()), None));
        let d: ProxyDiscovery = serde_json::from_str(r#"{ "endpoint": "10.0.0.2:443", "namespace": "tunnel", "service": "proxies", "port": 8443 }"#).unwrap();
        assert_eq!((d.api.endpoint, d.port, d.api.aws.is_none()), (Some("10.0.0.2:443".parse().unwrap()), Some(8443), true));
    }
}
