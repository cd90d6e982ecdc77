//! An ALB node's keep-alive connections to a target (`conn.rs`): the handshake's round trip,
//! reuse, idle closes at either end, and the race that makes intermittent 502s.
//!
//! One AZ, one-way latency L = 100 us everywhere; the target takes 1 ms. A request on a new
//! connection: client -> node (L), SYN and SYN-ACK (2L), the request with the ACK (L), 1 ms,
//! answer (L), node -> client (L) = 6L + 1 ms = 1.6 ms; on a reused one 4L + 1 ms = 1.4 ms.

use azsim_fakes::tls::Tls;

use super::*;

const L: u64 = 100_000;
const NEW: u64 = 6 * L + MS;
const REUSED: u64 = 4 * L + MS;

/// A client, one ALB node with pooled target connections (idle timeout `idle`) and one target
/// with `keep_alive`, all in one AZ; the client sends `requests` requests `gap` apart from 0.
fn pair(idle: u64, keep_alive: KeepAlive, gap: u64, requests: u64) -> World {
    pair_with(idle, keep_alive, gap, requests, None)
}

/// [`pair`], the client keeping its own connections to the node when `conns` says so.
fn pair_with(idle: u64, keep_alive: KeepAlive, gap: u64, requests: u64, conns: Option<ClientConnections>) -> World {
    pair_tls(idle, keep_alive, gap, requests, conns, 0)
}

/// [`pair_with`], the node spending `tls_cpu` on each full TLS handshake.
fn pair_tls(idle: u64, keep_alive: KeepAlive, gap: u64, requests: u64, conns: Option<ClientConnections>, tls_cpu: u64) -> World {
    let w = world(0, &[("client", 0), ("lb-0", 0), ("api-0-0", 0)]);
    let api = w.api()[0];
    let cfg = Arc::new(api_config(Dist::Fixed(MS), None, 0));
    w.sim.with_core(|c| c.add_process(api.host, Box::new(ServiceInstance::new(cfg).with_keep_alive(keep_alive))));
    let registry = TargetRegistry::default();
    registry.register("api", api);
    let node = w.host("lb-0");
    let cfg = LbNodeConfig { target_timeout: idle, tls_handshake_cpu: tls_cpu, ..alb_node(registry, LbDirectory::default()) };
    w.sim.with_core(|c| c.add_process(node, Box::new(LbNode::new(cfg).with_pooled_targets())));
    let to_node = Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: node, az: w.azs[0] }]));
    let mut client = client_config(to_node, Pacing::Open { rate: 1e9 / gap as f64, poisson: false }, requests);
    client.timeout = 120_000 * MS;
    let h = w.host("client");
    let client = match conns {
        Some(conns) => Client::new(client).with_connections(conns),
        None => Client::new(client),
    };
    w.sim.with_core(|c| c.add_process(h, Box::new(client)));
    w
}

/// What the client's own connections did.
fn client_stats(w: &World) -> ConnStats {
    let h = w.host("client");
    w.sim.with_core(|c| c.process(h).unwrap().as_any().downcast_ref::<Client>().unwrap().conn_stats())
}

fn run(mut w: World, until: u64) -> (Vec<(Option<u64>, Outcome)>, ConnStats) {
    w.sim.run_until(Duration::from_nanos(until));
    let node = w.host("lb-0");
    let stats = w.sim.with_core(|c| c.process(node).unwrap().as_any().downcast_ref::<LbNode>().unwrap().conn_stats());
    (w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect(), stats)
}

#[test]
fn a_new_connection_costs_one_round_trip_and_a_reused_one_none() {
    let (results, stats) = run(pair(60_000 * MS, KeepAlive::Unlimited, 1_000 * MS, 3), 5_000 * MS);
    assert_eq!(results, vec![(Some(NEW), Outcome::Ok), (Some(REUSED), Outcome::Ok), (Some(REUSED), Outcome::Ok)]);
    assert_eq!((stats.opened, stats.reused, stats.reset), (1, 2, 0));
}

