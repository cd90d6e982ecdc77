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
