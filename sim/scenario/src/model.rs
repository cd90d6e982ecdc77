//! The scenario file's types. Doc comments become the JSON Schema's descriptions (editor hover).
//!
//! Here: the file's top level ([`ScenarioFile`]), the sections a variant may override
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
    /// Variants of the baseline; the report compares them side by side.
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

/// Declares [`VariantSpec`] and how it applies to a [`ScenarioFile`], from one list of the
/// sections a variant may override, so that the two cannot drift apart (and the test in
/// `variant.rs` fails if a section of the file is neither here nor on its list of fixed ones).
/// Each section is `merge` (a map: entry by entry), `replace` (an `Option` of the file's type),
/// `replace_option` (the file's field is itself an `Option`) or `text` (replaces if not empty).
macro_rules! variant_sections {
    ($($kind:ident $field:ident: $ty:ty,)*) => {
        /// A variant: overrides applied to the baseline. Maps (`profiles`, `services`,
        /// `load_balancers`, `clients`, ...) merge entry by entry; other sections replace the
        /// baseline's.
        #[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct VariantSpec {
            $(
                #[serde(default)]
                pub $field: $ty,
            )*
        }

        impl VariantSpec {
            /// Overrides `file`'s sections with the variant's.
            pub(crate) fn apply_to(&self, file: &mut ScenarioFile) {
                $( variant_sections!(@apply $kind file.$field, self.$field); )*
            }
        }
    };
    (@apply merge $file:expr, $variant:expr) => {
        $file.extend($variant.clone())
    };
    (@apply replace $file:expr, $variant:expr) => {
        if let Some(x) = &$variant {
            $file = x.clone();
        }
    };
    (@apply replace_option $file:expr, $variant:expr) => {
        if let Some(x) = &$variant {
            $file = Some(x.clone());
        }
    };
    (@apply text $file:expr, $variant:expr) => {
        if !$variant.is_empty() {
            $file = $variant.clone();
        }
    };
}

variant_sections! {
    text description: String,
    replace seed: Option<u64>,
    replace duration: Option<Dur>,
    merge profiles: BTreeMap<String, DistSpec>,
    replace network: Option<NetworkSpec>,
    merge services: BTreeMap<String, ServiceSpec>,
    merge load_balancers: BTreeMap<String, LoadBalancerSpec>,
    merge clients: BTreeMap<String, ClientSpec>,
    replace faults: Option<Vec<FaultSpec>>,
    replace expectations: Option<Vec<ExpectationSpec>>,
    replace prices: Option<Prices>,
    replace cloud_map: Option<CloudMapSettingsSpec>,
    replace_option tunnel: Option<TunnelSpec>,
    merge api_gateways: BTreeMap<String, ApiGatewaySpec>,
    replace_option route53: Option<Route53Spec>,
    merge cloudfront: BTreeMap<String, CloudFrontSpec>,
    merge nat_gateways: BTreeMap<String, NatSpec>,
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
    pub file: ScenarioFile,
}
