//! The inverting proxy: it accepts agents (authenticated by their greeting), and serves clients
//! by sending each request as an HTTP/2 stream to an agent of the request's backend.
//!
//! Failure semantics:
//! - no agent for the backend: 503 at once;
//! - a request the chosen agent's connection could not take (it was closing) goes to another
//!   agent of the backend: it was never handed over;
//! - a request handed to an agent that is lost before answering: 502, not sent again (unless the
//!   method is idempotent, the request has no body and `retry_idempotent` is set: then it goes to
//!   another agent of the backend, which may execute it a second time);
//! - an agent lost while the response streams: the client's connection is aborted (the body
//!   ends in an error, never a clean end);
//! - the deadline passes before the response head: 504;
//! - headers over `max_header_bytes`: 431; a declared body over `max_body_bytes`: 413 (both
//!   close the connection: the request's body is not read).
//!
//! Bad requests are the client's fault, answered 400 with the connection closed and counted as
//! client errors ([`crate::metrics::ClientError`]), never as an agent's failure: a malformed
//! chunked body, no `Host` on HTTP/1.1 or more than one `Host` (RFC 9112 §3.2), a path that
//! climbs above the root ([`target`] says how paths are normalised). `CONNECT` is refused with
//! 405: the proxy is no forward proxy (WebSocket upgrades come as `GET`). Host routing ignores
//! ASCII case; path prefixes match whole segments of the normalised path.
//!
//! Slow clients: a connection whose request head is not complete within
//! `header_read_timeout_ms` (10 s) is closed (a client that sends its headers slowly, or opens a
//! connection and sends nothing). A client that then sends nothing of its request body for
//! `body_read_timeout_ms` (10 s) is cut off: the request's stream toward the agent is reset (so
//! the backend never sees a clean end of a truncated body) and the client gets 408 Request Timeout
//! and a closed connection, or, if the response has already started, an aborted response. Both
//! run on the injected clock.
//!
//! Reload ([`Proxy::reload`]): the config and the agents' TLS acceptor are replaced whole;
//! requests and connections in hand go on, agent sessions the new config no longer admits are
//! closed. Agents: each grant takes a list of tokens, and under mutual TLS an agent's
//! certificate must carry its name (`agent_cert_name`).
//!
//! Observability: every response the proxy makes itself carries a [`ProxyAnswer`] (counted
//! apart from the backend's answers), each request has an id (`x-request-id`, made as
//! `<name>-<boot id>-<counter>` if absent, returned to the client) and an access line (target
//! `access`); [`Proxy::prometheus`] adds the gauges (agents per backend, requests in flight).
//!
//! Graceful shutdown ([`Proxy::drain`]): not ready first, then the requests in hand finish.
//! Each listener's loop takes a shutdown future (`*_until`) and outlives accept errors
//! ([`crate::accept`]); `/ready` is 503 while a listener is not accepting.
//!
//! WebSocket upgrades pass through as HTTP/2 extended CONNECT streams (RFC 8441).
//!
//! Requests in flight are bounded (`max_in_flight`, 503 beyond it).

mod config;
pub mod target;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use std::time::Instant as StdInstant; // determinism: ok: hyper's Timer names it; ours come from the injected clock

use azsim_net::{Accept, BoxSleep, Clock};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;

use crate::accept::{ListenerHealth, accept_until};
use crate::metrics::{ClientError, Metrics};
use crate::protocol::{Hello, read_line};
use crate::secret::constant_time_eq;

pub use config::{Grant, HeaderSettings, ProxyConfig, Route, Tokens};

/// The header that tells the agent which backend a request is for.
pub const BACKEND_HEADER: &str = "x-tunnel-backend";

/// Under a clock that is not the wall clock (the simulation), how many streams it reset an
/// agent connection's h2 remembers, never forgetting them by time (see `agent_session`); each
/// costs a few hundred bytes until the connection ends.
const SIMULATED_RESET_STREAMS: usize = 4096;

/// Errors of the bodies the proxy passes on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub type Body = BoxBody<Bytes, BoxError>;

struct AgentConn {
    id: u64,
    agent: Arc<str>,
    sender: SendRequest<Body>,
    in_flight: Arc<AtomicU32>,
    /// What the agent presented (its greeting, its certificate under mutual TLS), checked
    /// again against each reloaded config.
    credentials: Arc<Credentials>,
    /// Ends the session (its grant was withdrawn by a reload).
    kick: Arc<tokio::sync::Notify>,
}

/// What an agent presented when it connected.
struct Credentials {
    hello: Hello,
    certificate: Option<rustls::pki_types::CertificateDer<'static>>,
}

/// What a reload replaces at once: the config, what is derived from it, and the TLS acceptor
/// of the agents' listener.
struct Live {
    config: ProxyConfig,
    /// The `x-tunnel-backend` value of each backend a route (or the default) names, made once;
    /// a backend id that cannot be a header value is absent (its requests get 500).
    backend_headers: BTreeMap<String, http::HeaderValue>,
    agent_tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Live {
    fn new(config: ProxyConfig, agent_tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let backend_headers = config
            .routes
            .iter()
            .map(|r| &r.backend)
            .chain(config.default_backend.as_ref())
            .filter_map(|b| Some((b.clone(), http::HeaderValue::from_str(b).ok()?)))
            .collect();
        Live { config, backend_headers, agent_tls }
    }
}

/// Why an agent was refused (the `reason` label of `tunnel_agents_refused_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No TLS handshake, or a failed one (a certificate the client CA did not issue).
    Tls,
    /// No greeting in time, or not a greeting.
    Greeting,
    /// An unknown agent or a wrong token (the same answer for both).
    Credentials,
    /// A backend the agent's grant does not name.
    Backend,
    /// A client certificate that does not carry the agent's name.
    Certificate,
    /// Its grant was withdrawn or changed by a reload.
    Reload,
}

