//! Clients: the workload. Each client host runs a [`Client`] (open or closed loop, a request
//! mix, a destination it resolves), or the AZ-affinity library's client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azsim_fakes::cloudmap::Discover;
use azsim_fakes::{Client, ClientConfig, ClientConnections, Destination, HttpRequest, Pacing, PickPolicy, Picker, defaults};
use azsim_kernel::{Core, HostId};
use azsim_scenario::{Arrivals, ClientPacing, ClientSpec, DiscoveryVia, ScenarioFile};

use super::Shared;
use super::hosts::Placed;
use crate::library_client::{LibraryClient, LibraryClientConfig, LibraryTask};

/// Puts every client on its hosts; returns the library clients' tasks, to spawn once the
/// simulation runs.
pub(super) fn add(f: &ScenarioFile, placed: &Placed<'_>, shared: &Shared, core: &mut Core) -> Result<Vec<(HostId, LibraryTask)>, String> {
    let mut library_tasks = Vec::new();
    for (label, (name, c)) in f.clients.iter().enumerate() {
        let config = client_config(f, label as u32, c, placed, shared);
        for host in placed.client_hosts(name) {
            let mut config = config.clone();
            let Some((d, reg)) = c.discovery.as_ref().zip(f.services.get(&c.target.value).and_then(|s| s.cloud_map.as_ref())) else {
                let client = simple_client(c, config);
                core.add_process(host, Box::new(client));
                continue;
            };
            let info = core.topology().host(host);
            let (my_az, my_region) = (core.topology().az_name(info.az).to_string(), core.topology().region_name(info.region).to_string());
            let cloud_map = placed.cloud_map_hosts();
            let endpoint = cloud_map.get(&my_region).or_else(|| cloud_map.values().next()).copied().expect("a registered service has an endpoint");
            let query = d.query.iter().map(|(k, v)| (k.clone(), if v == "$az" { my_az.clone() } else { v.clone() })).collect();
            let request =
                Discover { namespace: reg.namespace.clone(), service: reg.service.clone(), max_results: None, query, optional: BTreeMap::new(), health: None };
            let refresh = d.refresh.map_or(defaults::client::DISCOVERY_REFRESH, |r| r.nanos());
            if let Some(lib) = &c.library {
                let Pacing::Open { rate, poisson } = config.pacing else {
                    return Err(format!("clients.{name}: a client with `library:` sends at a `rate` (open loop), not a `concurrency`"));
                };
                let library = LibraryClientConfig {
                    label: label as u32,
                    library: library_config(lib, &my_az),
                    cloud_map: endpoint,
                    discover: Discover { query: BTreeMap::new(), ..request },
                    refresh,
                    rate,
                    poisson,
                    start_at: c.start.nanos(),
                    stop_at: f.duration.nanos(),
                    request_bytes: c.request_bytes,
                    response_bytes: c.response_bytes,
                    timeout: c.timeout.nanos(),
                    mix: config.mix.clone(),
                };
                let (client, task) = LibraryClient::new(library);
                core.add_process(host, Box::new(client));
                library_tasks.push((host, task));
                continue;
            }
            config.destination = match d.via {
                DiscoveryVia::Api => Destination::CloudMap { endpoint, request, refresh },
                DiscoveryVia::Dns => Destination::CloudMapDns {
                    registry: shared.registry.clone(),
                    namespace: reg.namespace.clone(),
                    service: reg.service.clone(),
                    cache: c.dns_cache.map(|d| d.nanos()),
                },
            };
            core.add_process(host, Box::new(simple_client(c, config)));
        }
    }
    Ok(library_tasks)
}

/// A client process (not the library's) with the spec's connections and expected statuses.
fn simple_client(c: &ClientSpec, config: ClientConfig) -> Client {
    let mut client = Client::new(config);
    if let Some(conns) = &c.connections {
        let tls = conns.value.tls.map(|v| match v {
            azsim_scenario::TlsVersion::V1_2 => azsim_fakes::tls::Tls::V1_2,
            azsim_scenario::TlsVersion::V1_3 => azsim_fakes::tls::Tls::V1_3,
        });
        client = client.with_connections(ClientConnections {
            idle_timeout: conns.value.idle_timeout.nanos(),
            max_requests: conns.value.max_requests,
            tls,
            resumption: conns.value.resumption,
        });
    }
    if let Some(text) = &c.expected_statuses {
        let ranges = azsim_scenario::parse_matcher(&text.value).expect("validation checked the expected statuses");
        client = client.expecting(azsim_fakes::Matcher::of_ranges(&ranges));
    }
    client
}

