//! The scenario's `tunnel:` the real inverting proxy and forwarding agent (crate `tunnel`),
//! unchanged, on simulated hosts, joined to the fakes.
//!
//! - A proxy host runs [`tunnel::Proxy`] on the byte-stream path (agents connect to port 8443,
//!   clients to port 80). A [`ProxyFront`] process on the same host is the load balancer's side
//!   of it: it answers health probes with the proxy's readiness, and hands each request from
//!   the load balancer to a task that sends it to the proxy over loopback HTTP/1.1 and sends
//!   the answer back as a message. That front stands for the listener a load balancer talks
//!   to; everything after it is the shipped code.
//! - Agent hosts run [`tunnel::agent::run_with_tls`]; backend hosts run a small HTTP server that
//!   counts each request id it executes (to find requests executed twice).
//! - Each of these is a process with a lifetime: a crash of its host kills it (every task is
//!   dropped at that instant) and the host's restart starts it afresh, as a supervisor would.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azsim_fakes::{Body, HealthReply, Request};
use azsim_kernel::{Cx, Dist, HostId, Message, Process, RequestId, Seed, SimNet, SimRng};
use azsim_net::{Accept, Clock, Connect, Listen};
use azsim_scenario::{AgentConnect, Readiness, TunnelSpec};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::mpsc;
use tunnel::proxy::{Grant, HeaderSettings};
use tunnel::{AgentConfig, Proxy, ProxyConfig};

const CLIENT_PORT: u16 = 80;
const AGENT_PORT: u16 = 8443;
const BACKEND_PORT: u16 = 8080;
/// Tells the backend how large an answer the scenario's client asked for.
const RESPONSE_BYTES_HEADER: &str = "x-azsim-response-bytes";

/// What the tunnel's parts counted over the run.
#[derive(Clone, Default)]
pub(crate) struct TunnelCounters {
    /// Request id -> how many times the backend executed it.
    pub(crate) executions: Arc<Mutex<BTreeMap<String, u32>>>,
    /// Requests a proxy answered 503 because no agent was connected for the backend.
    pub(crate) no_agent: Arc<AtomicU64>,
}

impl TunnelCounters {
    pub(crate) fn executed_twice(&self) -> u64 {
        self.executions.lock().expect("executions").values().filter(|n| **n > 1).count() as u64
    }
    pub(crate) fn executed(&self) -> u64 {
        self.executions.lock().expect("executions").len() as u64
    }
}

/// Where the tunnel's parts run.
pub(crate) struct TunnelPlan {
    pub(crate) spec: TunnelSpec,
    pub(crate) proxies: Vec<HostId>,
    pub(crate) agents: Vec<(String, HostId)>,
    pub(crate) backends: Vec<HostId>,
    pub(crate) processing: Dist,
}

type ProxySlot = Arc<Mutex<Option<Arc<Proxy<SimNet>>>>>;

/// Requests handed to the proxy and not yet answered, by request id.
type Open = Arc<Mutex<BTreeMap<u64, Forward>>>;

/// A request from the load balancer, on its way to the proxy.
#[derive(Clone)]
struct Forward {
    id: RequestId,
    req: Request,
}

/// The load balancer's side of a proxy host (see the module's documentation).
pub(crate) struct ProxyFront {
    proxy: ProxySlot,
    readiness: Readiness,
    forwards: mpsc::UnboundedSender<Forward>,
    open: Open,
}

