//! Where everything runs: the one placement plan of a scenario.
//!
//! [`Plan::new`] reads a scenario file once and lays out its Regions, zones and hosts: which
//! host each service instance, load balancer node, client, tunnel agent, NAT gateway, API
//! endpoint, VPC link ENI, Route 53 checker, CloudFront edge and control plane is, in which
//! zone, in which group, and which zones are "regional" (in no AZ of a VPC) and why.
//! Validation asks it what fault scopes and allow-lists may name, the world creates exactly
//! its hosts in its order, and the reports read each host's group from it. Nothing else
//! places hosts, so the three cannot disagree.
//!
//! The order of [`Plan::zones`] and [`Plan::hosts`] is the order the world creates them in
//! (it numbers hosts and zones, and records list them in that order): Regions and their AZs
//! as the file lists them, then services, load balancer nodes, clients, tunnel agents, Cloud
//! Map endpoints, API endpoints and their ENIs, NAT gateways, Route 53 checkers, CloudFront
//! edges and ECS control planes, each section sorted by name.

use std::collections::BTreeMap;

use crate::model::{
    Inbound, ScenarioFile, apigw_host, checker_host, client_host, edge_host, lb_node_host, nat_host, service_host, tunnel_agent_host, vpclink_host,
};

/// The group of every tunnel agent (a fault scope).
pub const TUNNEL_AGENT_GROUP: &str = "tunnel-agent";
/// The group of Cloud Map's regional endpoints.
pub const CLOUD_MAP_GROUP: &str = "cloudmap";
/// The group of Route 53's health checkers.
pub const CHECKER_GROUP: &str = "route53-checker";

/// A Region, in the order the file lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionPlan {
    pub name: String,
    /// Nothing from outside the Region reaches its hosts (`inbound: closed`).
    pub inbound_closed: bool,
    pub kind: crate::PlaceKind,
}

/// Why a zone is in no AZ of a VPC: traffic to and from it crosses no AZ boundary (its
/// latency still applies, and Region crossings still count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regional {
    /// A regional AWS service endpoint (Cloud Map, API Gateway, the ECS control plane): it
    /// survives an AZ outage, so it gets a zone of its own, `aws-api-<region>`.
    AwsApi,
    /// A CloudFront edge location, a zone the file names.
    Edge,
    /// Route 53's health checkers (AWS's checker Regions), zones the file names.
    HealthCheckers,
}

/// A zone: an AZ of the file, or a regional zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonePlan {
    pub name: String,
    pub region: String,
    /// `None` for an AZ of a VPC.
    pub regional: Option<Regional>,
}

/// What a host is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Instance `index` of a service in `az`; `running` unless it is a spare host where ECS
    /// may place a replacement task.
    Service {
        service: String,
        az: String,
        index: u32,
        running: bool,
    },
    LbNode {
        lb: String,
        az: String,
    },
    Client {
        client: String,
        az: String,
        index: u32,
    },
    TunnelAgent {
        az: String,
        index: u32,
    },
    /// Cloud Map's endpoint in a Region.
    CloudMap {
        region: String,
    },
    /// An API's regional endpoint.
    ApiGateway {
        api: String,
    },
    /// An ENI of an API's VPC link.
    VpcLinkEni {
        api: String,
        az: String,
    },
    /// A zonal NAT gateway.
    Nat {
        nat: String,
        az: String,
    },
    Route53Checker {
        index: u32,
    },
    /// A CloudFront distribution's edge location.
    Edge {
        distribution: String,
    },
    /// An ECS service's control plane.
    EcsControl {
        service: String,
    },
}

/// One host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPlan {
    pub name: String,
    pub zone: String,
    /// The group a fault scope or an allow-list may name to mean every host in it: the
    /// service, load balancer, client, API, NAT or distribution, or one of the fixed groups
    /// ([`TUNNEL_AGENT_GROUP`], [`CLOUD_MAP_GROUP`], [`CHECKER_GROUP`], `ecs-<service>`).
    pub group: String,
    pub role: Role,
}

/// The placement plan of a scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub regions: Vec<RegionPlan>,
    pub zones: Vec<ZonePlan>,
    pub hosts: Vec<HostPlan>,
}

/// Two hosts of a scenario would have the same name (e.g. a service `a` with an instance
/// `a-use1-az1-0` and a client `a-use1-az1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameClash {
    pub host: String,
    /// What the two hosts belong to (`load balancer `alb``, `NAT gateway `alb``).
    pub owners: (String, String),
}

