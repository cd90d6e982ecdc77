//! The library, unchanged, inside the azsim kernel: it discovers six backends through the
//! Cloud Map fake's HTTP API (AWS JSON 1.1 over simulated TCP), sends real HTTP/1.1 requests to
//! real hyper servers on simulated hosts, and rides out the loss of its own AZ's backends.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affinity_client::discovery::{self, CloudMap};
use affinity_client::{AffinityClient, BreakerConfig, Breakers, Mode, Routed, Trip};
use azsim_fakes::cloudmap::{self, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
use azsim_kernel::{Dist, Fault, HostId, Sim, SimConfig, SimNet, SimRng, Topology};
use azsim_net::{Accept, Clock, Connect, Listen};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

const MS: u64 = 1_000_000;

struct World {
    sim: Sim,
    cloudmap: HostId,
    caller: HostId,
    backends: Vec<(HostId, String)>,
}

fn world(seed: u64) -> World {
    let mut topo = Topology::default();
    let r = topo.add_region("us-east-1");
    let azs: Vec<_> = (1..=3).map(|z| topo.add_az(r, &format!("use1-az{z}"))).collect();
    let api = topo.add_az(r, "aws-api");
    let cloudmap = topo.add_host("cloudmap", api, None);
    let caller = topo.add_host("caller", azs[0], None);
    let backends = (0..6).map(|i| (topo.add_host(&format!("b{i}"), azs[i / 2], None), format!("use1-az{}", i / 2 + 1))).collect();
    let mut config = SimConfig::new(seed, topo);
    config.latency.intra_az = Dist::Fixed(200_000);
    config.latency.inter_az = Dist::Fixed(MS);
    World { sim: Sim::new(config), cloudmap, caller, backends }
}

/// A real hyper server answering 200 with its zone's and its own name (`use1-az1 b0`), or 503
/// while `failing` is set.
async fn backend(net: SimNet, zone: String, failing: Arc<AtomicBool>) {
    let mut listener = net.bind((net.ip(), 80).into()).await.unwrap();
    while let Ok((stream, _)) = listener.accept().await {
        let (zone, failing) = (zone.clone(), failing.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                let body = zone.clone();
                let status = if failing.load(Ordering::Relaxed) { 503 } else { 200 };
                let response = http::Response::builder().status(status).body(http_body_util::Full::new(bytes::Bytes::from(body)));
                async move { Ok::<_, Infallible>(response.expect("a status and a body")) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .auto_date_header(false)
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// What the run saw: each request as the caller saw it, and whether it ended spilled over.
#[derive(Debug, PartialEq)]
struct Seen {
    requests: Vec<Seen1>,
    spilled: bool,
}

/// One request: when it was sent and answered (ns of simulated time), and who answered
/// (`use1-az1 b0`) or why it failed.
type Seen1 = (u64, u64, Result<String, String>);

impl Seen {
    /// Per zone, the requests answered from there.
    fn by_zone(&self) -> BTreeMap<String, u32> {
        let mut by_zone = BTreeMap::new();
        for (_, _, answer) in &self.requests {
            if let Ok(who) = answer {
                *by_zone.entry(who.split(' ').next().unwrap_or_default().to_string()).or_insert(0) += 1;
            }
        }
        by_zone
    }
    fn failed(&self) -> usize {
        self.requests.iter().filter(|r| r.2.is_err()).count()
    }
}

/// The six backends registered in Cloud Map, with their addresses and zones.
fn registry(w: &World) -> Arc<Mutex<Registry>> {
    let mut registry = Registry::new(Settings::default());
    registry.create_namespace("corp", NamespaceKind::Http).unwrap();
    registry.create_service("corp", "api", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    let ips: Vec<String> = w.backends.iter().map(|(h, _)| w.sim.net(*h).ip().to_string()).collect();
    for (i, (_, zone)) in w.backends.iter().enumerate() {
        let attrs = BTreeMap::from([
            ("AWS_INSTANCE_IPV4".to_string(), ips[i].clone()),
            ("AWS_INSTANCE_PORT".to_string(), "80".to_string()),
            ("AVAILABILITY_ZONE".to_string(), zone.clone()),
        ]);
        registry.register_instance(0, "corp", "api", &format!("b{i}"), attrs).unwrap();
    }
    Arc::new(Mutex::new(registry))
}

/// The transport: one request over a new connection to the picked endpoint.
fn sender(
    net: SimNet,
) -> impl tower::Service<Routed<http::Request<Empty<bytes::Bytes>>>, Response = http::Response<hyper::body::Incoming>, Error = std::io::Error, Future: Send>
+ Clone
+ Send {
    tower::service_fn(move |r: Routed<http::Request<Empty<bytes::Bytes>>>| {
        let net = net.clone();
        async move {
            let stream = net.connect(r.endpoint.addr).await?;
            let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            tx.send_request(r.request).await.map_err(std::io::Error::other)
        }
    })
}

/// `DiscoverInstances` for every zone's backends, from the caller's host.
fn cloud_map(caller: &SimNet, addr: std::net::SocketAddr) -> CloudMap<SimNet> {
    CloudMap {
        net: caller.clone(),
        endpoint: addr,
        aws: None,
        namespace: "corp".into(),
        service: "api".into(),
        query: BTreeMap::new(),
        health_status: None,
        region: "us-east-1".into(),
    }
}

fn run(seed: u64, crash_local_at: Option<u64>) -> Seen {
    let mut w = world(seed);
    let registry = registry(&w);
    if let Some(at) = crash_local_at {
        let local: Vec<HostId> = w.backends[..2].iter().map(|(h, _)| *h).collect();
        w.sim.with_core(|c| {
            for h in local {
                c.schedule_fault(at, None, Fault::HostCrash(h));
            }
        });
    }
    let server_net = w.sim.net(w.cloudmap);
    let caller = w.sim.net(w.caller);
    let backends: Vec<(SimNet, String)> = w.backends.iter().enumerate().map(|(i, (h, z))| (w.sim.net(*h), format!("{z} b{i}"))).collect();
    w.sim
        .block_on(Duration::from_secs(120), async move {
            let addr = (server_net.ip(), 80).into();
            let listener = server_net.bind(addr).await.unwrap();
            let clock = server_net.clone();
            tokio::spawn(cloudmap::serve(listener, registry, Arc::new(move || clock.elapsed()), Arc::new(Mutex::new(SimRng::from_seed(1)))));
            for (net, zone) in backends {
                tokio::spawn(backend(net, zone, Arc::default()));
            }
            // The simulation's own clock and randomness, through the production builder.
            let client = AffinityClient::builder("use1-az1")
                .configure(|c| c.retry.per_try_timeout = Some(Duration::from_secs(1)))
                .transport(sender(caller.clone()))
                .clock(caller.clone())
                .rng(SimRng::from_seed(seed))
                .build()
                .expect("valid settings");
            let source = cloud_map(&caller, addr);
            let c = client.clone();
            tokio::spawn(discovery::refresh(source, Duration::from_secs(10), caller.clone(), Box::new(SimRng::from_seed(seed + 1)), move |list| {
                c.set_endpoints(list)
            }));
            caller.sleep(Duration::from_secs(2)).await;
            let mut requests = Vec::new();
            for _ in 0..600 {
                let sent = caller.elapsed();
                let answer = match client.clone().oneshot(http::Request::new(Empty::new())).await {
                    Ok(resp) => {
                        use http_body_util::BodyExt;
                        Ok(String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
                    }
                    Err(e) => Err(format!("{e:?}")),
                };
                requests.push((sent, caller.elapsed(), answer));
                caller.sleep(Duration::from_millis(100)).await;
            }
            let spilled = matches!(client.snapshot().mode, Mode::Spilled { .. });
            Seen { requests, spilled }
        })
        .unwrap()
}

#[test]
fn discovers_through_the_cloud_map_fake_and_stays_in_its_zone() {
    let seen = run(7, None);
    assert_eq!(seen.requests.len(), 600);
    assert_eq!(seen.failed(), 0);
    assert_eq!(seen.by_zone(), BTreeMap::from([("use1-az1".to_string(), 600)]));
    assert!(!seen.spilled);
}

#[test]
fn losing_its_zone_it_retries_elsewhere_and_spills_over_without_failing_a_request() {
    let seen = run(7, Some(20_000 * MS));
    let by_zone = seen.by_zone();
    assert_eq!(seen.failed(), 0, "refused connections are retried in another zone");
    assert!(by_zone["use1-az1"] >= 170 && by_zone["use1-az1"] <= 181, "until the crash at 20 s: {by_zone:?}");
    assert!(by_zone["use1-az2"] > 150 && by_zone["use1-az3"] > 150, "then the other zones: {by_zone:?}");
    assert!(seen.spilled);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (first, second) = (run(11, Some(20_000 * MS)), run(11, Some(20_000 * MS)));
    assert_eq!(first.requests.len(), 600);
    assert_eq!(first, second, "every request: when, who answered, or why not");
}

#[test]
fn a_different_seed_changes_which_backend_answers_and_nothing_else() {
    let (a, b) = (run(11, None), run(12, None));
    let backends = |s: &Seen| s.requests.iter().map(|r| r.2.clone()).collect::<Vec<_>>();
    let timings = |s: &Seen| s.requests.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>();
    // The client draws which of its zone's two backends takes each request from its seed...
    assert_ne!(backends(&a), backends(&b));
    // ...while the zone is policy, and the links' latencies are fixed.
    assert_eq!((a.by_zone(), a.failed(), a.spilled), (b.by_zone(), b.failed(), b.spilled));
    assert_eq!(timings(&a), timings(&b));
}

/// What the all-zones blip came to in the simulation.
#[derive(Debug, PartialEq)]
struct Blip {
    /// Requests that failed (a 503 or an error), by index.
    failed: Vec<usize>,
    /// Of which, refused at once with every zone's breaker open.
    circuit_open: usize,
    /// Each request's duration, ns: from sending to the answer or the refusal.
    durations: Vec<u64>,
    /// When each request was sent, ns from the start of the run.
    sent: Vec<u64>,
    panic_probes: u64,
}

/// Six real backends (two per zone) answer 503 to the requests with indices 50 to 60 (eleven,
/// about 1.1 s), then recover; the caller in use1-az1 sends 400 GETs, each 100 ms after the last
/// ended, one attempt each, breakers per zone opening after 3 failures in a row for 30 s, no
/// outlier ejection. Discovery refreshes every 120 s (after the first answer, none in the run).
fn all_zones_blip(seed: u64, panic_threshold: f64) -> Blip {
    let w = world(seed);
    let registry = registry(&w);
    let server_net = w.sim.net(w.cloudmap);
    let caller = w.sim.net(w.caller);
    let failing = Arc::new(AtomicBool::new(false));
    let backends: Vec<(SimNet, String)> = w.backends.iter().enumerate().map(|(i, (h, z))| (w.sim.net(*h), format!("{z} b{i}"))).collect();
    let mut sim = w.sim;
    sim.block_on(Duration::from_secs(120), async move {
        let addr = (server_net.ip(), 80).into();
        let listener = server_net.bind(addr).await.unwrap();
        let clock = server_net.clone();
        tokio::spawn(cloudmap::serve(listener, registry, Arc::new(move || clock.elapsed()), Arc::new(Mutex::new(SimRng::from_seed(1)))));
        for (net, zone) in backends {
            tokio::spawn(backend(net, zone, failing.clone()));
        }
        let client = AffinityClient::builder("use1-az1")
            .configure(|c| {
                c.retry.max_attempts = 1;
                c.outlier = None;
                c.breaker = Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(3)).open_for(Duration::from_secs(30))));
                c.zones.panic_threshold = panic_threshold;
            })
            .transport(sender(caller.clone()))
            .clock(caller.clone())
            .rng(SimRng::from_seed(seed))
            .build()
            .expect("valid settings");
        let c = client.clone();
        let refresh =
            discovery::refresh(cloud_map(&caller, addr), Duration::from_secs(120), caller.clone(), Box::new(SimRng::from_seed(seed + 1)), move |list| {
                c.set_endpoints(list)
            });
        tokio::spawn(refresh);
        caller.sleep(Duration::from_secs(2)).await;
        let mut blip = Blip { failed: Vec::new(), circuit_open: 0, durations: Vec::new(), sent: Vec::new(), panic_probes: 0 };
        for k in 0..400 {
            failing.store((50..61).contains(&k), Ordering::Relaxed);
            let sent = caller.elapsed();
            let result = client.clone().oneshot(http::Request::new(Empty::new())).await;
            blip.durations.push(caller.elapsed() - sent);
            blip.sent.push(sent);
            if !matches!(&result, Ok(r) if r.status() == 200) {
                blip.failed.push(k);
                blip.circuit_open += usize::from(result.is_err_and(|e| e.is_circuit_open()));
            }
            caller.sleep(Duration::from_millis(100)).await;
        }
        blip.panic_probes = client.snapshot().counters.panic_probes;
        blip
    })
    .unwrap()
}

/// Issue 19's all-zones blip, on the simulated network with real hyper servers. By hand, with
/// the world's fixed latencies (0.2 ms one way within an AZ, 1 ms across): a request on a new
/// connection takes two round trips (connect, then the exchange), 0.8 ms to use1-az1 and 4 ms to
/// the other zones; one refused for open breakers takes none. Requests start at 2 s, each
/// 100 ms after the previous ended, so request k (before the blip, all local) is sent at
/// 2 s + k x 100.8 ms.
///
/// - Requests 50, 51, 52 fail in use1-az1 and its breaker opens when 52's 503 arrives, at
///   t52 + 0.8 ms (t52 = 7.2416 s), until t52 + 30.0008 s. Requests 53 to 58 spill to az2 and
///   az3, whose breakers open at the sixth spilled failure (request 58), whatever the draws.
/// - Panic on (0.5): 59 and 60 go out as probes and meet the blip; 61, after it, probes and
///   succeeds. Failures: exactly requests 50 to 60 (11), none after; 3 probes.
/// - Panic off (0): from 59, sent at t52 + 100.8 ms + 6 x 104 ms = t52 + 724.8 ms, every
///   request is refused at once, 100 ms apart, until one is sent at or after t52 + 30.0008 s:
///   refusals at t52 + 724.8 ms + j x 100 ms for j = 0..=292 (293), so requests 50 to 351 fail
///   (302) and 352, sent at t52 + 30.0248 s, is the first answered.
#[test]
fn an_all_zones_blip_in_the_simulation_costs_the_blip_not_the_breakers_open_time() {
    let ms = |x: f64| (x * 1e6).round() as u64;
    let on = all_zones_blip(7, 0.5);
    assert_eq!(on.failed, (50..61).collect::<Vec<_>>(), "the blip's eleven requests, none after");
    assert_eq!((on.circuit_open, on.panic_probes), (0, 3));
    assert_eq!(on.sent[52], ms(7_241.6));
    assert_eq!((on.durations[49], on.durations[53]), (ms(0.8), ms(4.0)), "local and cross-AZ requests");

    let off = all_zones_blip(7, 0.0);
    assert_eq!(off.failed, (50..352).collect::<Vec<_>>(), "302 failures");
    assert_eq!((off.circuit_open, off.panic_probes), (293, 0));
    assert_eq!(off.sent[59] - off.sent[52], ms(724.8));
    assert_eq!(off.sent[352] - off.sent[52], ms(30_024.8), "the first request after use1-az1's 30 s");
}