impl Process for ProxyFront {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let id = msg.request;
        // A caller that connects (CloudFront, if a record names the proxies) is accepted
        // without per-connection state.
        let Some(body) = azsim_fakes::conn::accept_stateless(cx, from, Body::of(msg)) else { return };
        match body {
            Body::HealthCheck(hc) => {
                // The probe reads the proxy's `/ready` (or, for the sample's check, only whether
                // the process answers at all).
                let status = match (&*self.proxy.lock().expect("proxy slot"), self.readiness) {
                    (None, _) => 503,
                    (Some(_), Readiness::Process) => 200,
                    (Some(p), Readiness::Agents) => p.admin("/ready").status().as_u16(),
                };
                cx.send(from, Body::health_reply(HealthReply::status(hc.seq, status)));
            }
            Body::Request(req) => {
                let Some(id) = id else { return };
                let fwd = Forward { id, req };
                self.open.lock().expect("open requests").insert(id.0, fwd.clone());
                if self.forwards.send(fwd).is_ok() {
                    cx.tasks_woken();
                }
            }
            _ => {}
        }
    }

    /// The load balancer's connections to the dead proxy are reset: it answers 502.
    fn open_requests(&mut self) -> Vec<(HostId, Message)> {
        let open = std::mem::take(&mut *self.open.lock().expect("open requests"));
        open.into_values().map(|f| (f.req.reply_to, Body::Request(f.req).message(Some(f.id), 0))).collect()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Builds the processes for the proxy hosts; [`start`] spawns the rest.
pub(crate) fn fronts(plan: &TunnelPlan) -> Vec<(HostId, ProxyFront, ProxyTask)> {
    plan.proxies
        .iter()
        .map(|h| {
            let slot: ProxySlot = Arc::default();
            let (tx, rx) = mpsc::unbounded_channel();
            let open = Open::default();
            let front = ProxyFront { proxy: slot.clone(), readiness: plan.spec.readiness, forwards: tx, open: open.clone() };
            (*h, front, ProxyTask { slot, forwards: rx, open })
        })
        .collect()
}

/// The async half of a proxy host.
pub(crate) struct ProxyTask {
    slot: ProxySlot,
    forwards: mpsc::UnboundedReceiver<Forward>,
    open: Open,
}

fn token(agent: &str) -> String {
    format!("token-of-{agent}")
}

fn proxy_config(plan: &TunnelPlan, name: &str) -> ProxyConfig {
    let backend = plan.spec.backend.value.clone();
    ProxyConfig {
        name: name.into(),
        agents: plan.agents.iter().map(|(a, _)| (a.clone(), Grant::new(token(a), vec![backend.clone()]))).collect(),
        routes: Vec::new(),
        default_backend: Some(backend.clone()),
        backends: vec![backend],
        request_timeout_ms: plan.spec.request_timeout.nanos() / 1_000_000,
        max_header_bytes: 16 * 1024,
        max_body_bytes: 100 << 20,
        // The proxy's defaults: a client's head within 10 s, no 10 s gap in its body.
        header_read_timeout_ms: 10_000,
        body_read_timeout_ms: 10_000,
        retry_idempotent: plan.spec.retry_idempotent,
        max_in_flight: 10_000,
        tls: None,
        // The headers a proxy adds for operators (X-Forwarded-*, the request id returned to the
        // client) are off here: the scenario's records count every byte on the wire.
        headers: HeaderSettings::none(),
        ..ProxyConfig::default()
    }
}

/// Spawns the tunnel's tasks on the simulation's runtime through `spawn`. The proxies' and
/// agents' configurations go through the same checks as the binaries' files; one that fails
/// them (a scenario value the real code refuses) is an error, not a run.
pub(crate) fn start(
    plan: &TunnelPlan,
    nets: &dyn Fn(HostId) -> SimNet,
    tasks: Vec<(HostId, ProxyTask)>,
    counters: &TunnelCounters,
    seed: Seed,
    spawn: &dyn Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
) -> Result<(), String> {
    for (host, task) in tasks {
        let net = nets(host);
        let name = format!("proxy-{}", host.0);
        let config = proxy_config(plan, &name);
        config.validate().map_err(|e| format!("tunnel: the proxies' configuration: {e}"))?;
        spawn(Box::pin(run_proxy(net, config, task, counters.clone())));
    }
    let proxy_addrs: Vec<SocketAddr> = plan.proxies.iter().map(|h| SocketAddr::new(nets(*h).ip(), AGENT_PORT)).collect();
    for (i, (name, host)) in plan.agents.iter().enumerate() {
        let backend = nets(plan.backends[i % plan.backends.len()]).ip();
        let proxies = match plan.spec.connect {
            AgentConnect::EveryProxy => proxy_addrs.clone(),
            AgentConnect::Pinned => proxy_addrs.get(i % proxy_addrs.len().max(1)).copied().into_iter().collect(),
        };
        let config = AgentConfig {
            backoff_cap_ms: plan.spec.backoff_cap.nanos() / 1_000_000,
            ..AgentConfig::new(name, &token(name), BTreeMap::from([(plan.spec.backend.value.clone(), SocketAddr::new(backend, BACKEND_PORT))]), proxies)
        };
        config.validate().map_err(|e| format!("tunnel: the agents' configuration: {e}"))?;
        spawn(Box::pin(run_agent(nets(*host), config, seed)));
    }
    for host in &plan.backends {
        let rng = Arc::new(Mutex::new(seed.stream(&format!("tunnel/backend/{}", host.0))));
        spawn(Box::pin(run_backend(nets(*host), plan.processing.clone(), rng, counters.clone())));
    }
    Ok(())
}

/// Runs `life` whenever the host is up; a crash drops it at once, a restart runs it again.
async fn supervise<F, Fut>(net: &SimNet, mut life: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        net.until_up(true).await;
        tokio::select! {
            biased;
            _ = net.until_up(false) => {}
            _ = life() => {}
        }
        // A life that ended on its own (it should not) is not restarted in a tight loop.
        if net.is_up() {
            net.until_up(false).await;
        }
    }
}

async fn run_proxy(net: SimNet, config: ProxyConfig, mut task: ProxyTask, counters: TunnelCounters) {
    loop {
        net.until_up(true).await;
        // Requests that were on their way when the process died are gone with it.
        while task.forwards.try_recv().is_ok() {}
        tokio::select! {
            biased;
            _ = net.until_up(false) => {}
            _ = proxy_life(&net, config.clone(), &task.slot, &mut task.forwards, &task.open, &counters) => {}
        }
        if net.is_up() {
            net.until_up(false).await;
        }
    }
}

