//! The proxy and the agent, unchanged, inside the azsim kernel: two proxies in two AZs of a
//! Region, an agent and a backend in an on-premises site 10 ms away. The agent dials out to both
//! proxies; a client's request crosses proxy -> agent -> backend on the agent's connection.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use azsim_kernel::{Dist, Fault, HostId, Sim, SimConfig, SimNet, SimRng, Topology};
use azsim_net::{Accept, Clock, Connect, Listen};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioIo, TokioTimer};
use tunnel::proxy::{Grant, Route};
use tunnel::{AgentConfig, Proxy, ProxyConfig};

const MS: u64 = 1_000_000;

struct World {
    sim: Sim,
    client: HostId,
    proxies: [HostId; 2],
    agent: HostId,
    backend: HostId,
}

fn world(seed: u64) -> World {
    world_with(seed, Dist::Fixed(10 * MS))
}

/// The world with `inter_region` latency between the Region and the site.
fn world_with(seed: u64, inter_region: Dist) -> World {
    let mut topo = Topology::default();
    let region = topo.add_region("us-east-1");
    let (az1, az2) = (topo.add_az(region, "use1-az1"), topo.add_az(region, "use1-az2"));
    let site = topo.add_region("on-prem");
    let dc = topo.add_az(site, "dc1");
    let client = topo.add_host("client", az1, None);
    let proxies = [topo.add_host("proxy-1", az1, None), topo.add_host("proxy-2", az2, None)];
    let agent = topo.add_host("agent", dc, None);
    let backend = topo.add_host("backend", dc, None);
    let mut config = SimConfig::new(seed, topo);
    config.latency.intra_az = Dist::Fixed(100_000);
    config.latency.inter_az = Dist::Fixed(MS);
    config.latency.inter_region = inter_region;
    World { sim: Sim::new(config), client, proxies, agent, backend }
}

fn proxy_config(name: &str) -> ProxyConfig {
    ProxyConfig {
        name: name.into(),
        agents: BTreeMap::from([("site-agent".to_string(), Grant::new("tok", vec!["ledger".into()]))]),
        routes: vec![Route { backend: "ledger".into(), ..Route::default() }],
        default_backend: None,
        backends: vec!["ledger".into()],
        request_timeout_ms: 5_000,
        max_header_bytes: 16 * 1024,
        header_read_timeout_ms: 10_000,
        body_read_timeout_ms: 10_000,
        max_body_bytes: 1 << 20,
        retry_idempotent: false,
        max_in_flight: 10_000,
        tls: None,
        ..ProxyConfig::default()
    }
}

async fn backend(net: SimNet) {
    let mut l = net.bind((net.ip(), 8080).into()).await.unwrap();
    while let Ok((s, _)) = l.accept().await {
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|_req| async { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ledger ok")))) });
            let _ = hyper::server::conn::http1::Builder::new().auto_date_header(false).timer(TokioTimer::new()).serve_connection(TokioIo::new(s), svc).await;
        });
    }
}

