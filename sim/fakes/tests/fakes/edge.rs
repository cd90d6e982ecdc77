//! CloudFront and WAF conformance: one case per behaviour `edge.rs` documents, and the edge's
//! connections to its origins, timed exactly.
//!
//! The world: the client and the edge in az1 (one-way latency C = 100 us between them), the
//! primary origin in az2 and the secondary in az3 (one-way O = 1 ms from the edge); an origin
//! that answers takes P = 1 ms. A request on a new connection costs C (client to edge), a
//! handshake (2 O), the request and its answer (2 O + P), and C back: 2 C + 4 O + P = 5.2 ms;
//! on a kept connection 2 C + 2 O + P = 3.2 ms.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azsim_fakes::edge::{Edge, EdgeConfig, EdgeCounts};
use azsim_fakes::route53::{Policy, RecordSet, RecordTarget, Route53};
use azsim_fakes::rules::Conditions;
use azsim_fakes::*;
use azsim_kernel::{Dist, Failure, Fault, Outcome, Scope, Seed};

use crate::{MS, World, api_config, client_config, world};

const C: u64 = 100_000;
const O: u64 = MS;
const P: u64 = MS;
const NEW: u64 = 2 * C + 4 * O + P;
const KEPT: u64 = 2 * C + 2 * O + P;
const S: u64 = 1_000 * MS;

/// How the primary origin behaves.
#[derive(Clone, Copy)]
enum Primary {
    Answers(u16),
    /// Answers 200 after this long.
    Slow(u64),
    Hangs,
    Crashed,
    PoweredOff,
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

fn base() -> Case {
    Case { primary: Primary::Answers(200), group: false, allow: None, nxdomain: false }
}

/// The edge with AWS's origin settings and a 1 s response timeout; `tweak` changes them.
fn setup(case: &Case, tweak: impl FnOnce(&mut EdgeConfig)) -> World {
    let w = world(0, &[("client", 0), ("edge", 0), ("primary", 1), ("secondary", 2)]);
    let (edge, primary, secondary) = (w.host("edge"), w.host("primary"), w.host("secondary"));
    let at = |h| w.sim.with_core(|c| Endpoint { host: h, az: c.topology().host(h).az });
    let simple = |e: Endpoint| RecordSet { ttl: 60_000 * MS, policy: Policy::Simple(RecordTarget { endpoints: vec![e], health_check: None, alias: None }) };
    let records = BTreeMap::from([("primary.example".to_string(), simple(at(primary))), ("secondary.example".to_string(), simple(at(secondary)))]);
    let zone = Route53::new(records, BTreeMap::new(), 1, Dist::Fixed(0), Seed(1).stream("r53"));
    let mut config = EdgeConfig {
        zone,
        origin: if case.nxdomain { "missing.example".into() } else { "primary.example".into() },
        secondary: case.group.then(|| ("secondary.example".to_string(), vec![500, 502, 503, 504])),
        response_timeout: S,
        connection_timeout: defaults::cloudfront::CONNECTION_TIMEOUT,
        connection_attempts: defaults::cloudfront::CONNECTION_ATTEMPTS,
        keep_alive_timeout: defaults::cloudfront::KEEP_ALIVE_TIMEOUT,
        allow: case.allow.map(|c| vec![cidr(c)]).unwrap_or_default(),
        processing: Dist::Fixed(0),
    };
    tweak(&mut config);
    let answering = |status: u16, processing: u64| {
        let mut cfg = api_config(Dist::Fixed(processing), None, 100);
        cfg.routes = vec![CannedRoute { conditions: Conditions::default(), status, bytes: 100 }];
        ServiceInstance::new(Arc::new(cfg))
    };
    w.sim.with_core(|c| {
        c.add_process(edge, Box::new(Edge::new(config)));
        c.add_process(secondary, Box::new(answering(200, P)));
        match case.primary {
            Primary::Answers(s) => c.add_process(primary, Box::new(answering(s, P))),
            Primary::Slow(t) => c.add_process(primary, Box::new(answering(200, t))),
            Primary::Hangs => c.add_process(primary, Box::new(answering(200, 600 * S))),
            Primary::Crashed => {
                c.add_process(primary, Box::new(answering(200, P)));
                c.schedule_fault(0, None, Fault::HostCrash(primary));
            }
            Primary::PoweredOff => {
                c.add_process(primary, Box::new(answering(200, P)));
                c.schedule_fault(0, None, Fault::HostPowerOff(primary));
            }
        }
    });
    w
}

/// A client of the edge sending `requests` requests of `method /`, `gap` apart from 0, with a
/// timeout longer than anything here.
fn client(w: &World, method: &str, gap: u64, requests: u64) {
    let edge = w.host("edge");
    let to_edge = Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: edge, az: w.azs[0] }]));
    let mut cfg = client_config(to_edge, Pacing::Open { rate: 1e9 / gap as f64, poisson: false }, requests);
    cfg.timeout = 600 * S;
    cfg.mix = vec![(1, Arc::new(HttpRequest { method: method.into(), ..HttpRequest::default() }))];
    let h = w.host("client");
    w.sim.with_core(|c| c.add_process(h, Box::new(Client::new(cfg))));
}

