//! The library, unchanged, inside the azsim kernel: it discovers six backends through the
//! Cloud Map fake's HTTP API (AWS JSON 1.1 over simulated TCP), sends real HTTP/1.1 requests to
//! real hyper servers on simulated hosts, and rides out the loss of its own AZ's backends.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affinity_client::discovery::{self, CloudMap};
use affinity_client::{AffinityClient, Config, HttpPolicy, Mode, Routed};
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

/// A real hyper server answering 200 with its zone's and its own name (`use1-az1 b0`).
async fn backend(net: SimNet, zone: String) {
    let mut listener = net.bind((net.ip(), 80).into()).await.unwrap();
    while let Ok((stream, _)) = listener.accept().await {
        let zone = zone.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                let body = zone.clone();
                async move { Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)))) }
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

fn run(seed: u64, crash_local_at: Option<u64>) -> Seen {
    let mut w = world(seed);
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
    let registry = Arc::new(Mutex::new(registry));
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
                tokio::spawn(backend(net, zone));
            }
            // Send one request over a new connection to the picked endpoint.
            let net = caller.clone();
            let send = tower::service_fn(move |r: Routed<http::Request<Empty<bytes::Bytes>>>| {
                let net = net.clone();
                async move {
                    let stream = net.connect(r.endpoint.addr).await.map_err(|e| e.to_string())?;
                    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
                    tokio::spawn(conn);
                    tx.send_request(r.request).await.map_err(|e| e.to_string())
                }
            });
            let mut config = Config::new(Some("use1-az1"));
            config.retry.per_try_timeout = Some(Duration::from_secs(1));
            let client = AffinityClient::new(config, send, HttpPolicy::default(), caller.clone(), Box::new(SimRng::from_seed(seed)));
            let source = CloudMap {
                net: caller.clone(),
                endpoint: addr,
                namespace: "corp".into(),
                service: "api".into(),
                query: BTreeMap::new(),
                health_status: None,
                region: "us-east-1".into(),
            };
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
            let spilled = matches!(client.balancer().mode(), Mode::Spilled { .. });
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