/// A client's configuration, the same on each of its hosts.
fn client_config(f: &ScenarioFile, label: u32, c: &ClientSpec, placed: &Placed<'_>, shared: &Shared) -> ClientConfig {
    ClientConfig {
        label,
        destination: destination(f, c, placed, shared),
        pacing: match c.pacing {
            ClientPacing::Rate(rate) => Pacing::Open { rate, poisson: c.arrivals == Arrivals::Poisson },
            ClientPacing::Concurrency(n) => Pacing::Closed { concurrency: n },
        },
        max_requests: c.requests,
        start_at: c.start.nanos(),
        stop_at: f.duration.nanos(),
        request_bytes: c.request_bytes,
        response_bytes: c.response_bytes,
        timeout: c.timeout.nanos(),
        mix: c
            .http
            .iter()
            .map(|h| {
                let mut headers: Vec<(String, String)> = h.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                if let Some(token) = &h.jwt_token {
                    headers.push(("authorization".into(), format!("Bearer {token}")));
                }
                let http = HttpRequest {
                    method: h.method.clone(),
                    path: h.path.clone(),
                    host: h.host.clone(),
                    headers,
                    query: h.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    large_header_bytes: h.large_header_bytes,
                };
                (h.weight, Arc::new(http))
            })
            .collect(),
    }
}

/// Where a client sends: an API's endpoint, a distribution's edge, a Route 53 name, a load
/// balancer's name, or a service's instances.
fn destination(f: &ScenarioFile, c: &ClientSpec, placed: &Placed<'_>, shared: &Shared) -> Destination {
    let target = c.target.value.as_str();
    if let Some(endpoint) = placed.api_endpoint(target).or_else(|| placed.edge(target)) {
        return Destination::Service(Picker::new(PickPolicy::Any, vec![endpoint]));
    }
    if f.route53.as_ref().is_some_and(|r| r.records.contains_key(target)) {
        let zone = shared.route53.clone().expect("a record implies a zone");
        return Destination::Route53 { zone, name: target.to_string(), cache: c.dns_cache.map(|d| d.nanos()) };
    }
    if f.load_balancers.contains_key(target) {
        return Destination::LoadBalancer {
            name: target.to_string(),
            zonal: c.resolve == azsim_scenario::Resolve::OwnAz,
            directory: shared.directory.clone(),
            ttl: c.dns_cache.map_or(defaults::elb::DNS_TTL, |d| d.nanos()),
        };
    }
    Destination::Service(Picker::new(PickPolicy::Any, placed.instances(target)))
}

/// The library's configuration from a scenario's `library:` (absent fields: its defaults).
fn library_config(l: &azsim_scenario::LibrarySpec, my_az: &str) -> affinity_client::Config {
    use affinity_client::config::presets;
    use affinity_client::{BreakerConfig, Breakers, BudgetConfig, Trip};
    let mut c = affinity_client::Config::new(Some(my_az));
    c.retry.max_attempts = l.max_attempts.unwrap_or(c.retry.max_attempts);
    // The scenario language's defaults, not the library's (5 s per try, 15 s deadline): a
    // per-try timeout only if given, and no deadline; the client's `timeout` bounds a call.
    c.retry.per_try_timeout = l.per_try_timeout.map(|d| Duration::from_nanos(d.nanos()));
    c.retry.deadline = None;
    c.retry.budget = match l.retry_budget {
        None | Some(azsim_scenario::RetryBudgetKind::TokenBucket) => c.retry.budget,
        Some(azsim_scenario::RetryBudgetKind::Ratio) => presets::envoy_retry_budget(),
        Some(azsim_scenario::RetryBudgetKind::None) => BudgetConfig::Unlimited,
    };
    match l.outlier_consecutive_failures {
        Some(0) => c.outlier = None,
        Some(n) => c.outlier = Some(presets::envoy_outlier_detection().consecutive_failures(n)),
        None => {}
    }
    let open_for = l.breaker_open_for.map_or(Duration::from_secs(30), |d| Duration::from_nanos(d.nanos()));
    match l.breaker_consecutive_failures {
        Some(0) => c.breaker = None,
        n => c.breaker = Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(n.unwrap_or(5))).open_for(open_for).probes(3))),
    }
    c.zones.spill_below = l.spill_below.unwrap_or(c.zones.spill_below);
    c.zones.failback_after = l.failback_after.map_or(c.zones.failback_after, |d| Duration::from_nanos(d.nanos()));
    c
}
