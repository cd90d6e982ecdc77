//! Where endpoints come from: a static list, or AWS Cloud Map's `DiscoverInstances` over HTTP
//! (AWS JSON 1.1), refreshed on a jittered interval. A refresh that fails, or finds nothing,
//! keeps the last good set (static stability) and says so.
//!
//! Sources: [`Static`], [`ZonalDns`] (an NLB's zonal names, one per AZ) and, with the
//! `cloud-map` feature (on by default), `CloudMap`. With the `ecs-metadata` feature (on by
//! default), `ecs_task_zone` reads the task's AZ from ECS.

#[cfg(feature = "cloud-map")]
mod cloud_map;
#[cfg(feature = "ecs-metadata")]
mod ecs;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use azsim_net::{Clock, Resolve, Rng};

use crate::balancer::Endpoint;
#[cfg(feature = "cloud-map")]
pub use cloud_map::{AwsAccess, CloudMap};
#[cfg(feature = "ecs-metadata")]
pub use ecs::ecs_task_zone;

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
                Ok(ips) => out
                    .extend(ips.into_iter().map(|ip| Endpoint::new(format!("{name}/{ip}"), SocketAddr::new(ip, self.port), zone.clone(), self.region.clone()))),
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
