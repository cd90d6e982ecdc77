//! `prices:`: what data transfer and NAT gateways cost.

use schemars::JsonSchema;
use serde::Deserialize;

use super::yes;

/// Prices in US dollars (defaults: AWS public pricing: data transfer
/// <https://aws.amazon.com/ec2/pricing/on-demand/>, NAT gateways <https://aws.amazon.com/vpc/pricing/>).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Per GB between AZs, charged at each end (default 0.01, so 0.02 per GB that crosses).
    #[serde(default = "Prices::default_cross_az")]
    pub cross_az_per_gb: f64,
    /// Per GB between Regions, charged to the sender (default 0.02).
    #[serde(default = "Prices::default_cross_region")]
    pub cross_region_per_gb: f64,
    /// Whether ALB-to-target traffic across AZs is free (default true: widely reported, not
    /// in AWS's pricing page).
    #[serde(default = "yes")]
    pub alb_to_target_free: bool,
    /// A NAT gateway's processing, per GB in either direction (default 0.045, us-east-1).
    #[serde(default = "Prices::default_nat")]
    pub nat_per_gb: f64,
    /// A NAT gateway's hour (default 0.045, us-east-1).
    #[serde(default = "Prices::default_nat")]
    pub nat_per_hour: f64,
}

impl Prices {
    fn default_nat() -> f64 {
        0.045
    }
    fn default_cross_az() -> f64 {
        0.01
    }
    fn default_cross_region() -> f64 {
        0.02
    }
}

impl Default for Prices {
    fn default() -> Self {
        Prices { cross_az_per_gb: 0.01, cross_region_per_gb: 0.02, alb_to_target_free: true, nat_per_gb: 0.045, nat_per_hour: 0.045 }
    }
}
