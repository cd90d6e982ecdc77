//! Checks of `services:`: instances, sources, canned routes, ECS, steps, and that calls do not loop.

use super::{Checker, parse_cidr};
use crate::model::StepAction;

impl Checker<'_> {
    /// Long on purpose: one check per rule of the `services` section, in the order of its keys, so
    /// the list reads against the section's documentation.
    pub(super) fn check_services(&mut self) {
        let names: Vec<String> = self.f.services.keys().cloned().collect();
        for (name, svc) in &self.f.services {
            let path = format!("services.{name}");
            self.check_az_map(&svc.instances, &format!("{path}.instances"));
            self.check_dist(&svc.processing, Some(svc.instances.referenced), &format!("{path}.processing"));
            if let Some(cs) = &svc.cold_start {
                self.check_dist(&cs.duration, Some(svc.instances.referenced), &format!("{path}.cold_start.duration"));
                if let Some(d) = &cs.vpc_attach {
                    self.check_dist(d, Some(svc.instances.referenced), &format!("{path}.cold_start.vpc_attach"));
                }
            }
            if let Some(keep_alive) = svc.keep_alive.as_ref().filter(|k| k.value == crate::model::KeepAliveSpec::Timeout(crate::units::Dur(0))) {
                self.push(
                    Some(keep_alive.referenced),
                    format!("{path}.keep_alive"),
                    "a keep-alive timeout is longer than 0".into(),
                    Some("`off` closes after every answer".into()),
                );
            }
            for (i, source) in svc.allow_sources.iter().enumerate() {
                let known = self.f.clients.contains_key(source)
                    || self.f.load_balancers.contains_key(source)
                    || self.f.services.contains_key(source)
                    || self.f.nat_gateways.contains_key(source)
                    || self.plan.names_hosts(source);
                if parse_cidr(source).is_none() && !known {
                    self.push(
                        None,
                        format!("{path}.allow_sources[{i}]"),
                        format!("`{source}` is neither an IPv4 CIDR block (10.0.0.0/16) nor a client, load balancer or service"),
                        None,
                    );
                }
            }
            for (i, r) in svc.routes.iter().enumerate() {
                if !(100..=599).contains(&r.status) {
                    self.push(None, format!("{path}.routes[{i}].status"), "a status is between 100 and 599".into(), None);
                }
            }
            if let Some(ecs) = &svc.ecs {
                let at = Some(svc.instances.referenced);
                self.check_dist(&ecs.launch_time, at, &format!("{path}.ecs.launch_time"));
                self.check_dist(&ecs.startup, at, &format!("{path}.ecs.startup"));
                let hc = &ecs.health_check;
                if !(5_000_000_000..=300_000_000_000).contains(&hc.interval.nanos()) {
                    self.push(None, format!("{path}.ecs.health_check.interval"), "a container health check interval is 5s to 300s".into(), None);
                }
                if !(1..=10).contains(&hc.retries) {
                    self.push(None, format!("{path}.ecs.health_check.retries"), "container health check retries are 1 to 10".into(), None);
                }
                if let Some(a) = &ecs.autoscaling {
                    if !(a.target_cpu > 0.0 && a.target_cpu <= 1.0) {
                        self.push(None, format!("{path}.ecs.autoscaling.target_cpu"), "a CPU target is above 0 and at most 1 (e.g. 0.5)".into(), None);
                    }
                    if a.min > a.max || a.max == 0 {
                        self.push(None, format!("{path}.ecs.autoscaling"), "give 1 <= min <= max".into(), None);
                    }
                }
                let most = svc.instances.value.values().copied().max().unwrap_or(0);
                if ecs.capacity_per_az.is_some_and(|c| c < most) {
                    self.push(
                        None,
                        format!("{path}.ecs.capacity_per_az"),
                        format!("capacity_per_az must hold the {most} tasks the busiest AZ starts with"),
                        None,
                    );
                }
                for (caller, other) in &self.f.services {
                    if let Some(step) = other.steps.iter().map(|s| s.action.target()).find(|r| r.value == *name) {
                        self.push(
                            Some(step.referenced),
                            format!("services.{caller}.steps"),
                            format!("`{name}` is an ECS service whose tasks come and go; steps reach fixed instances. Put a load balancer in front of it, or let clients discover it through Cloud Map"),
                            None,
                        );
                    }
                }
            }
            if svc.concurrency == Some(0) {
                self.push(Some(svc.instances.referenced), format!("{path}.concurrency"), "concurrency must be at least 1".into(), None);
            }
            for (i, step) in svc.steps.iter().enumerate() {
                let sp = format!("{path}.steps[{i}]");
                match &step.action {
                    StepAction::Call(r) if self.f.load_balancers.contains_key(&r.value) => {}
                    // A service calling itself is a loop (reported below); a misspelt callee is
                    // never "did you mean" the caller itself.
                    StepAction::Call(r) | StepAction::Forward(r) if r.value == *name => {}
                    StepAction::Call(r) | StepAction::Forward(r) => {
                        let others: Vec<String> = names.iter().filter(|n| *n != name).cloned().collect();
                        self.check_ref(r, &others, &sp, "service");
                    }
                }
            }
        }
        // Calls must not loop: a request would never end.
        for start in self.f.services.keys() {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            while let Some((s, path)) = stack.pop() {
                let Some(svc) = self.f.services.get(&s) else { continue };
                for step in &svc.steps {
                    let next = step.action.target();
                    if next.value == *start {
                        let cycle = format!("{} -> {}", path.join(" -> "), next.value);
                        self.push(Some(next.referenced), format!("services.{start}"), format!("services call each other in a loop: {cycle}"), None);
                        return;
                    }
                    if !path.contains(&next.value) {
                        let mut p = path.clone();
                        p.push(next.value.clone());
                        stack.push((next.value.clone(), p));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Source, load_str};

    const SHOP: &str = "version: 1\nname: shop\nduration: 10s\nregions:\n  us-east-1:\n    azs: [use1-az1, use1-az2]\nservices:\n  orders:\n    instances: { use1-az1: 1 }\n    processing: { fixed: 1ms }\n    steps: [ { call: CALLEE } ]\n  billing:\n    instances: { use1-az1: 1 }\n    processing: { fixed: 1ms }\nclients:\n  c:\n    azs: { use1-az1: 1 }\n    target: orders\n    rate: 10\n";

    fn error_calling(callee: &str) -> String {
        let text = SHOP.replace("CALLEE", callee);
        load_str(Source { name: "shop.yaml".into(), text }).expect_err(callee).to_string()
    }

    #[test]
    fn a_misspelt_callee_is_never_the_caller_itself() {
        let err = error_calling("order");
        assert!(err.contains("shop.yaml:11:22") && err.contains("unknown service `order`"), "{err}");
        assert!(!err.contains("did you mean `orders`"), "the caller suggested as its own callee: {err}");
        let err = error_calling("biling");
        assert!(err.contains("did you mean `billing`?"), "{err}");
    }
}
