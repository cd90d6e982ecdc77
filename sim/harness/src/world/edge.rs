//! CloudFront distributions (with their WAF allow-list): an edge location each, connecting to
//! its origins with the distribution's origin settings (AWS's defaults unless set).

use azsim_fakes::defaults::cloudfront as aws;
use azsim_fakes::edge::{Edge, EdgeConfig};
use azsim_fakes::route53::Route53;
use azsim_kernel::Core;
use azsim_scenario::ScenarioFile;

use super::hosts::Placed;
use super::network::dist;

/// Puts each distribution's edge on its host; its origins are names in `zone`.
pub(super) fn add(f: &ScenarioFile, placed: &Placed<'_>, zone: Option<&Route53>, core: &mut Core) {
    for (name, cf) in &f.cloudfront {
        let zone = zone.cloned().expect("validated: CloudFront origins are Route 53 records");
        let config = EdgeConfig {
            zone,
            origin: cf.origin.clone(),
            secondary: cf.secondary_origin.clone().map(|o| (o, cf.failover_statuses.clone())),
            response_timeout: cf.response_timeout.map_or(aws::RESPONSE_TIMEOUT, |d| d.nanos()),
            connection_timeout: cf.connection_timeout.map_or(aws::CONNECTION_TIMEOUT, |d| d.nanos()),
            connection_attempts: cf.connection_attempts.unwrap_or(aws::CONNECTION_ATTEMPTS),
            keep_alive_timeout: cf.keep_alive_timeout.map_or(aws::KEEP_ALIVE_TIMEOUT, |d| d.nanos()),
            allow: cf.allow.iter().flat_map(|a| super::addresses(a, placed, core)).collect(),
            processing: dist(f, &cf.processing),
        };
        let edge = placed.edge(name).expect("the plan places every distribution");
        core.add_process(edge.host, Box::new(Edge::new(config)));
    }
}