/// The target (keep-alive 5 s) answers the first request at 4L + 1 ms and closes the idle
/// connection 5 s later, at `c`; its FIN reaches the node at c + L. The node sends the second
/// request L after the client does. It meets the close, and the client gets 502, exactly when
/// the node sends it within L of `c` on either side: before `c`, it is still on its way when the
/// target closes; after, the FIN is still on its way to the node.
#[test]
fn a_request_racing_the_targets_close_gets_502_within_one_way_latency_of_it() {
    let close = 4 * L + MS + 5_000 * MS;
    let cases: [(i64, Outcome, Option<u64>, u64, u64); 5] = [
        // (node's send time - close, outcome, latency, resets, closes by the target)
        (-3 * L as i64 / 2, Outcome::Ok, Some(REUSED), 0, 0),
        (-(L as i64) / 2, Outcome::Failed(Failure::Status(502)), None, 1, 1),
        (L as i64 / 2, Outcome::Failed(Failure::Status(502)), None, 1, 1),
        (9 * L as i64 / 10, Outcome::Failed(Failure::Status(502)), None, 1, 1),
        (3 * L as i64 / 2, Outcome::Ok, Some(NEW), 0, 1),
    ];
    for (offset, outcome, latency, resets, closes) in cases {
        let node_sends = (close as i64 + offset) as u64;
        let (results, stats) = run(pair(60_000 * MS, KeepAlive::Timeout(5_000 * MS), node_sends - L, 2), 8_000 * MS);
        let second = results[1].clone();
        assert_eq!(second.1, outcome, "sent {offset} ns from the close");
        if latency.is_some() {
            assert_eq!(second.0, latency, "sent {offset} ns from the close");
        }
        assert_eq!(stats.reset, resets, "sent {offset} ns from the close");
        assert_eq!(stats.closed_idle_by_server, closes, "sent {offset} ns from the close: the target's FINs");
    }
}

#[test]
fn an_idle_timeout_shorter_than_the_targets_keep_alive_closes_from_the_alb_without_502() {
    // The ALB closes after 2 s idle; the target would close after 5 s. A request just before the
    // target's close (which no longer comes) and one long after both open new connections.
    let close = 4 * L + MS + 5_000 * MS;
    for gap in [close - L, 30_000 * MS] {
        let (results, stats) = run(pair(2_000 * MS, KeepAlive::Timeout(5_000 * MS), gap, 2), gap + 1_000 * MS);
        assert_eq!(results, vec![(Some(NEW), Outcome::Ok), (Some(NEW), Outcome::Ok)]);
        assert_eq!((stats.opened, stats.closed_idle_by_caller, stats.closed_idle_by_server, stats.reset), (2, 1, 0, 0));
    }
}

#[test]
fn keep_alive_off_pays_a_handshake_per_request() {
    let (results, stats) = run(pair(60_000 * MS, KeepAlive::Off, 1_000 * MS, 3), 5_000 * MS);
    assert_eq!(results, vec![(Some(NEW), Outcome::Ok); 3]);
    assert_eq!((stats.opened, stats.reused, stats.closed_after_response, stats.reset), (3, 0, 3, 0));
}

#[test]
fn without_a_keep_alive_limit_the_connection_outlives_long_gaps_below_the_idle_timeout() {
    let (results, stats) = run(pair(60_000 * MS, KeepAlive::Unlimited, 59_000 * MS, 2), 70_000 * MS);
    assert_eq!(results, vec![(Some(NEW), Outcome::Ok), (Some(REUSED), Outcome::Ok)]);
    assert_eq!((stats.opened, stats.reused), (1, 1));
}

#[test]
fn a_crashed_targets_pooled_connection_answers_502() {
    let w = pair(60_000 * MS, KeepAlive::Unlimited, 1_000 * MS, 2);
    let api = w.api()[0].host;
    w.sim.with_core(|c| c.schedule_fault(500 * MS, None, Fault::HostCrash(api)));
    let (results, _) = run(w, 5_000 * MS);
    // The first request's connection dies with the target: the second meets a reset one.
    assert_eq!(results[1].1, Outcome::Failed(Failure::Status(502)));
}

