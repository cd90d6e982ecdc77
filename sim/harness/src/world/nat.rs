//! NAT gateways, and the egress proxies that send through them.

use std::sync::Arc;

use azsim_fakes::defaults;
use azsim_fakes::nat::{EgressConfig, EgressProxy, NatGateway, Secret, UpstreamPool};
use azsim_kernel::Core;
use azsim_scenario::{EgressHealth, EgressSpec, ScenarioFile};

use super::hosts::Placed;

/// Puts every NAT gateway on its host.
pub(super) fn add(placed: &Placed<'_>, core: &mut Core) {
    for host in placed.nats().values() {
        core.add_process(*host, Box::new(NatGateway::new()));
    }
}

/// Runs a service's instances as egress proxies: each sends through the NAT its subnet routes
/// to (its own AZ's unless the NAT's `routes` say otherwise).
pub(super) fn add_egress_proxies(f: &ScenarioFile, service: &str, e: &EgressSpec, placed: &Placed<'_>, core: &mut Core) {
    let nat = &f.nat_gateways[&e.nat.value];
    let nats = placed.nats();
    let destination = placed.instances(&e.destination.value).first().map(|e| e.host).expect("validated: a service has instances");
    for inst in placed.instances(service) {
        let az = core.topology().az_name(inst.az).to_string();
        let nat_az = nat.routes.get(&az).unwrap_or(&az).clone();
        let config = EgressConfig {
            header: e.header.clone(),
            secrets: e.secrets.iter().map(|s| Secret { value: s.value.clone(), from: s.from.nanos(), until: s.until.map(|u| u.nanos()) }).collect(),
            nat: nats[&(e.nat.value.clone(), nat_az)],
            destination,
            deep: (e.health == EgressHealth::Deep).then_some((defaults::egress::DEEP_PROBE_INTERVAL, defaults::egress::DEEP_PROBE_FRESH_FOR)),
            timeout: e.timeout.nanos(),
            pool: e.upstream_pool.map(|p| UpstreamPool { idle_timeout: p.idle_timeout.nanos(), keepalive: p.keepalive.map(|k| k.nanos()) }),
        };
        core.add_process(inst.host, Box::new(EgressProxy::new(Arc::new(config))));
    }
}
