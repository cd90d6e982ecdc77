//! Semantic checks: every reference resolves, every section is consistent. Runs on the baseline
//! and on every variant, and reports every problem found, not just the first.

use std::collections::{BTreeMap, BTreeSet};

use serde_saphyr::Location;

use crate::load::Issue;
use crate::model::*;
use crate::units::DistSpec;

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

/// A route key's syntax: `METHOD /path` (segments literal, `{param}`, or a last `{proxy+}`) or
/// `$default`.
fn check_route_key(key: &str) -> Result<(), String> {
    if key == "$default" {
        return Ok(());
    }
    let (method, path) = key.split_once(' ').ok_or_else(|| format!("`{key}` is not a route key"))?;
    if !matches!(method, "ANY" | "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") {
        return Err(format!("unknown method `{method}`"));
    }
    if !path.starts_with('/') {
        return Err("the path must start with `/`".into());
    }
    let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if segments.iter().rev().skip(1).any(|p| p.ends_with("+}")) {
        return Err("a greedy variable (`{proxy+}`) must be the last segment".into());
    }
    Ok(())
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
        let mut v = Checker { f: &resolved, issues: Vec::new(), prefix: if name == crate::BASELINE { String::new() } else { format!("variant `{name}`: ") } };
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
        self.check_nat();
    }

    fn check_nat(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        for (name, nat) in &self.f.nat_gateways {
            let loc = Some(nat.azs.referenced);
            for az in nat.azs.value.iter().chain(nat.routes.keys()).chain(nat.routes.values()) {
                if !azs.contains(az) {
                    let hint = did_you_mean(az, azs.iter().map(String::as_str));
                    self.push(loc, format!("nat_gateways.{name}"), format!("unknown AZ `{az}`"), hint);
                }
            }
            if nat.regional && !nat.routes.is_empty() {
                self.push(
                    loc,
                    format!("nat_gateways.{name}.routes"),
                    "a regional NAT gateway has no route tables to set: each subnet uses its own AZ's address".into(),
                    None,
                );
            }
            for (from, to) in &nat.routes {
                if !nat.azs.value.contains(to) {
                    self.push(loc, format!("nat_gateways.{name}.routes.{from}"), format!("no NAT gateway of `{name}` in `{to}`"), None);
                }
            }
        }
        let nats: Vec<String> = self.f.nat_gateways.keys().cloned().collect();
        let services: Vec<String> = self.f.services.keys().cloned().collect();
        for (name, svc) in &self.f.services {
            let Some(e) = &svc.egress else { continue };
            let path = format!("services.{name}.egress");
            if self.check_ref(&e.nat, &nats, &format!("{path}.nat"), "NAT gateway") {
                let nat = &self.f.nat_gateways[&e.nat.value];
                for az in svc.instances.value.keys() {
                    let to = nat.routes.get(az).unwrap_or(az);
                    if !nat.azs.value.contains(to) {
                        self.push(
                            Some(e.nat.referenced),
                            format!("{path}.nat"),
                            format!("instances in `{az}` have no route to a NAT of `{}`", e.nat.value),
                            Some(format!("add `{az}: <AZ with a NAT>` to its `routes`")),
                        );
                    }
                }
            }
            self.check_ref(&e.destination, &services, &format!("{path}.destination"), "service");
            if e.secrets.is_empty() {
                self.push(Some(e.nat.referenced), format!("{path}.secrets"), "an egress proxy needs at least one secret".into(), None);
            }
            if let Some(pool) = &e.upstream_pool
                && (pool.idle_timeout.nanos() < 1_000_000_000 || pool.keepalive.is_some_and(|k| k.nanos() < 1_000_000_000))
            {
                self.push(Some(e.nat.referenced), format!("{path}.upstream_pool"), "an idle timeout and a keep-alive interval are at least 1s".into(), None);
            }
            if !svc.steps.is_empty() || svc.ecs.is_some() || svc.cold_start.is_some() {
                self.push(Some(e.nat.referenced), path.clone(), "an egress proxy has no `steps`, `ecs` or `cold_start`".into(), None);
            }
        }
    }

    fn check_route53(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let mut endpoints: Vec<String> = self.f.api_gateways.keys().cloned().collect();
        endpoints.extend(self.f.services.keys().cloned());
        let mut record_targets = endpoints.clone();
        record_targets.extend(self.f.load_balancers.keys().cloned());
        let records: Vec<String> = self.f.route53.iter().flat_map(|r| r.records.keys().cloned()).collect();
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
                self.check_ref(&hc.target, &endpoints, &format!("{path}.target"), "API or service");
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
                        self.push(None, format!("route53.calculated_checks.{id}"), format!("unknown child health check `{child}`"), None);
                    }
                }
            }
            for (name, rec) in &r.records {
                let path = format!("route53.records.{name}");
                let policies = [rec.simple.is_some(), rec.failover.is_some(), !rec.weighted.is_empty(), !rec.multivalue.is_empty(), !rec.latency.is_empty()];
                if policies.iter().filter(|p| **p).count() != 1 {
                    self.push(None, path.clone(), "a record set has exactly one of `simple`, `failover`, `weighted`, `multivalue` and `latency`".into(), None);
                }
                let targets: Vec<&RecordTargetSpec> = rec
                    .simple
                    .iter()
                    .chain(rec.failover.iter().flat_map(|f| [&f.primary, &f.secondary]))
                    .chain(&rec.weighted)
                    .chain(&rec.multivalue)
                    .chain(&rec.latency)
                    .collect();
                if let Some(t) = rec.multivalue.iter().find(|t| self.f.load_balancers.contains_key(&t.target.value)) {
                    self.push(
                        Some(t.target.referenced),
                        format!("{path}.multivalue"),
                        format!("`{}` is a load balancer: multivalue answer records cannot be aliases", t.target.value),
                        None,
                    );
                }
                let mut latency_regions = BTreeSet::new();
                for t in targets {
                    self.check_ref(&t.target, &record_targets, &format!("{path}.target"), "API, service or load balancer");
                    if t.evaluate_target_health && !self.f.load_balancers.contains_key(&t.target.value) {
                        self.push(
                            Some(t.target.referenced),
                            format!("{path}.evaluate_target_health"),
                            format!("`{}` is not a load balancer: only alias records evaluate target health", t.target.value),
                            Some("point the record at a load balancer, or give it a `health_check`".into()),
                        );
                    }
                    if rec.latency.iter().any(|l| std::ptr::eq(l, t))
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
                        let hint = did_you_mean(hc, r.health_checks.keys().map(String::as_str));
                        self.push(Some(t.target.referenced), format!("{path}.health_check"), format!("unknown health check `{hc}`"), hint);
                    }
                    if t.weight > 255 {
                        self.push(Some(t.target.referenced), format!("{path}.weight"), "a weight is 0 to 255".into(), None);
                    }
                }
            }
        }
        for (name, cf) in &self.f.cloudfront {
            let path = format!("cloudfront.{name}");
            self.check_ref(&cf.az, &azs, &format!("{path}.az"), "AZ");
            for origin in std::iter::once(&cf.origin).chain(&cf.secondary_origin) {
                if !records.contains(origin) {
                    let hint = did_you_mean(origin, records.iter().map(String::as_str));
                    self.push(Some(cf.az.referenced), format!("{path}.origin"), format!("`{origin}` is not a Route 53 record of this scenario"), hint);
                }
            }
            for a in &cf.allow {
                if parse_cidr(a).is_none() && !self.f.clients.contains_key(a) {
                    self.push(Some(cf.az.referenced), format!("{path}.allow"), format!("`{a}` is neither a CIDR block nor a client"), None);
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

    fn check_api_gateways(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let lbs: Vec<String> = self.f.load_balancers.keys().cloned().collect();
        for (name, api) in &self.f.api_gateways {
            let path = format!("api_gateways.{name}");
            let loc = Some(api.vpc_link.referenced);
            let private = api.routes.values().any(|r| r.load_balancer.is_some() || r.cloud_map.is_some());
            if api.vpc_link.value.is_empty() && private {
                self.push(
                    None,
                    format!("{path}.vpc_link"),
                    "private integrations (`load_balancer`, `cloud_map`) need a VPC link with at least one subnet (AZ)".into(),
                    None,
                );
            }
            match &api.region {
                Some(r) if !self.f.regions.value.contains_key(r) => {
                    let hint = did_you_mean(r, self.f.regions.value.keys().map(String::as_str));
                    self.push(None, format!("{path}.region"), format!("unknown Region `{r}`"), hint);
                }
                None if api.vpc_link.value.is_empty() => self.push(None, path.clone(), "give the API a `region` (or a `vpc_link`)".into(), None),
                _ => {}
            }
            for az in &api.vpc_link.value {
                if !azs.contains(az) {
                    let hint = did_you_mean(az, azs.iter().map(String::as_str));
                    self.push(loc, format!("{path}.vpc_link"), format!("unknown AZ `{az}`"), hint);
                }
            }
            let regions: BTreeSet<&String> =
                api.vpc_link.value.iter().filter_map(|az| self.f.regions.value.iter().find(|(_, r)| r.azs.contains(az)).map(|(n, _)| n)).collect();
            if regions.len() > 1 {
                self.push(loc, format!("{path}.vpc_link"), "a VPC link's subnets are in one Region".into(), None);
            }
            if api.stages.is_empty() {
                self.push(None, format!("{path}.stages"), "at least one stage (`$default` or a name) is needed".into(), None);
            }
            let max_timeout = if api.kind == ApiKindSpec::Rest { 29_000 } else { 30_000 };
            if let Some(t) = api.integration_timeout
                && !(50..=max_timeout).contains(&(t.nanos() / 1_000_000))
            {
                self.push(None, format!("{path}.integration_timeout"), format!("an integration timeout is 50ms to {}s", max_timeout / 1000), None);
            }
            for (t, what) in [(&api.account_throttle, "account_throttle"), (&api.stage_throttle, "stage_throttle")] {
                if t.is_some_and(|t| !(t.rate > 0.0 && t.burst >= 1.0)) {
                    self.push(None, format!("{path}.{what}"), "a throttle needs a rate above 0 and a burst of at least 1".into(), None);
                }
            }
            if api.routes.is_empty() {
                self.push(loc, format!("{path}.routes"), "an API needs at least one route (in `routes` or an `openapi` file)".into(), None);
            }
            for (id, lb) in &api.vpc_links {
                self.check_ref(lb, &lbs, &format!("{path}.vpc_links.{id}"), "load balancer");
            }
            for (key, route) in &api.routes {
                let rpath = format!("{path}.routes.{key}");
                if let Err(e) = check_route_key(key) {
                    self.push(None, rpath.clone(), e, Some("`GET /orders/{id}`, `ANY /{proxy+}` or `$default`".into()));
                }
                let services: Vec<String> = self.f.services.keys().cloned().collect();
                let set =
                    [route.load_balancer.is_some(), route.cloud_map.is_some(), route.lambda.is_some(), route.http.is_some()].iter().filter(|x| **x).count();
                match (&route.load_balancer, &route.cloud_map, route.lambda.as_ref().or(route.http.as_ref())) {
                    _ if set != 1 => {
                        self.push(None, rpath.clone(), "a route needs exactly one of `load_balancer`, `cloud_map`, `lambda` and `http`".into(), None)
                    }
                    (Some(lb), None, None) => {
                        self.check_ref(lb, &lbs, &format!("{rpath}.load_balancer"), "load balancer");
                    }
                    (None, None, Some(f)) => {
                        let what = if route.lambda.is_some() { "lambda" } else { "http" };
                        self.check_ref(f, &services, &format!("{rpath}.{what}"), "service");
                    }
                    (None, Some(svc), None) if self.f.services.get(&svc.value).is_none_or(|s| s.cloud_map.is_none()) => {
                        self.push(
                            Some(svc.referenced),
                            format!("{rpath}.cloud_map"),
                            format!("`{}` is not a service registered in Cloud Map", svc.value),
                            Some("give the service `cloud_map:`".into()),
                        );
                    }
                    _ => {}
                }
                if let Some(uri) = &route.uri
                    && !(uri.starts_with("http://") || uri.starts_with("https://"))
                {
                    self.push(None, format!("{rpath}.uri"), format!("`{uri}`: an integration URI is http(s)://host/path"), None);
                }
                if let Some((_, first)) = route.request_parameters.iter().next()
                    && api.kind == ApiKindSpec::Rest
                {
                    self.push(
                        Some(first.referenced),
                        format!("{rpath}.request_parameters"),
                        "request parameter mappings of this form are an HTTP API's; a REST API maps parameters in its OpenAPI file".into(),
                        None,
                    );
                }
                for (k, v) in &route.request_parameters {
                    if let Err(e) = crate::mapping::parse_mapping(k, &v.value) {
                        self.push(
                            Some(v.referenced),
                            format!("{rpath}.request_parameters.{k}"),
                            e,
                            Some("`append:header.x-tenant: acme`, `overwrite:path: /v2${request.path}`".into()),
                        );
                    }
                }
                if route.jwt.is_some() && api.jwt.is_none() {
                    self.push(None, format!("{rpath}.jwt"), "the route asks for a JWT but the API has no `jwt` authorizer".into(), None);
                }
                if route.throttle.is_some_and(|t| !(t.rate > 0.0 && t.burst >= 1.0)) {
                    self.push(None, format!("{rpath}.throttle"), "a throttle needs a rate above 0 and a burst of at least 1".into(), None);
                }
            }
        }
    }

    fn check_tunnel(&mut self) {
        let Some(t) = &self.f.tunnel else { return };
        let services: Vec<String> = self.f.services.keys().cloned().collect();
        let proxies_ok = self.check_ref(&t.proxies, &services, "tunnel.proxies", "service");
        let backend_ok = self.check_ref(&t.backend, &services, "tunnel.backend", "service");
        if t.proxies.value == t.backend.value {
            self.push(Some(t.proxies.referenced), "tunnel".into(), "the proxies and the backend must be different services".into(), None);
        }
        self.check_az_map(&t.agents, "tunnel.agents");
        for (ok, r, role) in [(proxies_ok, &t.proxies, "proxies"), (backend_ok, &t.backend, "backend")] {
            let Some(svc) = self.f.services.get(&r.value).filter(|_| ok) else { continue };
            let extras = [
                (!svc.steps.is_empty(), "steps"),
                (svc.ecs.is_some(), "ecs"),
                (svc.cloud_map.is_some(), "cloud_map"),
                (!svc.routes.is_empty(), "routes"),
                (svc.cold_start.is_some(), "cold_start"),
                (!svc.allow_sources.is_empty(), "allow_sources"),
            ];
            for (_, what) in extras.iter().filter(|(set, _)| *set) {
                self.push(
                    Some(r.referenced),
                    format!("services.{}.{what}", r.value),
                    format!("`{what}` does not apply to the tunnel's {role}: real code runs there"),
                    Some("remove it, or use another service".into()),
                );
            }
        }
        // The backend speaks HTTP on the byte-stream path: only agents reach it.
        let backend = t.backend.value.clone();
        for (name, lb) in &self.f.load_balancers {
            if lb.targets.value == backend {
                self.push(
                    Some(lb.targets.referenced),
                    format!("load_balancers.{name}.targets"),
                    format!("`{backend}` is the tunnel's backend: only its agents reach it"),
                    None,
                );
            }
        }
        for (name, c) in &self.f.clients {
            if c.target.value == backend {
                self.push(
                    Some(c.target.referenced),
                    format!("clients.{name}.target"),
                    format!("`{backend}` is the tunnel's backend: only its agents reach it"),
                    None,
                );
            }
        }
        for (name, svc) in &self.f.services {
            for (i, step) in svc.steps.iter().enumerate() {
                if let Some(r) = step.call.as_ref().or(step.forward.as_ref()).filter(|r| r.value == backend) {
                    self.push(
                        Some(r.referenced),
                        format!("services.{name}.steps[{i}]"),
                        format!("`{backend}` is the tunnel's backend: only its agents reach it"),
                        None,
                    );
                }
            }
        }
    }

    fn check_regions(&mut self) {
        let loc = Some(self.f.regions.referenced);
        if self.f.regions.value.is_empty() {
            self.push(loc, "regions".into(), "at least one Region is needed".into(), None);
        }
        let mut seen = BTreeSet::new();
        for (region, spec) in &self.f.regions.value {
            if spec.azs.is_empty() {
                self.push(loc, format!("regions.{region}"), "a Region needs at least one AZ".into(), None);
            }
            for az in &spec.azs {
                if !seen.insert(az.clone()) {
                    self.push(loc, format!("regions.{region}"), format!("AZ `{az}` is defined twice"), None);
                }
            }
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

    fn check_network(&mut self) {
        let n = &self.f.network;
        for (d, p) in [(&n.intra_az, "network.intra_az"), (&n.inter_az, "network.inter_az"), (&n.inter_region, "network.inter_region")] {
            self.check_dist(d, None, p);
            // A link with no delay at all lets a closed loop spin forever at one instant.
            if matches!(d, DistSpec::Fixed(v) if v.nanos() == 0) {
                self.push(None, p.to_string(), "network latency must be above zero".into(), Some("even within an AZ a hop takes tens of microseconds".into()));
            }
        }
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let regions: Vec<String> = self.f.regions.value.keys().cloned().collect();
        for (i, pair) in n.az_pairs.iter().enumerate() {
            self.check_ref(&pair.from, &azs, &format!("network.az_pairs[{i}].from"), "AZ");
            self.check_ref(&pair.to, &azs, &format!("network.az_pairs[{i}].to"), "AZ");
            self.check_dist(&pair.latency, Some(pair.from.referenced), &format!("network.az_pairs[{i}].latency"));
        }
        for (i, pair) in n.region_pairs.iter().enumerate() {
            self.check_ref(&pair.from, &regions, &format!("network.region_pairs[{i}].from"), "Region");
            self.check_ref(&pair.to, &regions, &format!("network.region_pairs[{i}].to"), "Region");
            self.check_dist(&pair.latency, Some(pair.from.referenced), &format!("network.region_pairs[{i}].latency"));
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

    fn check_services(&mut self) {
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
            for (i, source) in svc.allow_sources.iter().enumerate() {
                let known = self.f.clients.contains_key(source)
                    || self.f.load_balancers.contains_key(source)
                    || self.f.services.contains_key(source)
                    || self.f.nat_gateways.contains_key(source)
                    || self.f.host_names().contains(source);
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
                    if let Some(step) = other.steps.iter().flat_map(|s| s.call.iter().chain(s.forward.iter())).find(|r| r.value == *name) {
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
                match (&step.call, &step.forward) {
                    (Some(r), None) if self.f.load_balancers.contains_key(&r.value) => {}
                    (Some(r), None) | (None, Some(r)) => {
                        self.check_ref(r, &names, &sp, "service");
                    }
                    (Some(r), Some(_)) => self.push(Some(r.referenced), sp, "a step is either `call` or `forward`, not both".into(), None),
                    (None, None) => self.push(Some(svc.instances.referenced), sp, "a step needs `call: <service>` or `forward: <service>`".into(), None),
                }
            }
        }
        // Calls must not loop: a request would never end.
        for start in self.f.services.keys() {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            while let Some((s, path)) = stack.pop() {
                let Some(svc) = self.f.services.get(&s) else { continue };
                for step in &svc.steps {
                    let Some(next) = step.call.as_ref().or(step.forward.as_ref()) else { continue };
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

    fn check_load_balancers(&mut self) {
        let services: Vec<String> = self.f.services.keys().cloned().collect();
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        for (name, lb) in &self.f.load_balancers {
            let path = format!("load_balancers.{name}");
            let loc = Some(lb.azs.referenced);
            for az in &lb.azs.value {
                if !azs.contains(az) {
                    let hint = did_you_mean(az, azs.iter().map(String::as_str));
                    self.push(loc, format!("{path}.azs"), format!("unknown AZ `{az}`"), hint);
                }
            }
            if lb.kind == LbKind::Alb && lb.azs.value.len() < 2 {
                self.push(loc, format!("{path}.azs"), "an ALB needs nodes in at least two AZs".into(), None);
            }
            if lb.kind == LbKind::Nlb && lb.azs.value.is_empty() {
                self.push(loc, format!("{path}.azs"), "an NLB needs at least one AZ".into(), None);
            }
            if lb.kind == LbKind::Nlb && lb.algorithm.is_some() {
                self.push(loc, format!("{path}.algorithm"), "an NLB picks targets by flow hash; `algorithm` is an ALB setting".into(), None);
            }
            if lb.kind == LbKind::Alb && lb.dns_client_routing_policy.is_some() {
                self.push(loc, format!("{path}.dns_client_routing_policy"), "`dns_client_routing_policy` is an NLB setting".into(), None);
            }
            if let Some(hc) = &lb.health_check {
                self.check_health_check(hc, lb.kind, loc, &path);
            }
            if !lb.rules.is_empty() && lb.kind == LbKind::Nlb {
                self.push(loc, format!("{path}.rules"), "listener rules are an ALB feature".into(), None);
            }
            let mut priorities = BTreeSet::new();
            for (i, rule) in lb.rules.iter().enumerate() {
                self.check_rule(rule, &services, &mut priorities, &format!("{path}.rules[{i}]"));
            }
            self.check_ref(&lb.targets, &services, &format!("{path}.targets"), "service");
            self.check_dist(&lb.processing, loc, &format!("{path}.processing"));
        }
    }

    fn check_health_check(&mut self, hc: &HealthCheckSpec, kind: LbKind, loc: Option<Location>, path: &str) {
        let secs = |d: Option<crate::units::Dur>| d.map(|d| d.nanos() as f64 / 1e9);
        if secs(hc.interval).is_some_and(|i| !(5.0..=300.0).contains(&i)) {
            self.push(loc, format!("{path}.health_check.interval"), "AWS allows 5s to 300s".into(), None);
        }
        if secs(hc.timeout).is_some_and(|t| !(2.0..=120.0).contains(&t)) {
            self.push(loc, format!("{path}.health_check.timeout"), "AWS allows 2s to 120s".into(), None);
        }
        // Compare the values in effect: AWS's defaults where the scenario is silent.
        let default_timeout = if kind == LbKind::Alb { 5.0 } else { 10.0 };
        let (t, i) = (secs(hc.timeout).unwrap_or(default_timeout), secs(hc.interval).unwrap_or(30.0));
        if t >= i {
            self.push(
                loc,
                format!("{path}.health_check"),
                format!("the timeout ({t}s) must be shorter than the interval ({i}s)"),
                Some("set `timeout` too: the default is 5s for an ALB, 10s for an NLB".into()),
            );
        }
        for (n, v) in [("healthy_threshold", hc.healthy_threshold), ("unhealthy_threshold", hc.unhealthy_threshold)] {
            if v.is_some_and(|v| !(2..=10).contains(&v)) {
                self.push(loc, format!("{path}.health_check.{n}"), "AWS allows 2 to 10".into(), None);
            }
        }
    }

    fn check_rule(&mut self, rule: &RuleSpec, services: &[String], priorities: &mut BTreeSet<u32>, path: &str) {
        let loc = Some(rule.priority.referenced);
        let p = rule.priority.value;
        if !(1..=50_000).contains(&p) {
            self.push(loc, format!("{path}.priority"), "a priority is between 1 and 50000".into(), None);
        }
        if !priorities.insert(p) {
            self.push(loc, format!("{path}.priority"), format!("two rules have priority {p}"), None);
        }
        let actions = usize::from(!rule.forward.is_empty()) + usize::from(rule.fixed_response.is_some()) + usize::from(rule.redirect.is_some());
        if actions != 1 {
            self.push(loc, path.to_string(), format!("a rule has exactly one action (forward, fixed_response, redirect); found {actions}"), None);
        }
        for f in &rule.forward {
            self.check_ref(&f.service, services, &format!("{path}.forward"), "service");
            if f.weight > 999 {
                self.push(Some(f.service.referenced), format!("{path}.forward"), "a weight is between 0 and 999".into(), None);
            }
        }
        if !rule.forward.is_empty() && rule.forward.iter().all(|f| f.weight == 0) {
            self.push(loc, format!("{path}.forward"), "at least one target group needs a weight above 0".into(), None);
        }
        if rule.fixed_response.as_ref().is_some_and(|f| !matches!(f.status / 100, 2 | 4 | 5)) {
            self.push(loc, format!("{path}.fixed_response.status"), "a fixed response is 2XX, 4XX or 5XX".into(), None);
        }
        if rule.redirect.as_ref().is_some_and(|r| r.status != 301 && r.status != 302) {
            self.push(loc, format!("{path}.redirect.status"), "a redirect is 301 or 302".into(), None);
        }
        for cidr in &rule.source_ip {
            if parse_cidr(cidr).is_none() {
                self.push(loc, format!("{path}.source_ip"), format!("`{cidr}` is not an IPv4 CIDR such as `10.0.0.0/16`"), None);
            }
        }
        if rule.path.iter().any(|p| p.len() > 128) {
            self.push(loc, format!("{path}.path"), "a path pattern has at most 128 characters".into(), None);
        }
    }

    fn check_clients(&mut self) {
        let mut targets: Vec<String> = self.f.services.keys().cloned().collect();
        targets.extend(self.f.load_balancers.keys().cloned());
        targets.extend(self.f.api_gateways.keys().cloned());
        targets.extend(self.f.cloudfront.keys().cloned());
        targets.extend(self.f.route53.iter().flat_map(|r| r.records.keys().cloned()));
        if self.f.clients.is_empty() {
            self.push(None, "clients".into(), "at least one client is needed".into(), None);
        }
        for (name, c) in &self.f.clients {
            let path = format!("clients.{name}");
            self.check_az_map(&c.azs, &format!("{path}.azs"));
            let loc = Some(c.target.referenced);
            if self.check_ref(&c.target, &targets, &format!("{path}.target"), "load balancer, API, CloudFront distribution, DNS name or service")
                && c.resolve == Resolve::OwnAz
            {
                match self.f.load_balancers.get(&c.target.value) {
                    Some(lb) if lb.kind == LbKind::Nlb => {
                        for az in c.azs.value.keys() {
                            if !lb.azs.value.contains(az) {
                                self.push(
                                    loc,
                                    format!("{path}.resolve"),
                                    format!("`{}` has no node in `{az}`, so it has no zonal name there", c.target.value),
                                    None,
                                );
                            }
                        }
                    }
                    _ => self.push(loc, format!("{path}.resolve"), "`own_az` needs an NLB target: only NLBs publish zonal DNS names".into(), None),
                }
            }
            // A guard against runs that would never end: at most 100 million requests.
            let hosts: u32 = c.azs.value.values().sum();
            if let Some(rate) = c.rate.filter(|r| r.is_finite()) {
                let total = rate * hosts as f64 * self.f.duration.nanos() as f64 / 1e9;
                if total > 1e8 {
                    self.push(
                        loc,
                        format!("{path}.rate"),
                        format!("this client would send {total:.0} requests; the limit is 100 million per run"),
                        Some("lower `rate` or `duration`".into()),
                    );
                }
            }
            if c.discovery.is_some() && self.f.services.get(&c.target.value).is_none_or(|svc| svc.cloud_map.is_none()) {
                self.push(
                    loc,
                    format!("{path}.discovery"),
                    format!("discovery needs the target to be a service registered in Cloud Map (`cloud_map:` on `{}`)", c.target.value),
                    None,
                );
            }
            if c.discovery.as_ref().and_then(|d| d.refresh).is_some_and(|r| r.nanos() < 1_000_000_000) {
                self.push(None, format!("{path}.discovery.refresh"), "refresh at most once a second (Cloud Map throttles, and 0 would never end)".into(), None);
            }
            if c.dns_cache.is_some_and(|d| d.nanos() == 0) {
                self.push(None, format!("{path}.dns_cache"), "a DNS cache keeps answers for more than 0s".into(), None);
            }
            if let Some(lib) = &c.library {
                if c.discovery.as_ref().is_none_or(|d| d.via != DiscoveryVia::Api) {
                    self.push(
                        None,
                        format!("{path}.library"),
                        "the client library discovers through Cloud Map's API: add `discovery: {}` (via api)".into(),
                        None,
                    );
                }
                if c.discovery.as_ref().is_some_and(|d| !d.query.is_empty()) {
                    self.push(
                        None,
                        format!("{path}.discovery.query"),
                        "with `library`, discover every zone: the library prefers its own AZ itself".into(),
                        None,
                    );
                }
                if c.rate.is_none() {
                    self.push(None, format!("{path}.library"), "a library client is open loop: give `rate`".into(), None);
                }
                if lib.max_attempts == Some(0) {
                    self.push(None, format!("{path}.library.max_attempts"), "at least 1 attempt".into(), None);
                }
                if lib.spill_below.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                    self.push(None, format!("{path}.library.spill_below"), "a share is between 0 and 1".into(), None);
                }
            }
            if let Some(d) = c.discovery.as_ref().filter(|d| d.via == DiscoveryVia::Dns) {
                let has_dns = self.f.services.get(&c.target.value).and_then(|s| s.cloud_map.as_ref()).is_some_and(|r| r.dns.is_some());
                if !has_dns {
                    self.push(
                        None,
                        format!("{path}.discovery.via"),
                        format!("DNS discovery needs DNS records: add `dns:` to `cloud_map:` on `{}`", c.target.value),
                        None,
                    );
                }
                if !d.query.is_empty() || d.refresh.is_some() {
                    self.push(
                        None,
                        format!("{path}.discovery.via"),
                        "DNS answers cannot be filtered and follow their TTL: `query` and `refresh` apply to `via: api` only".into(),
                        None,
                    );
                }
            }
            match (c.rate, c.concurrency) {
                (Some(r), None) if r > 0.0 && r.is_finite() => {}
                (None, Some(n)) if n > 0 => {}
                (Some(_), Some(_)) => self.push(loc, path.clone(), "give either `rate` (open loop) or `concurrency` (closed loop), not both".into(), None),
                (None, None) => {
                    self.push(loc, path.clone(), "give `rate` (requests per second per host) or `concurrency` (requests in flight per host)".into(), None)
                }
                _ => self.push(loc, path.clone(), "`rate` and `concurrency` must be positive".into(), None),
            }
        }
    }

    fn scope_names(&self) -> Vec<String> {
        let mut v: Vec<String> = vec!["*".into()];
        v.extend(self.azs().into_iter().map(String::from));
        v.extend(self.f.regions.value.keys().cloned());
        v.extend(self.f.services.keys().cloned());
        v.extend(self.f.load_balancers.keys().cloned());
        v.extend(self.f.clients.keys().cloned());
        if self.f.tunnel.is_some() {
            v.push("tunnel-agent".into());
        }
        v
    }

    fn check_scope(&mut self, r: &Ref, path: &str) {
        let mut names = self.scope_names();
        names.extend(self.f.host_names());
        if names.contains(&r.value) {
            return;
        }
        let hint = did_you_mean(&r.value, names.iter().map(String::as_str));
        self.push(Some(r.referenced), path.to_string(), format!("`{}` is not an AZ, Region, service, load balancer, client or host", r.value), hint);
    }

    fn check_faults(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let regions: Vec<String> = self.f.regions.value.keys().cloned().collect();
        for (i, fault) in self.f.faults.iter().enumerate() {
            let path = format!("faults[{i}]");
            let mut kinds = 0;
            let mut loc = None;
            if let Some(r) = &fault.az_outage {
                kinds += 1;
                loc = Some(r.referenced);
                self.check_ref(r, &azs, &format!("{path}.az_outage"), "AZ");
            }
            if let Some(r) = &fault.region_outage {
                kinds += 1;
                loc = Some(r.referenced);
                self.check_ref(r, &regions, &format!("{path}.region_outage"), "Region");
            }
            for (r, k) in [(&fault.crash, "crash"), (&fault.power_off, "power_off")] {
                if let Some(r) = r {
                    kinds += 1;
                    loc = Some(r.referenced);
                    self.check_scope(r, &format!("{path}.{k}"));
                }
            }
            if let Some(l) = &fault.latency {
                kinds += 1;
                loc = Some(l.from.referenced);
                self.check_scope(&l.from, &format!("{path}.latency.from"));
                self.check_scope(&l.to, &format!("{path}.latency.to"));
                match (&l.set, &l.add) {
                    (Some(d), None) | (None, Some(d)) => self.check_dist(d, loc, &format!("{path}.latency")),
                    _ => self.push(loc, format!("{path}.latency"), "give exactly one of `set` and `add`".into(), None),
                }
            }
            if let Some(p) = &fault.partition {
                kinds += 1;
                loc = Some(p.from.referenced);
                self.check_scope(&p.from, &format!("{path}.partition.from"));
                self.check_scope(&p.to, &format!("{path}.partition.to"));
            }
            if let Some(p) = &fault.loss {
                kinds += 1;
                loc = Some(p.from.referenced);
                self.check_scope(&p.from, &format!("{path}.loss.from"));
                self.check_scope(&p.to, &format!("{path}.loss.to"));
                if !(0.0..=1.0).contains(&p.probability) {
                    self.push(loc, format!("{path}.loss.probability"), "a probability is between 0 and 1".into(), None);
                }
            }
            if kinds != 1 {
                self.push(
                    loc,
                    path,
                    format!("a fault has exactly one kind (az_outage, region_outage, crash, power_off, latency, partition, loss); found {kinds}"),
                    None,
                );
            }
        }
    }

    fn check_expectations(&mut self) {
        let clients: Vec<String> = self.f.clients.keys().cloned().collect();
        for (i, e) in self.f.expectations.iter().enumerate() {
            let path = format!("expectations[{i}]");
            let loc = e.client.as_ref().map(|c| c.referenced);
            if let Some(c) = &e.client {
                self.check_ref(c, &clients, &format!("{path}.client"), "client");
            }
            let kinds = [
                e.latency.is_some(),
                e.worst_path_latency.is_some(),
                e.az_crossings.is_some(),
                e.region_crossings.is_some(),
                e.success_ratio.is_some(),
                e.cost_usd.is_some(),
                e.cross_az_bytes.is_some(),
                e.recovery.is_some(),
                e.failures.is_some(),
                e.discovery_staleness.is_some(),
                e.retry_amplification.is_some(),
                e.unanswered.is_some(),
                e.executed_twice.is_some(),
            ]
            .iter()
            .filter(|k| **k)
            .count();
            if kinds != 1 {
                let name = e.name.as_deref().unwrap_or("");
                self.push(loc, path.clone(), format!("an expectation has exactly one check (latency, worst_path_latency, az_crossings, region_crossings, success_ratio, cost_usd, cross_az_bytes, recovery, failures, discovery_staleness, retry_amplification, unanswered, executed_twice); `{name}` has {kinds}"), None);
            }
            if e.executed_twice.is_some() && self.f.tunnel.is_none() {
                self.push(
                    loc,
                    format!("{path}.executed_twice"),
                    "`executed_twice` counts what a tunnel's backend executed: this scenario has no `tunnel`".into(),
                    None,
                );
            }
            if let Some(r) = e.recovery.as_ref().filter(|_| self.f.faults.is_empty()) {
                self.push(Some(r.within.referenced), format!("{path}.recovery"), "a recovery budget needs faults on the timeline".into(), None);
            }
            if let Some(r) = &e.retry_amplification {
                if r.min.is_none() && r.max.is_none() {
                    self.push(loc, format!("{path}.retry_amplification"), "give `min` or `max` (attempts per request)".into(), None);
                }
                if e.az.is_some() || e.window.is_some() {
                    self.push(
                        loc,
                        format!("{path}.retry_amplification"),
                        "retry amplification is per client over the whole run: `az` and `window` do not apply".into(),
                        None,
                    );
                }
                if self.f.clients.values().all(|c| c.library.is_none()) {
                    self.push(loc, format!("{path}.retry_amplification"), "retry amplification needs a client using the library (`library:`)".into(), None);
                }
            }
            if let Some(r) = &e.discovery_staleness {
                if self.f.faults.is_empty() || self.f.services.values().all(|s| s.cloud_map.is_none()) {
                    self.push(
                        Some(r.max.referenced),
                        format!("{path}.discovery_staleness"),
                        "a discovery staleness budget needs faults and a service registered in Cloud Map".into(),
                        None,
                    );
                }
                if scoped_any(e) {
                    self.push(
                        Some(r.max.referenced),
                        format!("{path}.discovery_staleness"),
                        "`client`, `az` and `window` do not apply to discovery staleness".into(),
                        None,
                    );
                }
            }
            let empty_latency =
                |b: &Option<LatencyBudget>| b.as_ref().is_some_and(|b| [b.at_least, b.p0, b.p50, b.p90, b.p99, b.p999, b.max].iter().all(Option::is_none));
            let empty_count = |b: &Option<CountBudget>| b.as_ref().is_some_and(|b| b.max.is_none() && b.mean.is_none());
            if empty_latency(&e.latency) || empty_latency(&e.worst_path_latency) || empty_count(&e.az_crossings) || empty_count(&e.region_crossings) {
                self.push(loc, path.clone(), "a budget needs at least one bound (e.g. `p99: 40ms`, `max: 4`)".into(), None);
            }
            let scoped = e.client.is_some() || e.az.is_some() || e.window.is_some();
            if scoped && (e.cost_usd.is_some() || e.cross_az_bytes.is_some()) {
                self.push(loc, path.clone(), "`cost_usd` and `cross_az_bytes` are whole-run figures: `client`, `az` and `window` do not apply".into(), None);
            }
            if let Some(az) = &e.az {
                let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
                self.check_ref(az, &azs, &format!("{path}.az"), "AZ");
            }
            if let Some(r) = &e.success_ratio {
                let bounds = [r.min, r.max];
                if bounds.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                    self.push(loc, format!("{path}.success_ratio"), "a ratio is between 0 and 1".into(), None);
                }
                if bounds.iter().all(Option::is_none) {
                    self.push(loc, format!("{path}.success_ratio"), "give `min` (a budget) or `max` (an expected loss)".into(), None);
                }
            }
        }
    }
}

fn scoped_any(e: &ExpectationSpec) -> bool {
    e.client.is_some() || e.az.is_some() || e.window.is_some()
}
