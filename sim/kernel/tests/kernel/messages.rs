//! The message path: exact timing, latency rules and faults applied to typed messages.

use std::any::Any;
use std::time::Duration;

use azsim_kernel::{Cx, Dist, Failure, Fault, HostId, Message, Outcome, Process, Scope, Sim, SimConfig, Topology};
use azsim_net::Clock;

const MS: u64 = 1_000_000;

/// Answers every message.
struct Echo;
impl Process for Echo {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        cx.send(from, Message::new(msg.request, 10, ()));
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Sends one request to `to` at each of `at`; records answers and refusals.
struct Pinger {
    to: HostId,
    at: Vec<u64>,
    refused: Vec<u64>,
}
impl Process for Pinger {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        for (i, t) in self.at.iter().enumerate() {
            cx.set_timer(*t, i as u64);
        }
    }
    fn on_timer(&mut self, cx: &mut Cx<'_>, _token: u64) {
        let id = cx.new_request(0);
        cx.send(self.to, Message::new(Some(id), 100, ()));
    }
    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        cx.finish_request(msg.request.unwrap(), Outcome::Ok);
    }
    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        self.refused.push(cx.now());
        cx.finish_request(msg.request.unwrap(), Outcome::Failed(Failure::Refused));
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Latency, outcome, AZ crossings, Region crossings.
type Seen = (Option<u64>, Outcome, u32, u32);

/// Two Regions; r1 has AZs a and b, r2 has c. Hosts: p (a), e (b), far (c).
fn world(faults: Vec<(u64, Option<u64>, Fault)>, at: Vec<u64>, to_far: bool) -> (Sim, Vec<Seen>) {
    let mut topo = Topology::default();
    let r1 = topo.add_region("r1");
    let r2 = topo.add_region("r2");
    let a = topo.add_az(r1, "a");
    let b = topo.add_az(r1, "b");
    let c = topo.add_az(r2, "c");
    let p = topo.add_host("p", a, None);
    let e = topo.add_host("e", b, None);
    let far = topo.add_host("far", c, None);
    let mut config = SimConfig::new(9, topo);
    config.latency.inter_az = Dist::Fixed(MS);
    config.latency.inter_region = Dist::Fixed(30 * MS);
    // Asymmetric: a -> b is slower than b -> a.
    config.latency.az_pairs.insert((a, b), Dist::Fixed(3 * MS));
    let mut sim = Sim::new(config);
    sim.with_core(|core| {
        core.add_process(e, Box::new(Echo));
        core.add_process(far, Box::new(Echo));
        core.add_process(p, Box::new(Pinger { to: if to_far { far } else { e }, at, refused: vec![] }));
        for (s, end, f) in faults {
            core.schedule_fault(s, end, f);
        }
    });
    sim.run_until(Duration::from_secs(100));
    let r = sim.with_core(|core| core.requests().iter().map(|r| (r.latency(), r.outcome.clone(), r.az_crossings, r.region_crossings)).collect());
    (sim, r)
}

#[test]
fn asymmetric_latency_and_region_crossings() {
    let (_, r) = world(vec![], vec![0], false);
    assert_eq!(r, vec![(Some(4 * MS), Outcome::Ok, 2, 0)]);
    let (_, r) = world(vec![], vec![0], true);
    assert_eq!(r, vec![(Some(60 * MS), Outcome::Ok, 2, 2)]);
}

#[test]
fn latency_fault_applies_only_while_active() {
    let (sim, _) = world(vec![], vec![], false);
    let (a, b) = sim.with_core(|c| (c.topology().az_by_name("a").unwrap(), c.topology().az_by_name("b").unwrap()));
    let gray = Fault::Latency { from: Scope::Az(b), to: Scope::Az(a), latency: Dist::Fixed(10 * MS), both_ways: false, add: true };
    let (_, r) = world(vec![(5 * MS, Some(50 * MS), gray)], vec![0, 10 * MS, 60 * MS], false);
    let lat: Vec<u64> = r.iter().map(|x| x.0.unwrap()).collect();
    // Before: 3 + 1. During: the way back (b -> a) takes 10 ms more. After: normal again.
    assert_eq!(lat, vec![4 * MS, 14 * MS, 4 * MS]);
}

