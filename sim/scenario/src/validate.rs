//! Semantic checks: every reference resolves, every section is consistent. Runs on the baseline
//! and on every variant, and reports every problem found, not just the first.
//!
//! Here: `check_file` (the file as a whole), `check` and the `Checker` it runs on the baseline
//! and each variant, what the checks share (`check_ref`,
//! `check_dist`, `check_az_map`, `did_you_mean`, `parse_cidr`, ...) and the checks that span
//! sections (`profiles`, unique names). Each section's checks are an `impl Checker` in
//! `validate/<section>.rs`, named as its types' file in `model/` (`cloud_map` has no checks, so
//! no file here).

use std::collections::BTreeMap;

use serde_saphyr::Location;

use crate::load::Issue;
use crate::model::{Ref, ScenarioFile};
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

/// What a reference to a `what` names, for its message when it names nothing: references
/// name entries of this file by their keys, not AWS's names (Cloud Map names, DNS names,
/// ARNs), and AZs by AZ ID.
fn wanted(what: &str) -> Option<&'static str> {
    Some(match what {
        "service" => "a service's name in this file: a key under `services:`",
        "load balancer" => "a load balancer's name in this file: a key under `load_balancers:`, not an AWS name or ARN",
        "client" => "a client's name in this file: a key under `clients:`",
        "NAT gateway" => "a NAT gateway's name in this file: a key under `nat_gateways:`, not an AWS ID",
        "AZ" => "an AZ ID listed under `regions:`",
        "Region" => "a Region listed under `regions:`",
        "health check" => "a key under `route53.health_checks` or `route53.calculated_checks` in this file, not an AWS health check ID",
        "API, service or load balancer" => "a name in this file: a key under `api_gateways:`, `services:` or `load_balancers:`",
        "load balancer, API, CloudFront distribution, DNS name or service" => {
            "a name in this file: a key under `load_balancers:`, `api_gateways:`, `cloudfront:`, `route53.records` or `services:`"
        }
        _ => return None,
    })
}

fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let all: Vec<&str> = candidates.into_iter().collect();
    match closest(given, all.iter().copied()) {
        Some(c) => Some(format!("did you mean `{c}`?")),
        None if all.is_empty() => None,
        None => Some(format!("defined: {}", all.join(", "))),
    }
}

/// Checks of the file as a whole: its version, its name and its variants' names. With any of
/// them wrong, the other checks are not run.
pub(crate) fn check_file(f: &ScenarioFile) -> Vec<Issue> {
    let mut issues = Vec::new();
    if f.version.value != 1 {
        issues.push(
            Issue::at(Some(f.version.referenced), "version", format!("unsupported version {}", f.version.value))
                .hint(Some("this azsim reads `version: 1`".into())),
        );
    }
    let safe = |n: &str| !n.is_empty() && !n.starts_with('.') && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !safe(&f.name) {
        issues.push(Issue::at(None, "name", format!("`{}` cannot name a report folder", f.name)).hint(Some("use letters, digits, `-`, `_` and `.`".into())));
    }
    for v in f.variants.keys() {
        if v == crate::BASELINE {
            issues.push(Issue::at(None, format!("variants.{v}"), "`baseline` names the scenario without variants; choose another name".to_string()));
        } else if !safe(v) {
            issues.push(
                Issue::at(None, format!("variants.{v}"), format!("`{v}` cannot name a report folder"))
                    .hint(Some("use letters, digits, `-`, `_` and `.`".into())),
            );
        }
    }
    issues
}

/// The checks of one file as it runs: the baseline, or variant `variant` merged into it.
/// Positions are in the text `f` was read from.
pub(crate) fn check(f: &ScenarioFile, variant: Option<&str>) -> Vec<Issue> {
    let (plan, clashes) = Plan::lay_out(f);
    let prefix = variant.map(|name| format!("variant `{name}`: ")).unwrap_or_default();
    let mut v = Checker { f, plan, issues: Vec::new(), prefix };
    for clash in clashes {
        v.push(None, clash.host.clone(), clash.to_string(), None);
    }
    v.check();
    let mut issues: Vec<Issue> = Vec::new();
    for i in v.issues {
        if !issues.contains(&i) {
            issues.push(i);
        }
    }
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
        let (message, hint) = self.unknown(what, &r.value, known);
        self.push(Some(r.referenced), path.to_string(), message, hint);
        false
    }

    /// The message and hint for `value`, which names no `what` of `known`: what the reference
    /// wants (a name in this file, or an AZ ID), and, if `value` is an AWS or host name of
    /// something in the file, which.
    fn unknown(&self, what: &str, value: &str, known: &[String]) -> (String, Option<String>) {
        let message = match wanted(what) {
            Some(wants) => format!("unknown {what} `{value}` ({wants})"),
            None => format!("unknown {what} `{value}`"),
        };
        let hint = self.other_name(value).or_else(|| did_you_mean(value, known.iter().map(String::as_str)));
        (message, hint)
    }

    /// An unknown AZ: the message and hint.
    fn unknown_az(&self, az: &str) -> (String, Option<String>) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        self.unknown("AZ", az, &azs)
    }

    /// What `value` names in this file if it is not an entry's name: a service's Cloud Map
    /// name, a host's name, an AZ name instead of an AZ ID.
    fn other_name(&self, value: &str) -> Option<String> {
        for (name, svc) in &self.f.services {
            if let Some(cm) = svc.cloud_map.as_ref().filter(|cm| value == cm.service || value == format!("{}.{}", cm.service, cm.namespace)) {
                return Some(format!("`{value}` is the Cloud Map name of service `{name}` (`{}` in namespace `{}`): write `{name}`", cm.service, cm.namespace));
            }
        }
        if let Some(host) = self.plan.hosts.iter().find(|h| h.name == value) {
            return Some(format!("`{value}` is the name of a host of {}, not of an entry of the file", host.role.owner()));
        }
        // `us-east-1a`: an AZ name, which maps to a different AZ ID in each AWS account.
        let region = value.strip_suffix(|c: char| c.is_ascii_lowercase()).filter(|r| r.ends_with(|c: char| c.is_ascii_digit()));
        if let Some(region) = region.filter(|r| self.f.regions.value.contains_key(*r)) {
            let ids = self.f.regions.value[region].azs.join("`, `");
            return Some(format!("`{value}` is an AZ name; a scenario names AZs by AZ ID, as AWS's AZ names map to different zones in each account: `{ids}`"));
        }
        None
    }

    fn check_az_map(&mut self, map: &serde_saphyr::Spanned<BTreeMap<String, u32>>, path: &str) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        if map.value.values().sum::<u32>() == 0 {
            self.push(Some(map.referenced), path.to_string(), "at least one instance is needed".into(), None);
        }
        for az in map.value.keys() {
            if !azs.contains(az) {
                let (message, hint) = self.unknown_az(az);
                self.push(Some(map.referenced), path.to_string(), message, hint);
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
