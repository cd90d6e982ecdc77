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
    /// CloudFront's origin response (read) timeout: how long it waits for an answer once the
    /// request is sent on an open connection (default 30s). For `GET` and `HEAD` a timed-out
    /// answer is tried again, within `connection_attempts`.
    #[serde(default)]
    pub response_timeout: Option<Dur>,
    /// How long one attempt to connect to the origin may take, in whole seconds from 1s to 10s
    /// (AWS's default 10s): the edge retransmits an unanswered SYN at 1, 3 and 7 s meanwhile.
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html>
    #[serde(default)]
    pub connection_timeout: Option<Dur>,
    /// How many times the edge tries an origin (to connect, or for `GET` and `HEAD` to get an
    /// answer) before it fails over to `secondary_origin` or answers 504 (502 if refused): 1 to
    /// 3 (AWS's default 3). An unreachable origin costs `connection_attempts` x
    /// `connection_timeout`, 30 s by default.
    #[serde(default)]
    pub connection_attempts: Option<u32>,
    /// How long the edge keeps an idle connection to an origin, in whole seconds from 1s to 60s
    /// (AWS's default 5s); the next request after it pays a new handshake.
    #[serde(default)]
    pub keep_alive_timeout: Option<Dur>,
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
}