async fn get(net: &SimNet, to: SocketAddr) -> (u16, Duration) {
    let t0 = net.now();
    let stream = net.connect(to).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = tx.send_request(http::Request::get("/balance").header("host", "ledger").body(Empty::<Bytes>::new()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    (status, net.now() - t0)
}

/// Everything a run shows: each request's status and latency, proxy-1's readiness at the end,
/// both proxies' metrics, and the kernel's account of the traffic and of its events.
#[derive(Debug, PartialEq)]
struct Record {
    /// The request at 2 s.
    first: (u16, Duration),
    /// The requests every second from 10 s to 40 s.
    later: Vec<(u16, Duration)>,
    ready: u16,
    metrics: Vec<String>,
    traffic: String,
    events: u64,
}

impl Record {
    fn later_statuses(&self) -> Vec<u16> {
        self.later.iter().map(|(s, _)| *s).collect()
    }
}

/// Requests to proxy-1 at 2 s, and every second from 10 s to 40 s; the readiness of proxy-1 at
/// the end. `crash_agent_at`: the agent's host crashes then.
fn run(seed: u64, crash_agent_at: Option<u64>) -> Record {
    run_in(world(seed), seed, crash_agent_at)
}

fn run_in(mut w: World, seed: u64, crash_agent_at: Option<u64>) -> Record {
    if let Some(at) = crash_agent_at {
        let agent = w.agent;
        w.sim.with_core(|c| {
            c.schedule_fault(at, None, Fault::HostCrash(agent));
        });
    }
    let (client, agent, backend_net) = (w.sim.net(w.client), w.sim.net(w.agent), w.sim.net(w.backend));
    let proxy_nets: Vec<SimNet> = w.proxies.iter().map(|h| w.sim.net(*h)).collect();
    let (first, later, ready, metrics) = w
        .sim
        .block_on(Duration::from_secs(60), async move {
            tokio::spawn(backend(backend_net.clone()));
            let mut proxies = Vec::new();
            for (i, net) in proxy_nets.iter().enumerate() {
                let p = Proxy::new(proxy_config(&format!("proxy-{}", i + 1)), net.clone());
                let clients = net.bind((net.ip(), 80).into()).await.unwrap();
                let agents = net.bind((net.ip(), 8443).into()).await.unwrap();
                tokio::spawn(p.clone().serve_clients(clients));
                tokio::spawn(p.clone().accept_agents(agents));
                proxies.push(p);
            }
            let config = AgentConfig {
                backoff_cap_ms: 2_000,
                ..AgentConfig::new(
                    "site-agent",
                    "tok",
                    BTreeMap::from([("ledger".to_string(), (backend_net.ip(), 8080).into())]),
                    proxy_nets.iter().map(|n| (n.ip(), 8443).into()).collect(),
                )
            };
            tokio::spawn(tunnel::agent::run_with_tls(config, agent.clone(), Box::new(SimRng::from_seed(seed)), None));
            client.sleep(Duration::from_secs(2)).await;
            let p1: SocketAddr = (proxy_nets[0].ip(), 80).into();
            let first = get(&client, p1).await;
            client.sleep(Duration::from_secs(8)).await;
            let mut later = Vec::new();
            for _ in 0..30 {
                later.push(get(&client, p1).await);
                client.sleep(Duration::from_secs(1)).await;
            }
            let ready = proxies[0].admin("/ready").status().as_u16();
            (first, later, ready, proxies.iter().map(|p| p.metrics.prometheus()).collect())
        })
        .unwrap();
    let (traffic, events) = w.sim.with_core(|c| (format!("{:?}", c.traffic()), c.events_processed()));
    Record { first, later, ready, metrics, traffic, events }
}

#[test]
fn a_request_crosses_to_the_site_over_the_agents_connection() {
    let record = run(3, None);
    let ((status, took), later, ready) = (record.first, record.later_statuses(), record.ready);
    assert_eq!(status, 200);
    // Client -> proxy-1: a new connection and a request in the AZ (4 x 0.1 ms); proxy -> agent
    // on the open HTTP/2 connection: 10 ms each way; agent -> backend: a new connection in the
    // site (4 x 0.1 ms).
    assert_eq!(took, Duration::from_micros(800) + Duration::from_millis(20));
    assert!(later.iter().all(|s| *s == 200));
    assert_eq!(ready, 200);
}

#[test]
fn when_the_agent_dies_the_proxy_answers_503_and_says_it_is_not_ready() {
    let record = run(3, Some(12_000 * MS));
    let (status, later, ready) = (record.first.0, record.later_statuses(), record.ready);
    assert_eq!(status, 200);
    // HTTP/2 keep-alive pings every 10 s with a 5 s timeout find the dead agent.
    let first_503 = later.iter().position(|s| *s == 503).expect("503 once the agent is gone");
    assert!(first_503 <= 2 + 16, "detected within 16 s of the crash: {later:?}");
    assert!(later[first_503..].iter().all(|s| *s == 503), "{later:?}");
    assert_eq!(ready, 503);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (a, b) = (run(9, Some(12_000 * MS)), run(9, Some(12_000 * MS)));
    assert!(a.events > 0 && a.metrics[0].contains("code=\"200\""), "the record holds the run: {a:?}");
    assert_eq!(a, b);
}

/// Latency between the Region and the site drawn between 8 and 12 ms: the seed reaches it.
fn jittery_run(seed: u64) -> Record {
    run_in(world_with(seed, Dist::Uniform { lo: 8 * MS, hi: 12 * MS }), seed, Some(12_000 * MS))
}

/// The counterpart of the test above: a seed is not ignored. With fixed latencies the seed
/// reaches little in that run (the agent's redial jitter; it shows only in the kernel's count of
/// messages), so this run also draws its Region-to-site latency from the seed, which every
/// request through the agent feels.
#[test]
fn a_different_seed_gives_a_different_run_where_the_seed_reaches_something_random() {
    let (a, again, b) = (jittery_run(9), jittery_run(9), jittery_run(10));
    assert_eq!(a, again);
    assert_ne!(a.first.1, b.first.1, "the latency of the first request depends on the seed");
    assert_ne!(a, b);
}

#[test]
fn the_agent_registers_its_backends_in_cloud_map_and_deregisters_on_shutdown() {
    use azsim_fakes::cloudmap::{self, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
    use std::sync::{Arc, Mutex};
    let mut w = world(4);
    let mut registry = Registry::new(Settings::default());
    registry.create_namespace("tunnel", NamespaceKind::Http).unwrap();
    let service_id = registry.create_service("tunnel", "backends", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    let registry = Arc::new(Mutex::new(registry));
    let (cloudmap_net, agent, backend_net) = (w.sim.net(w.proxies[1]), w.sim.net(w.agent), w.sim.net(w.backend));
    let seen = registry.clone();
    let (during, after) = w
        .sim
        .block_on(Duration::from_secs(30), async move {
            let addr: SocketAddr = (cloudmap_net.ip(), 443).into();
            let listener = cloudmap_net.bind(addr).await.unwrap();
            let clock = cloudmap_net.clone();
            tokio::spawn(cloudmap::serve(listener, registry, Arc::new(move || clock.elapsed()), Arc::new(Mutex::new(SimRng::from_seed(1)))));
            let config = AgentConfig {
                backoff_cap_ms: 2_000,
                cloud_map: Some(tunnel::cloudmap::Registration {
                    api: tunnel::cloudmap::CloudMapApi::at(addr),
                    service_id,
                    zone: "dc1".into(),
                    attributes: BTreeMap::new(),
                }),
                ..AgentConfig::new("site-agent", "tok", BTreeMap::from([("ledger".to_string(), (backend_net.ip(), 8080).into())]), vec![])
            };
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let agent_task = tokio::spawn(tunnel::agent::run_until(config, agent.clone(), Box::new(SimRng::from_seed(4)), None, stopped));
            agent.sleep(Duration::from_secs(5)).await;
            let during = seen.lock().unwrap().namespaces["tunnel"].services["backends"].instances.get("site-agent-ledger").map(|i| i.attributes.clone());
            stop.send(()).unwrap();
            agent_task.await.unwrap();
            agent.sleep(Duration::from_secs(5)).await;
            let mut reg = seen.lock().unwrap();
            reg.settle(agent.elapsed());
            let after = reg.namespaces["tunnel"].services["backends"].instances.contains_key("site-agent-ledger");
            (during, after)
        })
        .unwrap();
    let attrs = during.expect("registered while running");
    assert_eq!(attrs["BACKEND_ID"], "ledger");
    assert_eq!(attrs["AVAILABILITY_ZONE"], "dc1");
    assert_eq!(attrs["AWS_INSTANCE_PORT"], "8080");
    assert!(!after, "deregistered on shutdown");
}

/// A proxy on each of `nets` (`proxy-1`, ...), taking agents on port 8443.
async fn start_proxies(nets: &[SimNet]) -> Vec<std::sync::Arc<Proxy<SimNet>>> {
    let mut proxies = Vec::new();
    for (i, net) in nets.iter().enumerate() {
        let p = Proxy::new(proxy_config(&format!("proxy-{}", i + 1)), net.clone());
        tokio::spawn(p.clone().accept_agents(net.bind((net.ip(), 8443).into()).await.unwrap()));
        proxies.push(p);
    }
    proxies
}

#[test]
fn an_agent_given_a_dns_name_connects_to_every_proxy_behind_it() {
    let mut w = world(6);
    let (agent, backend_net) = (w.sim.net(w.agent), w.sim.net(w.backend));
    let proxy_nets: Vec<SimNet> = w.proxies.iter().map(|h| w.sim.net(*h)).collect();
    agent.register_name("proxies.tunnel.internal", proxy_nets.iter().map(|n| n.ip()).collect());
    let ready = w
        .sim
        .block_on(Duration::from_secs(30), async move {
            let proxies = start_proxies(&proxy_nets).await;
            let config = AgentConfig {
                proxy_names: vec!["proxies.tunnel.internal:8443".into()],
                backoff_cap_ms: 2_000,
                ..AgentConfig::new("site-agent", "tok", BTreeMap::from([("ledger".to_string(), (backend_net.ip(), 8080).into())]), vec![])
            };
            tokio::spawn(tunnel::agent::run_with_tls(config, agent.clone(), Box::new(SimRng::from_seed(6)), None));
            agent.sleep(Duration::from_secs(2)).await;
            proxies.iter().map(|p| p.admin("/ready").status().as_u16()).collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(ready, [200, 200], "every proxy behind the name has the agent");
}

#[test]
fn an_agent_finds_the_proxies_in_cloud_map_and_leaves_one_that_is_deregistered() {
    use azsim_fakes::cloudmap::{self, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
    use std::sync::{Arc, Mutex};
    let mut w = world(8);
    let (cloudmap_net, agent, backend_net) = (w.sim.net(w.client), w.sim.net(w.agent), w.sim.net(w.backend));
    let proxy_nets: Vec<SimNet> = w.proxies.iter().map(|h| w.sim.net(*h)).collect();
    let mut registry = Registry::new(Settings::default());
    registry.create_namespace("tunnel", NamespaceKind::Http).unwrap();
    registry.create_service("tunnel", "proxies", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    for (i, net) in proxy_nets.iter().enumerate() {
        let attrs = BTreeMap::from([("AWS_INSTANCE_IPV4".to_string(), net.ip().to_string()), ("AWS_INSTANCE_PORT".to_string(), "8443".to_string())]);
        registry.register_instance(0, "tunnel", "proxies", &format!("proxy-{}", i + 1), attrs).unwrap();
    }
    let registry = Arc::new(Mutex::new(registry));
    let control = registry.clone();
    let ready = w
        .sim
        .block_on(Duration::from_secs(60), async move {
            let addr: SocketAddr = (cloudmap_net.ip(), 443).into();
            let clock = cloudmap_net.clone();
            tokio::spawn(cloudmap::serve(
                cloudmap_net.bind(addr).await.unwrap(),
                registry,
                Arc::new(move || clock.elapsed()),
                Arc::new(Mutex::new(SimRng::from_seed(1))),
            ));
            let proxies = start_proxies(&proxy_nets).await;
            let config = AgentConfig {
                proxy_discovery: Some(tunnel::cloudmap::ProxyDiscovery {
                    api: tunnel::cloudmap::CloudMapApi::at(addr),
                    namespace: "tunnel".into(),
                    service: "proxies".into(),
                    query: BTreeMap::new(),
                    port: None,
                }),
                resolve_every_ms: 5_000,
                backoff_cap_ms: 2_000,
                ..AgentConfig::new("site-agent", "tok", BTreeMap::from([("ledger".to_string(), (backend_net.ip(), 8080).into())]), vec![])
            };
            tokio::spawn(tunnel::agent::run_with_tls(config, agent.clone(), Box::new(SimRng::from_seed(8)), None));
            let ready = |proxies: &[std::sync::Arc<Proxy<SimNet>>]| proxies.iter().map(|p| p.admin("/ready").status().as_u16()).collect::<Vec<_>>();
            // Registrations are visible after Cloud Map's 1 s delay; the agent looks every 5 s.
            agent.sleep(Duration::from_secs(8)).await;
            let before = ready(&proxies);
            control.lock().unwrap().deregister_instance(agent.elapsed(), "tunnel", "proxies", "proxy-2").unwrap();
            agent.sleep(Duration::from_secs(12)).await;
            let after = ready(&proxies);
            // An empty list is more likely an outage than no proxies at all: nothing is left.
            control.lock().unwrap().deregister_instance(agent.elapsed(), "tunnel", "proxies", "proxy-1").unwrap();
            agent.sleep(Duration::from_secs(12)).await;
            (before, after, ready(&proxies))
        })
        .unwrap();
    assert_eq!(ready.0, [200, 200], "both listed proxies have the agent");
    assert_eq!(ready.1, [200, 503], "the agent left the proxy Cloud Map no longer lists");
    assert_eq!(ready.2, [200, 503], "an empty answer drops nothing");
}

/// A listener whose first `failures` accepts fail as one out of file descriptors does
/// (`EMFILE`, as under `ulimit -n` with many connections held), then accepts.
struct Failing<A> {
    inner: A,
    failures: u32,
}

impl<A: Accept> Accept for Failing<A> {
    type Stream = A::Stream;

    async fn accept(&mut self) -> std::io::Result<(A::Stream, SocketAddr)> {
        if self.failures > 0 {
            self.failures -= 1;
            return Err(std::io::Error::from_raw_os_error(24));
        }
        self.inner.accept().await
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[test]
fn accept_errors_back_off_and_the_proxy_keeps_serving_and_is_not_ready_meanwhile() {
    let mut w = world(5);
    let (client, agent, backend_net, net) = (w.sim.net(w.client), w.sim.net(w.agent), w.sim.net(w.backend), w.sim.net(w.proxies[0]));
    let (early, late, status) = w
        .sim
        .block_on(Duration::from_secs(30), async move {
            tokio::spawn(backend(backend_net.clone()));
            let p = Proxy::new(proxy_config("proxy-1"), net.clone());
            // Eight failures each: accepting resumes after 10 + 20 + ... + 640 + 1000 ms = 2.27 s.
            let clients = Failing { inner: net.bind((net.ip(), 80).into()).await.unwrap(), failures: 8 };
            let agents = Failing { inner: net.bind((net.ip(), 8443).into()).await.unwrap(), failures: 8 };
            tokio::spawn(p.clone().serve_clients(clients));
            tokio::spawn(p.clone().accept_agents(agents));
            let config = AgentConfig {
                backoff_base_ms: 100,
                backoff_cap_ms: 200,
                connect_timeout_ms: 500,
                ..AgentConfig::new(
                    "site-agent",
                    "tok",
                    BTreeMap::from([("ledger".to_string(), (backend_net.ip(), 8080).into())]),
                    vec![(net.ip(), 8443).into()],
                )
            };
            tokio::spawn(tunnel::agent::run_with_tls(config, agent.clone(), Box::new(SimRng::from_seed(5)), None));
            client.sleep(Duration::from_secs(2)).await;
            let early = p.admin("/ready");
            let early = (early.status().as_u16(), String::from_utf8(early.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap());
            client.sleep(Duration::from_secs(2)).await;
            let late = p.admin("/ready").status().as_u16();
            let (status, _) = get(&client, (net.ip(), 80).into()).await;
            (early, late, status)
        })
        .unwrap();
    assert_eq!(early, (503, "the clients' listener is not accepting\n".to_string()), "not ready while a listener backs off");
    assert_eq!(late, 200, "both listeners accept again and the agent is in");
    assert_eq!(status, 200, "clients are served after the errors");
}

/// A backend that answers after a minute: every request it gets outlives the proxy's deadline.
async fn hanging_backend(net: SimNet) {
    let mut l = net.bind((net.ip(), 8080).into()).await.unwrap();
    while let Ok((s, _)) = l.accept().await {
        let clock = net.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                let clock = clock.clone();
                async move {
                    clock.sleep(Duration::from_secs(60)).await;
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"late"))))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().auto_date_header(false).timer(TokioTimer::new()).serve_connection(TokioIo::new(s), svc).await;
        });
    }
}

/// Six requests the proxy cancels at their 1 s deadline (h2 remembers the streams it reset),
/// then six in flight when the agent's host crashes at 2.8 s: each request's number, status and
/// latency, in the order the client heard them. `stall`: at 2.7 s the machine stops for 1.2 s
/// of wall-clock time (a loaded machine), longer than h2 remembers reset streams by the wall
/// clock.
fn answers_around_a_stall(stall: bool) -> Vec<(usize, u16, Duration)> {
    use std::sync::{Arc, Mutex};
    let mut w = world(12);
    let agent_host = w.agent;
    w.sim.with_core(|c| {
        c.schedule_fault(2_800 * MS, None, Fault::HostCrash(agent_host));
    });
    let (client, agent, backend_net, net) = (w.sim.net(w.client), w.sim.net(w.agent), w.sim.net(w.backend), w.sim.net(w.proxies[0]));
    w.sim
        .block_on(Duration::from_secs(30), async move {
            tokio::spawn(hanging_backend(backend_net.clone()));
            let p = Proxy::new(ProxyConfig { request_timeout_ms: 1_000, ..proxy_config("proxy-1") }, net.clone());
            tokio::spawn(p.clone().serve_clients(net.bind((net.ip(), 80).into()).await.unwrap()));
            tokio::spawn(p.clone().accept_agents(net.bind((net.ip(), 8443).into()).await.unwrap()));
            let config =
                AgentConfig::new("site-agent", "tok", BTreeMap::from([("ledger".to_string(), (backend_net.ip(), 8080).into())]), vec![(net.ip(), 8443).into()]);
            tokio::spawn(tunnel::agent::run_with_tls(config, agent.clone(), Box::new(SimRng::from_seed(12)), None));
            let heard = Arc::new(Mutex::new(Vec::new()));
            let to: SocketAddr = (net.ip(), 80).into();
            let mut requests = tokio::task::JoinSet::new();
            for (n, at) in (0..12).map(|n| (n, if n < 6 { 1_000 } else { 2_500 })) {
                let (client, heard) = (client.clone(), heard.clone());
                requests.spawn(async move {
                    client.sleep(Duration::from_millis(at)).await;
                    let (status, took) = get(&client, to).await;
                    heard.lock().unwrap().push((n, status, took));
                });
            }
            if stall {
                client.sleep(Duration::from_millis(2_700)).await;
                std::thread::sleep(Duration::from_millis(1_200));
            }
            while requests.join_next().await.is_some() {}
            std::mem::take(&mut *heard.lock().unwrap())
        })
        .unwrap()
}

/// h2 reads the wall clock itself to forget the streams it reset; under virtual time the proxy
/// has it forget them by count only, so that a slow or loaded machine cannot change the order
/// in which requests learn that their agent is lost (nor anything else).
#[test]
fn a_machine_that_stalls_changes_nothing_in_a_run() {
    let calm = answers_around_a_stall(false);
    let statuses: Vec<(usize, u16)> = calm.iter().map(|(n, s, _)| (*n, *s)).collect();
    assert!(statuses[..6].iter().all(|(n, s)| *n < 6 && *s == 504), "the first six reach their deadline: {calm:?}");
    assert!(statuses[6..].iter().all(|(n, s)| *n >= 6 && *s == 502), "the last six lose their agent: {calm:?}");
    assert_eq!(calm, answers_around_a_stall(true));
}
