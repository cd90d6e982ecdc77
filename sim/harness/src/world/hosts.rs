//! The plan as a kernel topology: its zones and hosts, created in the plan's order, and the
//! lookups the builders need (a service's running instances, a load balancer's nodes, ...).

use std::collections::BTreeMap;

use azsim_fakes::{Endpoint, TaskSlot, TaskSwitch};
use azsim_kernel::{AzId, HostId, PlaceKind, Topology};
use azsim_scenario::plan::{self, Plan};
use azsim_scenario::{LbKind, ScenarioFile};

/// What kind of thing a host is, as the record reads it: accounting (ALB-to-target traffic
/// may be free; regional endpoints cross no AZ) and the labels of the hop tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client(String),
    Service(String),
    LbNode {
        lb: String,
        kind: LbKind,
        targets: String,
    },
    /// Cloud Map's regional endpoint (its API traffic is not inter-AZ data transfer).
    CloudMap,
    /// An ECS service's control plane (it sends nothing on the network).
    EcsControl(String),
    /// A tunnel's forwarding agent (real code).
    TunnelAgent,
    /// An API Gateway API's regional endpoint.
    ApiGateway(String),
    /// An ENI of an API's VPC link.
    VpcLinkEni(String),
    /// A Route 53 health checker.
    Route53Checker,
    /// A CloudFront distribution's edge location.
    Edge(String),
    /// A zonal NAT gateway.
    Nat(String),
}

impl Role {
    fn of(role: &plan::Role, f: &ScenarioFile) -> Role {
        use plan::Role as P;
        match role {
            P::Service { service, .. } => Role::Service(service.clone()),
            P::LbNode { lb, .. } => {
                let spec = &f.load_balancers[lb];
                Role::LbNode { lb: lb.clone(), kind: spec.kind, targets: spec.targets.value.clone() }
            }
            P::Client { client, .. } => Role::Client(client.clone()),
            P::TunnelAgent { .. } => Role::TunnelAgent,
            P::CloudMap { .. } => Role::CloudMap,
            P::ApiGateway { api } => Role::ApiGateway(api.clone()),
            P::VpcLinkEni { api, .. } => Role::VpcLinkEni(api.clone()),
            P::Nat { nat, .. } => Role::Nat(nat.clone()),
            P::Route53Checker { .. } => Role::Route53Checker,
            P::Edge { distribution } => Role::Edge(distribution.clone()),
            P::EcsControl { service } => Role::EcsControl(service.clone()),
        }
    }
}

/// The plan's hosts with their kernel ids.
pub(crate) struct Placed<'a> {
    pub(crate) plan: &'a Plan,
    /// The kernel id of each of `plan.hosts`, in the same order.
    ids: Vec<HostId>,
    zones: BTreeMap<String, AzId>,
    /// An ECS service's hosts, running or spare, each with the switch its task answers by.
    /// Made once: the service instances and the ECS control plane share the switches.
    slots: BTreeMap<String, Vec<TaskSlot>>,
}

/// Builds the topology of `plan`: Regions, zones (regional ones marked), then hosts.
pub(crate) fn place<'a>(plan: &'a Plan, f: &ScenarioFile) -> (Topology, Placed<'a>) {
    let mut topo = Topology::default();
    for region in &plan.regions {
        let r = topo.add_region(&region.name);
        if region.inbound_closed {
            topo.close_inbound(r);
        }
        topo.set_place(
            r,
            match region.kind {
                azsim_scenario::PlaceKind::Region => PlaceKind::Region,
                azsim_scenario::PlaceKind::Edge => PlaceKind::PointOfPresence,
                azsim_scenario::PlaceKind::Internet | azsim_scenario::PlaceKind::OnPremises => PlaceKind::Outside,
            },
        );
    }
    let mut zones = BTreeMap::new();
    for zone in &plan.zones {
        let region = topo.region_by_name(&zone.region).expect("the plan's Regions come first");
        let az = topo.add_az(region, &zone.name);
        if zone.regional.is_some() {
            topo.mark_regional(az);
        }
        zones.insert(zone.name.clone(), az);
    }
    let ids: Vec<HostId> = plan.hosts.iter().map(|h| topo.add_host(&h.name, zones[&h.zone], None)).collect();
    let mut placed = Placed { plan, ids, zones, slots: BTreeMap::new() };
    for (name, _) in f.services.iter().filter(|(_, s)| s.ecs.is_some()) {
        let slots = placed
            .service_hosts(name)
            .map(|(h, endpoint)| {
                let running = matches!(h.role, plan::Role::Service { running: true, .. });
                TaskSlot { name: h.name.clone(), endpoint, switch: TaskSwitch::new(running), running_at_start: running }
            })
            .collect();
        placed.slots.insert(name.clone(), slots);
    }
    (topo, placed)
}

