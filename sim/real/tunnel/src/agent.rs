//! The forwarding agent: next to private backends, it dials out to every proxy, greets it, and
//! then serves the proxy's HTTP/2 streams by forwarding each to the local backend the
//! `x-tunnel-backend` header names. A lost connection is redialled with capped exponential
//! backoff and full jitter; a refused greeting is logged and retried the same way.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use azsim_net::{Clock, Connect, Resolve, Rng};
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

/// Runs until `shutdown` completes: registers the backends in Cloud Map (if configured), serves,
/// then closes every proxy session and deregisters. Long on purpose: the agent's life in the
/// order it happens (register, serve, drain, deregister).
pub async fn run_until<N: Connect + Clock + Resolve>(
    config: AgentConfig,
    net: N,
    mut rng: Box<dyn Rng + Send>,
    tls: Option<Tls>,
    shutdown: impl std::future::Future,
) {
    if let Some(reg) = &config.cloud_map {
        for attempt in 1..=5u32 {
            match crate::cloudmap::register(&net, reg, &config.id, &config.backends).await {
                Ok(()) => break,
                Err(e) => tracing::warn!(attempt, error = %e, "Cloud Map registration failed"),
            }
            net.sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    // One session loop per proxy address: the static ones, every address the proxy names
    // resolve to and every proxy Cloud Map lists, looked up again every `resolve_every_ms`
    // (proxies added are joined, removed ones left). Session loops never end on their own.
    let mut sessions = tokio::task::JoinSet::new();
    let mut running: BTreeMap<SocketAddr, tokio::task::AbortHandle> = BTreeMap::new();
    let serve = async {
        loop {
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
                    let handle = sessions.spawn(session_loop(config.clone(), net.clone(), *proxy, seed, tls.clone()));
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
                std::future::pending::<()>().await;
            }
            net.sleep(Duration::from_millis(config.resolve_every_ms)).await;
        }
    };
    // Shutdown wins a tie: a stop asked for is not missed because a lookup ended too.
    tokio::select! {
        biased;
        _ = shutdown => tracing::info!("shutting down"),
        _ = serve => {}
    }
    sessions.abort_all();
    if let Some(Err(e)) = match &config.cloud_map {
        Some(reg) => Some(crate::cloudmap::deregister(&net, reg, &config.id, &config.backends).await),
        None => None,
    } {
        tracing::warn!(error = %e, "Cloud Map deregistration failed");
    }
}

async fn session_loop<N: Connect + Clock>(config: AgentConfig, net: N, proxy: SocketAddr, seed: u64, tls: Option<Tls>) {
    // The jitter of one session loop: the workspace's generator, seeded from the agent's.
    let mut rng = azsim_net::Xoshiro256StarStar::from_splitmix64(&mut azsim_net::SplitMix64::new(seed));
    let mut failures = 0u32;
    loop {
        let started = net.now();
        match session(&config, &net, proxy, tls.as_ref()).await {
            Ok(()) => tracing::warn!(%proxy, "proxy connection closed"),
            Err(e) => tracing::warn!(%proxy, error = %e, "proxy session failed"),
        }
        // A session that lasted a while resets the backoff.
        failures = if net.now().saturating_duration_since(started) > Duration::from_secs(30) { 1 } else { failures + 1 };
        let ceiling = config.backoff_base_ms.saturating_mul(1 << failures.min(20).saturating_sub(1)).min(config.backoff_cap_ms);
        let wait = rng.below(ceiling.clamp(1, u64::MAX - 1) + 1);
        net.sleep(Duration::from_millis(wait)).await;
    }
}

async fn session<N: Connect + Clock>(config: &AgentConfig, net: &N, proxy: SocketAddr, tls: Option<&Tls>) -> Result<(), String> {
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
    match stream {
        Stream::Tls(s) => serve(config, net, *s).await,
        Stream::Plain(s) => serve(config, net, s).await,
    }
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

/// Serves the proxy's streams on a greeted connection until it ends.
async fn serve<N: Connect, S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>(
    config: &AgentConfig,
    net: &N,
    stream: S,
) -> Result<(), String> {
    let backends = std::sync::Arc::new(config.backends.clone());
    let net = net.clone();
    let pool = Pool::default();
    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let (backends, net, pool) = (backends.clone(), net.clone(), pool.clone());
        async move { Ok::<_, Infallible>(forward(req, &backends, &net, &pool).await) }
    });
    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
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
        .serve_connection(TokioIo::new(stream), svc)
        .await
        .map_err(|e| format!("HTTP/2: {e}"))
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
                Err(_) => return text(502, "the backend refused the connection\n"),
            };
            let Ok((sender, conn)) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await else {
                return text(502, "the backend broke the connection\n");
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
        Err(_) => text(502, "the backend failed to answer\n"),
    }
}

/// The agent's half of a WebSocket: an HTTP/1.1 upgrade to the backend; on its 101, answers
/// the proxy's extended CONNECT with 200 (and the backend's WebSocket headers) and joins the
/// two streams.
async fn websocket<N: Connect>(mut req: http::Request<Incoming>, addr: SocketAddr, net: &N) -> http::Response<Body> {
    let Ok(stream) = net.connect(addr).await else { return text(502, "the backend refused the connection\n") };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await else {
        return text(502, "the backend broke the connection\n");
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
        Err(_) => return text(502, "the backend failed to answer\n"),
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