/// Runs to `until`: each request's latency and outcome, the edge's counts and connections.
fn run(mut w: World, until: u64) -> (Vec<(Option<u64>, Outcome)>, EdgeCounts, ConnStats) {
    w.sim.run_until(Duration::from_nanos(until));
    let edge = w.host("edge");
    let (counts, conns) = w.sim.with_core(|c| {
        let e = c.process(edge).unwrap().as_any().downcast_ref::<Edge>().unwrap();
        (e.counts.clone(), e.conn_stats())
    });
    (w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect(), counts, conns)
}

/// One `GET` through the edge for `case`.
fn one(case: Case, tweak: impl FnOnce(&mut EdgeConfig)) -> (Vec<(Option<u64>, Outcome)>, EdgeCounts, ConnStats) {
    let w = setup(&case, tweak);
    client(&w, "GET", S, 1);
    run(w, 100 * S)
}

fn cidr(text: &str) -> (std::net::Ipv4Addr, u8) {
    let (ip, prefix) = text.split_once('/').unwrap();
    (ip.parse().unwrap(), prefix.parse().unwrap())
}

fn status(code: u16) -> Outcome {
    if code < 400 { Outcome::Ok } else { Outcome::Failed(Failure::Status(code)) }
}

#[test]
fn cloudfront_conformance() {
    let cases: Vec<(&str, Case, Outcome)> = vec![
        ("the origin named by DNS answers", base(), status(200)),
        ("the origin's error passes through without a group", Case { primary: Primary::Answers(503), ..base() }, status(503)),
        ("no answer within the response timeout (each attempt): 504", Case { primary: Primary::Hangs, ..base() }, status(504)),
        ("a refused connection (each attempt): 502", Case { primary: Primary::Crashed, ..base() }, status(502)),
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
        let (got, _, _) = one(case, |_| {});
        assert_eq!(got[0].1, want, "{rule}");
    }
    let (_, counts, _) = one(Case { primary: Primary::Hangs, group: true, ..base() }, |_| {});
    assert_eq!((counts.timeouts, counts.retries, counts.failed_over), (3, 2, 1), "three timed-out attempts, then the secondary");
    let (_, counts, conns) = one(Case { primary: Primary::Crashed, group: true, ..base() }, |_| {});
    assert_eq!((counts.connect_failures, counts.failed_over, conns.reset), (3, 1, 3), "three refused attempts, then the secondary");
    let (_, counts, _) = one(Case { nxdomain: true, group: true, ..base() }, |_| {});
    assert_eq!((counts.no_origin, counts.failed_over), (1, 1), "a name with no address is counted, and failed over");
}

/// "By default, CloudFront waits as long as 30 seconds (3 attempts of 10 seconds each) before
/// attempting to connect to the secondary origin or returning an error response"
/// (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html>).
/// A powered-off primary answers no SYN: the edge's kernel sends it again at 1, 3 and 7 s of
/// each attempt (3 retransmissions), and the attempt is given up at 10 s. Without a group the
/// viewer gets 504 at 2 C + 30 s; with one, the secondary answers on a new connection, at
/// 30 s + NEW.
#[test]
fn an_unreachable_origin_costs_3_attempts_of_10_s_then_504_or_the_secondary() {
    let (results, counts, conns) = one(Case { primary: Primary::PoweredOff, ..base() }, |_| {});
    assert_eq!(results, vec![(Some(2 * C + 30 * S), status(504))]);
    assert_eq!((counts.connect_failures, counts.retries, counts.failed_over), (3, 2, 0));
    assert_eq!((conns.opened, conns.syn_retransmits, conns.connect_timeouts), (3, 9, 3));

    let (results, counts, _) = one(Case { primary: Primary::PoweredOff, group: true, ..base() }, |_| {});
    assert_eq!(results, vec![(Some(30 * S + NEW), status(200))]);
    assert_eq!((counts.connect_failures, counts.failed_over), (3, 1));
}

