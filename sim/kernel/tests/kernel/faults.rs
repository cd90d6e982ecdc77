//! Fault semantics on the byte-stream path.

use std::io::ErrorKind;
use std::time::Duration;

use azsim_kernel::{Fault, Scope};
use azsim_net::{Clock, Connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{serve, sim_with_latency, two_az_world};

const L: Duration = Duration::from_micros(500);

#[test]
fn nothing_listening_is_refused_after_one_round_trip() {
    let (mut sim, client, server) = sim_with_latency(1, L);
    let (c, ip) = (sim.net(client), sim.net(server).ip());
    let (err, took) = sim
        .block_on(Duration::from_secs(1), async move {
            let t0 = c.now();
            let err = c.connect((ip, 81).into()).await.unwrap_err();
            (err.kind(), c.now() - t0)
        })
        .unwrap();
    assert_eq!(err, ErrorKind::ConnectionRefused);
    assert_eq!(took, 2 * L);
}

#[test]
fn az_outage_black_holes_connects_until_the_callers_timeout() {
    let (config, client, server, _, server_az) = two_az_world(3);
    let mut sim = azsim_kernel::Sim::new(config);
    sim.with_core(|core| core.schedule_fault(0, None, Fault::AzOutage(server_az)));
    let (c, s) = (sim.net(client), sim.net(server));
    let ip = s.ip();
    let (result, took) = sim
        .block_on(Duration::from_secs(60), async move {
            let _ = serve(s, (ip, 80).into(), Duration::ZERO).await;
            let t0 = c.now();
            let r = tokio::time::timeout(Duration::from_secs(3), c.connect((ip, 80).into())).await;
            (r.is_err(), c.now() - t0)
        })
        .unwrap();
    assert!(result, "connect must hang, not fail fast");
    assert_eq!(took, Duration::from_secs(3));
}

#[test]
fn crash_resets_open_connections_and_restart_accepts_again() {
    let (mut sim, client, server) = sim_with_latency(4, L);
    sim.with_core(|core| core.schedule_fault(10_000_000, Some(20_000_000), Fault::HostCrash(server)));
    let (c, s) = (sim.net(client), sim.net(server));
    let ip = s.ip();
    let kinds = sim
        .block_on(Duration::from_secs(1), async move {
            let start = c.now();
            let _ = serve(s.clone(), (ip, 80).into(), Duration::ZERO).await;
            let mut stream = c.connect((ip, 80).into()).await.unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            // Wait past the crash: the read fails with a reset, not a clean end of stream.
            let mut buf = [0u8; 16];
            let read = stream.read(&mut buf).await;
            let during = c.connect((ip, 80).into()).await.map(|_| ()).unwrap_err().kind();
            (read.map_err(|e| e.kind()), during, c.now() - start)
        })
        .unwrap();
    assert_eq!(kinds.0, Err(ErrorKind::ConnectionReset));
    assert_eq!(kinds.1, ErrorKind::ConnectionRefused);
    // The crash at 10 ms sends RST (arrives +L); the new SYN (+L) meets RST again (+L).
    assert_eq!(kinds.2, Duration::from_millis(10) + 3 * L);
}

#[test]
fn one_way_partition_drops_only_one_direction() {
    let (config, client, server, _, _) = two_az_world(5);
    let mut sim = azsim_kernel::Sim::new(config);
    sim.with_core(|core| core.schedule_fault(0, None, Fault::Partition { from: Scope::Host(server), to: Scope::Host(client), both_ways: false }));
    let (c, s) = (sim.net(client), sim.net(server));
    let ip = s.ip();
    let timed_out = sim
        .block_on(Duration::from_secs(10), async move {
            let _ = serve(s, (ip, 80).into(), Duration::ZERO).await;
            tokio::time::timeout(Duration::from_secs(1), c.connect((ip, 80).into())).await.is_err()
        })
        .unwrap();
    assert!(timed_out, "the SYN-ACK is lost, so the connect hangs");
    sim.with_core(|core| {
        let t = core.traffic();
        // The SYN went through (0 payload bytes), the SYN-ACK did not: no payload either way.
        assert_eq!(t.bytes_sent, t.bytes_delivered + t.bytes_dropped);
    });
}

#[test]
fn bytes_are_counted_by_az_pair() {
    let (mut sim, client, server) = sim_with_latency(6, L);
    let (c, s) = (sim.net(client), sim.net(server));
    let ip = s.ip();
    sim.block_on(Duration::from_secs(1), async move {
        let mut l = azsim_net::Listen::bind(&s, (ip, 9).into()).await.unwrap();
        let accept = tokio::spawn(async move {
            let (mut st, _) = azsim_net::Accept::accept(&mut l).await.unwrap();
            let mut buf = vec![0u8; 1000];
            st.read_exact(&mut buf).await.unwrap();
            st.write_all(&buf[..10]).await.unwrap();
        });
        let mut st = c.connect((ip, 9).into()).await.unwrap();
        st.write_all(&[7u8; 1000]).await.unwrap();
        let mut back = [0u8; 10];
        st.read_exact(&mut back).await.unwrap();
        accept.await.unwrap();
    })
    .unwrap();
    sim.with_core(|core| {
        let t = core.traffic();
        assert_eq!(t.payload_sent, 1010);
        assert_eq!(t.cross_az_payload(), 1010);
        let a = core.topology().host(client).az;
        let b = core.topology().host(server).az;
        assert_eq!((t.by_az_pair[&(a, b)].payload, t.by_az_pair[&(b, a)].payload), (1000, 10));
        // On the wire (one segment each way, at MTU 9001: 52 bytes of headers and an ACK's 52):
        // the client's SYN (60) and its 1000 bytes; the server's SYN-ACK (60) and its 10; and
        // both FINs (52), as the tasks drop their streams.
        let data = |n: u64| n + 2 * azsim_kernel::wire::SEGMENT_HEADER;
        assert_eq!(t.by_az_pair[&(a, b)].bytes, 60 + data(1000) + 52);
        assert_eq!(t.by_az_pair[&(b, a)].bytes, 60 + data(10) + 52);
        assert_eq!(t.bytes_sent, t.cross_az_bytes());
    });
}

#[test]
fn accepting_after_the_client_hung_up_skips_the_dead_connection() {
    let (mut sim, client, server) = sim_with_latency(7, L);
    let (c, s) = (sim.net(client), sim.net(server));
    let ip = s.ip();
    let accepted = sim
        .block_on(Duration::from_secs(1), async move {
            let mut l = azsim_net::Listen::bind(&s, (ip, 9).into()).await.unwrap();
            drop(c.connect((ip, 9).into()).await.unwrap());
            c.sleep(Duration::from_millis(10)).await;
            let second = c.connect((ip, 9).into()).await.unwrap();
            let (_, peer) = azsim_net::Accept::accept(&mut l).await.unwrap();
            peer == second.local_addr()
        })
        .unwrap();
    assert!(accepted, "the live connection is accepted, the dead one skipped");
}

#[test]
fn a_lost_segment_is_retransmitted_in_order_once_the_path_heals() {
    let (config, client, server, _, _) = two_az_world(8);
    let mut sim = azsim_kernel::Sim::new(config);
    sim.with_core(|core| {
        core.schedule_fault(5_000_000, Some(10_000_000), Fault::Partition { from: Scope::Host(client), to: Scope::Host(server), both_ways: true })
    });
    let (c, s) = (sim.net(client), sim.net(server));
    let ip = s.ip();
    let (read, at) = sim
        .block_on(Duration::from_secs(10), async move {
            let t0 = c.now();
            let mut l = azsim_net::Listen::bind(&s, (ip, 9).into()).await.unwrap();
            let mut st = c.connect((ip, 9).into()).await.unwrap();
            let (mut server_side, _) = azsim_net::Accept::accept(&mut l).await.unwrap();
            c.sleep(Duration::from_millis(6).saturating_sub(c.now() - t0)).await;
            st.write_all(b"AAAA").await.unwrap(); // inside the partition: lost once
            c.sleep(Duration::from_millis(10)).await;
            st.write_all(b"BBBB").await.unwrap(); // after it healed: waits behind AAAA
            let mut buf = [0u8; 8];
            server_side.read_exact(&mut buf).await.unwrap();
            (buf, c.now() - t0)
        })
        .unwrap();
    assert_eq!(&read, b"AAAABBBB", "no gap, no reordering");
    // Retransmitted one timeout (200 ms) after it was lost at 6 ms, then one-way latency.
    assert_eq!(at, Duration::from_millis(206) + Duration::from_micros(1500));
}

#[test]
fn a_connection_that_never_gets_through_is_reset() {
    let (config, client, server, _, _) = two_az_world(9);
    let mut sim = azsim_kernel::Sim::new(config);
    sim.with_core(|core| core.schedule_fault(5_000_000, None, Fault::Partition { from: Scope::Host(client), to: Scope::Host(server), both_ways: true }));
    let (c, s) = (sim.net(client), sim.net(server));
    let ip = s.ip();
    let kind = sim
        .block_on(Duration::from_secs(7200), async move {
            let mut l = azsim_net::Listen::bind(&s, (ip, 9).into()).await.unwrap();
            let mut st = c.connect((ip, 9).into()).await.unwrap();
            let _server_side = azsim_net::Accept::accept(&mut l).await.unwrap();
            c.sleep(Duration::from_millis(10)).await;
            st.write_all(b"lost").await.unwrap();
            let mut buf = [0u8; 4];
            st.read(&mut buf).await.map_err(|e| e.kind())
        })
        .unwrap();
    assert_eq!(kind, Err(std::io::ErrorKind::ConnectionReset));
}

/// A site (its own Region, closed to inbound connections) and a Region: hosts `inside` and
/// `outside`, 5 ms apart.
fn site_world(seed: u64) -> (azsim_kernel::Sim, azsim_kernel::HostId, azsim_kernel::HostId) {
    let mut topo = azsim_kernel::Topology::default();
    let region = topo.add_region("us-east-1");
    let site = topo.add_region("on-prem");
    let (az, dc) = (topo.add_az(region, "use1-az1"), topo.add_az(site, "dc1"));
    let outside = topo.add_host("outside", az, None);
    let inside = topo.add_host("inside", dc, None);
    topo.close_inbound(site);
    let mut config = azsim_kernel::SimConfig::new(seed, topo);
    config.latency.inter_region = azsim_kernel::Dist::Fixed(5_000_000);
    (azsim_kernel::Sim::new(config), inside, outside)
}

#[test]
fn a_closed_site_drops_inbound_connections_and_lets_its_own_out() {
    let (mut sim, inside, outside) = site_world(5);
    let (i, o) = (sim.net(inside), sim.net(outside));
    let (in_ip, out_ip) = (i.ip(), o.ip());
    let (inbound_hung, outbound) = sim
        .block_on(Duration::from_secs(10), async move {
            let _ = serve(i.clone(), (in_ip, 80).into(), Duration::ZERO).await;
            let _ = serve(o.clone(), (out_ip, 80).into(), Duration::ZERO).await;
            // From outside in: the SYN is dropped, so the connect hangs (no refusal either).
            let hung = tokio::time::timeout(Duration::from_secs(3), o.connect((in_ip, 80).into())).await.is_err();
            // From inside out: connects, and the reply comes back on the same connection.
            let t0 = i.now();
            let mut st = i.connect((out_ip, 80).into()).await.unwrap();
            st.write_all(b"x").await.unwrap();
            (hung, i.now() - t0)
        })
        .unwrap();
    assert!(inbound_hung, "the firewall must drop the SYN");
    assert_eq!(outbound, Duration::from_millis(10), "SYN out, SYN-ACK back");
    assert_eq!(sim.with_core(|c| c.firewall_drops()), 1);
}

#[test]
fn loopback_takes_no_time_and_until_up_follows_the_hosts_state() {
    let (mut sim, client, server) = sim_with_latency(6, L);
    sim.with_core(|core| core.schedule_fault(5_000_000, Some(8_000_000), Fault::HostCrash(server)));
    let s = sim.net(server);
    let ip = s.ip();
    let (loopback, down_at, up_at) = sim
        .block_on(Duration::from_secs(1), async move {
            let _ = serve(s.clone(), (ip, 80).into(), Duration::ZERO).await;
            let t0 = s.now();
            let _conn = s.connect((ip, 80).into()).await.unwrap();
            let loopback = s.now() - t0;
            s.until_up(false).await;
            let down_at = s.now() - t0;
            assert!(!s.is_up());
            s.until_up(true).await;
            (loopback, down_at, s.now() - t0)
        })
        .unwrap();
    let _ = client;
    assert_eq!(loopback, Duration::ZERO);
    assert_eq!(down_at, Duration::from_millis(5));
    assert_eq!(up_at, Duration::from_millis(8));
}
