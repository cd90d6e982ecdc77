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

/// `dr-two-region`: the users give up after their own 15 s, before CloudFront's 30 s of
/// connection attempts end in a 504, so every failure is the users' timeout at exactly 15 s;
/// what CloudFront counted on its side (failed connection attempts) is kept apart. With the
/// origin group's defaults (10 s x 3 attempts) the same; with `connection_timeout: 3s` and
/// one attempt the secondary origin answers in time and nothing fails.
#[test]
fn failures_are_what_the_client_saw_not_what_a_component_logged() {
    let r = run("scenarios/reference/dr-two-region.yaml", "baseline");
    let users = &r.clients[0];
    assert_eq!(users.failures.len(), 1, "{:?}", users.failures);
    let f = &users.failures[0];
    assert_eq!((f.cause.as_str(), f.requests), ("timeout", users.requests.failed));
    assert_eq!((f.latency_us.p0, f.latency_us.max), (15_000_000.0, 15_000_000.0), "the users' own timeout");
    assert!(r.edges[0].connect_failures > 0, "CloudFront's side: its failed connection attempts");
    let defaults = run("scenarios/reference/dr-two-region.yaml", "origin-group-defaults");
    assert_eq!(defaults.clients[0].failures.iter().map(|f| f.cause.as_str()).collect::<Vec<_>>(), ["timeout"]);
    assert!(run("scenarios/reference/dr-two-region.yaml", "origin-group").clients[0].failures.is_empty());
}

/// The comparison a reader needs: failures, time to recover and broken expectations beside
/// latency and cost; the change in bytes names what it is measured against; a column with
/// nothing to say for any variant (no faults, no broken expectation) is left out.
#[test]
fn the_comparison_shows_failures_recovery_and_broken_expectations_and_leaves_out_empty_columns() {
    let (base, fixed) = (run("scenarios/reference/dr-two-region.yaml", "baseline"), run("scenarios/reference/dr-two-region.yaml", "checkers-cut-off"));
    let table = azsim::comparison_markdown(&[base.clone(), fixed.clone()]);
    let header = table.lines().find(|l| l.starts_with("| variant")).expect("a header");
    for column in ["failed or unanswered", "recovery (slowest fault: start to last failure)", "cross-AZ bytes/request vs baseline", "cost per million requests"]
    {
        assert!(header.contains(column), "{column} in {header}");
    }
    assert!(!header.contains("failed expectations"), "every expectation held: {header}");
    let row = table.lines().find(|l| l.starts_with("| baseline")).expect("baseline's row");
    assert!(row.contains(&format!("| {} |", base.requests.failed + base.requests.unknown)) && row.contains("| 50.127 s |"), "{row}");
    assert!(table.lines().any(|l| l.starts_with("| checkers-cut-off") && l.contains("| no failures |")));

    let mut broken = fixed.clone();
    broken.passed = false;
    broken.expectations[0].passed = false;
    let table = azsim::comparison_markdown(&[broken.clone()]);
    assert!(table.contains("failed expectations") && table.contains(&broken.expectations[0].name), "{table}");
    let quiet = run("scenarios/reference/az-affinity.yaml", "baseline");
    let header = azsim::comparison_markdown(&[quiet]).lines().find(|l| l.starts_with("| variant")).unwrap().to_string();
    assert!(!header.contains("recovery") && !header.contains("failed"), "no faults and no failures: {header}");
}

/// A late recovery is explained: the report lists what happened between a fault and its last
/// failure. After us-east-1 is lost, Route 53's checkers turn `east` unhealthy, the name
/// servers publish it, and failures end after that; after a task crashes, ECS stops it and
/// Cloud Map stops returning it before its clients' last failure.
#[test]
fn a_late_recovery_says_what_it_waited_for() {
    let r = run("scenarios/reference/dr-two-region.yaml", "baseline");
    let chain: Vec<&str> = r.faults[0].recovery_chain.iter().map(|e| e.what.as_str()).collect();
    let at = |what: &str| chain.iter().position(|w| w.starts_with(what)).unwrap_or_else(|| panic!("{what} in {chain:?}"));
    assert!(at("region_outage us-east-1 began") < at("Route 53: check `east` turned unhealthy"));
    assert!(at("Route 53: check `east` turned unhealthy") < at("Route 53: name servers answer as `east` is unhealthy"));
    let last = at("the last failed request began");
    assert!(chain.len() - last <= 2, "at most the event that ended the failures follows: {chain:?}");
    let times: Vec<f64> = r.faults[0].recovery_chain.iter().map(|e| e.after_s).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order: {times:?}");
    assert_eq!(Some(times[last]), r.faults[0].last_failure_after_s);

    let r = run("scenarios/reference/cloudmap-discovery.yaml", "baseline");
    let f = &r.faults[0];
    let stale = f.recovery_chain.iter().find(|e| e.what.starts_with("Cloud Map")).expect("Cloud Map's last answer");
    assert_eq!(Some(stale.after_s), f.discovery_stale_s);
    assert!(f.recovery_chain.iter().any(|e| e.what.contains("stopped")), "{:?}", f.recovery_chain);
}
