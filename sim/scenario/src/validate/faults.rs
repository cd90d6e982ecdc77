//! Checks of `faults:`: every scope a fault names is something the plan places.

use super::{Checker, did_you_mean};
use crate::model::{FaultKind, LatencyChange, Ref};

impl Checker<'_> {
    /// A fault scope names what the plan places: `*`, a zone, a Region, a group (a service,
    /// load balancer, client, API, NAT gateway, distribution, `tunnel-agent`, `cloudmap`,
    /// `route53-checker`, `ecs-<service>`) or one host.
    fn check_scope(&mut self, r: &Ref, path: &str) {
        let names = self.plan.scope_names();
        if names.contains(&r.value.as_str()) {
            return;
        }
        let hint = did_you_mean(&r.value, names.iter().copied());
        drop(names);
        self.push(
            Some(r.referenced),
            path.to_string(),
            format!("`{}` is not an AZ, Region, group of hosts (a service, load balancer, client, API, NAT gateway, ...) or host", r.value),
            hint,
        );
    }

    pub(super) fn check_faults(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let regions: Vec<String> = self.f.regions.value.keys().cloned().collect();
        for (i, fault) in self.f.faults.iter().enumerate() {
            let path = format!("faults[{i}]");
            match &fault.kind {
                FaultKind::AzOutage(r) => {
                    self.check_ref(r, &azs, &format!("{path}.az_outage"), "AZ");
                }
                FaultKind::RegionOutage(r) => {
                    self.check_ref(r, &regions, &format!("{path}.region_outage"), "Region");
                }
                FaultKind::Crash(r) => self.check_scope(r, &format!("{path}.crash")),
                FaultKind::PowerOff(r) => self.check_scope(r, &format!("{path}.power_off")),
                FaultKind::Latency(l) => {
                    self.check_scope(&l.from, &format!("{path}.latency.from"));
                    self.check_scope(&l.to, &format!("{path}.latency.to"));
                    let (LatencyChange::Set(d) | LatencyChange::Add(d)) = &l.change;
                    self.check_dist(d, Some(l.from.referenced), &format!("{path}.latency"));
                }
                FaultKind::Partition(p) => {
                    self.check_scope(&p.from, &format!("{path}.partition.from"));
                    self.check_scope(&p.to, &format!("{path}.partition.to"));
                }
                FaultKind::Loss(p) => {
                    self.check_scope(&p.from, &format!("{path}.loss.from"));
                    self.check_scope(&p.to, &format!("{path}.loss.to"));
                    if !(0.0..=1.0).contains(&p.probability) {
                        self.push(Some(p.from.referenced), format!("{path}.loss.probability"), "a probability is between 0 and 1".into(), None);
                    }
                }
            }
        }
    }
}
