//! `cloudfront:`: CloudFront distributions at the edge, in front of Route 53 names.

use schemars::JsonSchema;
use serde::Deserialize;

use super::Ref;
use crate::units::{DistSpec, Dur};

/// A CloudFront distribution, served from one edge location.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudFrontSpec {
    /// The edge location's AZ (of a Region standing for AWS's edge).
    #[schemars(with = "String")]
    pub az: Ref,
    /// The origin's DNS name (a Route 53 record).
    pub origin: String,
    /// An origin group's secondary origin (a Route 53 record).
    #[serde(default)]
    pub secondary_origin: Option<String>,
    /// Statuses from the primary that send a request to the secondary (timeouts and refusals
    /// always do). Default 500, 502, 503, 504.
    #[serde(default = "CloudFrontSpec::default_failover_statuses")]
    pub failover_statuses: Vec<u16>,
    /// CloudFront's origin response timeout (default 30s).
    #[serde(default = "CloudFrontSpec::default_timeout")]
    pub response_timeout: Dur,
    /// WAF: only clients from these CIDR blocks or clients (others get 403).
    #[serde(default)]
    pub allow: Vec<String>,
    /// The edge's own time per request (default 0).
    #[serde(default)]
    pub processing: DistSpec,
}

impl CloudFrontSpec {
    fn default_failover_statuses() -> Vec<u16> {
        vec![500, 502, 503, 504]
    }
    fn default_timeout() -> Dur {
        Dur(30_000_000_000)
    }
}
