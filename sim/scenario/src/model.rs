//! The scenario file's types. Doc comments become the JSON Schema's descriptions (editor hover).
//!
//! Here: the file's top level ([`ScenarioFile`]), the sections a variant may change
//! ([`VariantSpec`]), the host names the simulator gives, and the loaded [`Scenario`]. Each
//! section's types are in `model/<section>.rs`, named after its top-level key (`nat.rs`:
//! `nat_gateways`), with its checks in `validate/<section>.rs`; a type that reads an "exactly
//! one of" key (see `one_of.rs`) has its raw twin and conversion beside it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::units::{DistSpec, Dur};

mod api_gateways;
mod clients;
mod cloud_map;
mod cloudfront;
mod expectations;
mod faults;
mod load_balancers;
mod nat;
mod network;
mod prices;
mod regions;
mod route53;
mod services;
mod tunnel;

pub use api_gateways::*;
pub use clients::*;
pub use cloud_map::*;
pub use cloudfront::*;
pub use expectations::*;
pub use faults::*;
pub use load_balancers::*;
pub use nat::*;
pub use network::*;
pub use prices::*;
pub use regions::*;
pub use route53::*;
pub use services::*;
pub use tunnel::*;

/// A name that refers to something defined elsewhere, with where it was written.
pub type Ref = Spanned<String>;

fn default_seed() -> u64 {
    1
}
fn default_drain() -> Dur {
    Dur(30_000_000_000)
}

/// A scenario: topology, workload, faults and expectations, plus variants of it.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The format version; must be 1.
    #[schemars(with = "u32")]
    pub version: Spanned<u32>,
    /// The scenario's name (used for report folders).
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The root seed of every random stream (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long clients send requests.
    pub duration: Dur,
    /// After `duration`, how long in-flight requests may still finish (default 30s).
    #[serde(default = "default_drain")]
    pub drain: Dur,
    /// Regions and their Availability Zones (by AZ ID, e.g. `use1-az1`).
    #[schemars(with = "BTreeMap<String, RegionSpec>")]
    pub regions: Spanned<BTreeMap<String, RegionSpec>>,
    /// Named distributions, referenced as `{ profile: name }`.
    #[serde(default)]
    pub profiles: BTreeMap<String, DistSpec>,
    /// One-way latency between hosts.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Compute services: instances in AZs that process requests and call each other.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    /// Load balancers (ALB, NLB) in front of services.
    #[serde(default)]
    pub load_balancers: BTreeMap<String, LoadBalancerSpec>,
    /// Client workloads.
    pub clients: BTreeMap<String, ClientSpec>,
    /// Faults on the timeline.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// What must hold after the run.
    #[serde(default)]
    pub expectations: Vec<ExpectationSpec>,
    /// What components and bytes cost, per Region (defaults: AWS's public prices, us-east-1).
    #[serde(default)]
    pub prices: Prices,
    /// Cloud Map's delays (eventual consistency).
    #[serde(default)]
    pub cloud_map: CloudMapSettingsSpec,
    /// An inverting-proxy tunnel: the real proxy and agent binaries' code, on simulated hosts.
    #[serde(default)]
    pub tunnel: Option<TunnelSpec>,
    /// API Gateway APIs (HTTP or REST) with private integrations through a VPC link.
    #[serde(default)]
    pub api_gateways: BTreeMap<String, ApiGatewaySpec>,
    /// Route 53: records, health checks and the checker fleet.
    #[serde(default)]
    pub route53: Option<Route53Spec>,
    /// CloudFront distributions (edge locations) in front of origins named by Route 53 records.
    #[serde(default)]
    pub cloudfront: BTreeMap<String, CloudFrontSpec>,
    /// NAT gateways: one per AZ with an Elastic IP, and which AZ's NAT each subnet's route
    /// table points at.
    #[serde(default)]
    pub nat_gateways: BTreeMap<String, NatSpec>,
    /// Variants of the baseline, each merged into it (see `VariantSpec`); the report compares
    /// them side by side.
    #[serde(default)]
    pub variants: BTreeMap<String, VariantSpec>,
}

impl ScenarioFile {
    /// Whether service `name` is a simulated service reached over TCP, so it takes connections:
    /// not an egress proxy, not Lambda-style (`cold_start`: invoked, not connected to), not the
    /// tunnel's real code (which takes requests as messages).
    pub fn serves_over_tcp(&self, name: &str) -> bool {
        let real_code = self.tunnel.iter().any(|t| t.proxies.value == name || t.backend.value == name);
        self.services.get(name).is_some_and(|svc| svc.egress.is_none() && svc.cold_start.is_none()) && !real_code
    }

    /// Why a client cannot keep connections to `target` (`None`: it can): load balancers, APIs,
    /// CloudFront distributions and services reached over TCP accept them.
    pub fn refuses_connections(&self, target: &str) -> Option<String> {
        if let Some(lb) = self.load_balancers.get(target) {
            // An NLB's nodes pass each connection on to a target, which must take it.
            return (lb.kind == LbKind::Nlb && !self.serves_over_tcp(&lb.targets.value)).then(|| {
                format!("NLB `{target}` routes connections to `{}`, which takes requests as messages (an egress proxy, a Lambda-style service or the tunnel's real code)", lb.targets.value)
            });
        }
        if self.api_gateways.contains_key(target) || self.cloudfront.contains_key(target) || self.serves_over_tcp(target) {
            return None;
        }
        Some(match self.services.contains_key(target) {
            true => format!("service `{target}` takes requests as messages (an egress proxy, a Lambda-style service or the tunnel's real code)"),
            false => format!(
                "client connections to `{target}` (a Route 53 name) are not modelled yet: pooled connections outliving a DNS change need a test of their own"
            ),
        })
    }
}

