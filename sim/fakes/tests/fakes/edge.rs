//! CloudFront and WAF conformance: one case per behaviour `edge.rs` documents.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azsim_fakes::edge::{Edge, EdgeConfig};
use azsim_fakes::route53::{Policy, RecordSet, RecordTarget, Route53};
use azsim_fakes::rules::Conditions;
use azsim_fakes::*;
use azsim_kernel::{Dist, Fault, Outcome, Seed};

use crate::{MS, api_config, world};

/// How the primary origin behaves.
#[derive(Clone, Copy)]
enum Primary {
    Answers(u16),
    Hangs,
    Crashed,
}

struct Case {
    primary: Primary,
    /// An origin group with the secondary origin (which answers 200).
    group: bool,
    /// The WAF allows only this CIDR.
    allow: Option<&'static str>,
    /// The origin's name does not exist.
    nxdomain: bool,
}

fn run(case: Case) -> (Outcome, azsim_fakes::edge::EdgeCounts) {
    let mut w = world(0, &[("client", 0), ("edge", 0), ("primary", 1), ("secondary", 2)]);
    let (client, edge, primary, secondary) = (w.host("client"), w.host("edge"), w.host("primary"), w.host("secondary"));
    let at = |h| w.sim.with_core(|c| Endpoint { host: h, az: c.topology().host(h).az });
    let simple = |e: Endpoint| RecordSet { ttl: 60_000 * MS, policy: Policy::Simple(RecordTarget { endpoints: vec![e], health_check: None, alias: None }) };
    let records = BTreeMap::from([("primary.example".to_string(), simple(at(primary))), ("secondary.example".to_string(), simple(at(secondary)))]);
    let zone = Route53::new(records, BTreeMap::new(), 1, Dist::Fixed(0), Seed(1).stream("r53"));
    let config = EdgeConfig {
        zone,
        origin: if case.nxdomain { "missing.example".into() } else { "primary.example".into() },
        secondary: case.group.then(|| ("secondary.example".to_string(), vec![500, 502, 503, 504])),
        response_timeout: 1_000 * MS,
        allow: case.allow.map(|c| vec![azsim_scenario_cidr(c)]).unwrap_or_default(),
        processing: Dist::Fixed(0),
    };
    let answering = |status: u16| {
        let mut cfg = api_config(Dist::Fixed(MS), None, 100);
        cfg.routes = vec![CannedRoute { conditions: Conditions::default(), status, bytes: 100 }];
        ServiceInstance::new(Arc::new(cfg))
    };
    w.sim.with_core(|c| {
        c.add_process(edge, Box::new(Edge::new(config)));
        c.add_process(secondary, Box::new(answering(200)));
        match case.primary {
            Primary::Answers(s) => c.add_process(primary, Box::new(answering(s))),
            Primary::Hangs => c.add_process(primary, Box::new(ServiceInstance::new(Arc::new(api_config(Dist::Fixed(60_000 * MS), None, 100))))),
            Primary::Crashed => {
                c.add_process(primary, Box::new(answering(200)));
                c.schedule_fault(0, None, Fault::HostCrash(primary));
            }
        }
    });
    let edge_at = at(edge);
    w.client("client", Destination::Service(Picker::new(PickPolicy::Any, vec![edge_at])), Pacing::Closed { concurrency: 1 }, 1);
    let _ = client;
    w.sim.run_until(Duration::from_secs(10));
    let outcome = w.results()[0].1.clone();
    let counts = w.sim.with_core(|c| c.process(edge).unwrap().as_any().downcast_ref::<Edge>().unwrap().counts.clone());
    (outcome, counts)
}

fn azsim_scenario_cidr(text: &str) -> (std::net::Ipv4Addr, u8) {
    let (ip, prefix) = text.split_once('/').unwrap();
    (ip.parse().unwrap(), prefix.parse().unwrap())
}

fn status(code: u16) -> Outcome {
    if code < 400 { Outcome::Ok } else { Outcome::Failed(azsim_kernel::Failure::Status(code)) }
}

#[test]
fn cloudfront_conformance() {
    let base = || Case { primary: Primary::Answers(200), group: false, allow: None, nxdomain: false };
    let cases: Vec<(&str, Case, Outcome)> = vec![
        ("the origin named by DNS answers", base(), status(200)),
        ("the origin's error passes through without a group", Case { primary: Primary::Answers(503), ..base() }, status(503)),
        ("no answer within the response timeout: 504", Case { primary: Primary::Hangs, ..base() }, status(504)),
        ("a refused connection: 502", Case { primary: Primary::Crashed, ..base() }, status(502)),
        ("an origin name that does not resolve: 502", Case { nxdomain: true, ..base() }, status(502)),
        ("an origin group sends a failover status to the secondary", Case { primary: Primary::Answers(503), group: true, ..base() }, status(200)),
        ("and a timeout", Case { primary: Primary::Hangs, group: true, ..base() }, status(200)),
        ("and a refusal", Case { primary: Primary::Crashed, group: true, ..base() }, status(200)),
        // A lost Region's alias answers no address: CloudFront cannot connect to the primary, so
        // it fails over (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html).
        ("and a primary whose name resolves to nothing", Case { nxdomain: true, group: true, ..base() }, status(200)),
        ("a status outside the list is the client's", Case { primary: Primary::Answers(404), group: true, ..base() }, status(404)),
        ("WAF: a client outside the allow-list gets 403", Case { allow: Some("192.168.0.0/16"), ..base() }, status(403)),
        ("WAF: one inside passes", Case { allow: Some("10.0.0.0/8"), ..base() }, status(200)),
    ];
    for (rule, case, want) in cases {
        let (got, _) = run(case);
        assert_eq!(got, want, "{rule}");
    }
    let (_, counts) = run(Case { primary: Primary::Hangs, group: true, ..base() });
    assert_eq!((counts.timeouts, counts.failed_over), (1, 1), "counted");
    let (_, counts) = run(Case { nxdomain: true, group: true, ..base() });
    assert_eq!((counts.no_origin, counts.failed_over), (1, 1), "a name with no address is counted, and failed over");
}
