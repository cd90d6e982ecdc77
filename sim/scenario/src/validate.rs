//! Semantic checks: every reference resolves, every section is consistent. Runs on the baseline
//! and on every variant, and reports every problem found, not just the first.
//!
//! Here: `validate`, the `Checker` it runs on each variant, what the checks share (`check_ref`,
//! `check_dist`, `check_az_map`, `did_you_mean`, `parse_cidr`, ...) and the checks that span
//! sections (`profiles`, unique names). Each section's checks are an `impl Checker` in
//! `validate/<section>.rs`, named as its types' file in `model/` (`cloud_map` has no checks, so
//! no file here).

use std::collections::BTreeMap;

use serde_saphyr::Location;

use crate::load::Issue;
use crate::model::{Ref, Scenario, ScenarioFile};
use crate::plan::{Plan, Role};
use crate::units::DistSpec;

mod api_gateways;
mod clients;
mod cloudfront;
mod expectations;
mod faults;
mod load_balancers;
pub use load_balancers::parse_matcher;
mod nat;
mod network;
mod prices;
mod regions;
mod route53;
mod services;
mod tunnel;

/// An IPv4 CIDR (`10.0.0.0/16`; a bare address is a /32).
pub fn parse_cidr(text: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (addr, prefix) = text.split_once('/').unwrap_or((text, "32"));
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some((addr.parse().ok()?, prefix))
}

/// The closest of `candidates` to `given`, if it is close enough to be a likely typo.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).max(2);
    candidates.into_iter().map(|c| (edit_distance(given, c), c)).filter(|(d, _)| *d <= limit).min().map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let all: Vec<&str> = candidates.into_iter().collect();
    match closest(given, all.iter().copied()) {
        Some(c) => Some(format!("did you mean `{c}`?")),
        None if all.is_empty() => None,
        None => Some(format!("defined: {}", all.join(", "))),
    }
}

pub(crate) fn validate(s: &Scenario) -> Vec<Issue> {
    let mut issues = Vec::new();
    if s.file.version.value != 1 {
        issues.push(
            Issue::at(Some(s.file.version.referenced), "version", format!("unsupported version {}", s.file.version.value))
                .hint(Some("this azsim reads `version: 1`".into())),
        );
    }
    let safe = |n: &str| !n.is_empty() && !n.starts_with('.') && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !safe(&s.file.name) {
        issues
            .push(Issue::at(None, "name", format!("`{}` cannot name a report folder", s.file.name)).hint(Some("use letters, digits, `-`, `_` and `.`".into())));
    }
    for v in s.file.variants.keys() {
        if v == crate::BASELINE {
            issues.push(Issue::at(None, format!("variants.{v}"), "`baseline` names the scenario without variants; choose another name".to_string()));
        } else if !safe(v) {
            issues.push(
                Issue::at(None, format!("variants.{v}"), format!("`{v}` cannot name a report folder"))
                    .hint(Some("use letters, digits, `-`, `_` and `.`".into())),
            );
        }
    }
    if !issues.is_empty() {
        return issues;
    }
    for name in s.variant_names() {
        let resolved = s.resolve(&name).expect("listed names resolve");
        let (plan, clashes) = Plan::lay_out(&resolved);
        let prefix = if name == crate::BASELINE { String::new() } else { format!("variant `{name}`: ") };
        let mut v = Checker { f: &resolved, plan, issues: Vec::new(), prefix };
        for clash in clashes {
            v.push(None, clash.host.clone(), clash.to_string(), None);
        }
        v.check();
        for i in v.issues {
            if !issues.contains(&i) {
                issues.push(i);
            }
        }
    }
    issues.sort_by_key(|i| (i.line == 0, i.line, i.column));
    issues
}

struct Checker<'a> {
    f: &'a ScenarioFile,
    /// Where every host runs: what scopes and allow-lists may name.
    plan: Plan,
    issues: Vec<Issue>,
    prefix: String,
}