/// Fewer attempts, a shorter timeout, or both, shorten the wait to attempts x timeout; the SYN
/// is retransmitted at 1, 3 and 7 s only while the attempt lasts.
#[test]
fn fewer_attempts_or_a_shorter_connection_timeout_shorten_the_wait() {
    // (attempts, connection timeout, retransmissions per attempt)
    let cases = [(1, 10 * S, 3), (2, 10 * S, 3), (3, 5 * S, 2), (3, 2 * S, 1), (1, S, 0)];
    for (attempts, timeout, retransmits) in cases {
        let (results, counts, conns) = one(Case { primary: Primary::PoweredOff, ..base() }, |c| {
            c.connection_attempts = attempts;
            c.connection_timeout = timeout;
        });
        let wait = u64::from(attempts) * timeout;
        assert_eq!(results, vec![(Some(2 * C + wait), status(504))], "{attempts} x {timeout} ns");
        assert_eq!((counts.connect_failures, conns.syn_retransmits), (u64::from(attempts), u64::from(attempts) * retransmits), "{attempts} x {timeout} ns");
        let (results, _, _) = one(Case { primary: Primary::PoweredOff, group: true, ..base() }, |c| {
            c.connection_attempts = attempts;
            c.connection_timeout = timeout;
        });
        assert_eq!(results, vec![(Some(wait + NEW), status(200))], "{attempts} x {timeout} ns, failing over");
    }
}

/// The edge keeps a connection idle for the keep-alive timeout (5 s) after the answer reaches
/// it (at NEW - C after the request left the client). A request within it pays no handshake;
/// one after it finds the connection closed and pays one. A longer keep-alive keeps it.
#[test]
fn a_kept_connection_pays_no_handshake_and_one_idle_past_the_keep_alive_is_closed() {
    // (gap between requests, keep-alive, latencies, connections opened, closed idle by the edge)
    let cases = [
        (S, 5 * S, [NEW, KEPT, KEPT], 1, 0),
        (4_900 * MS, 5 * S, [NEW, KEPT, KEPT], 1, 0),
        (5_100 * MS, 5 * S, [NEW, NEW, NEW], 3, 2),
        (5_100 * MS, 10 * S, [NEW, KEPT, KEPT], 1, 0),
    ];
    for (gap, keep_alive, latencies, opened, closed) in cases {
        let w = setup(&base(), |c| c.keep_alive_timeout = keep_alive);
        client(&w, "GET", gap, 3);
        // Until just after the third answer: its connection is not yet idle for long.
        let (results, _, conns) = run(w, 2 * gap + 100 * MS);
        let want: Vec<(Option<u64>, Outcome)> = latencies.iter().map(|l| (Some(*l), Outcome::Ok)).collect();
        assert_eq!(results, want, "{gap} ns apart, keep-alive {keep_alive} ns");
        assert_eq!((conns.opened, conns.reused, conns.closed_idle_by_caller), (opened, 3 - opened, closed), "{gap} ns apart, keep-alive {keep_alive} ns");
    }
}

/// "How long (in seconds) CloudFront waits for a response after forwarding a request to the
/// origin": the response timeout starts once the connection is open. The edge's first SYN is
/// lost to a partition that heals at 0.5 s; the retransmission at 1 s + C connects at
/// 1 s + C + 2 O. An origin taking 800 ms answers within the 1 s response timeout counted from
/// there (latency 1 s + NEW - P + 800 ms), though 1.8 s after the first SYN. One taking 1.2 s
/// never does: a `GET` is tried again on a new connection after each timeout, 3 attempts
/// (504 at 1 s + C + 3 x (2 O + 1 s) + C); a `POST` is not tried again (504 after the first).
#[test]
fn the_response_timeout_starts_once_connected_and_a_get_is_tried_again() {
    let cut = |w: &World| {
        let (edge, primary) = (w.host("edge"), w.host("primary"));
        let partition = Fault::Partition { from: Scope::Host(edge), to: Scope::Host(primary), both_ways: true };
        w.sim.with_core(|c| c.schedule_fault(0, Some(500 * MS), partition));
    };
    let cases = [
        ("GET", 800 * MS, Some(S + NEW - P + 800 * MS), status(200), 0),
        ("GET", 1_200 * MS, Some(S + 2 * C + 3 * (2 * O + S)), status(504), 3),
        ("POST", 1_200 * MS, Some(S + 2 * C + 2 * O + S), status(504), 1),
    ];
    for (method, processing, latency, outcome, timeouts) in cases {
        let w = setup(&Case { primary: Primary::Slow(processing), ..base() }, |_| {});
        cut(&w);
        client(&w, method, S, 1);
        let (results, counts, _) = run(w, 100 * S);
        assert_eq!(results, vec![(latency, outcome)], "{method}, origin takes {processing} ns");
        assert_eq!(counts.timeouts, timeouts, "{method}, origin takes {processing} ns");
    }
}

