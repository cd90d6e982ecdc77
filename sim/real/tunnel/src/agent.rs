//! The forwarding agent: next to private backends, it dials out to every proxy, greets it, and
//! then serves the proxy's HTTP/2 streams by forwarding each to the local backend the
//! `x-tunnel-backend` header names. A lost connection is redialled with capped exponential
//! backoff and full jitter; a refused greeting is logged and retried the same way.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use azsim_net::{Accept, Clock, Connect, Resolve, Rng};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;

mod config;

pub use config::AgentConfig;

use crate::protocol::{Hello, read_line};
use crate::proxy::BACKEND_HEADER;

type Body = BoxBody<Bytes, hyper::Error>;

/// The addresses of `name` (`host:port`).
async fn resolve<N: Resolve>(net: &N, name: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = name.rsplit_once(':').ok_or_else(|| format!("{name}: expected host:port"))?;
    let port: u16 = port.parse().map_err(|_| format!("{name}: bad port"))?;
    let ips = net.resolve(host).await.map_err(|e| e.to_string())?;
    Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
}

fn text(status: u16, body: &'static str) -> http::Response<Body> {
    let body = Full::new(Bytes::from_static(body.as_bytes())).map_err(|never: Infallible| match never {}).boxed();
    http::Response::builder().status(status).body(body).expect("a valid response")
}

/// Marks a response the agent made because the backend failed (counted in its metrics).
#[derive(Clone, Copy)]
struct BackendFailed;

/// [`text`] for a backend's failure.
fn backend_failed(body: &'static str) -> http::Response<Body> {
    let mut response = text(502, body);
    response.extensions_mut().insert(BackendFailed);
    response
}

/// TLS to the proxies: the connector and the name their certificates must carry.
pub type Tls = (tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>);

/// Runs the agent: one session loop per proxy, forever. Dropping (or aborting) this future
/// ends every session, as the process's death would. TLS comes from `config.tls` (PEM files);
/// a bad TLS setting is an error before anything connects.
pub async fn run<N: Connect + Clock + Resolve>(config: AgentConfig, net: N, rng: Box<dyn Rng + Send>) -> Result<(), String> {
    let tls = config.tls.as_ref().map(|t| t.connector()).transpose()?;
    run_with_tls(config, net, rng, tls).await;
    Ok(())
}

/// [`run`] with TLS given directly.
pub async fn run_with_tls<N: Connect + Clock + Resolve>(config: AgentConfig, net: N, rng: Box<dyn Rng + Send>, tls: Option<Tls>) {
    run_until(config, net, rng, tls, std::future::pending::<()>()).await;
}

/// What the agent runs with: its config and TLS, replaced whole by a reload.
#[derive(Clone)]
pub struct Settings {
    pub config: AgentConfig,
    pub tls: Option<Tls>,
}

/// The agent's counters and gauges (its `/metrics`), shared with its admin endpoint.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// Proxy sessions up (greeted and serving, including sessions a reload is retiring).
    pub proxies_connected: AtomicI64,
    /// Sessions that ended or failed, after which the agent dialled again.
    pub reconnects: AtomicU64,
    /// Greetings a proxy refused.
    pub refused: AtomicU64,
    /// Streams (requests) being served.
    pub streams_in_flight: AtomicI64,
    /// Requests whose backend refused or broke the connection, or failed to answer (502).
    pub backend_errors: AtomicU64,
}

impl AgentStats {
    /// Ready while at least one proxy session is up.
    pub fn is_ready(&self) -> bool {
        self.proxies_connected.load(Ordering::Relaxed) > 0
    }

    /// Prometheus text.
    pub fn prometheus(&self) -> String {
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed);
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        for (name, kind, help, value) in [
            ("tunnel_agent_proxies_connected", "gauge", "Proxy sessions up.", g(&self.proxies_connected)),
            ("tunnel_agent_streams_in_flight", "gauge", "Requests being served.", g(&self.streams_in_flight)),
            ("tunnel_agent_reconnects_total", "counter", "Proxy sessions that ended or failed and were dialled again.", c(&self.reconnects) as i64),
            ("tunnel_agent_refused_total", "counter", "Greetings a proxy refused.", c(&self.refused) as i64),
            (
                "tunnel_agent_backend_errors_total",
                "counter",
                "Requests the local backend refused, broke or failed to answer (502).",
                c(&self.backend_errors) as i64,
            ),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        }
        out.push_str(&crate::metrics::build_info("forwarding-agent"));
        out
    }
}

