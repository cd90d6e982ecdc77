//! Checks of `route53:`: checkers, health checks, record sets and their targets.

use std::collections::BTreeSet;

use super::Checker;
use crate::model::{R53CheckType, RecordPolicy};

impl Checker<'_> {
    /// Long on purpose: one check per rule of the `route53` section, in the order of its keys, so
    /// the list reads against the section's documentation.
    pub(super) fn check_route53(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let mut endpoints: Vec<String> = self.f.api_gateways.keys().cloned().collect();
        endpoints.extend(self.f.services.keys().cloned());
        let mut record_targets = endpoints.clone();
        record_targets.extend(self.f.load_balancers.keys().cloned());
        // A health check may name a load balancer too (its DNS name, as an endpoint by domain
        // name is checked).
        let check_targets = record_targets.clone();
        if let Some(r) = &self.f.route53 {
            self.check_ref(&r.checkers.az, &azs, "route53.checkers.az", "AZ");
            for az in &r.checkers.also_in {
                self.check_ref(az, &azs, "route53.checkers.also_in", "AZ");
            }
            if r.checkers.count == 0 {
                self.push(Some(r.checkers.az.referenced), "route53.checkers.count".into(), "at least one checker is needed".into(), None);
            }
            self.check_dist(&r.propagation, None, "route53.propagation");
            for (id, hc) in &r.health_checks {
                let path = format!("route53.health_checks.{id}");
                self.check_ref(&hc.target, &check_targets, &format!("{path}.target"), "API, service or load balancer");
                if ![10_000_000_000, 30_000_000_000].contains(&hc.interval.nanos()) {
                    self.push(
                        Some(hc.target.referenced),
                        format!("{path}.interval"),
                        "a Route 53 health check is every 10s (fast) or 30s (standard)".into(),
                        None,
                    );
                }
                if !(1..=10).contains(&hc.failure_threshold) {
                    self.push(Some(hc.target.referenced), format!("{path}.failure_threshold"), "the failure threshold is 1 to 10".into(), None);
                }
                if hc.search_string.is_some() && self.f.api_gateways.contains_key(&hc.target.value) {
                    self.push(
                        Some(hc.target.referenced),
                        format!("{path}.search_string"),
                        format!("`{}` is an API: its endpoint answers health checks with no body, so a string never matches", hc.target.value),
                        Some("point the check at a service with a `health_body`".into()),
                    );
                }
                if hc.search_string.is_some() && self.f.load_balancers.contains_key(&hc.target.value) {
                    self.push(
                        Some(hc.target.referenced),
                        format!("{path}.search_string"),
                        format!("`{}` is a load balancer: its nodes answer Route 53's probes with no body, so a string never matches", hc.target.value),
                        Some("point the check at a service with a `health_body`".into()),
                    );
                }
                if hc.kind == R53CheckType::Tcp && hc.search_string.is_some() {
                    self.push(
                        Some(hc.target.referenced),
                        format!("{path}.search_string"),
                        "a TCP check reads no body: string matching is for `http` and `https`".into(),
                        None,
                    );
                }
                if hc.search_string.as_ref().is_some_and(|s| s.is_empty() || s.len() > 255) {
                    self.push(Some(hc.target.referenced), format!("{path}.search_string"), "a search string is 1 to 255 characters".into(), None);
                }
            }
            for (id, calc) in &r.calculated_checks {
                if r.health_checks.contains_key(id) {
                    self.push(None, format!("route53.calculated_checks.{id}"), format!("`{id}` is also an endpoint health check"), None);
                }
                for child in &calc.children {
                    if !r.health_checks.contains_key(child) && !r.calculated_checks.contains_key(child) || child == id {
                        let known: Vec<String> = r.health_checks.keys().chain(r.calculated_checks.keys()).filter(|k| *k != id).cloned().collect();
                        let (message, hint) = self.unknown("health check", child, &known);
                        self.push(
                            None,
                            format!("route53.calculated_checks.{id}"),
                            message.replacen("unknown health check", "unknown child health check", 1),
                            hint,
                        );
                    }
                }
            }
            for (name, rec) in &r.records {
                let path = format!("route53.records.{name}");
                if let RecordPolicy::Multivalue(targets) = &rec.policy
                    && let Some(t) = targets.iter().find(|t| self.f.load_balancers.contains_key(&t.target.value))
                {
                    self.push(
                        Some(t.target.referenced),
                        format!("{path}.multivalue"),
                        format!("`{}` is a load balancer: multivalue answer records cannot be aliases", t.target.value),
                        None,
                    );
                }
                let mut latency_regions = BTreeSet::new();
                let latency = matches!(rec.policy, RecordPolicy::Latency(_));
                for t in rec.policy.targets() {
                    self.check_ref(&t.target, &record_targets, &format!("{path}.target"), "API, service or load balancer");
                    if t.evaluate_target_health && !self.f.load_balancers.contains_key(&t.target.value) {
                        self.push(
                            Some(t.target.referenced),
                            format!("{path}.evaluate_target_health"),
                            format!("`{}` is not a load balancer: only alias records evaluate target health", t.target.value),
                            Some("point the record at a load balancer, or give it a `health_check`".into()),
                        );
                    }
                    if latency
                        && let Some(region) = self.region_of_target(&t.target.value)
                        && !latency_regions.insert(region.clone())
                    {
                        self.push(
                            Some(t.target.referenced),
                            format!("{path}.latency"),
                            format!("two latency records in Region `{region}`: one per Region"),
                            None,
                        );
                    }
                    if let Some(hc) = &t.health_check
                        && !r.health_checks.contains_key(hc)
                        && !r.calculated_checks.contains_key(hc)
                    {
                        let known: Vec<String> = r.health_checks.keys().chain(r.calculated_checks.keys()).cloned().collect();
                        let (message, hint) = self.unknown("health check", hc, &known);
                        self.push(Some(t.target.referenced), format!("{path}.health_check"), message, hint);
                    }
                    if t.weight > 255 {
                        self.push(Some(t.target.referenced), format!("{path}.weight"), "a weight is 0 to 255".into(), None);
                    }
                }
            }
        }
    }

    /// The Region a record target (an API, a service's first instance, a load balancer's first
    /// AZ) is in.
    fn region_of_target(&self, name: &str) -> Option<String> {
        let az = if let Some(api) = self.f.api_gateways.get(name) {
            if let Some(r) = &api.region {
                return Some(r.clone());
            }
            api.vpc_link.value.first().cloned()
        } else if let Some(lb) = self.f.load_balancers.get(name) {
            lb.azs.value.first().cloned()
        } else {
            self.f.services.get(name).and_then(|s| s.instances.value.keys().next().cloned())
        }?;
        self.f.regions.value.iter().find(|(_, r)| r.azs.contains(&az)).map(|(n, _)| n.clone())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Source, load_str};

    /// A scenario whose Route 53 check targets `target`.
    fn with_check_on(target: &str) -> Result<(), String> {
        let text = format!(
            "version: 1
name: lb-check
duration: 10s
regions:
  us-east-1: {{ azs: [use1-az1, use1-checkers] }}
services:
  web:
    instances: {{ use1-az1: 1 }}
load_balancers:
  lb: {{ kind: nlb, azs: [use1-az1], targets: web }}
route53:
  checkers: {{ az: use1-checkers }}
  health_checks:
    site: {{ target: {target} }}
  records:
    www.example.com:
      simple: {{ target: lb, health_check: site }}
clients:
  app: {{ azs: {{ use1-az1: 1 }}, target: www.example.com, rate: 1 }}
"
        );
        load_str(Source { name: "lb-check.yaml".into(), text }).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Route 53 checks an endpoint by domain name, such as a load balancer's DNS name.
    /// <https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-creating-values.html>
    #[test]
    fn a_health_check_may_target_a_load_balancer_by_name() {
        assert_eq!(with_check_on("lb"), Ok(()));
        assert_eq!(with_check_on("web"), Ok(()));
        let unknown = with_check_on("nowhere").unwrap_err();
        assert!(unknown.contains("API, service or load balancer"), "{unknown}");
    }
}