/// One life of the proxy process: from its start to the host's crash.
async fn proxy_life(
    net: &SimNet,
    config: ProxyConfig,
    slot: &ProxySlot,
    forwards: &mut mpsc::UnboundedReceiver<Forward>,
    open: &Open,
    counters: &TunnelCounters,
) {
    let proxy = Proxy::new(config, net.clone());
    let (Ok(clients), Ok(agents)) = (net.bind(SocketAddr::new(net.ip(), CLIENT_PORT)).await, net.bind(SocketAddr::new(net.ip(), AGENT_PORT)).await) else {
        tracing::error!("the proxy's ports are taken");
        return;
    };
    *slot.lock().expect("proxy slot") = Some(proxy.clone());
    let _cleared = ClearOnDrop(slot.clone());
    // Dropping the set (the process dies) aborts every task in it.
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(proxy.clone().serve_clients(clients));
    tasks.spawn(proxy.clone().accept_agents(agents));
    while let Some(fwd) = forwards.recv().await {
        tasks.spawn(forward(net.clone(), fwd, open.clone(), counters.clone()));
        while tasks.try_join_next().is_some() {}
    }
}

/// Empties the proxy slot when the proxy's life ends.
struct ClearOnDrop(ProxySlot);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            *s = None;
        }
    }
}

/// One request from the load balancer to the proxy over loopback, and the answer back.
async fn forward(net: SimNet, fwd: Forward, open: Open, counters: TunnelCounters) {
    let (status, bytes) = match exchange(&net, &fwd).await {
        Ok((status, bytes, no_agent)) => {
            if no_agent {
                counters.no_agent.fetch_add(1, Ordering::Relaxed);
            }
            (status, bytes)
        }
        // The proxy reset the connection or cut the body: the load balancer answers 502.
        Err(_) => (502, 0),
    };
    open.lock().expect("open requests").remove(&fwd.id.0);
    net.send(fwd.req.reply_to, azsim_fakes::response(Some(fwd.id), fwd.req.call_id, status, bytes));
}

async fn exchange(net: &SimNet, fwd: &Forward) -> Result<(u16, u64, bool), String> {
    let stream = net.connect(SocketAddr::new(net.ip(), CLIENT_PORT)).await.map_err(|e| e.to_string())?;
    stream.tag_request(Some(fwd.id));
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let http = &fwd.req.http;
    let query = http.query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let uri = if query.is_empty() { http.path.clone() } else { format!("{}?{query}", http.path) };
    let host = if http.host.is_empty() { "backend" } else { http.host.as_str() };
    let mut builder = http::Request::builder().method(http.method.as_str()).uri(uri).header("host", host);
    for (k, v) in &http.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder = builder.header("x-request-id", format!("azsim-{}", fwd.id.0)).header(RESPONSE_BYTES_HEADER, fwd.req.response_bytes);
    let body = Full::new(Bytes::from(vec![0u8; fwd.req.request_bytes as usize]));
    let request = builder.body(body).map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let head: u64 = 17 + response.headers().iter().map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64).sum::<u64>();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let no_agent = status == 503 && body.starts_with(b"no agent connected");
    Ok((status, head + body.len() as u64, no_agent))
}

async fn run_agent(net: SimNet, config: AgentConfig, seed: Seed) {
    let mut life = 0u32;
    supervise(&net.clone(), || {
        let (net, config) = (net.clone(), config.clone());
        // Each life of the process draws from its own stream.
        let rng = seed.stream(&format!("tunnel/agent/{}/{life}", config.id));
        life += 1;
        async move { tunnel::agent::run_with_tls(config, net, Box::new(rng), None).await }
    })
    .await;
}

async fn run_backend(net: SimNet, processing: Dist, rng: Arc<Mutex<SimRng>>, counters: TunnelCounters) {
    supervise(&net.clone(), || {
        let (net, processing, rng, counters) = (net.clone(), processing.clone(), rng.clone(), counters.clone());
        async move {
            // Dropping the set (the process dies) aborts every connection's task.
            let Ok(mut listener) = net.bind(SocketAddr::new(net.ip(), BACKEND_PORT)).await else { return };
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (net, processing, rng, counters) = (net.clone(), processing.clone(), rng.clone(), counters.clone());
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (net, processing, rng, counters) = (net.clone(), processing.clone(), rng.clone(), counters.clone());
                        async move {
                            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
                            let size: usize = req.headers().get(RESPONSE_BYTES_HEADER).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
                            *counters.executions.lock().expect("executions").entry(id).or_insert(0) += 1;
                            let _ = req.into_body().collect().await;
                            let t = processing.sample(&mut rng.lock().expect("backend rng"));
                            net.sleep(Duration::from_nanos(t)).await;
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(vec![0u8; size]))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .auto_date_header(false)
                        .timer(TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    })
    .await;
}