/// "HTTP 504: Gateway Timeout ... The load balancer failed to establish a connection to the
/// target before the connection timeout expired (10 seconds)": a target whose SYN vanishes
/// (powered off, or cut off by a partition) gets 504 after 10 s, whether the idle timeout is
/// shorter or longer; the idle timeout starts only once the request is sent.
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html>
#[test]
fn a_black_holed_target_gets_504_after_the_10_s_connect_timeout_whatever_the_idle_timeout() {
    for idle in [5_000 * MS, 60_000 * MS, 4_000_000 * MS] {
        for powered_off in [true, false] {
            let mut w = pair(idle, KeepAlive::Unlimited, 1_000 * MS, 1);
            let (node, api) = (w.host("lb-0"), w.host("api-0-0"));
            let fault = if powered_off {
                Fault::HostPowerOff(api)
            } else {
                Fault::Partition { from: azsim_kernel::Scope::Host(node), to: azsim_kernel::Scope::Host(api), both_ways: true }
            };
            w.sim.with_core(|c| c.schedule_fault(0, None, fault));
            w.sim.run_until(Duration::from_secs(100));
            let finished: Vec<(Option<u64>, Outcome)> =
                w.sim.with_core(|c| c.requests().iter().map(|r| (r.finished.map(|f| f - r.started), r.outcome.clone())).collect());
            // Client -> node (L), 10 s of waiting, node -> client (L).
            let expected = Some(2 * L + 10_000 * MS);
            assert_eq!(finished, vec![(expected, Outcome::Failed(Failure::Status(504)))], "idle timeout {idle}, powered off: {powered_off}");
            let stats = w.sim.with_core(|c| c.process(node).unwrap().as_any().downcast_ref::<LbNode>().unwrap().conn_stats());
            // SYNs at 0, 1, 3 and 7 s (Linux's retransmissions); the next would be at 15 s.
            assert_eq!((stats.opened, stats.syn_retransmits, stats.connect_timeouts), (1, 3, 1));
        }
    }
}

/// A partition that heals while the node retransmits its SYN: the request stalls until the
/// first retransmission after the heal (1 s after the SYN, then 3 s, 7 s), and is then served
/// as on any new connection. Healed at 0.5 s: 1 s longer; at 2 s: 3 s longer; at 5 s: 7 s.
#[test]
fn a_syn_lost_to_a_passing_partition_stalls_the_request_1_3_or_7_s() {
    for (heal, stall) in [(500 * MS, 1_000 * MS), (2_000 * MS, 3_000 * MS), (5_000 * MS, 7_000 * MS)] {
        let mut w = pair(60_000 * MS, KeepAlive::Unlimited, 1_000 * MS, 1);
        let (node, api) = (w.host("lb-0"), w.host("api-0-0"));
        let cut = Fault::Partition { from: azsim_kernel::Scope::Host(node), to: azsim_kernel::Scope::Host(api), both_ways: true };
        w.sim.with_core(|c| c.schedule_fault(0, Some(heal), cut));
        w.sim.run_until(Duration::from_secs(20));
        let results: Vec<(Option<u64>, Outcome)> = w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect();
        assert_eq!(results, vec![(Some(stall + NEW), Outcome::Ok)], "healed at {heal}");
    }
}

/// A client keeping connections to an ALB node (idle timeout 90 s, Go's) pays its own
/// handshake on its first request as well as the node's toward the target: 3L before the
/// request reaches the node, 8L + 1 ms in all; the next request, a second later, pays neither.
#[test]
fn a_clients_first_request_on_an_alb_pays_two_handshakes_and_the_next_none() {
    let conns = ClientConnections { idle_timeout: 90_000 * MS, max_requests: None, tls: None, resumption: false };
    let mut w = pair_with(60_000 * MS, KeepAlive::Unlimited, 1_000 * MS, 2, Some(conns));
    w.sim.run_until(Duration::from_secs(5));
    let results: Vec<_> = w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect();
    assert_eq!(results, vec![(Some(8 * L + MS), Outcome::Ok), (Some(REUSED), Outcome::Ok)]);
    let stats = client_stats(&w);
    assert_eq!((stats.opened, stats.reused, stats.closed_idle_by_server), (1, 1, 0));
}

