//! An NLB node's flows (`lb/flows.rs`) and a Linux caller's SYN retransmissions (`conn.rs`):
//! a target per connection for the connection's life, SYNs to a node without a target dropped
//! and retransmitted at 1, 3, 7, 15, 31 and 63 s until `connect()` gives up at 127 s, and a
//! flow idle past 350 s forgotten, the next request on it reset.
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/introduction.html#network-load-balancer-overview>
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#connection-idle-timeout>

use std::collections::BTreeMap;
use std::sync::Mutex;

use azsim_fakes::conn::{Acquired, Pool};
use azsim_kernel::{Cx, Message, Process, RequestId};

use super::*;

const S: u64 = 1_000 * MS;

/// What the caller saw, with when.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Syn(u64),
    Connected(u64),
    Answered(u64),
    Reset(u64),
    GaveUp(u64),
}

/// A caller whose kernel keeps TCP connections to one NLB node (a [`Pool`], idle ones kept
/// `idle` long): it sends a request at each instant of `at`, on an idle connection if it has
/// one, and logs what happens.
struct Caller {
    node: HostId,
    pool: Pool,
    at: Vec<u64>,
    calls: BTreeMap<u64, (RequestId, u64)>,
    log: Arc<Mutex<Vec<Seen>>>,
}

const CONNECT: u64 = 0;
const IDLE: u64 = 1;

impl Caller {
    fn request(&self, cx: &Cx<'_>, call: u64) -> Request {
        let http = Arc::new(HttpRequest { method: "GET".into(), path: "/".into(), ..HttpRequest::default() });
        Request { reply_to: cx.host(), call_id: call, request_bytes: 100, response_bytes: 100, chain_azs: vec![], http, source: cx.host() }
    }

    fn seen(&self, s: Seen) {
        self.log.lock().unwrap().push(s);
    }
}

