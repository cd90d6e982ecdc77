//! The worst-case path on paper, as architects reason: the largest number of AZ crossings any
//! request could take through the topology, and along that path the sum of per-hop p0 and p50
//! (network and processing). It enumerates every placement choice the topology allows (which
//! node, which instance, which replica), so it is exact for the model, not an estimate.

use std::collections::BTreeMap;

use azsim_scenario::{ClientRoutingPolicy, LbKind, Pick, Resolve, RuleAction, ScenarioFile, StepAction};

use crate::world::dist;

/// A path through the topology with its totals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnalyticPath {
    pub crossings: u32,
    /// Sum of per-hop p0, nanoseconds.
    pub p0: u64,
    /// Sum of per-hop p50, nanoseconds.
    pub p50: u64,
    /// `name@az` of each stop.
    pub path: Vec<String>,
    at: String,
}

impl AnalyticPath {
    fn key(&self) -> (u32, u64, u64) {
        (self.crossings, self.p50, self.p0)
    }
}

struct Model<'a> {
    f: &'a ScenarioFile,
    region_of: BTreeMap<String, String>,
}

impl Model<'_> {
    fn hop(&self, p: &AnalyticPath, to_az: &str, stop: &str) -> AnalyticPath {
        let from = p.at.as_str();
        let n = &self.f.network;
        let (ra, rb) = (&self.region_of[from], &self.region_of[to_az]);
        let pair = azsim_scenario::PairLatency::find;
        let d = if ra != rb {
            self.f.region_latency(ra, rb)
        } else if from == to_az {
            pair(&n.az_pairs, from, to_az).unwrap_or(&n.intra_az)
        } else {
            pair(&n.az_pairs, from, to_az).unwrap_or(&n.inter_az)
        };
        let d = dist(self.f, d);
        let mut q = p.clone();
        q.crossings += u32::from(from != to_az);
        q.p0 += d.quantile(0.0);
        q.p50 += d.quantile(0.5);
        q.path.push(format!("{stop}@{to_az}"));
        q.at = to_az.to_string();
        q
    }

    fn process(&self, p: &mut AnalyticPath, d: &azsim_scenario::DistSpec) {
        let d = dist(self.f, d);
        p.p0 += d.quantile(0.0);
        p.p50 += d.quantile(0.5);
    }

    fn instance_azs(&self, service: &str) -> Vec<String> {
        self.f.services[service].instances.value.iter().filter(|(_, n)| **n > 0).map(|(az, _)| az.clone()).collect()
    }

    fn candidates(&self, service: &str, pick: Pick, caller_az: &str, visited: &[String]) -> Vec<String> {
        let all = self.instance_azs(service);
        let local: Vec<String> = all.iter().filter(|a| *a == caller_az).cloned().collect();
        match pick {
            Pick::Any | Pick::RoundRobin => all,
            Pick::Local => local,
            Pick::PreferLocal if !local.is_empty() => local,
            Pick::PreferLocal => all,
            Pick::Spread => {
                let fresh: Vec<String> = all.iter().filter(|a| !visited.contains(a)).cloned().collect();
                if fresh.is_empty() { all } else { fresh }
            }
        }
    }

    /// Paths through `service` entered at `p` (already at the instance's AZ). Each returned
    /// path ends at the AZ of the host that sends the final answer.
    fn service(&self, name: &str, p: AnalyticPath, chain: &[String]) -> Vec<AnalyticPath> {
        let svc = &self.f.services[name];
        let at = p.at.clone();
        let mut start = p;
        self.process(&mut start, &svc.processing);
        let mut states = vec![start];
        let mut visited = chain.to_vec();
        visited.push(at.clone());
        for step in &svc.steps {
            let (target, forward) = match &step.action {
                StepAction::Call(t) => (&t.value, false),
                StepAction::Forward(t) => (&t.value, true),
            };
            let mut next = Vec::new();
            for s in &states {
                for t in self.candidates(target, step.pick, &at, &visited) {
                    let entered = self.hop(s, &t, target);
                    let sub_chain: &[String] = if forward { &visited } else { &[] };
                    for r in self.service(target, entered, sub_chain) {
                        next.push(if forward { r } else { self.hop(&r, &at, name) });
                    }
                }
            }
            states = prune(next);
            if forward {
                return states;
            }
        }
        states
    }

    fn client(&self, name: &str) -> Vec<AnalyticPath> {
        let c = &self.f.clients[name];
        let mut out = Vec::new();
        for az in c.azs.value.iter().filter(|(_, n)| **n > 0).map(|(a, _)| a) {
            let p = AnalyticPath { path: vec![format!("{name}@{az}")], at: az.clone(), ..AnalyticPath::default() };
            if let Some(lb) = self.f.load_balancers.get(&c.target.value) {
                let lb_name = &c.target.value;
                // The zonal name, or a regional name whose every answer is the client's AZ.
                let own_only = c.resolve == Resolve::OwnAz
                    || (lb.dns_client_routing_policy == Some(ClientRoutingPolicy::AvailabilityZoneAffinity) && lb.azs.value.contains(az));
                let node_azs: Vec<&String> = lb.azs.value.iter().filter(|a| !own_only || *a == az).collect();
                let cross_zone = lb.cross_zone.unwrap_or(lb.kind == LbKind::Alb);
                for node in node_azs {
                    let mut at_node = self.hop(&p, node, lb_name);
                    self.process(&mut at_node, &lb.processing);
                    // Any target group a rule may forward to, besides the default one.
                    let mut groups = vec![lb.targets.value.clone()];
                    for f in lb.rules.iter().flat_map(|r| match &r.action {
                        RuleAction::Forward(forward) => forward.as_slice(),
                        RuleAction::FixedResponse(_) | RuleAction::Redirect(_) => &[],
                    }) {
                        if !groups.contains(&f.service.value) {
                            groups.push(f.service.value.clone());
                        }
                    }
                    for group in &groups {
                        let targets: Vec<String> = self.instance_azs(group).into_iter().filter(|t| cross_zone || t == node).collect();
                        for t in targets {
                            let entered = self.hop(&at_node, &t, group);
                            for r in self.service(group, entered, &[]) {
                                let back = self.hop(&r, node, lb_name);
                                out.push(self.hop(&back, az, name));
                            }
                        }
                    }
                }
            } else {
                // Discovery filtered to the client's own AZ (`AVAILABILITY_ZONE: $az`) stays local,
                // and so does the affinity client library while its AZ is healthy (the paper path
                // is the healthy one).
                let filtered = c.discovery.as_ref().is_some_and(|d| d.query.get("AVAILABILITY_ZONE").is_some_and(|v| v == "$az"));
                let own_only = filtered || (c.library.is_some() && self.instance_azs(&c.target.value).iter().any(|t| t == az));
                for t in self.instance_azs(&c.target.value).into_iter().filter(|t| !own_only || t == az) {
                    let entered = self.hop(&p, &t, &c.target.value);
                    for r in self.service(&c.target.value, entered, &[]) {
                        out.push(self.hop(&r, az, name));
                    }
                }
            }
        }
        out
    }
}