/// The ALB closes a client's connection idle for its idle timeout (here 2 s; AWS applies the
/// one setting to client and target connections), before the client's own 90 s. The first
/// answer leaves the node at 7L + 1 ms, so the close comes at `c` = 7L + 1 ms + 2 s and its FIN
/// reaches the client at c + L. A request the client sends within L of `c` reaches the node
/// after the close, on a connection the client still thinks open: RST, and the client fails
/// it as ECONNRESET (`Reset`) 2L after sending it. Sent earlier, it is served on the kept connections (4L +
/// 1 ms); later, the client has the FIN and opens a new one, paying both handshakes again
/// (the node closed its target connection at `c` too).
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout>
#[test]
fn the_alb_closes_a_clients_connection_idle_past_its_idle_timeout_and_a_request_racing_it_is_reset() {
    let idle = 2_000 * MS;
    let close = 7 * L + MS + idle;
    let cases: [(i64, Outcome, Option<u64>, u64, u64, u64); 4] = [
        // (client's send time - close, outcome, latency, resets, connections opened, FINs
        // from the node)
        (-3 * L as i64 / 2, Outcome::Ok, Some(REUSED), 0, 1, 0),
        (-(L as i64) / 2, Outcome::Failed(Failure::Reset), Some(2 * L), 1, 1, 1),
        (L as i64 / 2, Outcome::Failed(Failure::Reset), Some(2 * L), 1, 1, 1),
        (3 * L as i64 / 2, Outcome::Ok, Some(8 * L + MS), 0, 2, 1),
    ];
    for (offset, outcome, latency, resets, opened, fins) in cases {
        let conns = ClientConnections { idle_timeout: 90_000 * MS, max_requests: None, tls: None, resumption: false };
        let mut w = pair_with(idle, KeepAlive::Unlimited, (close as i64 + offset) as u64, 2, Some(conns));
        // Until before the second connection's own idle close.
        w.sim.run_until(Duration::from_nanos(close + 1_000 * MS));
        let second = w.results()[1].clone();
        assert_eq!(second.1, outcome, "sent {offset} ns from the close");
        assert_eq!(second.0, latency, "sent {offset} ns from the close");
        let stats = client_stats(&w);
        assert_eq!((stats.reset, stats.opened), (resets, opened), "sent {offset} ns from the close");
        assert_eq!(stats.closed_idle_by_server, fins, "sent {offset} ns from the close: the node's FINs");
    }
}

/// HTTPS to the ALB: after the TCP handshake the client's first request waits for TLS's, one
/// round trip with TLS 1.3 and two with 1.2 (2L each here), so the first answer comes at
/// 10L + 1 ms or 12L + 1 ms (8L + 1 ms in plain HTTP: see above); the second request, on the
/// same connection, pays none of it.
/// <https://www.rfc-editor.org/rfc/rfc8446#section-2>, <https://www.rfc-editor.org/rfc/rfc5246#section-7.3>
#[test]
fn tls_costs_a_new_connection_one_round_trip_with_1_3_and_two_with_1_2() {
    for (tls, first) in [(Tls::V1_3, 10 * L + MS), (Tls::V1_2, 12 * L + MS)] {
        let conns = ClientConnections { idle_timeout: 90_000 * MS, max_requests: None, tls: Some(tls), resumption: false };
        let mut w = pair_with(60_000 * MS, KeepAlive::Unlimited, 1_000 * MS, 2, Some(conns));
        w.sim.run_until(Duration::from_secs(5));
        let results: Vec<_> = w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect();
        assert_eq!(results, vec![(Some(first), Outcome::Ok), (Some(REUSED), Outcome::Ok)], "{tls:?}");
        assert_eq!((client_stats(&w).opened, client_stats(&w).reused), (1, 1), "{tls:?}");
    }
}