impl Refusal {
    pub const ALL: [Refusal; 6] = [Refusal::Tls, Refusal::Greeting, Refusal::Credentials, Refusal::Backend, Refusal::Certificate, Refusal::Reload];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::Tls => "tls",
            Refusal::Greeting => "greeting",
            Refusal::Credentials => "credentials",
            Refusal::Backend => "backend",
            Refusal::Certificate => "certificate",
            Refusal::Reload => "reload",
        }
    }
}

/// A response the proxy made itself (not the backend's), and why: a response extension read
/// by the metrics and the access log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyAnswer(pub &'static str);

/// The client's address, as a request extension.
#[derive(Clone, Copy, Debug)]
struct ClientAddr(std::net::SocketAddr);

/// A chosen agent connection: its id, the agent's name, its sender and in-flight counter.
type Picked = (u64, Arc<str>, SendRequest<Body>, Arc<AtomicU32>);

/// What [`Proxy::reload`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Agents whose sessions the new config no longer admits: disconnected.
    pub disconnected: Vec<String>,
}

#[derive(Default)]
struct State {
    by_backend: BTreeMap<String, Vec<AgentConn>>,
    next_id: u64,
}

/// The proxy. Share it in an `Arc`; run [`Proxy::accept_agents`], [`Proxy::serve_clients`] and
/// [`Proxy::serve_admin`] on their listeners.
pub struct Proxy<C> {
    /// The config, replaced whole by [`Proxy::reload`].
    live: RwLock<Arc<Live>>,
    clock: C,
    state: Mutex<State>,
    pub metrics: Metrics,
    request_ids: std::sync::atomic::AtomicU64,
    /// Part of each request id this proxy makes, so that ids stay unique across restarts.
    boot_id: u32,
    extra_metrics: Option<crate::metrics::ExtraMetrics>,
    /// Client requests being handled, until their response body has been sent (for draining).
    active: Arc<AtomicU32>,
    /// Set by [`Proxy::drain`]: not ready, so load balancers stop sending.
    draining: std::sync::atomic::AtomicBool,
    /// Whether the clients', agents' and admin listeners are accepting.
    listeners: Listeners,
}

#[derive(Debug, Default)]
struct Listeners {
    clients: ListenerHealth,
    agents: ListenerHealth,
    admin: ListenerHealth,
}

/// How the proxy runs, beside its config file (the binary's flags).
#[derive(Clone, Default)]
pub struct Options {
    /// TLS for the agents' listener (see [`crate::tls`]).
    pub agent_tls: Option<tokio_rustls::TlsAcceptor>,
    /// Print a CloudWatch Embedded Metric Format line per response to stdout.
    pub emf: bool,
    /// Part of every request id the proxy makes (`<name>-<boot id>-<counter>`): draw it from
    /// the environment's random numbers so that a restarted proxy does not repeat ids.
    pub boot_id: u32,
    /// More Prometheus text for `/metrics` (the binary's process and certificate metrics).
    pub extra_metrics: Option<crate::metrics::ExtraMetrics>,
}

/// The token an unknown agent's greeting is compared with, so that it costs the same as a
/// known agent's and gets the same answer: agent ids cannot be enumerated.
const NO_SUCH_AGENT: &[u8] = b"\0no agent has this token\0";

/// The answer to a greeting from an unknown agent or with a wrong token (the same for both).
const NOT_AUTHORISED: &str = "unknown agent or wrong token";

fn text(status: u16, body: impl Into<String>) -> http::Response<Body> {
    answer(status, "other", body)
}

/// A response the proxy makes itself, marked with `why` (see [`ProxyAnswer`]).
fn answer(status: u16, why: &'static str, body: impl Into<String>) -> http::Response<Body> {
    let body = Full::new(Bytes::from(body.into())).map_err(|never: Infallible| match never {}).boxed();
    let mut response = http::Response::builder().status(status).header("content-type", "text/plain").body(body).expect("a valid response");
    response.extensions_mut().insert(ProxyAnswer(why));
    response
}

impl<C: Clock> Proxy<C> {
    /// A proxy without TLS on its agent listener.
    pub fn new(config: ProxyConfig, clock: C) -> Arc<Self> {
        Self::with_agent_tls(config, clock, None)
    }

    /// A proxy whose agents connect over TLS through `acceptor` (see [`crate::tls`]).
    pub fn with_agent_tls(config: ProxyConfig, clock: C, acceptor: Option<tokio_rustls::TlsAcceptor>) -> Arc<Self> {
        Self::with_options(config, clock, Options { agent_tls: acceptor, ..Options::default() })
    }

    /// A proxy run with `options`. The config is taken as given: check a config file with
    /// [`ProxyConfig::from_json`] (or [`ProxyConfig::validate`]) first.
    pub fn with_options(config: ProxyConfig, clock: C, options: Options) -> Arc<Self> {
        Arc::new(Proxy {
            live: RwLock::new(Arc::new(Live::new(config, options.agent_tls))),
            clock,
            state: Mutex::new(State::default()),
            metrics: Metrics::new(options.emf),
            request_ids: Default::default(),
            boot_id: options.boot_id,
            extra_metrics: options.extra_metrics,
            active: Arc::new(AtomicU32::new(0)),
            draining: Default::default(),
            listeners: Listeners::default(),
        })
    }

    fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The config in use (the last one [`Proxy::reload`] took).
    pub fn config(&self) -> ProxyConfig {
        self.live().config.clone()
    }

    /// Replaces the config and the agents' TLS acceptor (check the config first: see
    /// [`ProxyConfig::load`]). Connections stay: clients' connections and requests in hand go
    /// on, agents' sessions go on unless the new config no longer admits them (their grant
    /// withdrawn, their token or a backend no longer allowed, their certificate no longer
    /// carrying the name), which are closed.
    pub fn reload(&self, config: ProxyConfig, agent_tls: Option<tokio_rustls::TlsAcceptor>) -> Reloaded {
        let live = Arc::new(Live::new(config, agent_tls));
        *self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner) = live.clone();
        let mut state = self.state.lock().expect("state lock");
        let mut out: BTreeMap<u64, (Arc<str>, Arc<tokio::sync::Notify>)> = BTreeMap::new();
        for conn in state.by_backend.values().flatten() {
            if !out.contains_key(&conn.id) && self.authorize(&live, &conn.credentials.hello, conn.credentials.certificate.as_ref()).is_err() {
                out.insert(conn.id, (conn.agent.clone(), conn.kick.clone()));
            }
        }
        state.by_backend.values_mut().for_each(|v| v.retain(|c| !out.contains_key(&c.id)));
        drop(state);
        let mut disconnected = Vec::new();
        for (agent, kick) in out.into_values() {
            self.metrics.agent_refused(Refusal::Reload);
            tracing::warn!(%agent, "the reloaded config no longer admits this agent's session: disconnecting it");
            kick.notify_one();
            disconnected.push(agent.to_string());
        }
        self.metrics.reloaded(true);
        tracing::info!(disconnected = disconnected.len(), "config reloaded");
        Reloaded { disconnected }
    }

    /// A reload that was refused (the new config is invalid): counted and logged; the config
    /// in use stays.
    pub fn reload_refused(&self, error: &str) {
        self.metrics.reloaded(false);
        tracing::error!(%error, "reload refused: keeping the config in use");
    }

    /// Backend ids with at least one agent connected.
    pub fn connected_backends(&self) -> Vec<String> {
        self.state.lock().expect("state lock").by_backend.iter().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k.clone()).collect()
    }

    /// The agents connected for `backend`, in the order they connected.
    pub fn agents_of(&self, backend: &str) -> Vec<String> {
        let state = self.state.lock().expect("state lock");
        state.by_backend.get(backend).map_or_else(Vec::new, |conns| conns.iter().map(|c| c.agent.to_string()).collect())
    }

    /// Accepts agent connections forever.
    pub async fn accept_agents<A: Accept>(self: Arc<Self>, listener: A) {
        self.accept_agents_until(listener, std::future::pending::<()>()).await;
    }

    /// Accepts agent connections until `shutdown` completes (the sessions go on).
    pub async fn accept_agents_until<A: Accept>(self: Arc<Self>, mut listener: A, shutdown: impl Future) {
        accept_until(&mut listener, &self.clock, &self.listeners.agents, "agents", shutdown, |stream, peer| {
            let proxy = self.clone();
            tokio::spawn(async move {
                let acceptor = proxy.live().agent_tls.clone();
                let result = match acceptor {
                    Some(acceptor) => {
                        let handshake = tokio::select! {
                            biased;
                            r = acceptor.accept(stream) => r.map_err(|e| format!("TLS: {e}")),
                            _ = proxy.clock.sleep(Duration::from_secs(10)) => Err("no TLS handshake within 10 s".to_string()),
                        };
                        match handshake {
                            Ok(tls) => {
                                let certificate = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.clone().into_owned());
                                proxy.agent_session(tls, certificate).await
                            }
                            Err(e) => {
                                proxy.metrics.agent_refused(Refusal::Tls);
                                Err(e)
                            }
                        }
                    }
                    None => proxy.agent_session(stream, None).await,
                };
                if let Err(e) = result {
                    tracing::warn!(%peer, error = %e, "agent session ended");
                }
            });
        })
        .await;
    }

    async fn agent_session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>(
        self: Arc<Self>,
        mut stream: S,
        certificate: Option<rustls::pki_types::CertificateDer<'static>>,
    ) -> Result<(), String> {
        let line = tokio::select! {
            biased;
            l = read_line(&mut stream) => l.map_err(|e| format!("greeting: {e}")),
            _ = self.clock.sleep(Duration::from_secs(5)) => Err("no greeting within 5 s".into()),
        };
        let line = line.inspect_err(|_| self.metrics.agent_refused(Refusal::Greeting))?;
        let checked = match Hello::parse(&line) {
            Ok(h) => self.authorize(&self.live(), &h, certificate.as_ref()).map(|()| h),
            Err(e) => Err((Refusal::Greeting, e)),
        };
        let hello = match checked {
            Ok(h) => h,
            Err((why, reason)) => {
                self.metrics.agent_refused(why);
                // The greeting's second word is the agent id once it parsed (never the token).
                let agent = if why == Refusal::Greeting { "-" } else { line.split(' ').nth(1).unwrap_or("-") };
                tracing::warn!(%agent, reason = why.label(), error = %reason, "greeting refused");
                let _ = stream.write_all(format!("ERR {reason}\n").as_bytes()).await;
                return Ok(());
            }
        };
        stream.write_all(b"OK\n").await.map_err(|e| e.to_string())?;
        let mut h2 = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .max_frame_size(256 << 10);
        if !self.clock.is_wall_clock() {
            // h2 remembers a stream the proxy reset (a request cancelled at its deadline or by
            // its client), so that the agent's frames still on their way for it are dropped
            // quietly, for 1 s of wall-clock time that it reads itself. Under virtual time that
            // would make the proxy depend on how fast the machine runs the simulation: whether
            // a stream is forgotten changes the order of h2's streams, hence the order in which
            // requests learn that their agent is lost. So it never forgets by time here, only
            // by count, and keeps more than its default 50 so that a connection's frames for
            // recently cancelled streams are dropped as a real proxy's are.
            h2.reset_stream_duration(Duration::MAX).max_concurrent_reset_streams(SIMULATED_RESET_STREAMS);
        }
        let (sender, conn) = h2.handshake::<_, Body>(TokioIo::new(stream)).await.map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        let agent: Arc<str> = hello.agent.as_str().into();
        let backends = hello.backends.clone();
        let kick = Arc::new(tokio::sync::Notify::new());
        let credentials = Arc::new(Credentials { hello, certificate });
        let id = {
            let mut state = self.state.lock().expect("state lock");
            state.next_id += 1;
            let id = state.next_id;
            for backend in &backends {
                let conn = AgentConn {
                    id,
                    agent: agent.clone(),
                    sender: sender.clone(),
                    in_flight: Arc::new(AtomicU32::new(0)),
                    credentials: credentials.clone(),
                    kick: kick.clone(),
                };
                state.by_backend.entry(backend.clone()).or_default().push(conn);
            }
            id
        };
        self.metrics.agent_accepted();
        tracing::info!(%agent, ?backends, "agent connected");
        let result = tokio::select! {
            biased;
            r = conn => r.map_err(|e| e.to_string()),
            _ = kick.notified() => Err("disconnected by a reload".to_string()),
        };
        let mut state = self.state.lock().expect("state lock");
        state.by_backend.values_mut().for_each(|v| v.retain(|c| c.id != id));
        drop(state);
        match result {
            Ok(()) => tracing::info!(%agent, "agent disconnected"),
            Err(error) => tracing::warn!(%agent, %error, "agent disconnected"),
        }
        Ok(())
    }

    /// The server-side check against `live`'s config: the token (any of the grant's), every
    /// claimed backend allowed for this agent, and under mutual TLS the agent's name in its
    /// certificate.
    fn authorize(&self, live: &Live, hello: &Hello, certificate: Option<&rustls::pki_types::CertificateDer<'static>>) -> Result<(), (Refusal, String)> {
        let grant = live.config.agents.get(&hello.agent);
        // Every token of the grant is compared (no early exit on a match); an unknown agent's
        // greeting is compared with a token no agent has, so it costs about the same.
        let token_ok = match grant {
            Some(g) => g.token.0.iter().fold(false, |ok, t| ok | (constant_time_eq(t.as_bytes(), hello.token.as_bytes()) & !t.is_empty())),
            None => {
                let _ = constant_time_eq(NO_SUCH_AGENT, hello.token.as_bytes());
                false
            }
        };
        let Some(grant) = grant.filter(|_| token_ok) else {
            return Err((Refusal::Credentials, NOT_AUTHORISED.into()));
        };
        if let Some(b) = hello.backends.iter().find(|b| !grant.backends.contains(b)) {
            return Err((Refusal::Backend, format!("agent {} may not serve {b}", hello.agent)));
        }
        if let Some(cert) = certificate {
            let name = live.config.agent_cert_name.replace("{agent}", &hello.agent);
            let carries = rustls::pki_types::ServerName::try_from(name.as_str())
                .ok()
                .zip(webpki::EndEntityCert::try_from(cert).ok())
                .is_some_and(|(n, c)| c.verify_is_valid_for_subject_name(&n).is_ok());
            if !carries {
                return Err((Refusal::Certificate, format!("the client certificate is not {name}'s")));
            }
        }
        Ok(())
    }

    /// The backend of a request with `host` (without its port), the normalised `path` and
    /// `headers`.
    fn route<'a>(live: &'a Live, host: Option<&str>, path: &str, headers: &http::HeaderMap) -> Option<&'a str> {
        live.config
            .routes
            .iter()
            .find(|r| {
                r.host.as_deref().is_none_or(|h| host.is_some_and(|host| h.eq_ignore_ascii_case(host)))
                    && r.path_prefix.as_deref().is_none_or(|p| target::has_prefix(path, p))
                    && r.header.as_ref().is_none_or(|(n, v)| headers.get(n.as_str()).is_some_and(|x| x.as_bytes() == v.as_bytes()))
            })
            .map(|r| r.backend.as_str())
            .or(live.config.default_backend.as_deref())
    }

    /// The least-loaded agent of `backend` (skipping `except`), with its in-flight counter.
    fn pick(&self, backend: &str, except: &[u64]) -> Option<Picked> {
        let state = self.state.lock().expect("state lock");
        let conns = state.by_backend.get(backend)?;
        conns
            .iter()
            .filter(|c| !except.contains(&c.id) && !c.sender.is_closed())
            .min_by_key(|c| c.in_flight.load(Ordering::Relaxed))
            .map(|c| (c.id, c.agent.clone(), c.sender.clone(), c.in_flight.clone()))
    }

    /// Serves client connections (HTTP/1.1) forever.
    pub async fn serve_clients<A: Accept>(self: Arc<Self>, listener: A) {
        self.serve_clients_until(listener, std::future::pending::<()>()).await;
    }

    /// Serves client connections until `shutdown` completes (connections already taken go on).
    pub async fn serve_clients_until<A: Accept>(self: Arc<Self>, mut listener: A, shutdown: impl Future) {
        accept_until(&mut listener, &self.clock, &self.listeners.clients, "clients", shutdown, |stream, peer| {
            let proxy = self.clone();
            tokio::spawn(async move {
                let header_read_timeout = Duration::from_millis(proxy.live().config.header_read_timeout_ms);
                let timer = ClockTimer(proxy.clock.clone());
                let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                    let proxy = proxy.clone();
                    req.extensions_mut().insert(ClientAddr(peer));
                    async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .auto_date_header(false)
                    .timer(timer)
                    .header_read_timeout(header_read_timeout)
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        })
        .await;
    }

    /// One client request.
    pub async fn handle(&self, mut req: http::Request<Incoming>) -> http::Response<Body> {
        let start = self.clock.now();
        let live = self.live();
        let guard = Active::new(self.active.clone());
        // Request ids propagate (`traceparent` passes through untouched); one is made if absent.
        let request_id = match req.headers().get("x-request-id") {
            Some(id) => id.clone(),
            None => {
                let n = self.request_ids.fetch_add(1, Ordering::Relaxed);
                let id = format!("{}-{:08x}-{n:012x}", live.config.name, self.boot_id);
                let id = http::HeaderValue::from_maybe_shared(Bytes::from(id)).unwrap_or_else(|_| http::HeaderValue::from(n));
                req.headers_mut().insert("x-request-id", id.clone());
                id
            }
        };
        // What the access line needs from the request, taken only if that line is logged.
        let access = tracing::enabled!(target: "access", tracing::Level::INFO)
            .then(|| (req.method().clone(), req.uri().path().to_string(), req.extensions().get::<ClientAddr>().map(|c| c.0)));
        let (backend, mut response) = if self.active.load(Ordering::Relaxed) > live.config.max_in_flight {
            (None, answer(503, "at_limit", "the proxy is at its limit of requests in flight\n"))
        } else {
            self.handle_inner(&live, req).await
        };
        let elapsed = self.clock.now().saturating_duration_since(start);
        let status = response.status().as_u16();
        let by_proxy = response.extensions().get::<ProxyAnswer>().map(|a| a.0);
        self.metrics.record_answer(backend.unwrap_or("-"), status, elapsed, by_proxy);
        if let Some((method, path, client)) = access {
            tracing::info!(
                target: "access",
                request_id = %String::from_utf8_lossy(request_id.as_bytes()),
                client = %client.map_or_else(|| "-".to_string(), |c| c.to_string()),
                %method,
                %path,
                backend = backend.unwrap_or("-"),
                status,
                answered_by = by_proxy.map_or("backend", |_| "proxy"),
                reason = by_proxy.unwrap_or("-"),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        }
        if live.config.headers.request_id_in_response {
            response.headers_mut().insert("x-request-id", request_id);
        }
        // The request stays active until its body has been sent (or the client went away).
        response.map(|inner| Tracked { inner, _guard: guard }.boxed())
    }

    /// Long on purpose: a request's path through the proxy (admin, limits, route, agent,
    /// deadline, retry) as one sequence of early returns, each with the status it answers.
    async fn handle_inner<'a>(&self, live: &'a Live, mut req: http::Request<Incoming>) -> (Option<&'a str>, http::Response<Body>) {
        let config = &live.config;
        let header_bytes: usize = req.headers().iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
        if header_bytes > config.max_header_bytes {
            return (None, self.client_error(ClientError::HeadTooLarge, 431, "request headers too large\n"));
        }
        if req.method() == http::Method::CONNECT {
            let mut response = self.client_error(ClientError::Connect, 405, "CONNECT is not served: this is no forward proxy\n");
            response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"));
            return (None, response);
        }
        let declared = req.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > config.max_body_bytes) {
            return (None, self.client_error(ClientError::BodyTooLarge, 413, "request body too large\n"));
        }
        let host = match target::host(req.headers(), req.version()) {
            Ok(h) => h.map(target::without_port),
            Err(bad) => return (None, self.client_error(ClientError::BadTarget, 400, bad.message())),
        };
        let path = match target::normalise(req.uri().path()) {
            Ok(p) => p,
            Err(bad) => return (None, self.client_error(ClientError::BadTarget, 400, bad.message())),
        };
        let Some(backend) = Self::route(live, host, &path, req.headers()) else { return (None, answer(404, "no_route", "no route to a backend\n")) };
        // The backend sees the path that was routed.
        if let std::borrow::Cow::Owned(path) = path
            && let Some(uri) = with_path(req.uri(), &path)
        {
            *req.uri_mut() = uri;
        }
        forwarding_headers(&config.headers, &mut req);
        if is_websocket(&req) {
            let response = self.websocket(backend, req).await;
            return (Some(backend), response);
        }
        let idempotent = matches!(*req.method(), http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::PUT | http::Method::DELETE);
        let (mut parts, body) = req.into_parts();
        let Some(backend_header) = live.backend_headers.get(backend) else {
            return (None, text(500, format!("backend id {backend:?} cannot travel in a header: fix the proxy's config\n")));
        };
        parts.headers.insert(BACKEND_HEADER, backend_header.clone());
        let fault = Arc::new(AtomicU8::new(BODY_OK));
        let body = IdleBody {
            inner: body,
            clock: self.clock.clone(),
            idle: Duration::from_millis(config.body_read_timeout_ms),
            timer: Mutex::new(None),
            fault: fault.clone(),
        };
        let mut request = Some(http::Request::from_parts(parts, body.boxed()));
        // One deadline for the request, however many agents it is offered to.
        let deadline = self.clock.now() + Duration::from_millis(config.request_timeout_ms);
        let mut tried = Vec::new();
        loop {
            let Some((id, agent, mut sender, in_flight)) = self.pick(backend, &tried) else {
                let msg = if tried.is_empty() { format!("no agent connected for backend {backend}\n") } else { format!("agents of {backend} lost\n") };
                let (status, why) = if tried.is_empty() { (503, "no_agent") } else { (502, "agent_lost") };
                return (Some(backend), answer(status, why, msg));
            };
            tried.push(id);
            let Some(req) = request.take() else { return (Some(backend), answer(502, "agent_lost", "agent lost before answering\n")) };
            // Keep a copy of an idempotent request without a body, to send again if allowed.
            let again = (idempotent && config.retry_idempotent).then(|| copy_head(&req)).flatten();
            in_flight.fetch_add(1, Ordering::Relaxed);
            let sent = tokio::select! {
                biased;
                r = sender.try_send_request(req) => Some(r),
                _ = self.clock.sleep(deadline.saturating_duration_since(self.clock.now())) => None,
            };
            in_flight.fetch_sub(1, Ordering::Relaxed);
            match sent {
                None => return (Some(backend), answer(504, "deadline", "the backend did not answer in time\n")),
                Some(Ok(resp)) => return (Some(backend), resp.map(|b| b.map_err(BoxError::from).boxed())),
                Some(Err(mut e)) => match e.take_message() {
                    // Never handed to the agent: another agent of the backend may take it.
                    Some(unsent) => {
                        tracing::debug!(%agent, "agent connection closing; requeueing");
                        request = Some(unsent);
                    }
                    None if fault.load(Ordering::Relaxed) == BODY_MALFORMED => {
                        tracing::debug!(%agent, "the client's request body was malformed; its stream was reset");
                        return (Some(backend), self.client_error(ClientError::MalformedBody, 400, "malformed request body\n"));
                    }
                    None if fault.load(Ordering::Relaxed) == BODY_STALLED => {
                        tracing::debug!(%agent, "the client stalled in its request body; its stream was reset");
                        return (Some(backend), self.client_error(ClientError::BodyStalled, 408, "the request body stopped arriving\n"));
                    }
                    None => {
                        tracing::warn!(%agent, error = %e.into_error(), "agent lost with a request in flight");
                        match again {
                            Some(copy) => request = Some(copy),
                            None => return (Some(backend), answer(502, "agent_lost", "agent lost before answering\n")),
                        }
                    }
                },
            }
        }
    }

    /// A WebSocket upgrade: an HTTP/2 extended CONNECT (RFC 8441) to an agent, which upgrades
    /// its connection to the backend; the client gets the backend's 101 and both ends are
    /// joined byte for byte.
    async fn websocket(&self, backend: &str, mut req: http::Request<Incoming>) -> http::Response<Body> {
        let Some((_, agent, mut sender, _)) = self.pick(backend, &[]) else {
            return answer(503, "no_agent", format!("no agent connected for backend {backend}\n"));
        };
        let authority = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("backend").to_string();
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut connect = http::Request::builder().method(http::Method::CONNECT).version(http::Version::HTTP_2).uri(format!("http://{authority}{path}"));
        for (name, value) in req.headers() {
            if !is_hop_by_hop(name) && name != http::header::HOST {
                connect = connect.header(name, value);
            }
        }
        connect = connect.header(BACKEND_HEADER, backend);
        let Ok(mut connect) = connect.body(Full::new(Bytes::new()).map_err(|never: Infallible| match never {}).boxed()) else {
            return text(400, "bad upgrade request\n");
        };
        connect.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
        let client_side = hyper::upgrade::on(&mut req);
        let answer = match sender.send_request(connect).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%agent, error = %e, "WebSocket upgrade through the agent failed");
                return answer(502, "agent_lost", "agent lost before answering\n");
            }
        };
        if answer.status() != http::StatusCode::OK {
            return answer.map(|b| b.map_err(BoxError::from).boxed());
        }
        let mut switching =
            http::Response::builder().status(http::StatusCode::SWITCHING_PROTOCOLS).header("connection", "upgrade").header("upgrade", "websocket");
        for (name, value) in answer.headers() {
            if !is_hop_by_hop(name) {
                switching = switching.header(name, value);
            }
        }
        let agent_side = hyper::upgrade::on(answer);
        tokio::spawn(async move {
            if let (Ok(client), Ok(agent)) = (client_side.await, agent_side.await) {
                let (mut client, mut agent) = (TokioIo::new(client), TokioIo::new(agent));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut agent).await;
            }
        });
        switching.body(Full::new(Bytes::new()).map_err(|never: Infallible| match never {}).boxed()).unwrap_or_else(|_| text(502, "bad upgrade answer\n"))
    }

    /// The admin endpoint: `/ready` (200 while every backend has an agent and every listener
    /// in use is accepting, else 503) and
    /// `/metrics` (Prometheus text).
    pub async fn serve_admin<A: Accept>(self: Arc<Self>, listener: A) {
        self.serve_admin_until(listener, std::future::pending::<()>()).await;
    }

    /// [`Proxy::serve_admin`] until `shutdown` completes.
    pub async fn serve_admin_until<A: Accept>(self: Arc<Self>, mut listener: A, shutdown: impl Future) {
        accept_until(&mut listener, &self.clock, &self.listeners.admin, "admin", shutdown, |stream, _| {
            let proxy = self.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.admin(req.uri().path())) }
                });
                let _ = hyper::server::conn::http1::Builder::new().auto_date_header(false).serve_connection(TokioIo::new(stream), svc).await;
            });
        })
        .await;
    }

    /// Whether every backend the config serves has at least `min_agents` agent sessions.
    pub fn has_agents(&self) -> bool {
        let live = self.live();
        let counts = self.agent_counts();
        live.config.backends.iter().all(|b| counts.get(b.as_str()).copied().unwrap_or(0) >= live.config.min_agents as usize)
    }

    /// Waits until every backend has its agents (see [`Proxy::has_agents`]) or `grace` has
    /// passed, on the injected clock; returns whether they came. The binary serves clients
    /// after it, so that a restarted proxy holds its first clients (in the listen queue) while
    /// its agents reconnect rather than answering them 503.
    pub async fn agents_or_grace(&self, grace: Duration) -> bool {
        let deadline = self.clock.now() + grace;
        loop {
            if self.has_agents() {
                return true;
            }
            if self.clock.now() >= deadline {
                return false;
            }
            self.clock.sleep(Duration::from_millis(20).min(deadline.saturating_duration_since(self.clock.now()))).await;
        }
    }

    /// Graceful shutdown: reports not ready (a load balancer's health check takes the proxy
    /// out), keeps serving for `grace` so the balancer notices, then waits up to `timeout`
    /// for the requests in hand to finish. Returns how many were still running.
    pub async fn drain(&self, grace: Duration, timeout: Duration) -> u32 {
        self.draining.store(true, Ordering::Relaxed);
        // An idle proxy (no agent connected, no request in hand) has nothing to drain: it could
        // only answer 503, so load balancers gain nothing from the grace.
        if self.connected_backends().is_empty() && self.active.load(Ordering::Relaxed) == 0 {
            tracing::info!("idle (no agent, no request in hand): stopping at once");
            return 0;
        }
        tracing::info!(?grace, "draining: no longer ready");
        self.clock.sleep(grace).await;
        let deadline = self.clock.now() + timeout;
        while self.active.load(Ordering::Relaxed) > 0 && self.clock.now() < deadline {
            self.clock.sleep(Duration::from_millis(50)).await;
        }
        self.active.load(Ordering::Relaxed)
    }

    pub fn admin(&self, path: &str) -> http::Response<Body> {
        match path {
            "/ready" if self.draining.load(Ordering::Relaxed) => text(503, "draining\n"),
            "/ready" if !self.listeners.clients.is_healthy() => text(503, "the clients' listener is not accepting\n"),
            "/ready" if !self.listeners.agents.is_healthy() => text(503, "the agents' listener is not accepting\n"),
            "/ready" => {
                let live = self.live();
                let min = live.config.min_agents as usize;
                let counts = self.agent_counts();
                let short: Vec<&String> = live.config.backends.iter().filter(|b| counts.get(b.as_str()).copied().unwrap_or(0) < min).collect();
                match (short.is_empty(), min) {
                    (true, _) => text(200, "ready\n"),
                    (false, 1) => text(503, format!("no agent for: {short:?}\n")),
                    (false, _) => text(503, format!("fewer than {min} agents for: {short:?}\n")),
                }
            }
            "/metrics" => text(200, self.prometheus()),
            _ => text(404, "try /ready or /metrics\n"),
        }
    }
}

