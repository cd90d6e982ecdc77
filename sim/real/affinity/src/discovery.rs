//! Where endpoints come from: a static list, or AWS Cloud Map's `DiscoverInstances` over HTTP
//! (AWS JSON 1.1), refreshed on a jittered interval. A refresh that fails, or finds nothing,
//! keeps the last good set (static stability) and says so.
//!
//! Sources: [`Static`], [`CloudMap`], and [`ZonalDns`] (an NLB's zonal names, one per AZ).
//!
//! Not yet: SigV4 signing of the Cloud Map call (AWS requires it; the azsim fake does not).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use azsim_net::{Clock, Connect, Resolve, Rng};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::balancer::Endpoint;

/// A source of endpoints.
pub trait Discover: Send + Sync {
    fn discover(&self) -> impl Future<Output = Result<Vec<Endpoint>, String>> + Send;
}

/// A fixed list.
#[derive(Clone, Debug)]
pub struct Static(pub Vec<Endpoint>);

impl Discover for Static {
    async fn discover(&self) -> Result<Vec<Endpoint>, String> {
        Ok(self.0.clone())
    }
}

/// `DiscoverInstances` against a Cloud Map endpoint (in production
/// `servicediscovery.<region>.amazonaws.com` through a signing proxy; in the simulation, the
/// fake's address).
#[derive(Clone, Debug)]
pub struct CloudMap<N> {
    pub net: N,
    pub endpoint: SocketAddr,
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
        let json = aws_json::call(&self.net, self.endpoint, "Route53AutoNaming_v20170314.DiscoverInstances", &self.body()).await?;
        let instances = json["Instances"].as_array().ok_or("answer has no Instances")?;
        Ok(instances.iter().filter_map(|i| self.endpoint_of(i)).collect())
    }

    fn endpoint_of(&self, instance: &serde_json::Value) -> Option<Endpoint> {
        let a = &instance["Attributes"];
        let ip: std::net::IpAddr = a["AWS_INSTANCE_IPV4"].as_str()?.parse().ok()?;
        let port: u16 = a["AWS_INSTANCE_PORT"].as_str().and_then(|p| p.parse().ok()).unwrap_or(80);
        Some(Endpoint {
            id: instance["InstanceId"].as_str().unwrap_or_default().to_string(),
            addr: SocketAddr::new(ip, port),
            zone: a["AVAILABILITY_ZONE"].as_str().unwrap_or_default().to_string(),
            region: a["REGION"].as_str().map_or_else(|| self.region.clone(), str::to_string),
        })
    }
}

impl<N: Connect> Discover for CloudMap<N> {
    async fn discover(&self) -> Result<Vec<Endpoint>, String> {
        self.call().await
    }
}

/// An NLB's zonal DNS names (`use1-az1.my-nlb-....elb.us-east-1.amazonaws.com`), one per AZ:
/// every address a zonal name resolves to is an endpoint in that AZ. With cross-zone load
/// balancing off, that node only sends to its own AZ's targets, so zone choice is preserved.
#[derive(Clone, Debug)]
pub struct ZonalDns<R> {
    pub resolver: R,
    /// (zone, DNS name) pairs.
    pub names: Vec<(String, String)>,
    pub port: u16,
    pub region: String,
}

impl<R: Resolve> Discover for ZonalDns<R> {
    async fn discover(&self) -> Result<Vec<Endpoint>, String> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (zone, name) in &self.names {
            match self.resolver.resolve(name).await {
                Ok(ips) => out.extend(ips.into_iter().map(|ip| Endpoint {
                    id: format!("{name}/{ip}"),
                    addr: SocketAddr::new(ip, self.port),
                    zone: zone.clone(),
                    region: self.region.clone(),
                })),
                // An AZ whose name does not resolve (its node left DNS) simply has no endpoint.
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        if out.is_empty() && !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(out)
    }
}

/// The task's AZ from the ECS task metadata endpoint v4 (`$ECS_CONTAINER_METADATA_URI_V4/task`,
/// its `AvailabilityZone`), fetched through `net`.
pub async fn ecs_task_zone<N: Connect>(net: &N, metadata_uri: &str) -> Result<String, String> {
    let rest = metadata_uri.strip_prefix("http://").ok_or("the metadata URI is not http://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let addr: SocketAddr = authority.parse().map_err(|e| format!("metadata address {authority}: {e}"))?;
    let stream = net.connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let request =
        http::Request::get(format!("/{path}/task").replace("//", "/")).header("host", authority).body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(|e| format!("request: {e}"))?;
        response.into_body().collect().await.map_err(|e| format!("body: {e}")).map(|b| b.to_bytes())
    };
    let body = tokio::select! {
        biased;
        r = exchange => r?,
        c = conn => return Err(format!("connection closed early: {c:?}")),
    };
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("task metadata is not JSON: {e}"))?;
    json["AvailabilityZone"].as_str().map(str::to_string).ok_or_else(|| "task metadata has no AvailabilityZone".to_string())
}

/// Refreshes `apply` from `source` every `interval` (jittered by up to ±20 %; within a second
/// while nothing has been found yet), forever. A failed or empty refresh keeps what `apply`
/// last got. Run it as a task beside the client.
pub async fn refresh<D: Discover, C: Clock>(source: D, interval: Duration, clock: C, mut rng: Box<dyn Rng + Send>, apply: impl Fn(Vec<Endpoint>)) {
    let mut have = 0usize;
    loop {
        match source.discover().await {
            Ok(list) if !list.is_empty() => {
                if list.len() != have {
                    tracing::info!(endpoints = list.len(), "discovery refreshed");
                }
                have = list.len();
                apply(list);
            }
            Ok(_) => tracing::warn!(kept = have, "discovery found no endpoints: keeping the last good set"),
            Err(e) => tracing::warn!(error = %e, kept = have, "discovery failed: keeping the last good set"),
        }
        // Until the first good answer, ask again within a second rather than a whole interval.
        let base = if have == 0 { interval.min(Duration::from_secs(1)) } else { interval };
        let jitter = 0.8 + 0.4 * rng.next_f64();
        clock.sleep(base.mul_f64(jitter)).await;
    }
}