fn yes() -> bool {
    true
}

/// One section as a variant writes it: the part of the section's value it changes, merged
/// into the baseline's when the file is loaded (`variant.rs`). Here it is only checked to be
/// YAML; its schema is the section's with nothing required and `null` allowed.
pub struct Overlay<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Clone for Overlay<T> {
    fn clone(&self) -> Self {
        Overlay(std::marker::PhantomData)
    }
}
impl<T> Default for Overlay<T> {
    fn default() -> Self {
        Overlay(std::marker::PhantomData)
    }
}
impl<T> std::fmt::Debug for Overlay<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Overlay")
    }
}

impl<'de, T> Deserialize<'de> for Overlay<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Overlay(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Overlay<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Overlay_of_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let section = generator.subschema_for::<T>();
        let mut schema = schemars::Schema::default();
        schema.insert(crate::variant::partial::MARK.into(), section.to_value());
        schema
    }
}

/// A variant: what it changes in the baseline, merged into it. A map (a section such as
/// `services` or `network`, an entry such as `services.web`, a setting such as `health_check`)
/// merges key by key; a list (`faults`, `expectations`, an LB's `azs`) and a single value replace
/// the baseline's; `null` deletes a key (an entry, or a setting back to its default). Where
/// exactly one of several keys is given (a distribution's `fixed`/`lognormal`/..., a client's
/// `rate`/`concurrency`), the variant's key replaces the baseline's. `version`, `name`,
/// `regions` and `drain` are the baseline's. Anchors, aliases and merge keys
/// (`app: { <<: *app, rate: 9 }`) work here as anywhere; keys beside `<<` win.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// What the variant shows (replaces the baseline's).
    #[serde(default)]
    pub description: Overlay<String>,
    #[serde(default)]
    pub seed: Overlay<u64>,
    #[serde(default)]
    pub duration: Overlay<Dur>,
    #[serde(default)]
    pub profiles: Overlay<BTreeMap<String, DistSpec>>,
    #[serde(default)]
    pub network: Overlay<NetworkSpec>,
    #[serde(default)]
    pub services: Overlay<BTreeMap<String, ServiceSpec>>,
    #[serde(default)]
    pub load_balancers: Overlay<BTreeMap<String, LoadBalancerSpec>>,
    #[serde(default)]
    pub clients: Overlay<BTreeMap<String, ClientSpec>>,
    /// Replaces the baseline's faults (a list).
    #[serde(default)]
    pub faults: Overlay<Vec<FaultSpec>>,
    /// Replaces the baseline's expectations (a list).
    #[serde(default)]
    pub expectations: Overlay<Vec<ExpectationSpec>>,
    #[serde(default)]
    pub prices: Overlay<Prices>,
    #[serde(default)]
    pub cloud_map: Overlay<CloudMapSettingsSpec>,
    #[serde(default)]
    pub tunnel: Overlay<TunnelSpec>,
    #[serde(default)]
    pub api_gateways: Overlay<BTreeMap<String, ApiGatewaySpec>>,
    #[serde(default)]
    pub route53: Overlay<Route53Spec>,
    #[serde(default)]
    pub cloudfront: Overlay<BTreeMap<String, CloudFrontSpec>>,
    #[serde(default)]
    pub nat_gateways: Overlay<BTreeMap<String, NatSpec>>,
}

/// The host name of instance `n` of service `service` in `az` (`router-use1-az1-0`).
pub fn service_host(service: &str, az: &str, n: u32) -> String {
    format!("{service}-{az}-{n}")
}

/// The host name of a load balancer's node in `az` (`foo-alb-use1-az1`).
pub fn lb_node_host(lb: &str, az: &str) -> String {
    format!("{lb}-{az}")
}

/// The host name of client host `n` of `client` in `az` (`app-use1-az1-0`).
pub fn client_host(client: &str, az: &str, n: u32) -> String {
    format!("{client}-{az}-{n}")
}

/// A NAT gateway's host.
pub fn nat_host(name: &str, az: &str) -> String {
    format!("{name}-{az}")
}

/// A Route 53 checker's host, and a CloudFront distribution's edge host.
pub fn checker_host(n: u32) -> String {
    format!("route53-checker-{n}")
}
pub fn edge_host(name: &str) -> String {
    format!("{name}-edge")
}

/// The host of an API's gateway (`<api>-apigw`) and of its VPC link's ENI in `az`.
pub fn apigw_host(api: &str) -> String {
    format!("{api}-apigw")
}
pub fn vpclink_host(api: &str, az: &str) -> String {
    format!("{api}-vpclink-{az}")
}

/// The host name of tunnel agent `n` in `az`.
pub fn tunnel_agent_host(az: &str, n: u32) -> String {
    format!("tunnel-agent-{az}-{n}")
}

/// A loaded, validated scenario: the baseline and its variants, each fully resolved.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it came from.
    pub path: String,
    /// The baseline (its `variants` holds only the variants' names).
    pub file: ScenarioFile,
    /// Each variant: the baseline with the variant merged in, read and checked as a file.
    pub variants: BTreeMap<String, ScenarioFile>,
}

impl Scenario {
    /// A scenario of one file and no variants (for programs that build or change scenarios).
    pub fn of_file(path: String, mut file: ScenarioFile) -> Scenario {
        file.variants.clear();
        Scenario { path, file, variants: BTreeMap::new() }
    }
}