/// Counts a stream (or a session) while it lives.
struct Gauge(Arc<AgentStats>, fn(&AgentStats) -> &AtomicI64);

impl Gauge {
    fn new(stats: Arc<AgentStats>, which: fn(&AgentStats) -> &AtomicI64) -> Self {
        which(&stats).fetch_add(1, Ordering::Relaxed);
        Gauge(stats, which)
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs until `shutdown` completes: registers the backends in Cloud Map (if configured), serves,
/// then closes every proxy session and deregisters.
pub async fn run_until<N: Connect + Clock + Resolve>(
    config: AgentConfig,
    net: N,
    rng: Box<dyn Rng + Send>,
    tls: Option<Tls>,
    shutdown: impl std::future::Future,
) {
    let (_keep, settings) = tokio::sync::watch::channel(Settings { config, tls });
    run_live(settings, net, rng, Arc::default(), shutdown).await;
}

/// Waits for new settings (forever if none can come).
async fn changed(rx: &mut tokio::sync::watch::Receiver<Settings>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// [`run_until`] with settings that can change while it runs (a reload: send new ones on the
/// channel). Each proxy session with the old settings is replaced by one with the new: the
/// new one is dialled and greeted first, then the old one is told (HTTP/2 GOAWAY) to take no
/// more streams and finishes those in hand. Proxies added to the settings are joined, removed
/// ones left. Cloud Map registration keeps the settings of the start. On `shutdown` every
/// session is closed the same way (up to `drain_timeout_ms`). Long on purpose: the agent's
/// life in the order it happens (register, serve, drain, deregister).
pub async fn run_live<N: Connect + Clock + Resolve>(
    settings: tokio::sync::watch::Receiver<Settings>,
    net: N,
    mut rng: Box<dyn Rng + Send>,
    stats: Arc<AgentStats>,
    shutdown: impl std::future::Future,
) {
    let first = settings.borrow().config.clone();
    if let Some(reg) = &first.cloud_map {
        for attempt in 1..=5u32 {
            match crate::cloudmap::register(&net, reg, &first.id, &first.backends).await {
                Ok(()) => break,
                Err(e) => tracing::warn!(attempt, error = %e, "Cloud Map registration failed"),
            }
            net.sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    // One session loop per proxy address: the static ones, every address the proxy names
    // resolve to and every proxy Cloud Map lists, looked up again every `resolve_every_ms`
    // (proxies added are joined, removed ones left). Session loops end only when stopped.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut sessions = tokio::task::JoinSet::new();
    let mut running: BTreeMap<SocketAddr, tokio::task::AbortHandle> = BTreeMap::new();
    let mut changes = settings.clone();
    let serve = async {
        loop {
            let config = changes.borrow_and_update().config.clone();
            let mut wanted: Vec<SocketAddr> = config.proxies.clone();
            let mut failed_lookup = false;
            for name in &config.proxy_names {
                match resolve(&net, name).await {
                    Ok(addrs) => wanted.extend(addrs),
                    Err(e) => {
                        failed_lookup = true;
                        tracing::warn!(%name, error = %e, "resolving a proxy name failed; keeping the proxies it had");
                    }
                }
            }
            if let Some(d) = &config.proxy_discovery {
                match crate::cloudmap::discover_proxies(&net, d).await {
                    Ok(addrs) => wanted.extend(addrs),
                    Err(e) => {
                        failed_lookup = true;
                        tracing::warn!(service = %d.service, error = %e, "discovering proxies in Cloud Map failed; keeping the proxies it had");
                    }
                }
            }
            for proxy in &wanted {
                if !running.contains_key(proxy) {
                    let seed = rng.next_u64();
                    let handle = sessions.spawn(session_loop(settings.clone(), net.clone(), *proxy, seed, stats.clone(), stopping.clone()));
                    running.insert(*proxy, handle);
                }
            }
            // After a failed lookup nothing is dropped (static stability).
            if !failed_lookup {
                running.retain(|addr, handle| {
                    let keep = wanted.contains(addr);
                    if !keep {
                        tracing::info!(proxy = %addr, "proxy no longer listed: leaving it");
                        handle.abort();
                    }
                    keep
                });
            }
            if config.proxy_names.is_empty() && config.proxy_discovery.is_none() {
                changed(&mut changes).await;
            } else {
                tokio::select! {
                    biased;
                    _ = net.sleep(Duration::from_millis(config.resolve_every_ms)) => {}
                    _ = changed(&mut changes) => {}
                }
            }
        }
    };
    // Shutdown wins a tie: a stop asked for is not missed because a lookup ended too.
    tokio::select! {
        biased;
        _ = shutdown => tracing::info!("shutting down: closing the proxy sessions"),
        _ = serve => {}
    }
    // Each session tells its proxy to send no more and finishes the streams in hand.
    let _ = stop.send(true);
    let timeout = Duration::from_millis(settings.borrow().config.drain_timeout_ms);
    let drained = tokio::select! {
        biased;
        _ = async { while sessions.join_next().await.is_some() {} } => true,
        _ = net.sleep(timeout) => false,
    };
    if !drained {
        tracing::warn!(?timeout, "streams still in hand after the drain timeout: cut");
    }
    sessions.abort_all();
    if let Some(Err(e)) = match &first.cloud_map {
        Some(reg) => Some(crate::cloudmap::deregister(&net, reg, &first.id, &first.backends).await),
        None => None,
    } {
        tracing::warn!(error = %e, "Cloud Map deregistration failed");
    }
    tracing::info!("stopped");
}

/// Waits until `flag` is true (forever if its sender is gone).
async fn until_true(flag: &mut tokio::sync::watch::Receiver<bool>) {
    if flag.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A session being served, until it ends (`Ok` for a clean close).
type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// One proxy's sessions, one after another (or two at once while a reload replaces one), until
/// `stopping`.
async fn session_loop<N: Connect + Clock>(
    mut settings: tokio::sync::watch::Receiver<Settings>,
    net: N,
    proxy: SocketAddr,
    seed: u64,
    stats: Arc<AgentStats>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    // The jitter of one session loop: the workspace's generator, seeded from the agent's.
    let mut rng = azsim_net::Xoshiro256StarStar::from_splitmix64(&mut azsim_net::SplitMix64::new(seed));
    let mut failures = 0u32;
    // Sessions with settings a reload replaced, serving until their streams are done.
    let mut retiring = tokio::task::JoinSet::new();
    // Tells the session being replaced to stop, once its replacement is up.
    let mut retire: Option<tokio::sync::oneshot::Sender<()>> = None;
    loop {
        if *stopping.borrow() {
            break;
        }
        let Settings { config, tls } = settings.borrow_and_update().clone();
        let started = net.now();
        let result = match session(&config, &net, proxy, tls.as_ref()).await {
            Err(e) => {
                if e.starts_with("refused by the proxy") {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                }
                Err(e)
            }
            Ok(stream) => {
                if let Some(old) = retire.take() {
                    tracing::info!(%proxy, "new session up: the one it replaces takes no more requests");
                    let _ = old.send(());
                }
                let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
                let up = Gauge::new(stats.clone(), |s| &s.proxies_connected);
                let mut serving: Serving = match stream {
                    Stream::Tls(s) => Box::pin(serve(config.clone(), net.clone(), *s, stop_rx, stats.clone())),
                    Stream::Plain(s) => Box::pin(serve(config.clone(), net.clone(), s, stop_rx, stats.clone())),
                };
                let ended = tokio::select! {
                    biased;
                    r = &mut serving => Some(r),
                    _ = until_true(&mut stopping) => {
                        let _ = stop_tx.send(());
                        let r = serving.await;
                        tracing::info!(%proxy, "proxy session closed");
                        drop(up);
                        r.err().into_iter().for_each(|e| tracing::info!(%proxy, error = %e, "the session ended with an error while closing"));
                        break;
                    }
                    _ = changed(&mut settings) => None,
                };
                match ended {
                    Some(r) => r,
                    None => {
                        // New settings: this session serves on until its replacement is up.
                        tracing::info!(%proxy, "settings changed: dialling a new session");
                        retire = Some(stop_tx);
                        retiring.spawn(async move {
                            let _ = serving.await;
                            drop(up);
                        });
                        failures = 0;
                        continue;
                    }
                }
            }
        };
        match result {
            Ok(()) => tracing::warn!(%proxy, "proxy connection closed"),
            Err(e) => tracing::warn!(%proxy, error = %e, "proxy session failed"),
        }
        stats.reconnects.fetch_add(1, Ordering::Relaxed);
        // A session that lasted a while resets the backoff.
        failures = if net.now().saturating_duration_since(started) > Duration::from_secs(30) { 1 } else { failures + 1 };
        let ceiling = config.backoff_base_ms.saturating_mul(1 << failures.min(20).saturating_sub(1)).min(config.backoff_cap_ms);
        let wait = rng.below(ceiling.clamp(1, u64::MAX - 1) + 1);
        tokio::select! {
            biased;
            _ = until_true(&mut stopping) => break,
            _ = net.sleep(Duration::from_millis(wait)) => {}
        }
    }
    // Retiring sessions finish too.
    if let Some(old) = retire.take() {
        let _ = old.send(());
    }
    while retiring.join_next().await.is_some() {}
}

/// Dials `proxy`, with TLS if configured, and greets it.
async fn session<N: Connect + Clock>(
    config: &AgentConfig,
    net: &N,
    proxy: SocketAddr,
    tls: Option<&Tls>,
) -> Result<Stream<N::Stream, tokio_rustls::client::TlsStream<N::Stream>>, String> {
    let timeout = Duration::from_millis(config.connect_timeout_ms);
    let connect = async {
        let stream = net.connect(proxy).await.map_err(|e| format!("connect: {e}"))?;
        match tls {
            Some((connector, name)) => {
                let mut stream = connector.connect(name.clone(), stream).await.map_err(|e| format!("TLS (the proxy's certificate is checked): {e}"))?;
                greet(config, &mut stream).await?;
                Ok::<_, String>(Stream::Tls(Box::new(stream)))
            }
            None => {
                let mut stream = stream;
                greet(config, &mut stream).await?;
                Ok(Stream::Plain(stream))
            }
        }
    };
    let stream = tokio::select! {
        biased;
        r = connect => r?,
        _ = net.sleep(timeout) => return Err(format!("no connection within {timeout:?}")),
    };
    tracing::info!(%proxy, "connected to proxy");
    Ok(stream)
}

enum Stream<P, T> {
    Plain(P),
    Tls(Box<T>),
}

/// Sends the greeting and waits for the proxy's `OK`.
async fn greet<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(config: &AgentConfig, stream: &mut S) -> Result<(), String> {
    let hello = Hello { agent: config.id.clone(), token: config.token.clone(), backends: config.backends.keys().cloned().collect() };
    stream.write_all(hello.encode().as_bytes()).await.map_err(|e| e.to_string())?;
    let reply = read_line(stream).await.map_err(|e| format!("reply: {e}"))?;
    if reply != "OK" {
        return Err(format!("refused by the proxy: {reply}"));
    }
    Ok(())
}

/// Serves the proxy's streams on a greeted connection until it ends; once `stop` fires, tells
/// the proxy (GOAWAY) to send no more and finishes the streams in hand.
async fn serve<N: Connect, S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>(
    config: AgentConfig,
    net: N,
    stream: S,
    stop: tokio::sync::oneshot::Receiver<()>,
    stats: Arc<AgentStats>,
) -> Result<(), String> {
    let backends = Arc::new(config.backends.clone());
    let pool = Pool::default();
    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let (backends, net, pool, stats) = (backends.clone(), net.clone(), pool.clone(), stats.clone());
        async move {
            let _stream = Gauge::new(stats.clone(), |s| &s.streams_in_flight);
            let response = forward(req, &backends, &net, &pool).await;
            if response.extensions().get::<BackendFailed>().is_some() {
                stats.backend_errors.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Infallible>(response)
        }
    });
    // Unlike the proxy's h2 client, this h2 server cannot be told to forget the streams it
    // reset by count rather than by wall-clock time (hyper offers no setting for it): under
    // virtual time that still matters if a frame for a stream the agent reset itself (its
    // backend answered or failed before reading the whole request) comes a wall-clock second
    // later. See the wall clock in dependencies in sim/ARCHITECTURE.md.
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        // The backend's own Date passes through; the agent adds none (and the simulation stays
        // independent of the wall clock).
        .auto_date_header(false)
        .timer(TokioTimer::new())
        .initial_stream_window_size(4 << 20)
        .initial_connection_window_size(16 << 20)
        .max_frame_size(256 << 10)
        .keep_alive_interval(Duration::from_millis(config.keepalive_interval_ms))
        .keep_alive_timeout(Duration::from_millis(config.keepalive_timeout_ms))
        .enable_connect_protocol()
        .serve_connection(TokioIo::new(stream), svc);
    let mut conn = std::pin::pin!(conn);
    // A dropped sender (the agent going away) is no stop: the session is aborted then.
    let stop = async {
        if stop.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        biased;
        r = conn.as_mut() => return r.map_err(|e| format!("HTTP/2: {e}")),
        _ = stop => {}
    }
    conn.as_mut().graceful_shutdown();
    conn.await.map_err(|e| format!("HTTP/2: {e}"))
}

/// The agent's admin endpoint: `/ready` (200 while a proxy session is up, else 503) and
/// `/metrics` (Prometheus text), until `shutdown`.
pub async fn serve_admin_until<A: Accept, C: Clock>(
    mut listener: A,
    clock: C,
    stats: Arc<AgentStats>,
    extra: Option<crate::metrics::ExtraMetrics>,
    shutdown: impl std::future::Future,
) {
    let health = crate::accept::ListenerHealth::default();
    crate::accept::accept_until(&mut listener, &clock, &health, "admin", shutdown, |stream, _| {
        let (stats, extra) = (stats.clone(), extra.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let (stats, extra) = (stats.clone(), extra.clone());
                async move {
                    let (status, body) = match req.uri().path() {
                        "/ready" if stats.is_ready() => (200, "ready\n".to_string()),
                        "/ready" => (503, "no proxy session up\n".to_string()),
                        "/metrics" => (200, stats.prometheus() + &extra.map_or_else(String::new, |e| e())),
                        _ => (404, "try /ready or /metrics\n".to_string()),
                    };
                    let body = Full::new(Bytes::from(body)).map_err(|never: Infallible| match never {}).boxed();
                    Ok::<_, Infallible>(http::Response::builder().status(status).header("content-type", "text/plain").body(body).expect("a valid response"))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().auto_date_header(false).serve_connection(TokioIo::new(stream), svc).await;
        });
    })
    .await;
}

/// Keep-alive connections to the local backends: a connection is taken when it is idle (its
/// last response fully read), and put back as soon as the response head has arrived.
#[derive(Clone, Default)]
struct Pool(std::sync::Arc<std::sync::Mutex<BTreeMap<SocketAddr, Vec<SendRequest>>>>);

type SendRequest = hyper::client::conn::http1::SendRequest<Body>;

impl Pool {
    fn take(&self, addr: SocketAddr) -> Option<SendRequest> {
        let mut pool = self.0.lock().expect("pool lock");
        let conns = pool.get_mut(&addr)?;
        conns.retain(|c| !c.is_closed());
        let i = conns.iter().position(|c| c.is_ready())?;
        Some(conns.swap_remove(i))
    }

    fn put(&self, addr: SocketAddr, sender: SendRequest) {
        self.0.lock().expect("pool lock").entry(addr).or_default().push(sender);
    }
}

/// Sends one request to its local backend and streams the answer back.
async fn forward<N: Connect>(mut req: http::Request<Incoming>, backends: &BTreeMap<String, SocketAddr>, net: &N, pool: &Pool) -> http::Response<Body> {
    let Some(addr) = req.headers_mut().remove(BACKEND_HEADER).and_then(|v| backends.get(v.to_str().ok()?).copied()) else {
        return text(421, "this agent does not serve that backend\n");
    };
    if req.method() == http::Method::CONNECT && req.extensions().get::<hyper::ext::Protocol>().is_some_and(|p| p.as_str() == "websocket") {
        return websocket(req, addr, net).await;
    }
    let mut sender = match pool.take(addr) {
        Some(s) => s,
        None => {
            let stream = match net.connect(addr).await {
                Ok(s) => s,
                Err(_) => return backend_failed("the backend refused the connection\n"),
            };
            let Ok((sender, conn)) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await else {
                return backend_failed("the backend broke the connection\n");
            };
            tokio::spawn(conn);
            sender
        }
    };
    // HTTP/2 carries no Host line: keep the authority as the Host header for the backend.
    if !req.headers().contains_key(http::header::HOST)
        && let Some(host) = req.uri().authority().and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(http::header::HOST, host);
    }
    // The origin form (path and query only), without parsing it again.
    let mut origin_form = http::uri::Parts::default();
    origin_form.path_and_query = Some(req.uri().path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")));
    if let Ok(uri) = http::Uri::from_parts(origin_form) {
        *req.uri_mut() = uri;
    }
    *req.version_mut() = http::Version::HTTP_11;
    let answer = sender.send_request(req.map(|b| b.boxed())).await;
    pool.put(addr, sender);
    match answer {
        Ok(resp) => resp.map(|b| b.boxed()),
        Err(_) => backend_failed("the backend failed to answer\n"),
    }
}

/// The agent's half of a WebSocket: an HTTP/1.1 upgrade to the backend; on its 101, answers
/// the proxy's extended CONNECT with 200 (and the backend's WebSocket headers) and joins the
/// two streams.
async fn websocket<N: Connect>(mut req: http::Request<Incoming>, addr: SocketAddr, net: &N) -> http::Response<Body> {
    let Ok(stream) = net.connect(addr).await else { return backend_failed("the backend refused the connection\n") };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await else {
        return backend_failed("the backend broke the connection\n");
    };
    tokio::spawn(conn.with_upgrades());
    let authority = req.uri().authority().map_or("backend".to_string(), |a| a.to_string());
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut upgrade = http::Request::get(path).header("host", authority).header("connection", "upgrade").header("upgrade", "websocket");
    for (name, value) in req.headers() {
        if !crate::proxy::is_hop_by_hop(name) {
            upgrade = upgrade.header(name, value);
        }
    }
    let Ok(upgrade) = upgrade.body(Full::new(Bytes::new()).map_err(|never: Infallible| match never {}).boxed()) else {
        return text(400, "bad upgrade request\n");
    };
    let proxy_side = hyper::upgrade::on(&mut req);
    let answer = match sender.send_request(upgrade).await {
        Ok(a) => a,
        Err(_) => return backend_failed("the backend failed to answer\n"),
    };
    if answer.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return answer.map(|b| b.boxed());
    }
    let mut ok = http::Response::builder().status(http::StatusCode::OK);
    for (name, value) in answer.headers() {
        if !crate::proxy::is_hop_by_hop(name) {
            ok = ok.header(name, value);
        }
    }
    let backend_side = hyper::upgrade::on(answer);
    tokio::spawn(async move {
        if let (Ok(proxy), Ok(backend)) = (proxy_side.await, backend_side.await) {
            let (mut proxy, mut backend) = (TokioIo::new(proxy), TokioIo::new(backend));
            let _ = tokio::io::copy_bidirectional(&mut proxy, &mut backend).await;
        }
    });
    ok.body(Full::new(Bytes::new()).map_err(|never: Infallible| match never {}).boxed()).unwrap_or_else(|_| text(502, "bad upgrade answer\n"))
}
