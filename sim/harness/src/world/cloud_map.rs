//! Cloud Map: the registry as the scenario registers it, and its regional endpoints.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use azsim_fakes::cloudmap::{CloudMapNode, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
use azsim_fakes::defaults;
use azsim_kernel::{Core, Topology};
use azsim_scenario::{DnsRouting, ScenarioFile};

use super::hosts::Placed;

/// Cloud Map as the scenario registers it: for each `cloud_map:` service, an HTTP namespace (a
/// private DNS one if any of its services publishes records), a service with a custom health
/// check, and every instance with ECS's attributes, visible from the start (they were
/// registered before the run began).
pub(super) fn registry(f: &ScenarioFile, placed: &Placed<'_>, topo: &Topology) -> Arc<Mutex<Registry>> {
    let settings = Settings {
        registration_delay: f.cloud_map.registration_delay.nanos(),
        health_change_delay: f.cloud_map.health_change_delay.nanos(),
        dns_propagation: f.cloud_map.dns_propagation.nanos(),
        ..Settings::default()
    };
    let mut registry = Registry::new(settings);
    for (name, svc) in &f.services {
        let Some(reg) = &svc.cloud_map else { continue };
        let dns_namespace = f.services.values().filter_map(|s| s.cloud_map.as_ref()).any(|r| r.namespace == reg.namespace && r.dns.is_some());
        let _ = registry.create_namespace(&reg.namespace, if dns_namespace { NamespaceKind::DnsPrivate } else { NamespaceKind::Http });
        let (routing, ttl) = match &reg.dns {
            Some(d) => {
                (if d.routing == DnsRouting::Weighted { RoutingPolicy::Weighted } else { RoutingPolicy::Multivalue }, (d.ttl.nanos() / 1_000_000_000) as u32)
            }
            None => (RoutingPolicy::Multivalue, defaults::cloud_map::DNS_TTL_SECONDS),
        };
        let _ = registry.create_service(&reg.namespace, &reg.service, HealthConfig::Custom, routing, ttl);
        for e in placed.instances(name) {
            let h = topo.host(e.host);
            let region = topo.region_name(h.region);
            let mut attributes = if svc.ecs.is_some() {
                let mut a = ecs_attributes(name, region);
                a.insert("AWS_INIT_HEALTH_STATUS".to_string(), "HEALTHY".to_string());
                a
            } else {
                BTreeMap::from([("REGION".to_string(), region.to_string())])
            };
            attributes.insert("AWS_INSTANCE_IPV4".to_string(), h.ip.to_string());
            attributes.insert("AWS_INSTANCE_PORT".to_string(), "80".to_string());
            attributes.insert("AVAILABILITY_ZONE".to_string(), topo.az_name(h.az).to_string());
            registry.register_instance(0, &reg.namespace, &reg.service, &h.name, attributes).expect("namespace and service exist");
        }
        if let Some(s) = registry.namespaces.get_mut(&reg.namespace).and_then(|ns| ns.services.get_mut(&reg.service)) {
            s.instances.values_mut().for_each(|i| {
                i.visible_at = 0;
                i.dns_visible_at = 0;
            });
        }
    }
    Arc::new(Mutex::new(registry))
}

/// Puts Cloud Map's endpoint on its host in each Region that has one; returns the registry if
/// any service registers.
pub(super) fn add(placed: &Placed<'_>, registry: &Arc<Mutex<Registry>>, core: &mut Core) -> Option<Arc<Mutex<Registry>>> {
    let hosts = placed.cloud_map_hosts();
    for host in hosts.values() {
        core.add_process(*host, Box::new(CloudMapNode::new(registry.clone())));
    }
    (!hosts.is_empty()).then(|| registry.clone())
}

/// The attributes ECS gives every instance it registers in Cloud Map, besides address, port,
/// AZ and initial health.
pub(super) fn ecs_attributes(service: &str, region: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("REGION".to_string(), region.to_string()),
        ("ECS_SERVICE_NAME".to_string(), service.to_string()),
        ("ECS_CLUSTER_NAME".to_string(), "default".to_string()),
        ("ECS_TASK_DEFINITION_FAMILY".to_string(), service.to_string()),
    ])
}