impl<C> Proxy<C> {
    /// Agent sessions per backend (an agent connected twice, as during its reload, counts twice).
    pub fn agent_counts(&self) -> BTreeMap<String, usize> {
        let state = self.state.lock().expect("state lock");
        state.by_backend.iter().map(|(b, conns)| (b.clone(), conns.iter().filter(|c| !c.sender.is_closed()).count())).collect()
    }

    /// Requests in hand (from their head to the end of their response's body).
    pub fn requests_in_flight(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Every metric, as Prometheus text: the counters, then the gauges read now.
    pub fn prometheus(&self) -> String {
        use std::fmt::Write;
        let mut out = self.metrics.prometheus();
        let counts = self.agent_counts();
        let backends = self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner).config.backends.clone();
        let _ = writeln!(out, "# HELP tunnel_agents_connected Agent sessions connected, per backend they serve.");
        let _ = writeln!(out, "# TYPE tunnel_agents_connected gauge");
        let mut all: std::collections::BTreeSet<&str> = backends.iter().map(String::as_str).collect();
        all.extend(counts.keys().map(String::as_str));
        for b in all {
            let _ = writeln!(out, "tunnel_agents_connected{{backend=\"{b}\"}} {}", counts.get(b).copied().unwrap_or(0));
        }
        let _ = writeln!(out, "# HELP tunnel_requests_in_flight Client requests in hand, until their response body is sent.");
        let _ = writeln!(out, "# TYPE tunnel_requests_in_flight gauge");
        let _ = writeln!(out, "tunnel_requests_in_flight {}", self.requests_in_flight());
        let _ = writeln!(out, "# HELP tunnel_draining 1 while the proxy drains (not ready).");
        let _ = writeln!(out, "# TYPE tunnel_draining gauge");
        let _ = writeln!(out, "tunnel_draining {}", u8::from(self.draining.load(Ordering::Relaxed)));
        out.push_str(&crate::metrics::build_info("inverting-proxy"));
        if let Some(extra) = &self.extra_metrics {
            out.push_str(&extra());
        }
        out
    }

