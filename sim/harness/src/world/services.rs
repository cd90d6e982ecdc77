//! Services: each instance a [`ServiceInstance`] (or, with `egress:`, an egress proxy), with
//! its steps, canned routes, cold starts and allow-list.

use std::sync::Arc;

use azsim_fakes::rules::Conditions;
use azsim_fakes::{CannedRoute, ColdStart, KeepAlive, PickPolicy, Picker, ServiceConfig, ServiceInstance, Step, StepKind, defaults};
use azsim_kernel::Core;
use azsim_scenario::{KeepAliveSpec, Pick, ScenarioFile, ServiceSpec, StepAction};

use super::hosts::Placed;
use super::network::dist;

/// Puts every simulated service's instances on their hosts; `real_code` names the services
/// the tunnel's real code stands for (they get no fake).
pub(super) fn add(f: &ScenarioFile, placed: &Placed<'_>, real_code: &[&str], core: &mut Core) {
    for (name, svc) in f.services.iter().filter(|(name, _)| !real_code.contains(&name.as_str())) {
        let config = Arc::new(service_config(f, name, svc, placed, core));
        let keep_alive = match svc.keep_alive.as_ref().map(|k| k.value) {
            None => defaults::service::KEEP_ALIVE,
            Some(KeepAliveSpec::Off) => KeepAlive::Off,
            Some(KeepAliveSpec::Timeout(d)) => KeepAlive::Timeout(d.nanos()),
        };
        if let Some(egress) = &svc.egress {
            super::nat::add_egress_proxies(f, name, egress, placed, core);
            continue;
        }
        match placed.slots(name) {
            Some(task_slots) => {
                for slot in task_slots {
                    core.add_process(
                        slot.endpoint.host,
                        Box::new(ServiceInstance::new(config.clone()).with_switch(slot.switch.clone()).with_keep_alive(keep_alive)),
                    );
                }
            }
            None => {
                for e in placed.instances(name) {
                    core.add_process(e.host, Box::new(ServiceInstance::new(config.clone()).with_keep_alive(keep_alive)));
                }
            }
        }
    }
}

fn service_config(f: &ScenarioFile, name: &str, svc: &ServiceSpec, placed: &Placed<'_>, core: &Core) -> ServiceConfig {
    ServiceConfig {
        name: name.to_string(),
        processing: dist(f, &svc.processing),
        concurrency: svc.concurrency,
        queue: svc.queue,
        steps: svc.steps.iter().map(|s| step(f, s, placed)).collect(),
        call_timeout: defaults::service::CALL_TIMEOUT,
        cold_start: svc.cold_start.as_ref().map(|cs| ColdStart {
            duration: dist(f, &cs.duration),
            keep_warm: cs.keep_warm.nanos(),
            vpc_attach: cs.vpc_attach.as_ref().map(|d| dist(f, d)),
        }),
        routes: svc
            .routes
            .iter()
            .map(|r| CannedRoute {
                conditions: Conditions { paths: r.path.clone(), hosts: r.host.clone(), methods: r.method.clone(), ..Conditions::default() },
                status: r.status,
                bytes: r.bytes,
            })
            .collect(),
        allow_sources: svc.allow_sources.iter().flat_map(|source| super::addresses(source, placed, core)).collect(),
        health_body: svc.health_body.as_deref().map(Arc::from),
    }
}

/// A step: a call or a forward to a load balancer's nodes or a service's instances. A call
/// goes on a keep-alive connection when its target takes connections (a forward passes the
/// request on, and the next service answers the original caller: a message).
fn step(f: &ScenarioFile, s: &azsim_scenario::StepSpec, placed: &Placed<'_>) -> Step {
    let (kind, target) = match &s.action {
        StepAction::Call(t) => (StepKind::Call, t),
        StepAction::Forward(t) => (StepKind::Forward, t),
    };
    let nodes = placed.lb_nodes(&target.value);
    let endpoints = if nodes.is_empty() { placed.instances(&target.value) } else { nodes };
    let connects = kind == StepKind::Call && f.refuses_connections(&target.value).is_none();
    Step { kind, picker: Picker::new(pick_policy(s.pick), endpoints), headers: s.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), connects }
}

fn pick_policy(p: Pick) -> PickPolicy {
    match p {
        Pick::Any => PickPolicy::Any,
        Pick::RoundRobin => PickPolicy::RoundRobin,
        Pick::Local => PickPolicy::Local,
        Pick::PreferLocal => PickPolicy::PreferLocal,
        Pick::Spread => PickPolicy::Spread,
    }
}
