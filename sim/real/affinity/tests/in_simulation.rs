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

/// A real hyper server answering 200 with its zone's name.
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

/// What the run saw: per zone, requests answered from there; failures; whether it ended
/// spilled over.
type Seen = (BTreeMap<String, u32>, u32, bool);

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
    let backends: Vec<(SimNet, String)> = w.backends.iter().map(|(h, z)| (w.sim.net(*h), z.clone())).collect();
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
            let (mut by_zone, mut failed) = (BTreeMap::new(), 0);
            for _ in 0..600 {
                match client.clone().oneshot(http::Request::new(Empty::new())).await {
                    Ok(resp) => {
                        use http_body_util::BodyExt;
                        let zone = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
                        *by_zone.entry(zone).or_insert(0) += 1;
                    }
                    Err(_) => failed += 1,
                }
                caller.sleep(Duration::from_millis(100)).await;
            }
            let spilled = matches!(client.balancer().mode(), Mode::Spilled { .. });
            (by_zone, failed, spilled)
        })
        .unwrap()
}

#[test]
fn discovers_through_the_cloud_map_fake_and_stays_in_its_zone() {
    let (by_zone, failed, spilled) = run(7, None);
    assert_eq!(failed, 0);
    assert_eq!(by_zone, BTreeMap::from([("use1-az1".to_string(), 600)]));
    assert!(!spilled);
}

#[test]
fn losing_its_zone_it_retries_elsewhere_and_spills_over_without_failing_a_request() {
    let (by_zone, failed, spilled) = run(7, Some(20_000 * MS));
    assert_eq!(failed, 0, "refused connections are retried in another zone");
    assert!(by_zone["use1-az1"] >= 170 && by_zone["use1-az1"] <= 181, "until the crash at 20 s: {by_zone:?}");
    assert!(by_zone["use1-az2"] > 150 && by_zone["use1-az3"] > 150, "then the other zones: {by_zone:?}");
    assert!(spilled);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    assert_eq!(run(11, Some(20_000 * MS)), run(11, Some(20_000 * MS)));
}
