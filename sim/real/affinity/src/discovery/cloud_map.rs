//! Cloud Map's `DiscoverInstances` (AWS JSON 1.1) as a discovery source.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use azsim_net::Connect;

use super::Discover;
use crate::balancer::Endpoint;

/// How to reach AWS's own Cloud Map endpoint: TLS to `host`, each call signed with SigV4.
#[derive(Clone)]
pub struct AwsAccess {
    /// The `Host` header and the name the certificate must carry:
    /// `data-servicediscovery.<region>.amazonaws.com` (`DiscoverInstances` is on the data plane).
    pub host: String,
    /// TLS, verifying the certificate for `host`; `None` sends signed plain HTTP (a test, or a
    /// VPC endpoint reached through a TLS-terminating proxy).
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// Credentials, Region and the signing name (`servicediscovery`).
    pub signer: aws_json::sigv4::Signer,
    /// The signing time in seconds since the Unix epoch, read at each call: the wall clock in an
    /// application (AWS refuses signatures more than 5 minutes off), a fixed or simulated time in
    /// a test.
    pub epoch_seconds: fn() -> u64,
}

impl std::fmt::Debug for AwsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsAccess").field("host", &self.host).field("tls", &self.tls.is_some()).field("signer", &self.signer).finish_non_exhaustive()
    }
}

/// `DiscoverInstances` against a Cloud Map endpoint (AWS JSON 1.1).
///
/// Without [`aws`](Self::aws) the call goes out as plain, unsigned HTTP, which the azsim fake
/// (or a local signing proxy) accepts. AWS itself (`data-servicediscovery.<region>.amazonaws.com`
/// on port 443) requires TLS and SigV4: give [`AwsAccess`].
#[derive(Clone, Debug)]
pub struct CloudMap<N> {
    pub net: N,
    /// Where the call goes: the fake's address, or AWS's endpoint's (resolved by the caller).
    pub endpoint: SocketAddr,
    /// TLS and SigV4 for AWS's own endpoint; `None`: plain and unsigned.
    pub aws: Option<AwsAccess>,
    pub namespace: String,
    pub service: String,
    /// `QueryParameters`, e.g. `AVAILABILITY_ZONE` = the caller's AZ.
    pub query: BTreeMap<String, String>,
    /// `HealthStatus` (`HEALTHY`, `ALL`, `HEALTHY_OR_ELSE_ALL`, ...); `None` leaves it out.
    pub health_status: Option<String>,
    /// The Region given to endpoints whose attributes have no `REGION`.
    pub region: String,
}

impl<N: Connect> CloudMap<N> {
    fn body(&self) -> serde_json::Value {
        let mut req = serde_json::json!({ "NamespaceName": self.namespace, "ServiceName": self.service });
        if !self.query.is_empty() {
            req["QueryParameters"] = serde_json::json!(self.query);
        }
        if let Some(h) = &self.health_status {
            req["HealthStatus"] = serde_json::json!(h);
        }
        req
    }

    async fn call(&self) -> Result<Vec<Endpoint>, String> {
        const TARGET: &str = "Route53AutoNaming_v20170314.DiscoverInstances";
        let json = match &self.aws {
            None => aws_json::call(&self.net, self.endpoint, TARGET, &self.body()).await?,
            Some(aws) => {
                let signing = Some((aws.signer.clone(), (aws.epoch_seconds)()));
                let remote = aws_json::Remote { endpoint: self.endpoint, host: aws.host.clone(), tls: aws.tls.clone(), signing };
                aws_json::call_with(&self.net, &remote, TARGET, &self.body()).await?
            }
        };
        let instances = json["Instances"].as_array().ok_or("answer has no Instances")?;
        Ok(instances.iter().filter_map(|i| self.endpoint_of(i)).collect())
    }

    fn endpoint_of(&self, instance: &serde_json::Value) -> Option<Endpoint> {
        let a = &instance["Attributes"];
        let ip: std::net::IpAddr = a["AWS_INSTANCE_IPV4"].as_str()?.parse().ok()?;
        let port: u16 = a["AWS_INSTANCE_PORT"].as_str().and_then(|p| p.parse().ok()).unwrap_or(80);
        Some(Endpoint::new(
            instance["InstanceId"].as_str().unwrap_or_default(),
            SocketAddr::new(ip, port),
            a["AVAILABILITY_ZONE"].as_str().unwrap_or_default(),
            a["REGION"].as_str().map_or_else(|| self.region.clone(), str::to_string),
        ))
    }
}

impl<N: Connect> Discover for CloudMap<N> {
    async fn discover(&self) -> Result<Vec<Endpoint>, String> {
        self.call().await
    }
}