impl Placed<'_> {
    /// Every host with its id.
    fn hosts(&self) -> impl Iterator<Item = (&plan::HostPlan, HostId)> {
        self.plan.hosts.iter().zip(self.ids.iter().copied())
    }

    fn endpoint(&self, host: &plan::HostPlan, id: HostId) -> Endpoint {
        Endpoint { host: id, az: self.zones[&host.zone] }
    }

    /// The kernel id of a zone.
    pub(crate) fn zone(&self, name: &str) -> AzId {
        self.zones[name]
    }

    /// Every host of a service, running or spare.
    fn service_hosts<'s>(&'s self, service: &'s str) -> impl Iterator<Item = (&'s plan::HostPlan, Endpoint)> + 's {
        self.hosts().filter(move |(h, _)| matches!(&h.role, plan::Role::Service { service: s, .. } if s == service)).map(|(h, id)| (h, self.endpoint(h, id)))
    }

    /// The instances of a service running at the start (a load balancer's targets, a step's
    /// choices), or of nothing by that name.
    pub(crate) fn instances(&self, service: &str) -> Vec<Endpoint> {
        self.service_hosts(service).filter(|(h, _)| matches!(h.role, plan::Role::Service { running: true, .. })).map(|(_, e)| e).collect()
    }

    /// Every running instance of every service, by service.
    pub(crate) fn all_instances(&self) -> BTreeMap<String, Vec<Endpoint>> {
        let mut all: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
        for (h, id) in self.hosts() {
            if let plan::Role::Service { service, running: true, .. } = &h.role {
                all.entry(service.clone()).or_default().push(self.endpoint(h, id));
            }
        }
        all
    }

    /// An ECS service's task slots (none for another service).
    pub(crate) fn slots(&self, service: &str) -> Option<&Vec<TaskSlot>> {
        self.slots.get(service)
    }

    /// A load balancer's nodes, as endpoints.
    pub(crate) fn lb_nodes(&self, lb: &str) -> Vec<Endpoint> {
        self.hosts().filter(|(h, _)| matches!(&h.role, plan::Role::LbNode { lb: l, .. } if l == lb)).map(|(h, id)| self.endpoint(h, id)).collect()
    }

    /// A client's hosts.
    pub(crate) fn client_hosts(&self, client: &str) -> Vec<HostId> {
        self.hosts().filter(|(h, _)| matches!(&h.role, plan::Role::Client { client: c, .. } if c == client)).map(|(_, id)| id).collect()
    }

    /// The tunnel's agents, with their host names.
    pub(crate) fn tunnel_agents(&self) -> Vec<(String, HostId)> {
        self.hosts().filter(|(h, _)| matches!(h.role, plan::Role::TunnelAgent { .. })).map(|(h, id)| (h.name.clone(), id)).collect()
    }

    /// Cloud Map's endpoint in each Region that has one.
    pub(crate) fn cloud_map_hosts(&self) -> BTreeMap<String, HostId> {
        self.hosts().filter_map(|(h, id)| if let plan::Role::CloudMap { region } = &h.role { Some((region.clone(), id)) } else { None }).collect()
    }

    /// An API's regional endpoint.
    pub(crate) fn api_endpoint(&self, api: &str) -> Option<Endpoint> {
        self.hosts().find(|(h, _)| matches!(&h.role, plan::Role::ApiGateway { api: a } if a == api)).map(|(h, id)| self.endpoint(h, id))
    }

    /// The Region of an API's endpoint (its own, or its VPC link's).
    pub(crate) fn api_region(&self, api: &azsim_scenario::ApiGatewaySpec) -> Option<String> {
        api.region.clone().or_else(|| api.vpc_link.value.first().and_then(|az| self.plan.region_of(az)).map(str::to_string))
    }

    /// The ENIs of an API's VPC link.
    pub(crate) fn vpc_link(&self, api: &str) -> Vec<HostId> {
        self.hosts().filter(|(h, _)| matches!(&h.role, plan::Role::VpcLinkEni { api: a, .. } if a == api)).map(|(_, id)| id).collect()
    }

    /// Every NAT gateway host by (NAT, AZ).
    pub(crate) fn nats(&self) -> BTreeMap<(String, String), HostId> {
        self.hosts().filter_map(|(h, id)| if let plan::Role::Nat { nat, az } = &h.role { Some(((nat.clone(), az.clone()), id)) } else { None }).collect()
    }

    /// Route 53's checkers, in order.
    pub(crate) fn checkers(&self) -> Vec<HostId> {
        self.hosts().filter(|(h, _)| matches!(h.role, plan::Role::Route53Checker { .. })).map(|(_, id)| id).collect()
    }

    /// A CloudFront distribution's edge.
    pub(crate) fn edge(&self, distribution: &str) -> Option<Endpoint> {
        self.hosts().find(|(h, _)| matches!(&h.role, plan::Role::Edge { distribution: d } if d == distribution)).map(|(h, id)| self.endpoint(h, id))
    }

    /// ECS control planes by service.
    pub(crate) fn ecs_hosts(&self) -> BTreeMap<String, HostId> {
        self.hosts().filter_map(|(h, id)| if let plan::Role::EcsControl { service } = &h.role { Some((service.clone(), id)) } else { None }).collect()
    }

    /// The hosts a name covers in an allow-list or a fault scope: one host by its name, or
    /// every host of a group.
    pub(crate) fn named(&self, name: &str) -> Vec<HostId> {
        if let Some((_, id)) = self.hosts().find(|(h, _)| h.name == name) {
            return vec![id];
        }
        self.hosts().filter(|(h, _)| h.group == name).map(|(_, id)| id).collect()
    }

    /// Each host's role, as the record reads it.
    pub(crate) fn roles(&self, f: &ScenarioFile) -> BTreeMap<HostId, Role> {
        self.hosts().map(|(h, id)| (id, Role::of(&h.role, f))).collect()
    }
}