/// Keeps, per AZ where a path stands, only the worst one: what follows depends only on where
/// the path is, so this loses nothing.
fn prune(paths: Vec<AnalyticPath>) -> Vec<AnalyticPath> {
    let mut best: BTreeMap<String, AnalyticPath> = BTreeMap::new();
    for p in paths {
        match best.get(&p.at) {
            Some(b) if b.key() >= p.key() => {}
            _ => {
                best.insert(p.at.clone(), p);
            }
        }
    }
    best.into_values().collect()
}

/// Why there is no path on paper for this scenario, if there is none: a short reason for the
/// record and the report, naming the first client whose target is out of the model.
pub fn not_on_paper(f: &ScenarioFile) -> Option<String> {
    // A tunnel's path runs through real code (its hops depend on connections, not on a
    // table): no figure on paper rather than a wrong one. Nor is an API Gateway's VPC link
    // modelled on paper yet, nor names that Route 53 or CloudFront answer for (their answer
    // changes with health).
    if f.tunnel.is_some() {
        return Some("requests go through a tunnel, whose hops depend on its connections".into());
    }
    let records = f.route53.as_ref().map(|r| &r.records);
    for (client, c) in &f.clients {
        let target = &c.target.value;
        if f.cloudfront.contains_key(target) {
            return Some(format!("client `{client}` targets CloudFront (`{target}`), whose origin changes with health"));
        }
        if f.api_gateways.contains_key(target) {
            return Some(format!("client `{client}` targets the API `{target}`, whose integrations are not modelled on paper"));
        }
        if records.is_some_and(|r| r.contains_key(target)) {
            return Some(format!("client `{client}` resolves the Route 53 name `{target}`, whose answer changes with health checks"));
        }
    }
    if !f.api_gateways.is_empty() || f.route53.is_some() || !f.cloudfront.is_empty() {
        return Some("requests may go through an API, a Route 53 name or CloudFront, which are not modelled on paper".into());
    }
    None
}

/// The path with the most AZ crossings (ties: the slowest at p50) over every client; none
/// where [`not_on_paper`] says why.
pub fn worst_case_path(f: &ScenarioFile) -> Option<AnalyticPath> {
    if not_on_paper(f).is_some() {
        return None;
    }
    let region_of = f.regions.value.iter().flat_map(|(r, spec)| spec.azs.iter().map(move |a| (a.clone(), r.clone()))).collect();
    let m = Model { f, region_of };
    f.clients.keys().flat_map(|c| m.client(c)).max_by_key(|p| p.key())
}

/// The record's section: the worst-case path on paper, or why there is none.
pub(crate) fn on_paper(f: &ScenarioFile) -> crate::record::Analytic {
    let not_computed = not_on_paper(f);
    match worst_case_path(f) {
        Some(p) => {
            crate::record::Analytic { max_az_crossings: p.crossings, p0_us: p.p0 as f64 / 1000.0, p50_us: p.p50 as f64 / 1000.0, path: p.path, not_computed }
        }
        None => crate::record::Analytic { not_computed, ..Default::default() },
    }
}