impl std::fmt::Display for NameClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = &self.owners;
        write!(f, "two hosts would be named `{}`, one of {a} and one of {b}: rename one of them", self.host)
    }
}

impl Role {
    /// What the host belongs to, as a user names it (`service `orders``).
    pub fn owner(&self) -> String {
        match self {
            Role::Service { service, .. } => format!("service `{service}`"),
            Role::LbNode { lb, .. } => format!("load balancer `{lb}`"),
            Role::Client { client, .. } => format!("client `{client}`"),
            Role::TunnelAgent { .. } => "the tunnel's agents".to_string(),
            Role::CloudMap { region } => format!("Cloud Map in {region}"),
            Role::ApiGateway { api } | Role::VpcLinkEni { api, .. } => format!("API `{api}`"),
            Role::Nat { nat, .. } => format!("NAT gateway `{nat}`"),
            Role::Route53Checker { .. } => "Route 53's checkers".to_string(),
            Role::Edge { distribution } => format!("CloudFront distribution `{distribution}`"),
            Role::EcsControl { service } => format!("ECS service `{service}`"),
        }
    }
}

impl Plan {
    /// Lays out every host of `f`; fails on two hosts of the same name.
    pub fn new(f: &ScenarioFile) -> Result<Plan, NameClash> {
        let (plan, clashes) = Plan::lay_out(f);
        match clashes.into_iter().next() {
            Some(clash) => Err(clash),
            None => Ok(plan),
        }
    }

    /// Lays out what it can of a file that may not be valid yet (validation asks it what names
    /// exist): a host whose name is taken is left out and reported; a host in an AZ of no Region,
    /// or an endpoint whose Region cannot be told, is left out silently (validation reports the
    /// unknown AZ itself). Never panics.
    pub fn lay_out(f: &ScenarioFile) -> (Plan, Vec<NameClash>) {
        let mut b = Builder::default();
        for (region, spec) in &f.regions.value {
            b.plan.regions.push(RegionPlan { name: region.clone(), inbound_closed: spec.inbound == Inbound::Closed, kind: spec.kind });
            for az in &spec.azs {
                b.plan.zones.push(ZonePlan { name: az.clone(), region: region.clone(), regional: None });
            }
        }
        b.services(f);
        b.edge_of_vpc(f);
        b.aws_endpoints(f);
        b.mark_edge_zones(f);
        b.ecs_control(f);
        (b.plan, b.clashes)
    }

    /// The Region of a zone.
    pub fn region_of(&self, zone: &str) -> Option<&str> {
        self.zones.iter().find(|z| z.name == zone).map(|z| z.region.as_str())
    }

    /// The hosts of a group, in creation order.
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a HostPlan> + 'a {
        self.hosts.iter().filter(move |h| h.group == group)
    }

    /// Every group name, sorted, once.
    pub fn group_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.hosts.iter().map(|h| h.group.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// What a fault scope may name: `*`, an AZ or regional zone, a Region, a group or a host.
    pub fn scope_names(&self) -> Vec<&str> {
        let mut names = vec!["*"];
        names.extend(self.zones.iter().map(|z| z.name.as_str()));
        names.extend(self.regions.iter().map(|r| r.name.as_str()));
        names.extend(self.group_names());
        names.extend(self.hosts.iter().map(|h| h.name.as_str()));
        names
    }

    /// Whether `name` is a group or a host (what an allow-list may name besides a CIDR block).
    pub fn names_hosts(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| h.group == name || h.name == name)
    }
}

/// Lays hosts out in the world's order, refusing a second host of a name.
#[derive(Default)]
struct Builder {
    plan: Plan,
    /// Host name -> what it belongs to.
    names: BTreeMap<String, String>,
    clashes: Vec<NameClash>,
}

impl Builder {
    fn host(&mut self, name: String, zone: &str, group: &str, role: Role) {
        if let Some(first) = self.names.get(&name) {
            self.clashes.push(NameClash { host: name, owners: (first.clone(), role.owner()) });
            return;
        }
        self.names.insert(name.clone(), role.owner());
        self.plan.hosts.push(HostPlan { name, zone: zone.to_string(), group: group.to_string(), role });
    }

    fn region_of(&self, az: &str) -> Option<String> {
        self.plan.region_of(az).map(str::to_string)
    }