/// An ALB as the origin: its node accepts the edge's connections without state of its own
/// (`conn.rs::accept_stateless`) and keeps its own to the target (in the node's AZ, one-way C).
/// The first request pays both handshakes: 2 C + 4 O + 4 C + P = 5.6 ms; the next, 1 s later,
/// neither: 2 C + 2 O + 2 C + P = 3.4 ms. After 6 s idle the edge has closed its connection
/// (FIN at 5 s), and only the edge's handshake is paid again: 2 C + 4 O + 2 C + P = 5.4 ms; the
/// node's own connection to the target (60 s idle timeout) is untouched by the edge's FIN,
/// though both connections carry the number 1.
#[test]
fn an_alb_origin_accepts_the_edges_kept_connections() {
    let mut w = world(0, &[("client", 0), ("client2", 0), ("edge", 0), ("lb-1", 1), ("api-1-0", 1)]);
    let (edge, node, api) = (w.host("edge"), w.host("lb-1"), w.host("api-1-0"));
    let at = |h| w.sim.with_core(|c| Endpoint { host: h, az: c.topology().host(h).az });
    let (node_at, api_at) = (at(node), at(api));
    let registry = TargetRegistry::default();
    registry.register("api", api_at);
    let record = RecordSet { ttl: 60_000 * MS, policy: Policy::Simple(RecordTarget { endpoints: vec![node_at], health_check: None, alias: None }) };
    let zone = Route53::new(BTreeMap::from([("alb.example".to_string(), record)]), BTreeMap::new(), 1, Dist::Fixed(0), Seed(1).stream("r53"));
    let config = EdgeConfig {
        zone,
        origin: "alb.example".into(),
        secondary: None,
        response_timeout: 30 * S,
        connection_timeout: defaults::cloudfront::CONNECTION_TIMEOUT,
        connection_attempts: defaults::cloudfront::CONNECTION_ATTEMPTS,
        keep_alive_timeout: defaults::cloudfront::KEEP_ALIVE_TIMEOUT,
        allow: vec![],
        processing: Dist::Fixed(0),
    };
    let target = ServiceInstance::new(Arc::new(api_config(Dist::Fixed(P), None, 0)));
    w.sim.with_core(|c| {
        c.add_process(edge, Box::new(Edge::new(config)));
        c.add_process(node, Box::new(LbNode::new(crate::alb_node(registry, LbDirectory::default())).with_pooled_targets()));
        c.add_process(api, Box::new(target));
    });
    let to_edge = Destination::Service(Picker::new(PickPolicy::Any, vec![at(edge)]));
    // Requests at 0 and 1 s from one client, at 7 s from another.
    for (host, start, requests) in [("client", 0, 2), ("client2", 7 * S, 1)] {
        let mut cfg = client_config(to_edge.clone(), Pacing::Open { rate: 1.0, poisson: false }, requests);
        cfg.start_at = start;
        let h = w.host(host);
        w.sim.with_core(|c| c.add_process(h, Box::new(Client::new(cfg))));
    }
    w.sim.run_until(Duration::from_nanos(10 * S));
    let mut results = w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect::<Vec<_>>();
    results.sort_by_key(|r| r.0);
    assert_eq!(
        results,
        vec![(Some(2 * C + 2 * O + 2 * C + P), Outcome::Ok), (Some(2 * C + 4 * O + 2 * C + P), Outcome::Ok), (Some(2 * C + 4 * O + 4 * C + P), Outcome::Ok)]
    );
    let (edge_conns, node_conns) = w.sim.with_core(|c| {
        let e = c.process(edge).unwrap().as_any().downcast_ref::<Edge>().unwrap().conn_stats();
        let n = c.process(node).unwrap().as_any().downcast_ref::<LbNode>().unwrap().conn_stats();
        (e, n)
    });
    assert_eq!((edge_conns.opened, edge_conns.reused, edge_conns.closed_idle_by_caller), (2, 1, 1));
    assert_eq!((node_conns.opened, node_conns.reused, node_conns.closed_idle_by_server), (1, 2, 0));
}
