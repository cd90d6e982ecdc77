//! Behaviours of the fakes that only a whole scenario shows (the world builder chooses a
//! default from the topology), each against the AWS page it follows.

use azsim::{RunOptions, run_variant};
use azsim_scenario::{Source, load_str};

/// Behind an NLB, a target sees the client's address only where AWS preserves it: on for
/// instance targets, off for IP targets such as an ECS service's tasks
/// (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html#client-ip-preservation).
/// The target admits only the client `c`: ok when it sees the client, 403 when it sees the node.
#[test]
fn an_nlb_preserves_the_clients_address_for_instance_targets_and_not_for_ecs_tasks() {
    let run_with = |ecs: &str, preserve: &str| {
        let text = format!(
            "version: 1
name: client-ip
duration: 5s
regions:
  us-east-1: {{ azs: [use1-az1, use1-az2] }}
services:
  web:
    instances: {{ use1-az1: 1 }}
    allow_sources: [c]
{ecs}load_balancers:
  nlb: {{ kind: nlb, azs: [use1-az1], targets: web{preserve} }}
clients:
  c: {{ azs: {{ use1-az1: 1 }}, target: nlb, rate: 10 }}
"
        );
        let s = load_str(Source { name: "client-ip.yaml".into(), text }).unwrap_or_else(|e| panic!("{e}"));
        let r = run_variant(&s, "baseline", &RunOptions::default()).unwrap();
        assert!(r.requests.sent > 0);
        (r.requests.ok == r.requests.sent, r.requests.failed == r.requests.sent)
    };
    let ecs = "    ecs: { launch_time: { fixed: 30s }, startup: { fixed: 5s } }\n";
    assert_eq!(run_with("", ""), (true, false), "instance targets see the client: admitted");
    assert_eq!(run_with(ecs, ""), (false, true), "an ECS service's tasks (IP targets) see the node: refused");
    assert_eq!(run_with(ecs, ", preserve_client_ip: true"), (true, false), "unless preservation is turned on");
    assert_eq!(run_with("", ", preserve_client_ip: false"), (false, true), "or off for instance targets");
}

/// The per-hop table counts a hop as crossing AZs by the rule the per-request crossings use: an
/// API's regional endpoint is in no AZ, so hops to and from it cross none, while the VPC link's
/// ENIs and the ALB's nodes are in AZs and their hops do. The sum over the table agrees with the
/// requests' own crossing counts.
#[test]
fn the_hop_table_and_the_requests_count_az_crossings_by_one_rule() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let s = azsim_scenario::load(root.join("scenarios/reference/http-api-private.yaml").to_str().unwrap()).unwrap();
    let r = run_variant(&s, "baseline", &RunOptions::default()).unwrap();
    let share = |from: &str, to: &str| r.hops.iter().find(|h| h.from == from && h.to == to).map(|h| h.cross_az_share);
    assert_eq!(share("shop", "orders-api"), Some(0.0), "client -> the API's regional endpoint");
    assert_eq!(share("orders-api", "orders-api-vpclink"), Some(0.0), "endpoint -> VPC link ENI");
    assert!(share("orders-api-vpclink", "orders-alb").is_some_and(|s| s > 0.5), "ENI -> ALB node crosses AZs two times in three");
    let by_hops: f64 = r.hops.iter().map(|h| h.cross_az_share * h.hops as f64).sum();
    let by_requests = r.crossings.az.mean * r.requests.sent as f64;
    assert!((by_hops - by_requests).abs() / by_requests < 0.01, "hops {by_hops} vs requests {by_requests}");
}
