//! The story scenarios' hand-computed figures, checked against what the run carried.

use azsim::{RunOptions, RunRecord, run_variant};

use crate::root;

fn run(file: &str, variant: &str) -> RunRecord {
    let s = azsim_scenario::load(root().join(file).to_str().unwrap()).unwrap();
    run_variant(&s, variant, &RunOptions::default()).unwrap()
}

/// `vpc-link-nlb-stalls`: every failed request is one connection through the node without a
/// target, whose SYN the link's kernel sent 5 times (at 0, 1, 3, 7 and 15 s) before API
/// Gateway gave up at 29 s with 504; the fixes leave no SYN unanswered.
#[test]
fn vpc_link_stalls_are_syn_retransmissions_until_the_integration_timeout() {
    let r = run("scenarios/stories/vpc-link-nlb-stalls.yaml", "baseline");
    let failed = r.requests.failed;
    assert!(failed > 0);
    let link = r.connections.iter().find(|c| c.caller == "orders-api VPC link").expect("the link's connections");
    assert_eq!(link.opened, r.requests.sent, "one connection per request");
    assert_eq!(link.connect_timeouts, failed);
    assert_eq!(link.syn_retransmits, 4 * failed, "retransmissions at 1, 3, 7 and 15 s");
    let flows = r.nlb_flows.iter().find(|f| f.load_balancer == "orders-nlb").expect("the NLB's flows");
    assert_eq!(flows.syns_dropped, 5 * failed);
    assert_eq!(flows.flows, r.requests.ok);
    let api = &r.api_gateways[0];
    assert_eq!(api.statuses, vec![(200, r.requests.ok), (504, failed)]);
    // A third of requests, within three standard deviations of a binomial.
    let (n, share) = (r.requests.sent as f64, failed as f64 / r.requests.sent as f64);
    assert!((share - 1.0 / 3.0).abs() < 3.0 * (2.0 / 9.0 / n).sqrt(), "failed share {share}");

    for fix in ["cross-zone", "targets-everywhere", "two-azs"] {
        let r = run("scenarios/stories/vpc-link-nlb-stalls.yaml", fix);
        assert_eq!(r.requests.failed, 0, "{fix}");
        let link = r.connections.iter().find(|c| c.caller == "orders-api VPC link").expect("the link's connections");
        assert_eq!((link.syn_retransmits, link.connect_timeouts), (0, 0), "{fix}");
    }
}

/// `nlb-long-lived`: the baseline's clients never open a connection after the first
/// milliseconds, so the 3 tasks started by the scale-out serve nothing; with `recycle` all 9
/// serve, each at 50 requests/s from when it is healthy.
#[test]
fn nlb_long_lived_connections_pin_the_first_tasks_until_they_recycle() {
    let file = "scenarios/stories/nlb-long-lived.yaml";
    let r = run(file, "baseline");
    let api = &r.services[0];
    assert_eq!(api.served_by_host.len(), 3, "{:?}", api.served_by_host);
    let client = r.connections.iter().find(|c| c.caller == "client app").expect("the client's connections");
    assert_eq!(client.opened, 24, "6 hosts x 4 in flight");
    assert_eq!(client.recycled, 0);
    let r = run(file, "recycle");
    let api = &r.services[0];
    assert_eq!(api.served_by_host.len(), 9, "{:?}", api.served_by_host);
    let client = r.connections.iter().find(|c| c.caller == "client app").expect("the client's connections");
    // Every connection closes after 100 requests: opened = recycled + those still open (24).
    assert_eq!(client.opened, client.recycled + 24);
    assert_eq!(client.opened + client.reused, r.requests.sent);
}
