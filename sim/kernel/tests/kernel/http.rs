//! hyper, unchanged, over real loopback sockets and over the simulated network.

use std::time::Duration;

use azsim_net::Clock;
use azsim_net::tokio_impl::TokioEnv;

use crate::support::{Client, serve, sim_with_latency};

#[tokio::test]
async fn loopback_arm_serves_and_reuses_the_connection() {
    let addr = serve(TokioEnv, "127.0.0.1:0".parse().unwrap(), Duration::from_micros(100)).await;
    let mut client = Client::connect(&TokioEnv, addr).await.unwrap();
    assert_eq!(client.get("/one").await.unwrap(), "/one");
    assert_eq!(client.get("/two").await.unwrap(), "/two");
}

/// New connection: SYN, SYN-ACK (2L), request (L), processing (P), response (L) = 4L + P.
/// Reused connection: 2L + P. Values chosen off the millisecond grid on purpose.
#[test]
fn sim_arm_timing_is_exact_to_the_nanosecond() {
    let l = Duration::from_nanos(730_123);
    let p = Duration::from_nanos(250_007);
    let (mut sim, client, server) = sim_with_latency(1, l);
    let (server_net, client_net) = (sim.net(server), sim.net(client));
    let server_ip = server_net.ip();
    let (first, second) = sim
        .block_on(Duration::from_secs(10), async move {
            let addr = serve(server_net, (server_ip, 80).into(), p).await;
            let t0 = client_net.now();
            let mut c = Client::connect(&client_net, addr).await.unwrap();
            assert_eq!(c.get("/a").await.unwrap(), "/a");
            let t1 = client_net.now();
            assert_eq!(c.get("/b").await.unwrap(), "/b");
            let t2 = client_net.now();
            (t1 - t0, t2 - t1)
        })
        .expect("finishes");
    assert_eq!(first, 4 * l + p);
    assert_eq!(second, 2 * l + p);
}

#[test]
fn sim_timing_holds_across_millisecond_boundaries_with_long_latency() {
    let l = Duration::from_nanos(3_333_333);
    let p = Duration::from_nanos(1_234_567);
    let (mut sim, client, server) = sim_with_latency(2, l);
    let (server_net, client_net) = (sim.net(server), sim.net(client));
    let server_ip = server_net.ip();
    let elapsed = sim
        .block_on(Duration::from_secs(10), async move {
            let addr = serve(server_net, (server_ip, 8080).into(), p).await;
            // A tokio timer of the application runs alongside, on its own millisecond tick.
            let timer = tokio::spawn(async { tokio::time::sleep(Duration::from_millis(5)).await });
            let t0 = client_net.now();
            let mut c = Client::connect(&client_net, addr).await.unwrap();
            c.get("/x").await.unwrap();
            timer.await.unwrap();
            client_net.now() - t0
        })
        .unwrap();
    assert_eq!(elapsed, 4 * l + p);
}

/// One run over a link whose latency is random: every request's send and answer instants (ns
/// since the start) and body, and the kernel's traffic accounting.
struct Run {
    requests: Vec<(u128, u128, String)>,
    traffic: String,
}

fn run_over_a_random_link(seed: u64) -> Run {
    let (mut config, client, server, _, _) = crate::support::two_az_world(seed);
    config.latency.inter_az = azsim_kernel::Dist::lognormal_from_percentiles(1_000_000, 1_500_000, 4_000_000);
    let mut sim = azsim_kernel::Sim::new(config);
    let (server_net, client_net) = (sim.net(server), sim.net(client));
    let ip = server_net.ip();
    let requests = sim
        .block_on(Duration::from_secs(60), async move {
            let start = client_net.now();
            let addr = serve(server_net, (ip, 80).into(), Duration::from_micros(100)).await;
            let mut c = Client::connect(&client_net, addr).await.unwrap();
            let mut out = Vec::new();
            for i in 0..20 {
                let sent = (client_net.now() - start).as_nanos();
                let body = c.get(&format!("/{i}")).await.unwrap();
                out.push((sent, (client_net.now() - start).as_nanos(), body));
            }
            out
        })
        .unwrap();
    let traffic = sim.with_core(|c| format!("{:?}", c.traffic()));
    Run { requests, traffic }
}

#[test]
fn same_seed_same_timings() {
    let (a, b) = (run_over_a_random_link(7), run_over_a_random_link(7));
    assert_eq!(a.requests.len(), 20);
    assert_eq!(a.requests, b.requests, "every instant and answer");
    assert_eq!(a.traffic, b.traffic, "every byte and segment, by host, AZ and Region pair");
}

#[test]
fn a_different_seed_changes_the_timings_and_nothing_else() {
    let (a, b) = (run_over_a_random_link(7), run_over_a_random_link(8));
    let timings = |r: &Run| r.requests.iter().map(|(sent, answered, _)| (*sent, *answered)).collect::<Vec<_>>();
    let bodies = |r: &Run| r.requests.iter().map(|(_, _, body)| body.clone()).collect::<Vec<_>>();
    assert_ne!(timings(&a), timings(&b), "the link's latency is drawn from the seed");
    assert_eq!(bodies(&a), bodies(&b), "the answers are not random");
    assert_eq!(a.traffic, b.traffic, "nor what crossed the network");
}