    /// A response to a request that is the client's fault: counted under `why`, and the
    /// connection closed (what follows on it cannot be trusted, nor its body read).
    fn client_error(&self, why: ClientError, status: u16, message: &'static str) -> http::Response<Body> {
        self.metrics.client_error(why);
        let mut response = answer(status, why.label(), message);
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        response
    }
}

/// Adds the forwarding headers `settings` ask for: `X-Forwarded-For` / `-Proto` / `-Host` and
/// RFC 7239 `Forwarded`. A client's own values are replaced unless they are trusted.
fn forwarding_headers(settings: &HeaderSettings, req: &mut http::Request<Incoming>) {
    if !settings.x_forwarded && !settings.forwarded {
        return;
    }
    let Some(ClientAddr(peer)) = req.extensions().get::<ClientAddr>().copied() else { return };
    let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string);
    let headers = req.headers_mut();
    let ip = peer.ip().to_string();
    if settings.x_forwarded {
        let earlier = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).filter(|_| settings.trust_client_forwarded);
        let chain = match earlier {
            Some(e) => format!("{e}, {ip}"),
            None => ip.clone(),
        };
        if let Ok(v) = http::HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", v);
        }
        if !(settings.trust_client_forwarded && headers.contains_key("x-forwarded-proto")) {
            headers.insert("x-forwarded-proto", http::HeaderValue::from_static("http"));
        }
        match host.as_deref().and_then(|h| http::HeaderValue::from_str(h).ok()) {
            Some(h) if !(settings.trust_client_forwarded && headers.contains_key("x-forwarded-host")) => {
                headers.insert("x-forwarded-host", h);
            }
            _ => {}
        }
    }
    if settings.forwarded {
        let node = if peer.is_ipv6() { format!("\"[{ip}]\"") } else { ip };
        let mut element = format!("for={node};proto=http");
        if let Some(h) = &host {
            element.push_str(&format!(";host=\"{h}\""));
        }
        let value = match headers.get(http::header::FORWARDED).and_then(|v| v.to_str().ok()).filter(|_| settings.trust_client_forwarded) {
            Some(e) => format!("{e}, {element}"),
            None => element,
        };
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.insert(http::header::FORWARDED, v);
        }
    }
}