    /// The zone of a Region's AWS endpoints (`aws-api-<region>`), added the first time it is
    /// needed.
    fn api_zone(&mut self, region: &str) -> String {
        let zone = format!("aws-api-{region}");
        if !self.plan.zones.iter().any(|z| z.name == zone) {
            self.plan.zones.push(ZonePlan { name: zone.clone(), region: region.to_string(), regional: Some(Regional::AwsApi) });
        }
        zone
    }

    /// Services (`<service>-<az>-<n>`: the instances running at the start, then the spare
    /// hosts an ECS service can place tasks on), load balancer nodes (`<lb>-<az>`) and
    /// clients (`<client>-<az>-<n>`).
    fn services(&mut self, f: &ScenarioFile) {
        for (name, svc) in &f.services {
            for (az, running) in &svc.instances.value {
                for index in 0..svc.hosts_in(az) {
                    let role = Role::Service { service: name.clone(), az: az.clone(), index, running: index < *running };
                    self.host(service_host(name, az, index), az, name, role);
                }
            }
        }
        for (name, lb) in &f.load_balancers {
            for az in &lb.azs.value {
                self.host(lb_node_host(name, az), az, name, Role::LbNode { lb: name.clone(), az: az.clone() });
            }
        }
        for (name, c) in &f.clients {
            for (az, count) in &c.azs.value {
                for index in 0..*count {
                    self.host(client_host(name, az, index), az, name, Role::Client { client: name.clone(), az: az.clone(), index });
                }
            }
        }
    }

    /// Tunnel agents (`tunnel-agent-<az>-<n>`).
    fn edge_of_vpc(&mut self, f: &ScenarioFile) {
        for (az, count) in f.tunnel.iter().flat_map(|t| &t.agents.value) {
            for index in 0..*count {
                self.host(tunnel_agent_host(az, index), az, TUNNEL_AGENT_GROUP, Role::TunnelAgent { az: az.clone(), index });
            }
        }
    }

    /// Cloud Map's endpoint in each Region where a registered service runs
    /// (`cloudmap-<region>`), each API's endpoint (`<api>-apigw`) and VPC link ENIs
    /// (`<api>-vpclink-<az>`), NAT gateways (`<nat>-<az>`), Route 53's checkers
    /// (`route53-checker-<n>`, dealt over their zones) and CloudFront's edges (`<name>-edge`).
    fn aws_endpoints(&mut self, f: &ScenarioFile) {
        for svc in f.services.values().filter(|s| s.cloud_map.is_some()) {
            let regions: Vec<String> = svc.instances.value.keys().filter_map(|az| self.region_of(az)).collect();
            for region in regions {
                let host = format!("cloudmap-{region}");
                if !self.names.contains_key(&host) {
                    let zone = self.api_zone(&region);
                    self.host(host, &zone, CLOUD_MAP_GROUP, Role::CloudMap { region });
                }
            }
        }
        for (name, api) in &f.api_gateways {
            // Its own Region, or its VPC link's (validation requires one of the two).
            let region = api.region.clone().or_else(|| api.vpc_link.value.first().and_then(|az| self.region_of(az)));
            if let Some(region) = region {
                let zone = self.api_zone(&region);
                self.host(apigw_host(name), &zone, name, Role::ApiGateway { api: name.clone() });
            }
            for az in &api.vpc_link.value {
                self.host(vpclink_host(name, az), az, name, Role::VpcLinkEni { api: name.clone(), az: az.clone() });
            }
        }
        for (name, nat) in &f.nat_gateways {
            for az in &nat.azs.value {
                self.host(nat_host(name, az), az, name, Role::Nat { nat: name.clone(), az: az.clone() });
            }
        }
        if let Some(r) = &f.route53 {
            for index in 0..r.checkers.count {
                self.host(checker_host(index), r.checkers.az_of(index), CHECKER_GROUP, Role::Route53Checker { index });
            }
        }
        for (name, cf) in &f.cloudfront {
            self.host(edge_host(name), &cf.az.value, name, Role::Edge { distribution: name.clone() });
        }
    }

    /// AWS's edge and Route 53's checkers are in no AZ of a VPC.
    fn mark_edge_zones(&mut self, f: &ScenarioFile) {
        let edges = f.cloudfront.values().map(|c| (c.az.value.as_str(), Regional::Edge));
        let checkers =
            f.route53.iter().flat_map(|r| std::iter::once(&r.checkers.az).chain(&r.checkers.also_in)).map(|az| (az.value.as_str(), Regional::HealthCheckers));
        for (name, why) in edges.chain(checkers) {
            if let Some(zone) = self.plan.zones.iter_mut().find(|z| z.name == name && z.regional.is_none()) {
                zone.regional = Some(why);
            }
        }
    }

