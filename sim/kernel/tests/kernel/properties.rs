//! Property tests over random topologies, placements, faults and seeds, on the message path.

use std::any::Any;
use std::time::Duration;

use azsim_kernel::{Cx, Dist, Fault, HostId, Message, Outcome, Process, Sim, SimConfig, Topology};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Forwards a request along the hosts listed in its body; the last one completes it.
struct Relay;

struct Route(Vec<HostId>);

impl Process for Relay {
    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        let (request, bytes) = (msg.request, msg.bytes);
        let Ok(mut route) = msg.take::<Route>() else { return };
        let id = request.expect("requests only");
        if route.0.is_empty() {
            cx.finish_request(id, Outcome::Ok);
            return;
        }
        let next = route.0.remove(0);
        cx.send(next, Message::new(Some(id), bytes + 1, route));
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Starts `count` requests, one per millisecond, each along a random route.
struct Starter {
    count: u64,
    hosts: u32,
}

impl Process for Starter {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        cx.set_timer(0, 0);
    }
    fn on_message(&mut self, _cx: &mut Cx<'_>, _from: HostId, _msg: Message) {}
    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        if token >= self.count {
            return;
        }
        let len = 1 + cx.rng().below(6) as usize;
        let route: Vec<HostId> = (0..len).map(|_| HostId(cx.rng().below(self.hosts as u64) as u32)).collect();
        let id = cx.new_request(0);
        let first = route[0];
        let rest = Route(route[1..].to_vec());
        cx.send(first, Message::new(Some(id), 100, rest));
        cx.set_timer(1_000_000, token + 1);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Debug, Clone)]
struct World {
    azs: usize,
    placement: Vec<usize>,
    seed: u64,
    outage: Option<(usize, u64, u64)>,
}

fn worlds() -> impl Strategy<Value = World> {
    (1usize..=4, 2usize..=10, any::<u64>()).prop_flat_map(|(azs, hosts, seed)| {
        (proptest::collection::vec(0..azs, hosts), proptest::option::of((0..azs, 0u64..40, 1u64..40))).prop_map(move |(placement, outage)| World {
            azs,
            placement,
            seed,
            outage: outage.map(|(az, s, d)| (az, s * 1_000_000, (s + d) * 1_000_000)),
        })
    })
}

fn run(world: &World) -> Sim {
    let mut topo = Topology::default();
    let r = topo.add_region("r");
    let azs: Vec<_> = (0..world.azs).map(|i| topo.add_az(r, &format!("az{i}"))).collect();
    let hosts: Vec<HostId> = world.placement.iter().enumerate().map(|(i, az)| topo.add_host(&format!("h{i}"), azs[*az], None)).collect();
    let mut config = SimConfig::new(world.seed, topo);
    config.latency.intra_az = Dist::Uniform { lo: 100_000, hi: 300_000 };
    config.latency.inter_az = Dist::lognormal_from_percentiles(500_000, 1_000_000, 3_000_000);
    let mut sim = Sim::new(config);
    sim.with_core(|core| {
        for h in &hosts[1..] {
            core.add_process(*h, Box::new(Relay));
        }
        core.add_process(hosts[0], Box::new(Starter { count: 50, hosts: hosts.len() as u32 }));
        if let Some((az, start, end)) = world.outage {
            core.schedule_fault(start, Some(end), Fault::AzOutage(azs[az]));
        }
    });
    sim.run_until(Duration::from_secs(1));
    sim
}

/// The whole history (every request with its hops and outcome) and the traffic accounting.
fn history(sim: &Sim) -> (usize, String) {
    sim.with_core(|core| (core.requests().len(), format!("{:#?}\n{:#?}", core.requests(), core.traffic())))
}

proptest! {
    #![proptest_config(Config { cases: 64, rng_seed: RngSeed::Fixed(0xa25), failure_persistence: None, ..Config::default() })]

    #[test]
    fn crossings_equal_az_changes_along_the_recorded_path(world in worlds()) {
        let sim = run(&world);
        sim.with_core(|core| {
            prop_assert!(!core.requests().is_empty(), "the starter started requests");
            for r in core.requests() {
                let changes = r.hops.iter().filter(|h| h.from_az != h.to_az).count() as u32;
                prop_assert_eq!(r.az_crossings, changes);
                for w in r.hops.windows(2) {
                    // A path is connected: each hop leaves where the previous one arrived.
                    prop_assert_eq!(w[0].to, w[1].from);
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn bytes_sent_equal_delivered_plus_dropped(world in worlds()) {
        let sim = run(&world);
        sim.with_core(|core| {
            let t = core.traffic();
            prop_assert!(t.bytes_sent > 0, "something was sent");
            prop_assert_eq!(t.bytes_sent, t.bytes_delivered + t.bytes_dropped);
            let by_pair: u64 = t.by_az_pair.values().map(|c| c.bytes).sum();
            prop_assert_eq!(by_pair, t.bytes_sent);
            Ok(())
        })?;
    }

    #[test]
    fn same_seed_same_history(world in worlds()) {
        let (first, second) = (history(&run(&world)), history(&run(&world)));
        prop_assert!(first.0 > 0, "the starter started requests");
        prop_assert_eq!(first, second);
    }

    #[test]
    fn a_different_seed_changes_the_history(world in worlds()) {
        // Routes and link latencies are drawn from the seed; the topology and the faults are not.
        let other = World { seed: world.seed ^ 1, ..world.clone() };
        let (first, second) = (history(&run(&world)), history(&run(&other)));
        prop_assert!(first.0 > 0 && second.0 > 0, "both started requests");
        prop_assert_ne!(first.1, second.1);
    }
}
