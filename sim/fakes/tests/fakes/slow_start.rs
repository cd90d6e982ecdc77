//! Slow start on a service's answers (`slow_start.rs`): an answer bigger than the congestion
//! window waits a round trip per extra flight, on a new connection or one idle past its RTO.
//!
//! A client and an ALB node (pooling its target connections) in one AZ, L = 100 us apart; the
//! target in another Region, R = 30 ms one-way from the node (MTU 1500: MSS 1,448), or in
//! another AZ of the node's Region (MTU 9001: MSS 8,949); it takes 1 ms. The target measures
//! the handshake's RTT: the SYN-ACK out and the request back with the ACK, 2R = 60 ms.
//!
//! On a new connection: client -> node (L), SYN and SYN-ACK (2R), request (R), 1 ms, answer
//! (R), node -> client (L): 2L + 4R + 1 ms = 121.2 ms for an answer that fits the window.
//! A 64 KiB answer is 65,536 bytes and its head (h, about 100 bytes): 46 segments of 1,448,
//! sent as 10 + 20 + 16, three flights: it waits 2 x 2R = 120 ms more (241.2 ms). At MSS
//! 8,949 it is 8 segments: one flight, no wait.

use super::*;

const L: u64 = 100_000;
const R: u64 = 30 * MS;
const RTT: u64 = 2 * R;
const KIB: u64 = 1024;

/// The bytes an answer of `body` bytes (status 200) writes: its head and body.
fn answer_payload(body: u64) -> u64 {
    response(None, 0, 200, body).payload()
}

/// Client and node in one AZ; the target in another Region (`far`) or another AZ; the client
/// sends `requests` of `body`-byte answers, `gap` apart from 0.
fn path(far: bool, body: u64, gap: u64, requests: u64) -> World {
    let mut topo = Topology::default();
    let (r, s) = (topo.add_region("r"), topo.add_region("s"));
    let (az1, az2) = (topo.add_az(r, "az1"), topo.add_az(r, "az2"));
    let far_az = topo.add_az(s, "s-az1");
    let hosts = vec![
        ("client".to_string(), topo.add_host("client", az1, None)),
        ("lb-0".to_string(), topo.add_host("lb-0", az1, None)),
        ("api-0-0".to_string(), topo.add_host("api-0-0", if far { far_az } else { az2 }, None)),
    ];
    let mut config = SimConfig::new(1, topo);
    config.latency.intra_az = Dist::Fixed(L);
    config.latency.inter_az = Dist::Fixed(R);
    config.latency.inter_region = Dist::Fixed(R);
    let w = World { sim: Sim::new(config), azs: vec![az1, az2, far_az], topo_hosts: hosts };
    let api = w.host("api-0-0");
    let cfg = Arc::new(api_config(Dist::Fixed(MS), None, 0));
    w.sim.with_core(|c| c.add_process(api, Box::new(ServiceInstance::new(cfg))));
    let registry = TargetRegistry::default();
    registry.register("api", Endpoint { host: api, az: if far { far_az } else { az2 } });
    let node = w.host("lb-0");
    let cfg = alb_node(registry, LbDirectory::default());
    w.sim.with_core(|c| c.add_process(node, Box::new(LbNode::new(cfg).with_pooled_targets())));
    let to_node = Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: node, az: az1 }]));
    let mut client = client_config(to_node, Pacing::Open { rate: 1e9 / gap as f64, poisson: false }, requests);
    client.response_bytes = body;
    client.timeout = 10_000 * MS;
    let h = w.host("client");
    w.sim.with_core(|c| c.add_process(h, Box::new(Client::new(client))));
    w
}

/// Each request's start and latency, and what slow start cost the target.
fn run(mut w: World) -> (Vec<(u64, Option<u64>)>, SlowStartStats) {
    w.sim.run_until(Duration::from_secs(10));
    let api = w.host("api-0-0");
    let stats = w.sim.with_core(|c| c.process(api).unwrap().as_any().downcast_ref::<ServiceInstance>().unwrap().slow_start_stats());
    let r = w.sim.with_core(|c| c.requests().iter().map(|r| (r.started, r.latency())).collect());
    (r, stats)
}

/// The flights `payload` bytes need from the initial window of 10 at `mss`: 10, 20, 40 ...
fn flights_from_10(payload: u64, mss: u64) -> u64 {
    let segments = payload.div_ceil(mss);
    (1..).find(|f| 10 * ((1 << f) - 1) >= segments).unwrap()
}

