//! ECS: a control plane per service, with its task slots, container health check, target
//! groups (whose load-balancer verdicts it reads after the grace period), Cloud Map
//! registration and autoscaling.

use azsim_fakes::defaults::ecs::HEALTH_CHECK_GRACE_PERIOD;
use azsim_fakes::{AutoScaling, ContainerHealthCheck, EcsCloudMap, EcsService, EcsServiceConfig};
use azsim_kernel::Core;
use azsim_scenario::{LoadBalancerSpec, ScenarioFile};

use super::Shared;
use super::cloud_map::ecs_attributes;
use super::hosts::Placed;
use super::load_balancers::{deregistration_delay, lb_groups};
use super::network::dist;

/// Puts each ECS service's control plane on its host.
pub(super) fn add(f: &ScenarioFile, placed: &Placed<'_>, shared: &Shared, core: &mut Core) {
    for (name, host) in placed.ecs_hosts() {
        let svc = &f.services[&name];
        let ecs = svc.ecs.as_ref().expect("only ECS services have a control plane");
        let lbs: Vec<&LoadBalancerSpec> = f.load_balancers.values().filter(|lb| lb_groups(lb).contains(&name)).collect();
        let drain = lbs.iter().map(|lb| deregistration_delay(lb)).max();
        let first_az = svc.instances.value.keys().next().expect("validated: a service has instances");
        let region = placed.plan.region_of(first_az).expect("validated: an AZ of a Region");
        let config = EcsServiceConfig {
            service: name.clone(),
            slots: placed.slots(&name).cloned().unwrap_or_default(),
            azs: svc.instances.value.keys().map(|a| placed.zone(a)).collect(),
            launch: dist(f, &ecs.launch_time),
            startup: dist(f, &ecs.startup),
            health: ContainerHealthCheck {
                interval: ecs.health_check.interval.nanos(),
                retries: ecs.health_check.retries,
                start_period: ecs.health_check.start_period.nanos(),
            },
            health_check_grace_period: ecs.health_check_grace_period.map_or(HEALTH_CHECK_GRACE_PERIOD, |d| d.nanos()),
            target_groups: drain.map(|d| (shared.target_groups.clone(), d)),
            cloud_map: svc.cloud_map.as_ref().map(|reg| EcsCloudMap {
                registry: shared.registry.clone(),
                namespace: reg.namespace.clone(),
                service: reg.service.clone(),
                attributes: ecs_attributes(&name, region),
            }),
            events: shared.task_events.clone(),
            autoscaling: ecs.autoscaling.as_ref().map(|a| AutoScaling {
                target: a.target_cpu,
                min: a.min,
                max: a.max,
                scale_out_cooldown: a.scale_out_cooldown.nanos(),
                scale_in_cooldown: a.scale_in_cooldown.nanos(),
                cpus: f64::from(svc.concurrency.unwrap_or(1)),
            }),
        };
        core.add_process(host, Box::new(EcsService::new(config)));
    }
}
