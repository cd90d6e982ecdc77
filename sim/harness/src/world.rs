//! Scenario -> kernel world.
//!
//! [`build`] takes the scenario's placement plan ([`Plan`], the one place hosts are laid
//! out), makes it a topology (`hosts.rs`), then hands the simulation's core to one builder per
//! part of the topology, each a function of the scenario, the placed hosts and the shared
//! control-plane state:
//!
//! | builder | puts on its hosts |
//! |---|---|
//! | `services.rs` | service instances (steps, canned routes, cold starts, allow-lists) |
//! | `nat.rs` | NAT gateways, and egress proxies (services with `egress:`) |
//! | `load_balancers.rs` | ALB and NLB nodes, listener rules, health checks |
//! | `cloud_map.rs` | the registry and its regional endpoints |
//! | `route53.rs` | the hosted zone and its checkers |
//! | `edge.rs` | CloudFront edges with their WAF allow-list |
//! | `api_gateways.rs` | APIs and their VPC link ENIs |
//! | `ecs.rs` | ECS control planes |
//! | `clients.rs` | the workload, including the AZ-affinity library's clients |
//! | `faults.rs` | the fault timeline |
//!
//! The builders run in a fixed order, because the order processes are added in is the order
//! they start in, and so part of a run's identity. AWS's defaults come from
//! `azsim_fakes::defaults`, never from literals here.

mod api_gateways;
mod clients;
mod cloud_map;
mod ecs;
mod edge;
mod faults;
mod hosts;
mod load_balancers;
mod nat;
mod network;
mod route53;
mod services;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azsim_fakes::cloudmap::Registry;
use azsim_fakes::route53::Route53;
use azsim_fakes::{LbDirectory, TargetRegistry, TaskEvents};
use azsim_kernel::{Core, HostId, Sim, SimConfig};
use azsim_scenario::ScenarioFile;
use azsim_scenario::plan::Plan;

use crate::tunnel::{TunnelCounters, TunnelPlan};

pub(crate) use hosts::Role;
pub use network::dist;

/// A built world: the simulation plus what the harness needs to read it.
pub(crate) struct World {
    pub(crate) sim: Sim,
    pub(crate) roles: BTreeMap<HostId, Role>,
    /// Client names by label.
    pub(crate) client_labels: Vec<String>,
    /// What ECS did to each task.
    pub(crate) task_events: TaskEvents,
    /// Cloud Map's registry, if any service registers.
    pub(crate) cloud_map: Option<Arc<Mutex<Registry>>>,
    /// For each fault of the scenario, the hosts it takes down (by name).
    pub(crate) fault_hosts: Vec<Vec<String>>,
    /// What the tunnel's parts counted, if the scenario has one.
    pub(crate) tunnel: Option<TunnelCounters>,
    /// Route 53's zone (health changes), if the scenario has one.
    pub(crate) route53: Option<Route53>,
}

/// The control planes several fakes read or write: the load balancers' DNS view, the target
/// groups, what ECS did, Cloud Map's registry and Route 53's zone.
struct Shared {
    directory: LbDirectory,
    target_groups: TargetRegistry,
    task_events: TaskEvents,
    registry: Arc<Mutex<Registry>>,
    route53: Option<Route53>,
}

/// Builds the world. Fails (bad input, not a panic) if two generated host names collide or a
/// part of the scenario cannot be built (a bad JWKS, a route key AWS would refuse).
pub(crate) fn build(f: &ScenarioFile, seed: u64, record_hops: bool) -> Result<World, String> {
    let plan = Plan::new(f).map_err(|clash| clash.to_string())?;
    let (topology, placed) = hosts::place(&plan, f);
    let mut config = SimConfig::new(seed, topology);
    config.record_hops = record_hops;
    config.retransmit_timeout = Duration::from_nanos(f.network.retransmit_timeout.nanos());
    config.latency = network::latency_model(f, &config.topology);
    let registry = cloud_map::registry(f, &placed, &config.topology);
    let sim = Sim::new(config);
    let mut shared =
        Shared { directory: LbDirectory::default(), target_groups: TargetRegistry::default(), task_events: TaskEvents::default(), registry, route53: None };
    for (name, list) in placed.all_instances() {
        for e in list {
            shared.target_groups.register(&name, e);
        }
    }
    let tunnel_plan = f.tunnel.as_ref().map(|t| TunnelPlan {
        spec: t.clone(),
        proxies: placed.instances(&t.proxies.value).iter().map(|e| e.host).collect(),
        agents: placed.tunnel_agents(),
        backends: placed.instances(&t.backend.value).iter().map(|e| e.host).collect(),
        processing: dist(f, &f.services[&t.backend.value].processing),
    });
    let real_code: Vec<&str> = f.tunnel.iter().flat_map(|t| [t.proxies.value.as_str(), t.backend.value.as_str()]).collect();
    let (mut proxy_tasks, mut cloud_map, mut library_tasks, mut fault_hosts) = (Vec::new(), None, Vec::new(), Vec::new());
    sim.with_core(|core: &mut Core| -> Result<(), String> {
        for (host, front, task) in tunnel_plan.iter().flat_map(crate::tunnel::fronts) {
            core.add_process(host, Box::new(front));
            proxy_tasks.push((host, task));
        }
        services::add(f, &placed, &real_code, core);
        load_balancers::add(f, &placed, &shared, core);
        cloud_map = cloud_map::add(&placed, &shared.registry, core);
        nat::add(&placed, core);
        shared.route53 = route53::add(f, &placed, &shared, core)?;
        edge::add(f, &placed, shared.route53.as_ref(), core);
        api_gateways::add(f, &placed, &shared, core)?;
        ecs::add(f, &placed, &shared, core);
        library_tasks = clients::add(f, &placed, &shared, core)?;
        fault_hosts = faults::schedule(f, &placed, core);
        Ok(())
    })?;
    crate::library_client::start(&sim, library_tasks);
    let tunnel = match tunnel_plan {
        Some(plan) => {
            let counters = TunnelCounters::default();
            let seed = sim.with_core(|c| c.seed());
            let nets = |h: HostId| sim.net(h);
            crate::tunnel::start(&plan, &nets, proxy_tasks, &counters, seed, &|f| sim.spawn(f))?;
            Some(counters)
        }
        None => None,
    };
    Ok(World {
        sim,
        roles: placed.roles(f),
        client_labels: f.clients.keys().cloned().collect(),
        task_events: shared.task_events,
        cloud_map,
        fault_hosts,
        tunnel,
        route53: shared.route53,
    })
}

/// The addresses an allow-list entry stands for: a CIDR block, or the address of each host
/// it names (one host, or every host of a group).
fn addresses(entry: &str, placed: &hosts::Placed<'_>, core: &Core) -> Vec<(std::net::Ipv4Addr, u8)> {
    match azsim_scenario::parse_cidr(entry) {
        Some(cidr) => vec![cidr],
        None => placed.named(entry).into_iter().map(|h| (core.topology().host(h).ip, 32)).collect(),
    }
}