#[test]
fn loss_costs_retransmission_timeouts() {
    let (sim, _) = world(vec![], vec![], false);
    let all = sim.with_core(|_| Scope::All);
    let loss = Fault::Loss { from: all.clone(), to: all, probability: 1.0, both_ways: true };
    let (_, r) = world(vec![(0, None, loss)], vec![0], false);
    // Certain loss: the sender's kernel retransmits 15 times (`tcp_retries2`; 200 ms doubling
    // up to 120 s, 924.6 s in all) and gives up: the request never arrives, and only its
    // client's timeout (none here) would end it.
    assert_eq!(r[0].0, None);
    assert_eq!(r[0].1, Outcome::Unknown);
}

#[test]
fn region_outage_black_holes_and_crash_refuses() {
    let (sim, _) = world(vec![], vec![], true);
    let (r2, far) = sim.with_core(|c| (c.topology().region_by_name("r2").unwrap(), c.topology().host_by_name("far").unwrap()));
    let (_, r) = world(vec![(0, None, Fault::RegionOutage(r2))], vec![0], true);
    assert_eq!(r[0].1, Outcome::Unknown, "no answer, no refusal: silence");
    let (sim, r) = world(vec![(0, None, Fault::HostCrash(far))], vec![0], true);
    assert_eq!(r[0].1, Outcome::Failed(Failure::Refused));
    let p = sim.with_core(|c| c.topology().host_by_name("p").unwrap());
    let refused = sim.with_core(|c| c.process(p).unwrap().as_any().downcast_ref::<Pinger>().unwrap().refused.clone());
    assert_eq!(refused, vec![60 * MS], "the reset comes back after one round trip");
}

#[test]
fn sim_clock_sleeps_to_the_nanosecond() {
    let (mut config, client, _, _, _) = crate::support::two_az_world(1);
    config.latency.intra_az = Dist::Fixed(1);
    let mut sim = Sim::new(config);
    let clock = sim.net(client).clock();
    let elapsed = sim
        .block_on(Duration::from_secs(1), async move {
            let t0 = clock.now();
            clock.sleep(Duration::from_nanos(1_234_567)).await;
            clock.sleep(Duration::from_nanos(1)).await;
            clock.now() - t0
        })
        .unwrap();
    assert_eq!(elapsed, Duration::from_nanos(1_234_568));
}

/// Holds every request without answering; on a crash, hands them back as open.
#[derive(Default)]
struct Holder {
    held: Vec<(HostId, Message)>,
}
impl Process for Holder {
    fn on_message(&mut self, _cx: &mut Cx<'_>, from: HostId, msg: Message) {
        self.held.push((from, msg));
    }
    fn open_requests(&mut self) -> Vec<(HostId, Message)> {
        std::mem::take(&mut self.held)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[test]
fn a_crash_resets_the_requests_its_process_held_and_a_power_off_does_not() {
    for (fault, expect_refused) in [(Fault::HostCrash(HostId(1)), true), (Fault::HostPowerOff(HostId(1)), false)] {
        let mut topo = Topology::default();
        let r = topo.add_region("r1");
        let a = topo.add_az(r, "a");
        let p = topo.add_host("p", a, None);
        let h = topo.add_host("h", a, None);
        assert_eq!(h, HostId(1));
        let mut config = SimConfig::new(1, topo);
        config.latency.intra_az = Dist::Fixed(MS);
        let mut sim = Sim::new(config);
        sim.with_core(|c| {
            c.add_process(p, Box::new(Pinger { to: h, at: vec![0], refused: vec![] }));
            c.add_process(h, Box::new(Holder::default()));
            c.schedule_fault(10 * MS, None, fault.clone());
        });
        sim.run_until(Duration::from_millis(100));
        let refused = sim.with_core(|c| c.process(p).unwrap().as_any().downcast_ref::<Pinger>().unwrap().refused.clone());
        if expect_refused {
            // Held from 1 ms; the crash at 10 ms resets it; the reset arrives 1 ms later.
            assert_eq!(refused, vec![11 * MS]);
        } else {
            assert!(refused.is_empty(), "a host without power sends nothing: {refused:?}");
        }
    }
}
