//! NAT gateway and egress proxy conformance: one case per behaviour `nat.rs` documents.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use azsim_fakes::nat::{EgressConfig, EgressProxy, NatGateway, Secret, UpstreamPool};
use azsim_fakes::*;
use azsim_kernel::{Cx, Fault, HostId, Message, Outcome, Process};

use crate::{MS, world};

/// What the partner saw of each request: its source and headers.
type Seen = Vec<(HostId, Vec<(String, String)>)>;

/// The destination: records the source address and headers of what arrives, answers 200.
struct Partner(Arc<Mutex<Seen>>);

impl Process for Partner {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let id = msg.request;
        match Body::of(msg) {
            Body::Request(req) => {
                self.0.lock().unwrap().push((req.source, req.http.headers.clone()));
                cx.send(req.reply_to, azsim_fakes::response(id, req.call_id, 200, 10));
            }
            Body::HealthCheck(hc) => cx.send(from, Body::health_reply(HealthReply::status(hc.seq, 200))),
            _ => {}
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Asks a host's health (as a load balancer would) at `at`, records the status.
struct Prober(HostId, u64, Vec<u16>);

impl Process for Prober {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        cx.set_timer(self.1, 0);
    }
    fn on_timer(&mut self, cx: &mut Cx<'_>, _: u64) {
        cx.send(self.0, Body::health_check(1));
    }
    fn on_message(&mut self, _: &mut Cx<'_>, _: HostId, msg: Message) {
        if let Body::HealthReply(r) = Body::of(msg) {
            self.2.push(r.status);
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

struct Case {
    secret: Option<&'static str>,
    /// Seconds into the run the request is sent.
    at: u64,
    nat_down: bool,
    deep: bool,
}

/// One request with `secret` through an egress proxy (secrets: `old` until 20 s, `new` from
/// 10 s) and its NAT to the partner; the outcome, what the partner saw, the proxy's health
/// at the end, and the NAT's address.
fn run(case: Case) -> (Outcome, Seen, Vec<u16>, HostId) {
    let mut w = world(0, &[("client", 0), ("proxy", 0), ("nat", 0), ("partner", 1), ("lb", 0)]);
    let (client, proxy, nat, partner, lb) = (w.host("client"), w.host("proxy"), w.host("nat"), w.host("partner"), w.host("lb"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = EgressConfig {
        header: "x-egress-secret".into(),
        secrets: vec![Secret { value: "old".into(), from: 0, until: Some(20_000 * MS) }, Secret { value: "new".into(), from: 10_000 * MS, until: None }],
        nat,
        destination: partner,
        deep: case.deep.then_some((5_000 * MS, 15_000 * MS)),
        timeout: 2_000 * MS,
        pool: None,
    };
    w.sim.with_core(|c| {
        c.add_process(proxy, Box::new(EgressProxy::new(Arc::new(config))));
        c.add_process(nat, Box::new(NatGateway::new()));
        c.add_process(partner, Box::new(Partner(seen.clone())));
        c.add_process(lb, Box::new(Prober(proxy, 29_000 * MS, Vec::new())));
        if case.nat_down {
            c.schedule_fault(0, None, Fault::HostPowerOff(nat));
        }
    });
    let headers = case.secret.map(|s| vec![("x-egress-secret".to_string(), s.to_string())]).unwrap_or_default();
    let http = Arc::new(HttpRequest { method: "POST".into(), path: "/pay".into(), headers, ..HttpRequest::default() });
    let to = w.sim.with_core(|c| Endpoint { host: proxy, az: c.topology().host(proxy).az });
    let cfg = ClientConfig {
        label: 0,
        destination: Destination::Service(Picker::new(PickPolicy::Any, vec![to])),
        pacing: Pacing::Closed { concurrency: 1 },
        max_requests: Some(1),
        start_at: case.at * 1_000 * MS,
        stop_at: u64::MAX,
        request_bytes: 100,
        response_bytes: 100,
        timeout: 10_000 * MS,
        mix: vec![(1, http)],
    };
    w.sim.with_core(|c| c.add_process(client, Box::new(Client::new(cfg))));
    w.sim.run_until(Duration::from_secs(30));
    let outcome = w.results()[0].1.clone();
    let health = w.sim.with_core(|c| c.process(lb).unwrap().as_any().downcast_ref::<Prober>().unwrap().2.clone());
    let seen = seen.lock().unwrap().clone();
    (outcome, seen, health, nat)
}

fn status(code: u16) -> Outcome {
    if code < 400 { Outcome::Ok } else { Outcome::Failed(azsim_kernel::Failure::Status(code)) }
}

#[test]
fn egress_and_nat_conformance() {
    let base = || Case { secret: Some("old"), at: 1, nat_down: false, deep: false };
    let (outcome, seen, health, nat) = run(base());
    assert_eq!(outcome, status(200), "a request with the current secret goes through");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, nat, "the partner sees the NAT's address (source translation)");
    assert!(seen[0].1.iter().all(|(k, _)| k != "x-egress-secret"), "the proxy strips the secret");
    assert_eq!(health, [200], "a shallow health check passes");

    let cases: Vec<(&str, Case, Outcome)> = vec![
        ("no secret: 403", Case { secret: None, ..base() }, status(403)),
        ("a wrong secret: 403", Case { secret: Some("guess"), ..base() }, status(403)),
        ("the new secret before its window: 403", Case { secret: Some("new"), at: 5, ..base() }, status(403)),
        ("old and new both pass while the windows overlap", Case { secret: Some("old"), at: 15, ..base() }, status(200)),
        ("(the new one too)", Case { secret: Some("new"), at: 15, ..base() }, status(200)),
        ("the old secret after its window: 403", Case { secret: Some("old"), at: 25, ..base() }, status(403)),
        ("a dead NAT: the proxy gives up at its timeout (504)", Case { nat_down: true, ..base() }, status(504)),
    ];
    for (rule, case, want) in cases {
        assert_eq!(run(case).0, want, "{rule}");
    }
    let (_, _, health, _) = run(Case { nat_down: true, ..base() });
    assert_eq!(health, [200], "a shallow check passes even with the NAT dead (the sample's flaw)");
    let (_, _, health, _) = run(Case { nat_down: true, deep: true, ..base() });
    assert_eq!(health, [503], "a deep check fails when the egress path does");
    let (_, _, health, _) = run(Case { deep: true, ..base() });
    assert_eq!(health, [200], "and passes while it works");
}

#[test]
fn a_nat_refuses_connections_beyond_55000_per_destination() {
    let mut w = world(0, &[("client", 0), ("nat", 0), ("partner", 1)]);
    let (nat, partner) = (w.host("nat"), w.host("partner"));
    // The partner never answers: every request holds its connection.
    struct Silent;
    impl Process for Silent {
        fn on_message(&mut self, _: &mut Cx<'_>, _: HostId, _: Message) {}
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
    /// Sends `n` requests through the NAT at once.
    struct Burst(HostId, HostId, u64, u64);
    impl Process for Burst {
        fn on_start(&mut self, cx: &mut Cx<'_>) {
            for i in 0..self.2 {
                let id = cx.new_request(0);
                let req = Request {
                    reply_to: cx.host(),
                    call_id: i,
                    request_bytes: 10,
                    response_bytes: 10,
                    chain_azs: vec![],
                    http: Arc::new(HttpRequest::default()),
                    source: cx.host(),
                };
                let fwd = azsim_fakes::nat::NatForward { to: self.1, req, conn: None };
                cx.send(self.0, Body::NatForward(fwd).message(Some(id), 10));
            }
        }
        fn on_message(&mut self, _: &mut Cx<'_>, _: HostId, msg: Message) {
            if matches!(Body::of(msg), Body::Response(r) if r.status == 502) {
                self.3 += 1;
            }
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
    let client = w.host("client");
    w.sim.with_core(|c| {
        c.add_process(nat, Box::new(NatGateway::new()));
        c.add_process(partner, Box::new(Silent));
        c.add_process(client, Box::new(Burst(nat, partner, 55_010, 0)));
    });
    w.sim.run_until(Duration::from_secs(1));
    let refused = w.sim.with_core(|c| c.process(client).unwrap().as_any().downcast_ref::<Burst>().unwrap().3);
    assert_eq!(refused, 10, "55,000 connections to one destination, no more");
}

/// Requests at `at` seconds, one after another, through an egress proxy with `pool` and its
/// NAT: each one's outcome, and the NAT's idle resets.
fn pooled(pool: Option<UpstreamPool>, at: &[u64]) -> (Vec<Outcome>, u64) {
    let extra: Vec<(String, usize)> = at.iter().map(|t| (format!("client-{t}"), 0)).collect();
    let mut hosts: Vec<(&str, usize)> = vec![("proxy", 0), ("nat", 0), ("partner", 1)];
    hosts.extend(extra.iter().map(|(n, az)| (n.as_str(), *az)));
    let mut w = world(0, &hosts);
    let (proxy, nat, partner) = (w.host("proxy"), w.host("nat"), w.host("partner"));
    let config = EgressConfig {
        header: "x-egress-secret".into(),
        secrets: vec![Secret { value: "s".into(), from: 0, until: None }],
        nat,
        destination: partner,
        deep: None,
        timeout: 2_000 * MS,
        pool,
    };
    let http =
        Arc::new(HttpRequest { method: "POST".into(), path: "/pay".into(), headers: vec![("x-egress-secret".into(), "s".into())], ..HttpRequest::default() });
    let to = w.sim.with_core(|c| Endpoint { host: proxy, az: c.topology().host(proxy).az });
    let clients: Vec<(u64, HostId)> = at.iter().map(|t| (*t, w.host(&format!("client-{t}")))).collect();
    w.sim.with_core(|c| {
        c.add_process(proxy, Box::new(EgressProxy::new(Arc::new(config))));
        c.add_process(nat, Box::new(NatGateway::new()));
        c.add_process(partner, Box::new(Partner(Arc::new(Mutex::new(Vec::new())))));
        for (t, host) in &clients {
            let cfg = ClientConfig {
                label: 0,
                destination: Destination::Service(Picker::new(PickPolicy::Any, vec![to])),
                pacing: Pacing::Closed { concurrency: 1 },
                max_requests: Some(1),
                start_at: t * 1_000 * MS,
                stop_at: u64::MAX,
                request_bytes: 100,
                response_bytes: 100,
                timeout: 10_000 * MS,
                mix: vec![(1, http.clone())],
            };
            c.add_process(*host, Box::new(Client::new(cfg)));
        }
    });
    w.sim.run_until(Duration::from_secs(at.iter().max().copied().unwrap_or(0) + 30));
    let outcomes = w.results().into_iter().map(|(_, o, _)| o).collect();
    let resets = w.sim.with_core(|c| c.process(nat).unwrap().as_any().downcast_ref::<NatGateway>().unwrap().counts.idle_resets);
    (outcomes, resets)
}

#[test]
fn a_pooled_connection_idle_past_350_s_meets_the_nats_reset() {
    let envoy = UpstreamPool { idle_timeout: 3_600_000 * MS, keepalive: None };
    // Reused after 99 s idle; after 400 s the NAT has forgotten it: RST, 503; the next
    // request opens a new connection.
    let (outcomes, resets) = pooled(Some(envoy), &[1, 100, 500, 510]);
    assert_eq!(outcomes, vec![status(200), status(200), status(503), status(200)]);
    assert_eq!(resets, 1);
    let cases: Vec<(&str, Option<UpstreamPool>)> = vec![
        ("keep-alives under 350 s keep the mapping", Some(UpstreamPool { keepalive: Some(60_000 * MS), ..envoy })),
        ("keep-alives over 350 s do not", Some(UpstreamPool { keepalive: Some(400_000 * MS), ..envoy })),
        ("nor do keep-alives of exactly 350 s", Some(UpstreamPool { keepalive: Some(350_000 * MS), ..envoy })),
        ("an idle timeout under 350 s closes it first", Some(UpstreamPool { idle_timeout: 300_000 * MS, keepalive: None })),
        ("a connection per request is never idle", None),
    ];
    for (rule, pool) in cases {
        let (outcomes, _) = pooled(pool, &[1, 500]);
        let want = if rule.contains("do not") || rule.contains("nor do") { vec![status(200), status(503)] } else { vec![status(200), status(200)] };
        assert_eq!(outcomes, want, "{rule}");
    }
}