    /// An ECS service's control plane (`ecs-<service>`), in its Region's endpoint zone.
    fn ecs_control(&mut self, f: &ScenarioFile) {
        for (name, svc) in f.services.iter().filter(|(_, s)| s.ecs.is_some()) {
            let Some(region) = svc.instances.value.keys().next().and_then(|az| self.region_of(az)) else { continue };
            let zone = self.api_zone(&region);
            let host = format!("ecs-{name}");
            self.host(host.clone(), &zone, &host, Role::EcsControl { service: name.clone() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Source, load_str};

    fn plan_of(text: &str) -> Plan {
        let scenario = load_str(Source { name: "test.yaml".into(), text: text.into() }).expect("a valid scenario");
        Plan::new(&scenario.file).expect("no clash")
    }

    const SHOP: &str = "version: 1
name: shop
duration: 10s
regions:
  us-east-1: { azs: [use1-az1, use1-az2] }
services:
  orders:
    instances: { use1-az1: 1, use1-az2: 1 }
    processing: { fixed: 1ms }
    cloud_map: { namespace: internal, service: orders }
    ecs: { launch_time: { fixed: 30s }, startup: { fixed: 5s }, capacity_per_az: 2 }
load_balancers:
  alb: { kind: alb, azs: [use1-az1, use1-az2], targets: orders }
clients:
  web: { azs: { use1-az2: 2 }, target: alb, rate: 10 }
";

    #[test]
    fn hosts_come_in_the_worlds_order_with_their_groups_and_zones() {
        let plan = plan_of(SHOP);
        let hosts: Vec<(&str, &str, &str)> = plan.hosts.iter().map(|h| (h.name.as_str(), h.zone.as_str(), h.group.as_str())).collect();
        assert_eq!(
            hosts,
            [
                ("orders-use1-az1-0", "use1-az1", "orders"),
                ("orders-use1-az1-1", "use1-az1", "orders"),
                ("orders-use1-az2-0", "use1-az2", "orders"),
                ("orders-use1-az2-1", "use1-az2", "orders"),
                ("alb-use1-az1", "use1-az1", "alb"),
                ("alb-use1-az2", "use1-az2", "alb"),
                ("web-use1-az2-0", "use1-az2", "web"),
                ("web-use1-az2-1", "use1-az2", "web"),
                ("cloudmap-us-east-1", "aws-api-us-east-1", "cloudmap"),
                ("ecs-orders", "aws-api-us-east-1", "ecs-orders"),
            ]
        );
        // The spare ECS hosts are planned but not running at the start.
        let running: Vec<bool> = plan.group("orders").map(|h| matches!(h.role, Role::Service { running: true, .. })).collect();
        assert_eq!(running, [true, false, true, false]);
        let zones: Vec<(&str, Option<Regional>)> = plan.zones.iter().map(|z| (z.name.as_str(), z.regional)).collect();
        assert_eq!(zones, [("use1-az1", None), ("use1-az2", None), ("aws-api-us-east-1", Some(Regional::AwsApi))]);
    }

    #[test]
    fn fault_scopes_may_name_every_group_the_world_creates() {
        let plan = plan_of(SHOP);
        let scopes = plan.scope_names();
        for name in ["*", "use1-az1", "aws-api-us-east-1", "us-east-1", "orders", "alb", "web", "cloudmap", "ecs-orders", "web-use1-az2-1"] {
            assert!(scopes.contains(&name), "`{name}` is not a scope: {scopes:?}");
        }
        assert!(!scopes.contains(&"nobody"));
        assert!(plan.names_hosts("ecs-orders") && plan.names_hosts("alb-use1-az1") && !plan.names_hosts("us-east-1"));
    }

    #[test]
    fn two_hosts_of_one_name_are_refused_naming_both_owners() {
        // A NAT gateway `alb` in use1-az1 would be `alb-use1-az1`, as the load balancer's node is.
        let text = format!("{SHOP}nat_gateways:\n  alb: {{ azs: [use1-az1] }}\n");
        let message = load_str(Source { name: "test.yaml".into(), text }).expect_err("a clash is an error").to_string();
        assert!(message.contains("two hosts would be named `alb-use1-az1`, one of load balancer `alb` and one of NAT gateway `alb`"), "{message}");
    }
}