impl Checker<'_> {
    fn push(&mut self, loc: Option<Location>, path: String, message: String, hint: Option<String>) {
        self.issues.push(Issue::at(loc.filter(|l| l.line() > 0), path, format!("{}{message}", self.prefix)).hint(hint));
    }

    fn azs(&self) -> Vec<&str> {
        self.f.regions.value.values().flat_map(|r| r.azs.iter().map(String::as_str)).collect()
    }

    fn check(&mut self) {
        self.check_regions();
        self.check_profiles();
        self.check_network();
        self.check_names();
        self.check_services();
        self.check_load_balancers();
        self.check_clients();
        self.check_faults();
        self.check_expectations();
        self.check_tunnel();
        self.check_api_gateways();
        self.check_route53();
        self.check_cloudfront();
        self.check_nat();
        self.check_managed_zones();
        self.check_prices();
    }

    /// CloudFront's edges and Route 53's checkers are AWS's, in no AZ of a VPC: the plan marks
    /// their zones regional, so hops to them are not AZ crossings. A zone that also holds
    /// hosts of the VPC (services, load balancer nodes, NAT gateways, VPC link ENIs, tunnel
    /// agents) would hide every crossing through them, so it is refused. Clients may share it:
    /// there they stand for callers outside the VPC (users on the internet), whose traffic
    /// crosses no AZ of it either.
    fn check_managed_zones(&mut self) {
        let edges = self.f.cloudfront.iter().map(|(name, cf)| (cf.az.clone(), format!("cloudfront.{name}.az"), "CloudFront's edge"));
        let checkers = self.f.route53.iter().flat_map(|r| {
            std::iter::once(&r.checkers.az).chain(&r.checkers.also_in).map(|az| (az.clone(), "route53.checkers".to_string(), "Route 53's checkers"))
        });
        let managed: Vec<(Ref, String, &str)> = edges.chain(checkers).collect();
        for (zone, path, what) in managed {
            let vpc = self
                .plan
                .hosts
                .iter()
                .find(|h| h.zone == zone.value && !matches!(h.role, Role::Edge { .. } | Role::Route53Checker { .. } | Role::Client { .. }));
            let Some(host) = vpc else { continue };
            let message = format!(
                "`{}` holds {} (`{}`) and {what}: AWS's edge and checkers are in no AZ of a VPC, so their zone crosses no AZ, and every crossing through it would vanish",
                zone.value,
                host.role.owner(),
                host.name
            );
            let hint = format!("give {what} a zone of their own, e.g. `{}-aws` in the Region's `azs`", zone.value);
            self.push(Some(zone.referenced), path, message, Some(hint));
        }
    }

    fn check_dist(&mut self, d: &DistSpec, loc: Option<Location>, path: &str) {
        let bad = match d {
            DistSpec::Uniform { min, max } if min > max => Some("uniform: `min` must not exceed `max`".to_string()),
            DistSpec::Normal { p50, p99, .. } if p50 >= p99 => Some("normal: `p50` must be below `p99`".into()),
            DistSpec::Lognormal { min, p50, p99 } if !(min < p50 && p50 < p99) => Some("lognormal: needs `min` < `p50` < `p99`".into()),
            DistSpec::Empirical(points) => {
                let sorted = points.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
                let ends = points.first().map(|p| p.0) == Some(0.0) && points.last().map(|p| p.0) == Some(1.0);
                (!sorted || !ends || points.len() < 2).then(|| "empirical: points must rise from quantile 0.0 to 1.0, values not decreasing".to_string())
            }
            DistSpec::Profile(name) if !self.f.profiles.contains_key(name) => {
                let hint = did_you_mean(name, self.f.profiles.keys().map(String::as_str));
                self.push(loc, path.to_string(), format!("unknown profile `{name}`"), hint);
                None
            }
            _ => None,
        };
        if let Some(msg) = bad {
            self.push(loc, path.to_string(), msg, None);
        }
    }

    fn check_profiles(&mut self) {
        for (name, d) in &self.f.profiles {
            if let DistSpec::Profile(_) = d {
                self.push(None, format!("profiles.{name}"), "a profile cannot refer to another profile".into(), None);
            } else {
                self.check_dist(d, None, &format!("profiles.{name}"));
            }
        }
    }

    fn check_ref(&mut self, r: &Ref, known: &[String], path: &str, what: &str) -> bool {
        if known.contains(&r.value) {
            return true;
        }
        let hint = did_you_mean(&r.value, known.iter().map(String::as_str));
        self.push(Some(r.referenced), path.to_string(), format!("unknown {what} `{}`", r.value), hint);
        false
    }

    fn check_az_map(&mut self, map: &serde_saphyr::Spanned<BTreeMap<String, u32>>, path: &str) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        if map.value.values().sum::<u32>() == 0 {
            self.push(Some(map.referenced), path.to_string(), "at least one instance is needed".into(), None);
        }
        for az in map.value.keys() {
            if !azs.contains(az) {
                let hint = did_you_mean(az, azs.iter().map(String::as_str));
                self.push(Some(map.referenced), path.to_string(), format!("unknown AZ `{az}`"), hint);
            }
        }
    }

    fn check_names(&mut self) {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        let groups = [
            ("service", self.f.services.keys().collect::<Vec<_>>()),
            ("load balancer", self.f.load_balancers.keys().collect()),
            ("client", self.f.clients.keys().collect()),
            ("API", self.f.api_gateways.keys().collect()),
            ("CloudFront distribution", self.f.cloudfront.keys().collect()),
            ("DNS name", self.f.route53.iter().flat_map(|r| r.records.keys()).collect()),
        ];
        for (kind, names) in groups {
            for name in names {
                if let Some(other) = seen.insert(name, kind) {
                    self.push(None, name.clone(), format!("`{name}` names both a {other} and a {kind}; names must be unique"), None);
                }
            }
        }
    }
}