impl Process for Caller {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        for (i, at) in self.at.iter().enumerate() {
            cx.set_timer(*at, 2 + i as u64);
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        let now = cx.now();
        match Body::of(msg) {
            Body::SynAck(seg) => {
                let call = self.pool.established(seg.conn).expect("a connection the caller waits on");
                self.seen(Seen::Connected(now));
                let req = self.request(cx, call);
                cx.send(self.node, Body::on_conn(self.calls[&call].0, seg.conn, req));
            }
            Body::Response(resp) => {
                let (id, conn) = self.calls.remove(&resp.call_id).expect("an answer to a call");
                self.pool.release(cx, conn, resp.connection_close, IDLE);
                cx.finish_request(id, Outcome::Ok);
                self.seen(Seen::Answered(now));
            }
            Body::Rst(seg) => {
                if let Some(call) = self.pool.reset(seg.conn) {
                    let (id, _) = self.calls.remove(&call).expect("a call");
                    cx.finish_request(id, Outcome::Failed(Failure::Reset));
                }
                self.seen(Seen::Reset(now));
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        let now = cx.now();
        match token {
            CONNECT => {
                let events = self.pool.connect_timer(cx, CONNECT);
                for (conn, dest) in events.retransmit {
                    cx.send(dest, Body::syn(conn));
                    self.seen(Seen::Syn(now));
                }
                for call in events.given_up {
                    let (id, _) = self.calls.remove(&call).expect("a call");
                    cx.finish_request(id, Outcome::Failed(Failure::Timeout));
                    self.seen(Seen::GaveUp(now));
                }
            }
            IDLE => self.pool.sweep(cx, IDLE),
            send => {
                let call = send - 1;
                let id = cx.new_request(0);
                match self.pool.acquire(cx, self.node, call, CONNECT) {
                    Acquired::Opened(conn) => {
                        self.calls.insert(call, (id, conn));
                        cx.send(self.node, Body::syn(conn));
                        self.seen(Seen::Syn(now));
                    }
                    Acquired::Reused(conn) => {
                        self.calls.insert(call, (id, conn));
                        let req = self.request(cx, call);
                        cx.send(self.node, Body::on_conn(id, conn, req));
                    }
                }
            }
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A caller in az1 and the NLB's node in az `node_az` (cross-zone as given), its targets the
/// `api` instances of `target_azs` (two per AZ, each answering in 1 ms); the caller keeps idle
/// connections `idle` long and sends at the instants `at`.
fn nlb(node_az: usize, cross_zone: bool, target_azs: &[usize], idle: u64, at: Vec<u64>) -> (World, Arc<Mutex<Vec<Seen>>>, TargetRegistry) {
    let w = world(2, &[("caller", 0), ("lb", node_az)]);
    let registry = TargetRegistry::default();
    let targets = registry.clone();
    let cfg = Arc::new(api_config(Dist::Fixed(MS), None, 0));
    for e in w.api() {
        w.sim.with_core(|c| c.add_process(e.host, Box::new(ServiceInstance::new(cfg.clone()))));
        if target_azs.iter().any(|i| w.azs[*i] == e.az) {
            registry.register("api", e);
        }
    }
    let node = w.host("lb");
    let directory = LbDirectory::default();
    directory.register_node("lb", node, w.azs[node_az]);
    let config = LbNodeConfig {
        cross_zone,
        header_limits: false,
        health: defaults::nlb::HEALTH_CHECK,
        target_timeout: defaults::nlb::IDLE_TIMEOUT,
        ..alb_node(registry, directory)
    };
    w.sim.with_core(|c| c.add_process(node, Box::new(LbNode::new(config).with_flows())));
    let log = Arc::new(Mutex::new(Vec::new()));
    // No instants: the caller host is left free for another process.
    if !at.is_empty() {
        let caller = Caller { node, pool: Pool::new(idle, 10_000 * S), at, calls: BTreeMap::new(), log: log.clone() };
        let h = w.host("caller");
        w.sim.with_core(|c| c.add_process(h, Box::new(caller)));
    }
    (w, log, targets)
}

fn flow_stats(w: &World) -> azsim_fakes::lb::FlowStats {
    let node = w.host("lb");
    w.sim.with_core(|c| c.process(node).unwrap().as_any().downcast_ref::<LbNode>().unwrap().flow_stats())
}

/// Which `api` host served each request (the hop into it), in request order.
fn served_by(w: &World) -> Vec<Option<HostId>> {
    let api: Vec<HostId> = w.api().iter().map(|e| e.host).collect();
    w.sim.with_core(|c| c.requests().iter().map(|r| r.hops.iter().find(|h| api.contains(&h.to)).map(|h| h.to)).collect())
}

/// The node in az3 has no target (cross-zone off): it drops every SYN, the first and each
/// retransmission, which Linux sends 1 s after the SYN and then at doubling intervals
/// (`tcp_syn_retries` 6); `connect()` fails 64 s after the last. With cross-zone on, the same
/// node passes the SYN to a target in another AZ at once.
#[test]
fn a_syn_to_a_node_without_a_target_is_sent_at_0_1_3_7_15_31_63_s_and_given_up_at_127_s() {
    let (mut w, log, _) = nlb(2, false, &[0], 3_600 * S, vec![0]);
    w.sim.run_until(Duration::from_secs(200));
    let mut expected: Vec<Seen> = [0, 1, 3, 7, 15, 31, 63].iter().map(|s| Seen::Syn(s * S)).collect();
    expected.push(Seen::GaveUp(127 * S));
    assert_eq!(*log.lock().unwrap(), expected);
    assert_eq!(flow_stats(&w).syns_dropped, 7);
    assert_eq!(w.results()[0].1, Outcome::Failed(Failure::Timeout));

    let (mut w, log, _) = nlb(2, true, &[0], 3_600 * S, vec![0]);
    w.sim.run_until(Duration::from_secs(10));
    // Caller (az1) -> node (az3): 1 ms; node -> target (az1): 1 ms; and back.
    assert_eq!(log.lock().unwrap()[..2], [Seen::Syn(0), Seen::Connected(4 * MS)]);
    assert_eq!(w.results()[0].1, Outcome::Ok);
}

/// A target that comes back while the caller is retransmitting gets the next SYN: the request
/// stalls for exactly the retransmission's wait (3 s here: the target is registered at 2 s,
/// and the SYN at 3 s connects).
#[test]
fn a_stall_lasts_until_the_first_retransmission_that_finds_a_target() {
    let (mut w, log, registry) = nlb(0, false, &[], 3_600 * S, vec![0]);
    w.sim.run_until(Duration::from_secs(2));
    registry.register("api", w.api()[0]);
    w.sim.run_until(Duration::from_secs(10));
    let log = log.lock().unwrap().clone();
    assert_eq!(log[..3], [Seen::Syn(0), Seen::Syn(S), Seen::Syn(3 * S)]);
    // Caller -> node -> target and back, all in az1: 4 x 100 us.
    assert_eq!(log[3], Seen::Connected(3 * S + 4 * L));
    assert_eq!(flow_stats(&w).syns_dropped, 2);
}

const L: u64 = 100_000;

/// One connection, six requests a second apart: every one reaches the target its SYN was given.
/// Six connections opened at once: round robin spreads them over both targets.
#[test]
fn a_flow_keeps_its_target_for_its_life_while_new_connections_spread() {
    let (mut w, _, _) = nlb(0, false, &[0], 3_600 * S, (0..6).map(|i| i * S).collect());
    w.sim.run_until(Duration::from_secs(10));
    let served = served_by(&w);
    assert_eq!(served.len(), 6);
    assert!(served.iter().all(|h| h.is_some() && *h == served[0]), "{served:?}");
    assert_eq!(flow_stats(&w).flows, 1);

    let (mut w, _, _) = nlb(0, false, &[0], 3_600 * S, vec![0; 6]);
    w.sim.run_until(Duration::from_secs(10));
    let served = served_by(&w);
    let first = served.iter().filter(|h| **h == served[0]).count();
    assert_eq!((first, served.len() - first), (3, 3), "{served:?}");
    assert_eq!(flow_stats(&w).flows, 6);
}

/// A flow idle for 350 s is forgotten: the caller, whose own idle timeout is longer, sends its
/// next request on it and gets RST. Idle 349 s, it is still there; traffic restarts the timer.
#[test]
fn a_flow_idle_past_350_s_is_forgotten_and_the_next_request_is_reset() {
    for (second, reset) in [(349 * S, false), (351 * S, true)] {
        let (mut w, log, _) = nlb(0, false, &[0], 3_600 * S, vec![0, second]);
        w.sim.run_until(Duration::from_secs(400));
        let log = log.lock().unwrap().clone();
        assert_eq!(log.iter().any(|s| matches!(s, Seen::Reset(_))), reset, "second request at {second}: {log:?}");
        let stats = flow_stats(&w);
        assert_eq!((stats.idle_expired, stats.resets), (u64::from(reset), u64::from(reset)), "second request at {second}");
    }
    let (mut w, log, _) = nlb(0, false, &[0], 3_600 * S, vec![0, 300 * S, 600 * S]);
    w.sim.run_until(Duration::from_secs(700));
    assert!(!log.lock().unwrap().iter().any(|s| matches!(s, Seen::Reset(_))));
    assert_eq!(w.results().iter().filter(|r| r.1 == Outcome::Ok).count(), 3);
}

/// A client with keep-alive connections (`Client::with_connections`) sends 6 requests a second
/// apart through one NLB node with two targets, all in one AZ: with no limit, one connection carries all six
/// to one target; closing each connection after 2 requests, each new connection's SYN goes to
/// the other target (round robin): targets A, A, B, B, A, A.
#[test]
fn a_client_recycling_connections_after_max_requests_reaches_every_target() {
    for (max, opened, recycled) in [(None, 1, 0), (Some(2), 3, 3)] {
        let (mut w, _, _) = nlb(0, false, &[0], 3_600 * S, vec![]);
        let node = w.host("lb");
        let to_node = Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: node, az: w.azs[0] }]));
        let client = Client::new(client_config(to_node, Pacing::Open { rate: 1.0, poisson: false }, 6)).with_connections(ClientConnections {
            idle_timeout: 90 * S,
            max_requests: max,
            tls: None,
            resumption: false,
        });
        let h = w.host("caller");
        w.sim.with_core(|c| c.add_process(h, Box::new(client)));
        w.sim.run_until(Duration::from_secs(10));
        let served: Vec<HostId> = w.sim.with_core(|c| {
            c.requests().iter().filter(|r| r.client == h).map(|r| r.hops.iter().find(|hop| hop.from == node).map(|hop| hop.to).unwrap()).collect()
        });
        assert_eq!(served.len(), 6);
        let pattern: Vec<bool> = served.iter().map(|t| *t == served[0]).collect();
        match max {
            None => assert_eq!(pattern, vec![true; 6]),
            Some(_) => assert_eq!(pattern, vec![true, true, false, false, true, true]),
        }
        let stats = w.sim.with_core(|c| c.process(h).unwrap().as_any().downcast_ref::<Client>().unwrap().conn_stats());
        assert_eq!((stats.opened, stats.recycled), (opened, recycled), "max {max:?}");
    }
}