/// A client that keeps TLS sessions resumes one on its next connection to the same node: one
/// round trip with TLS 1.2 instead of two. The second request comes 1 s after the first, past
/// the client's 500 ms idle timeout, so it opens a new connection (2L) on the node's warm one
/// to the target: 10L + 1 ms with a full handshake, 8L + 1 ms resumed. The node's CPU for a
/// full handshake (2 ms here) delays the first; a resumed one costs none.
/// <https://www.rfc-editor.org/rfc/rfc5246#section-7.3>,
/// <https://repost.aws/knowledge-center/elb-ssl-tls-session-resumption-support>
#[test]
fn a_kept_tls_session_resumes_in_one_round_trip_without_the_servers_handshake_cpu() {
    for (resumption, cpu, first, second) in
        [(false, 0, 12 * L + MS, 10 * L + MS), (true, 0, 12 * L + MS, 8 * L + MS), (true, 2 * MS, 12 * L + 3 * MS, 8 * L + MS)]
    {
        let conns = ClientConnections { idle_timeout: 500 * MS, max_requests: None, tls: Some(Tls::V1_2), resumption };
        let mut w = pair_tls(60_000 * MS, KeepAlive::Unlimited, 1_000 * MS, 2, Some(conns), cpu);
        w.sim.run_until(Duration::from_secs(5));
        let results: Vec<_> = w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect();
        assert_eq!(results, vec![(Some(first), Outcome::Ok), (Some(second), Outcome::Ok)], "resumption {resumption}, cpu {cpu}");
        assert_eq!(client_stats(&w).opened, 2);
    }
}

/// A service's calls go on its own keep-alive connections (`Step::connects`): the first call
/// pays a handshake (2L), the next, a second later, none. The client sends to the caller as a
/// message (L each way); each service takes 1 ms: 4L + 2 ms on a warm connection, 6L + 2 ms on
/// a new one. A callee that crashed resets the kept connection: the next call is answered 502.
#[test]
fn a_services_calls_keep_their_connections_and_the_first_pays_the_handshake() {
    let w = world(0, &[("client", 0), ("front", 0), ("api-0-0", 0)]);
    let api = w.api()[0];
    let cfg = Arc::new(api_config(Dist::Fixed(MS), None, 0));
    w.sim.with_core(|c| c.add_process(api.host, Box::new(ServiceInstance::new(cfg))));
    let front = w.host("front");
    let step = Step { kind: StepKind::Call, picker: Picker::new(PickPolicy::Any, vec![api]), headers: vec![], connects: true };
    let cfg = Arc::new(ServiceConfig { name: "front".into(), steps: vec![step], ..api_config(Dist::Fixed(MS), None, 0) });
    w.sim.with_core(|c| c.add_process(front, Box::new(ServiceInstance::new(cfg))));
    let to_front = Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: front, az: w.azs[0] }]));
    let h = w.host("client");
    w.sim.with_core(|c| c.add_process(h, Box::new(Client::new(client_config(to_front, Pacing::Open { rate: 1.0, poisson: false }, 3)))));
    w.sim.with_core(|c| c.schedule_fault(1_500 * MS, None, Fault::HostCrash(api.host)));
    let mut w = w;
    w.sim.run_until(Duration::from_secs(5));
    let results: Vec<_> = w.results().into_iter().map(|(lat, o, _)| (lat, o)).collect();
    assert_eq!(results[..2], [(Some(6 * L + 2 * MS), Outcome::Ok), (Some(4 * L + 2 * MS), Outcome::Ok)]);
    assert_eq!(results[2].1, Outcome::Failed(Failure::Status(502)));
    let stats = w.sim.with_core(|c| c.process(front).unwrap().as_any().downcast_ref::<ServiceInstance>().unwrap().call_conn_stats());
    assert_eq!((stats.opened, stats.reused, stats.reset), (1, 2, 1));
}