/// `uri` with `path` instead of its own (the query kept).
fn with_path(uri: &http::Uri, path: &str) -> Option<http::Uri> {
    let mut parts = uri.clone().into_parts();
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// A copy of a request without a body (only those may be sent twice).
fn copy_head(req: &http::Request<Body>) -> Option<http::Request<Body>> {
    use http_body::Body as _;
    if !req.body().is_end_stream() && req.body().size_hint().exact() != Some(0) {
        return None;
    }
    let mut copy = http::Request::builder().method(req.method()).uri(req.uri()).version(req.version());
    for (n, v) in req.headers() {
        copy = copy.header(n, v);
    }
    copy.body(Full::new(Bytes::new()).map_err(|never: Infallible| match never {}).boxed()).ok()
}

/// Counts a request as active while it lives.
struct Active(Arc<AtomicU32>);

impl Active {
    fn new(count: Arc<AtomicU32>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Active(count)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as active until it is done or dropped.
struct Tracked {
    inner: Body,
    _guard: Active,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The request body arrived as it should (so far).
const BODY_OK: u8 = 0;
/// Nothing of it arrived for `body_read_timeout_ms`.
const BODY_STALLED: u8 = 1;
/// The client broke its framing (a bad chunk size, a missing CRLF) or its connection.
const BODY_MALFORMED: u8 = 2;

/// A client's request body that fails when nothing of it arrives for `idle` (measured on the
/// injected clock, from the moment it is waited for) or when the client's bytes are not a
/// valid body. The failure resets the request's HTTP/2 stream toward the agent and sets
/// `fault`, so that the client, not the agent, is blamed.
struct IdleBody<C> {
    inner: Incoming,
    clock: C,
    idle: Duration,
    /// Armed while the body is waited for (in a mutex for `Sync`; polling never locks it).
    timer: Mutex<Option<BoxSleep>>,
    fault: Arc<AtomicU8>,
}

// No field is pinned structurally (`Incoming` and the boxed sleep are `Unpin`; the clock is only
// called).
impl<C> Unpin for IdleBody<C> {}

impl<C: Clock> http_body::Body for IdleBody<C> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let this = &mut *self;
        let timer = this.timer.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                *timer = None;
                if matches!(frame, Some(Err(_))) {
                    this.fault.store(BODY_MALFORMED, Ordering::Relaxed);
                }
                Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
            }
            Poll::Pending => {
                let timer = timer.get_or_insert_with(|| this.clock.sleep(this.idle));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.fault.store(BODY_STALLED, Ordering::Relaxed);
                        Poll::Ready(Some(Err(format!("no request body for {:?}", this.idle).into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// hyper's timer on the injected clock (virtual time in the simulation).
#[derive(Clone)]
struct ClockTimer<C>(C);

/// A [`Clock`] sleep as hyper wants it (`Sync` through a mutex that polling never locks).
struct ClockSleep(Mutex<BoxSleep>);

impl std::future::Future for ClockSleep {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.get_mut().0.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for ClockSleep {}

impl<C: Clock> hyper::rt::Timer for ClockTimer<C> {
    fn sleep(&self, duration: Duration) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ClockSleep(Mutex::new(self.0.sleep(duration))))
    }

    fn sleep_until(&self, deadline: StdInstant) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep(deadline.saturating_duration_since(self.now()))
    }

    fn now(&self) -> StdInstant {
        self.0.now().into_std()
    }
}

/// An HTTP/1.1 WebSocket upgrade request.
pub fn is_websocket<B>(req: &http::Request<B>) -> bool {
    req.method() == http::Method::GET
        && req.headers().get(http::header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Headers that belong to one connection, not to the request.
pub fn is_hop_by_hop(name: &http::HeaderName) -> bool {
    matches!(name.as_str(), "connection" | "upgrade" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "te" | "trailer")
}