const NEW_ONE_FLIGHT: u64 = 2 * L + 4 * R + MS;

#[test]
fn a_64_kib_answer_on_a_new_connection_across_1500_mtu_waits_two_round_trips_more_than_1_kib() {
    let mss = azsim_kernel::wire::mss(azsim_kernel::wire::MTU_OUTSIDE);
    assert_eq!(mss, 1_448);
    assert_eq!(answer_payload(64 * KIB).div_ceil(mss), 46, "65,536 + h bytes in segments of 1,448");
    assert_eq!(flights_from_10(answer_payload(64 * KIB), mss), 3);
    assert_eq!(flights_from_10(answer_payload(KIB), mss), 1);
    let (small, small_stats) = run(path(true, KIB, 1_000 * MS, 1));
    let (large, large_stats) = run(path(true, 64 * KIB, 1_000 * MS, 1));
    assert_eq!(small[0].1, Some(NEW_ONE_FLIGHT), "121.2 ms");
    assert_eq!(large[0].1, Some(NEW_ONE_FLIGHT + 2 * RTT), "241.2 ms: (3 - 1) x 60 ms more");
    assert_eq!(large[0].1.unwrap() - small[0].1.unwrap(), 2 * RTT);
    assert_eq!(small_stats, SlowStartStats { answers: 1, multi_flight: 0, extra_wait: 0 });
    assert_eq!(large_stats, SlowStartStats { answers: 1, multi_flight: 1, extra_wait: 2 * RTT });
}

#[test]
fn the_same_64_kib_across_9001_mtu_goes_in_one_flight() {
    let mss = azsim_kernel::wire::mss(azsim_kernel::wire::MTU_VPC);
    assert_eq!(answer_payload(64 * KIB).div_ceil(mss), 8, "65,536 + h bytes in segments of 8,949");
    let (large, stats) = run(path(false, 64 * KIB, 1_000 * MS, 1));
    assert_eq!(large[0].1, Some(NEW_ONE_FLIGHT));
    assert_eq!((stats.multi_flight, stats.extra_wait), (0, 0));
}

/// Two 64 KiB answers, the client's requests `gap` apart. The first answer's last flight
/// leaves the target at L + 3R + 1 ms + 2 x 2R = L + 7R + 1 ms; the second request reaches it
/// at gap + L + R and is answered 1 ms later: the connection sat idle gap - 6R. Its RTO is
/// 200 ms + 2R = 260 ms, so up to gap = 6R + 260 ms = 440 ms the window (56 segments after the
/// first answer: 10 + 46) carries the 46 segments in one flight: 2L + 2R + 1 ms = 61.2 ms.
/// One nanosecond more and the window is back at 10: three flights, 181.2 ms.
#[test]
fn a_warm_connection_pays_nothing_more_and_one_idle_past_its_rto_pays_again() {
    let rto = azsim_fakes::slow_start::RTO_MIN + RTT;
    assert_eq!(rto, 260 * MS);
    let reused = 2 * L + 2 * R + MS;
    let cases = [(300 * MS, reused, 1), (6 * R + rto, reused, 1), (6 * R + rto + 1, reused + 2 * RTT, 2), (1_000 * MS, reused + 2 * RTT, 2)];
    for (gap, second, multi) in cases {
        let (r, stats) = run(path(true, 64 * KIB, gap, 2));
        assert_eq!(r[1].0 - r[0].0, gap, "the requests' gap");
        assert_eq!(r[0].1, Some(NEW_ONE_FLIGHT + 2 * RTT), "gap {gap}");
        assert_eq!(r[1].1, Some(second), "gap {gap}: the second answer");
        assert_eq!(stats, SlowStartStats { answers: 2, multi_flight: multi, extra_wait: multi * 2 * RTT }, "gap {gap}");
    }
}

/// Small answers (1 KiB, one segment) leave the window at 10: Linux grows it only while it is
/// the limit. A 64 KiB answer after fifty of them, within the RTO, still needs three flights.
#[test]
fn small_answers_do_not_grow_the_window() {
    let mut w = azsim_fakes::slow_start::SendWindow::new(0);
    w.request(RTT);
    for i in 0..50 {
        assert_eq!(w.send(RTT + i * 10 * MS, 1), 0);
    }
    assert_eq!(w.window(), azsim_fakes::slow_start::INITIAL_WINDOW);
    assert_eq!(w.send(RTT + 500 * MS, 46), 2 * RTT);
}
