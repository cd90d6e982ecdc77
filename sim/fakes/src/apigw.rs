//! API Gateway (HTTP APIs, and the REST API's differences), on the message path.
//!
//! A gateway process stands for the regional API endpoint. For each request it selects the
//! stage, then the route in AWS's order ([`select_route`]), answers CORS preflights itself,
//! runs the route's JWT authorizer ([`jwt`]), spends a token of the route's (or the stage's)
//! bucket and of the account's (429 when empty), then hands the request to an ENI of the VPC
//! link ([`VpcLinkEni`], a host in one of the link's subnets). The ENI sends it on to the
//! integration: a load balancer's node (resolved like any client in that subnet would) or a
//! Cloud Map instance (from `DiscoverInstances`, cached for a while, as API Gateway does). So
//! the hops the link adds are counted in the AZs they cross.
//!
//! To an NLB the ENI connects (`conn.rs`): a SYN, the SYN-ACK, then the request, one TCP
//! connection per request, closed by the ENI after the answer. AWS does not say whether API
//! Gateway reuses connections to a private integration; one per request is ours, and it is
//! what field reports of the "every second or third request is slow" kind (VPC link -> NLB with
//! an AZ that cannot connect) need. The ENI's kernel retransmits an unanswered SYN at 1, 3,
//! 7 and 15 s; the gateway gives up at its integration timeout. A REST API's link reaches the
//! NLB through PrivateLink: the ENI in an AZ connects to the node in that AZ.
//!
//! Defaults follow AWS (`sim/fakes/FIDELITY.md`, APIGW and REST rows): integration timeout 30 s (REST 29 s); when
//! it passes, an HTTP API answers 503 (community reports; AWS's KC says 504: configurable) and
//! a REST API 504; no route: 404 (REST: 403); account throttle 10,000 requests/s with a burst
//! of 5,000; a VPC link whose target refuses: 500.
//!
//! Request parameter mapping (`append|overwrite|remove:header.*`, `querystring.*`,
//! `overwrite:path`) and the headers the backend receives (`x-forwarded-for`,
//! `x-forwarded-proto`, `x-forwarded-port`, `x-amzn-trace-id`) are in [`mapping`].
//!
//! Not modelled: AWS-service integrations, response mapping, usage plans, caching.

pub mod jwt;
pub mod mapping;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use azsim_kernel::{Cx, Dist, HostId, Message, Nanos, Packer, Process, RequestId, TimerToken, Unpacker};

use crate::cloudmap::{Discover, Registry};
use crate::conn::{Acquired, ConnStats, Pool};
use crate::lb::LbDirectory;
use crate::pick::Endpoint;
use crate::rpc::{self, Body, HttpRequest, Request};

/// One segment of a route's path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: one segment.
    Param(String),
    /// `{name+}`: the rest of the path (one segment or more); only last.
    Greedy(String),
}

/// A route key: `GET /pets/{id}`, `ANY /{proxy+}`, or `$default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteKey {
    /// Upper case; `ANY` for every method not given a route of its own.
    pub method: String,
    /// `None` for `$default`.
    path: Option<Vec<Segment>>,
    pub text: String,
}

impl RouteKey {
    pub fn parse(key: &str) -> Result<RouteKey, String> {
        let key = key.trim();
        if key == "$default" {
            return Ok(RouteKey { method: "ANY".into(), path: None, text: key.into() });
        }
        let (method, path) = key.split_once(' ').ok_or_else(|| format!("`{key}`: a route key is `METHOD /path` or `$default`"))?;
        let method = method.to_ascii_uppercase();
        if !matches!(method.as_str(), "ANY" | "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") {
            return Err(format!("`{key}`: unknown method `{method}`"));
        }
        let path = path.trim();
        if !path.starts_with('/') {
            return Err(format!("`{key}`: the path must start with `/`"));
        }
        let parts: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
        let mut segments = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let seg = match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.ends_with('+') => {
                    if i + 1 != parts.len() {
                        return Err(format!("`{key}`: a greedy variable `{{{name}}}` must be the last segment"));
                    }
                    Segment::Greedy(name.trim_end_matches('+').to_string())
                }
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal((*p).to_string()),
            };
            segments.push(seg);
        }
        Ok(RouteKey { method, path: Some(segments), text: format!("{} {path}", key.split_once(' ').map_or("", |(m, _)| m).to_ascii_uppercase()) })
    }

    /// Whether the route serves `path`, and how specifically: `None` if not; else a rank that
    /// sorts better routes first.
    fn rank(&self, method: &str, path: &[&str]) -> Option<(u8, Vec<u8>, u8)> {
        let method_rank = if self.method == method {
            0
        } else if self.method == "ANY" {
            1
        } else {
            return None;
        };
        let Some(segments) = &self.path else { return Some((2, Vec::new(), method_rank)) };
        let greedy = matches!(segments.last(), Some(Segment::Greedy(_)));
        let fixed = if greedy { &segments[..segments.len() - 1] } else { &segments[..] };
        if greedy && path.len() <= fixed.len() || !greedy && path.len() != fixed.len() {
            return None;
        }
        let mut specificity = Vec::with_capacity(fixed.len());
        for (seg, part) in fixed.iter().zip(path) {
            match seg {
                Segment::Literal(l) if l == part => specificity.push(0),
                Segment::Param(_) => specificity.push(1),
                _ => return None,
            }
        }
        // A longer literal prefix before a greedy variable is more specific.
        if greedy {
            specificity.resize(16, 2);
        }
        Some((u8::from(greedy), specificity, method_rank))
    }
}

impl RouteKey {
    /// The path parameters `path` gives this route (`{id}` -> `17`, `{proxy+}` -> `a/b`).
    pub fn params(&self, path: &str) -> BTreeMap<String, String> {
        let parts: Vec<&str> = path.split('?').next().unwrap_or("").split('/').filter(|s| !s.is_empty()).collect();
        let mut out = BTreeMap::new();
        for (i, seg) in self.path.iter().flatten().enumerate() {
            match seg {
                Segment::Param(name) => {
                    if let Some(p) = parts.get(i) {
                        out.insert(name.clone(), (*p).to_string());
                    }
                }
                Segment::Greedy(name) => {
                    out.insert(name.clone(), parts.get(i..).unwrap_or_default().join("/"));
                }
                Segment::Literal(_) => {}
            }
        }
        out
    }
}

/// The route that serves `method path`, in AWS's order: a full match (a literal segment before
/// `{param}`), then a greedy `{proxy+}` route, then `$default`; on the same path, an explicit
/// method before `ANY`.
pub fn select_route(routes: &[RouteKey], method: &str, path: &str) -> Option<usize> {
    let parts: Vec<&str> = path.split('?').next().unwrap_or("").split('/').filter(|s| !s.is_empty()).collect();
    let method = method.to_ascii_uppercase();
    routes.iter().enumerate().filter_map(|(i, r)| r.rank(&method, &parts).map(|k| (k, i))).min().map(|(_, i)| i)
}

/// A token bucket: `rate` tokens a second, at most `burst` held.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: f64,
}

impl Throttle {
    /// AWS's account default per Region: 10,000 requests/s, a burst of 5,000.
    pub const ACCOUNT_DEFAULT: Throttle = Throttle { rate: 10_000.0, burst: 5_000.0 };
}

/// The account's bucket in a Region, shared by every API of the account there: "API Gateway
/// throttles requests to your API ... per account, per Region" across all its APIs
/// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html>).
/// Clones share the bucket.
#[derive(Clone, Debug)]
pub struct AccountThrottle(Arc<Mutex<Bucket>>);

impl AccountThrottle {
    pub fn new(limit: Throttle) -> AccountThrottle {
        AccountThrottle(Arc::new(Mutex::new(Bucket::new(limit))))
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    limit: Throttle,
    tokens: f64,
    at: Nanos,
}

impl Bucket {
    fn new(limit: Throttle) -> Bucket {
        Bucket { limit, tokens: limit.burst, at: 0 }
    }
    fn refill(&mut self, now: Nanos) {
        let dt = now.saturating_sub(self.at) as f64 / 1e9;
        self.tokens = (self.tokens + dt * self.limit.rate).min(self.limit.burst);
        self.at = now;
    }
}

/// HTTP API or REST API: the defaults that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKind {
    Http,
    Rest,
}

/// Where a route's requests go.
#[derive(Clone, Debug)]
pub enum Integration {
    /// A private integration with an ALB's or NLB's listener.
    LoadBalancer {
        name: String,
        directory: LbDirectory,
        /// The link connects to the load balancer (an NLB whose nodes route flows): one TCP
        /// connection per request, opened by the ENI. Otherwise requests go as messages.
        connect: bool,
        /// A REST API's VPC link is a PrivateLink endpoint: its network interface in an AZ
        /// reaches the load balancer's node in that AZ, whatever the load balancer's DNS says
        /// of the node's targets. Otherwise the ENI resolves the name as any client would.
        private_link: bool,
    },
    /// A private integration with a Cloud Map service (`DiscoverInstances` with these
    /// parameters), its answer cached for `cache_ttl`.
    CloudMap { registry: Arc<Mutex<Registry>>, discover: Discover, cache_ttl: Nanos },
    /// A Lambda function (its execution environments): invoked by the gateway itself, not
    /// through the VPC link.
    Lambda(Vec<Endpoint>),
    /// An HTTP proxy integration to a public URL (these endpoints), not through the VPC link.
    Http(Vec<Endpoint>),
}

/// One route.
#[derive(Clone, Debug)]
pub struct ApiRoute {
    pub key: RouteKey,
    /// Index into [`ApiGatewayConfig::integrations`].
    pub integration: usize,
    /// `Some(scopes)`: the JWT authorizer guards the route (an empty list: any valid token).
    pub jwt: Option<Vec<String>>,
    pub throttle: Option<Throttle>,
    /// An `http_proxy` integration's URI (REST): its host is the `Host` the backend gets, and
    /// its path, with `{name}` filled from the route's path parameters, the path.
    pub uri: Option<IntegrationUri>,
    /// Request parameter mappings (HTTP APIs), applied in order.
    pub mappings: Vec<mapping::Mapping>,
}

/// `http://host/path/{proxy}` of an integration, and which route parameter fills each
/// `{name}` of it (`requestParameters`: `integration.request.path.proxy` <-
/// `method.request.path.proxy`).
#[derive(Clone, Debug)]
pub struct IntegrationUri {
    pub host: String,
    pub path: String,
    pub params: BTreeMap<String, String>,
}

impl IntegrationUri {
    /// Parses `http(s)://host[:port]/path`.
    pub fn parse(uri: &str, params: BTreeMap<String, String>) -> Result<IntegrationUri, String> {
        let rest = uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"))
            .ok_or_else(|| format!("`{uri}`: an integration URI is http(s)://host/path"))?;
        let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        if host.is_empty() {
            return Err(format!("`{uri}`: no host"));
        }
        Ok(IntegrationUri { host: host.to_string(), path, params })
    }

    /// The backend's path for a request whose route parameters are `route_params`.
    fn path_for(&self, route_params: &BTreeMap<String, String>) -> String {
        let mut path = self.path.clone();
        for (to, from) in &self.params {
            if let Some(v) = route_params.get(from) {
                path = path.replace(&format!("{{{to}}}"), v);
            }
        }
        path
    }
}

/// CORS, answered by the gateway: preflights get 204 without reaching a route.
#[derive(Clone, Debug, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
}

/// A gateway's configuration.
#[derive(Clone, Debug)]
pub struct ApiGatewayConfig {
    pub name: String,
    pub kind: ApiKind,
    /// `$default` and named stages (a named stage is the path's first segment).
    pub stages: Vec<String>,
    /// Strip a named stage from the path the backend sees (`overwrite:path`); by default it
    /// reaches the backend.
    pub strip_stage: bool,
    pub routes: Vec<ApiRoute>,
    pub integrations: Vec<Integration>,
    /// The account's bucket in the API's Region (shared with the account's other APIs there).
    pub account: AccountThrottle,
    /// The stage's default route throttle (`DefaultRouteSettings`).
    pub stage_throttle: Option<Throttle>,
    pub integration_timeout: Nanos,
    /// What a timed-out integration answers (HTTP API default 503, REST 504).
    pub timeout_status: u16,
    pub authorizer: Option<Arc<jwt::JwtAuthorizer>>,
    /// Seconds since the Unix epoch at virtual time zero (what token expiry is checked against).
    pub epoch_unix: u64,
    pub cors: Option<Cors>,
    /// The VPC link's ENIs.
    pub enis: Vec<HostId>,
    /// The gateway's own time per request.
    pub processing: Dist,
}

/// What the gateway did, for reports and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayCounts {
    pub by_status: BTreeMap<u16, u64>,
    /// Requests AWS bills: those that passed authorization and throttling and matched a
    /// route (AWS charges nothing for the others), an HTTP API's counted in 512 KB
    /// increments of the request.
    pub billed: u64,
    pub throttled: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
    pub preflights: u64,
    pub timeouts: u64,
    /// The `www-authenticate` headers of the 401 answers, counted.
    pub challenges: BTreeMap<String, u64>,
}

/// A request on its way through the VPC link: which integration serves it.
#[derive(Clone, Debug)]
pub struct LinkRequest {
    pub integration: usize,
    pub req: Request,
}

struct Pending {
    id: RequestId,
    client: Request,
    route: usize,
    /// Answered already (the timeout fired first, or the answer came).
    done: bool,
}

/// The gateway's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GatewayTimer {
    /// The gateway's processing of `call` is done: time to send it to the integration.
    Forward { call: u64 },
    /// The integration did not answer `call` within the integration timeout.
    Timeout { call: u64 },
}

impl TimerToken for GatewayTimer {
    fn into_token(self) -> u64 {
        let (kind, call) = match self {
            GatewayTimer::Forward { call } => (0, call),
            GatewayTimer::Timeout { call } => (1, call),
        };
        Packer::new().put(kind, 1).put(call, 63).finish()
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        let (kind, call) = (fields.take(1), fields.take(63));
        if kind == 0 { GatewayTimer::Forward { call } } else { GatewayTimer::Timeout { call } }
    }
}

/// The regional API endpoint.
pub struct ApiGateway {
    config: Arc<ApiGatewayConfig>,
    stage: Option<Bucket>,
    routes: Vec<Option<Bucket>>,
    pending: BTreeMap<u64, Pending>,
    next: u64,
    pub counts: GatewayCounts,
}

impl ApiGateway {
    pub fn new(config: Arc<ApiGatewayConfig>) -> ApiGateway {
        let routes = config.routes.iter().map(|r| r.throttle.map(Bucket::new)).collect();
        ApiGateway { stage: config.stage_throttle.map(Bucket::new), routes, config, pending: BTreeMap::new(), next: 0, counts: GatewayCounts::default() }
    }

    fn answer(&mut self, cx: &mut Cx<'_>, id: RequestId, req: &Request, status: u16, bytes: u64) {
        *self.counts.by_status.entry(status).or_default() += 1;
        cx.send(req.reply_to, rpc::response(Some(id), req.call_id, status, bytes));
    }

    /// Stage, then the path the routes see, then the path the backend sees.
    fn stage_of<'a>(&self, path: &'a str) -> Option<(&'a str, String)> {
        let rest = path.trim_start_matches('/');
        let first = rest.split('/').next().unwrap_or("");
        if !first.is_empty() && first != "$default" && self.config.stages.iter().any(|s| s == first) {
            let route_path = &path[1 + first.len()..];
            let route_path = if route_path.is_empty() { "/" } else { route_path };
            let backend = if self.config.strip_stage { route_path.to_string() } else { path.to_string() };
            return Some((route_path, backend));
        }
        self.config.stages.iter().any(|s| s == "$default").then(|| (path, path.to_string()))
    }

    fn handle(&mut self, cx: &mut Cx<'_>, id: RequestId, req: Request) {
        let http = req.http.clone();
        let not_found = if self.config.kind == ApiKind::Rest { 403 } else { 404 };
        // Limits: request line and headers 10,240 bytes; payload 10 MB.
        if http.head_sizes().2 > 10_240 {
            return self.answer(cx, id, &req, 431, 50);
        }
        if req.request_bytes > 10 << 20 {
            return self.answer(cx, id, &req, 413, 50);
        }
        if self.config.cors.is_some() && http.method.eq_ignore_ascii_case("OPTIONS") && header(&http, "access-control-request-method").is_some() {
            self.counts.preflights += 1;
            return self.answer(cx, id, &req, 204, 0);
        }
        let Some((route_path, backend_path)) = self.stage_of(&http.path) else {
            return self.answer(cx, id, &req, not_found, 23);
        };
        let keys: Vec<RouteKey> = self.config.routes.iter().map(|r| r.key.clone()).collect();
        let Some(route) = select_route(&keys, &http.method, route_path) else {
            return self.answer(cx, id, &req, not_found, 23);
        };
        if let (Some(scopes), Some(auth)) = (&self.config.routes[route].jwt, &self.config.authorizer) {
            let now = self.config.epoch_unix + cx.now() / 1_000_000_000;
            if let Err(denied) = auth.check(header(&http, "authorization"), now, scopes) {
                match denied {
                    jwt::Denied::Unauthorized(_) => self.counts.unauthorized += 1,
                    jwt::Denied::Forbidden => self.counts.forbidden += 1,
                }
                if let Some(challenge) = denied.www_authenticate() {
                    *self.counts.challenges.entry(challenge).or_default() += 1;
                }
                return self.answer(cx, id, &req, denied.status(), 26);
            }
        }
        let now = cx.now();
        let shared = self.config.account.clone();
        let mut account = shared.0.lock().expect("account bucket");
        let mut buckets: Vec<&mut Bucket> = Vec::new();
        match (self.routes[route].as_mut(), self.stage.as_mut()) {
            (Some(b), _) | (None, Some(b)) => buckets.push(b),
            (None, None) => {}
        }
        buckets.push(&mut account);
        buckets.iter_mut().for_each(|b| b.refill(now));
        if buckets.iter().any(|b| b.tokens < 1.0) {
            self.counts.throttled += 1;
            return self.answer(cx, id, &req, 429, 33);
        }
        buckets.iter_mut().for_each(|b| b.tokens -= 1.0);
        self.counts.billed += match self.config.kind {
            ApiKind::Http => req.request_bytes.div_ceil(512 * 1024).max(1),
            ApiKind::Rest => 1,
        };
        let mut client = req;
        let spec = &self.config.routes[route];
        let params = spec.key.params(route_path);
        let mut sent = match &spec.uri {
            // `http_proxy` to a URI: the backend gets the URI's host and path.
            Some(uri) => HttpRequest { path: uri.path_for(&params), host: uri.host.clone(), ..(*http).clone() },
            None => HttpRequest { path: backend_path, ..(*http).clone() },
        };
        if !spec.mappings.is_empty() {
            let cx_map = mapping::MapContext { path_params: params, request_id: format!("{:016x}", id.0), route_path: route_path.to_string() };
            sent = mapping::apply(&sent, &http, &spec.mappings, &cx_map);
        }
        let client_ip = cx.topology().host(client.source).ip.to_string();
        mapping::add_forwarded(&mut sent, &client_ip, self.config.epoch_unix + cx.now() / 1_000_000_000, id.0);
        client.http = Arc::new(sent);
        self.next += 1;
        self.pending.insert(self.next, Pending { id, client, route, done: false });
        let t = self.config.processing.sample(cx.rng());
        cx.set_timer(t, GatewayTimer::Forward { call: self.next });
    }

    fn forward(&mut self, cx: &mut Cx<'_>, call: u64) {
        let Some(p) = self.pending.get(&call) else { return };
        let integration = self.config.routes[p.route].integration;
        if let Some(Integration::Lambda(functions) | Integration::Http(functions)) = self.config.integrations.get(integration) {
            if functions.is_empty() {
                let (id, client) = (p.id, p.client.clone());
                self.pending.remove(&call);
                return self.answer(cx, id, &client, 500, 35);
            }
            let target = functions[cx.rng().below(functions.len() as u64) as usize].host;
            let mut req = p.client.clone();
            req.reply_to = cx.host();
            req.call_id = call;
            req.source = cx.host();
            cx.send(target, rpc::request(p.id, req));
            cx.set_timer(self.config.integration_timeout, GatewayTimer::Timeout { call });
            return;
        }
        let enis: Vec<HostId> = self.config.enis.iter().copied().filter(|h| cx.host_is_up(*h)).collect();
        if enis.is_empty() {
            let (id, client) = (p.id, p.client.clone());
            self.pending.remove(&call);
            return self.answer(cx, id, &client, 500, 35);
        }
        let eni = enis[cx.rng().below(enis.len() as u64) as usize];
        let mut req = p.client.clone();
        req.reply_to = cx.host();
        req.call_id = call;
        req.source = cx.host();
        let integration = self.config.routes[p.route].integration;
        let head = req.http.request_head_bytes(req.request_bytes);
        let bytes = req.request_bytes;
        cx.send(eni, Body::LinkRequest(LinkRequest { integration, req }).message(Some(p.id), bytes).with_head(head));
        cx.set_timer(self.config.integration_timeout, GatewayTimer::Timeout { call });
    }
}

fn header<'a>(http: &'a HttpRequest, name: &str) -> Option<&'a str> {
    http.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

impl Process for ApiGateway {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let (id, bytes) = (msg.request, msg.bytes);
        // CloudFront connects to the API's endpoint: accepted without per-connection state.
        let Some(body) = crate::conn::accept_stateless(cx, from, Body::of(msg)) else { return };
        match body {
            Body::Request(req) => {
                if let Some(id) = id {
                    self.handle(cx, id, req);
                }
            }
            // A Route 53 health check of the API's endpoint: it answers while it is up.
            Body::HealthCheck(hc) => cx.send(from, Body::health_reply(rpc::HealthReply::status(hc.seq, 200))),
            Body::Response(resp) => {
                let Some(p) = self.pending.remove(&resp.call_id) else { return };
                if !p.done {
                    self.answer(cx, p.id, &p.client, resp.status, bytes);
                }
            }
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        // The ENI (or the function) is gone: 500.
        let call = match Body::of(msg) {
            Body::LinkRequest(link) => link.req.call_id,
            Body::Request(req) => req.call_id,
            _ => return,
        };
        if let Some(p) = self.pending.remove(&call) {
            self.answer(cx, p.id, &p.client, 500, 35);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        let call = match GatewayTimer::from_token(token) {
            GatewayTimer::Forward { call } => return self.forward(cx, call),
            GatewayTimer::Timeout { call } => call,
        };
        let status = self.config.timeout_status;
        if let Some(p) = self.pending.get_mut(&call)
            && !p.done
        {
            p.done = true;
            let (id, client) = (p.id, p.client.clone());
            self.counts.timeouts += 1;
            self.answer(cx, id, &client, status, 35);
        }
    }

    fn on_crash(&mut self) {
        self.pending.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Cloud Map answers the gateway keeps, per integration: when fetched, and the endpoints.
pub type DiscoveryCache = Arc<Mutex<BTreeMap<usize, (Nanos, Vec<Endpoint>)>>>;

/// An ENI of a VPC link, in one subnet (AZ): it takes requests from the gateway into the VPC.
pub struct VpcLinkEni {
    integrations: Arc<Vec<Integration>>,
    cache: DiscoveryCache,
    relay: rpc::Relay,
    /// Connections to load balancers that route flows (never reused: one per request).
    pool: Pool,
    /// Requests on (or waiting for) a connection, by the relay's call: the request id, what
    /// to send, where, and on which connection.
    on_conn: BTreeMap<u64, (RequestId, Request, HostId, u64)>,
}

/// The ENI's one timer: connections waiting for a SYN-ACK are due a retransmission or to be
/// given up.
const ENI_CONNECT_TIMER: u64 = 0;

impl VpcLinkEni {
    /// An ENI whose connection attempts are given up after `connect_timeout` (the gateway's
    /// integration timeout: by then the gateway has answered).
    pub fn new(integrations: Arc<Vec<Integration>>, cache: DiscoveryCache, connect_timeout: Nanos) -> VpcLinkEni {
        VpcLinkEni { integrations, cache, relay: rpc::Relay::default(), pool: Pool::new(connect_timeout, connect_timeout), on_conn: BTreeMap::new() }
    }

    /// What this ENI's connections did.
    pub fn conn_stats(&self) -> ConnStats {
        self.pool.stats
    }

    /// Whether requests to `integration` go on connections.
    fn connects(&self, integration: usize) -> bool {
        matches!(self.integrations.get(integration), Some(Integration::LoadBalancer { connect: true, .. }))
    }

    /// The call on connection `conn` ends with `status` from API Gateway itself (the
    /// connection, if still known, is dropped).
    fn fail_call(&mut self, cx: &mut Cx<'_>, call: u64, status: u16) {
        self.on_conn.remove(&call);
        self.relay.answer(cx, call, status, 35);
    }

    fn target(&mut self, cx: &mut Cx<'_>, integration: usize) -> Option<HostId> {
        match self.integrations.get(integration)? {
            Integration::LoadBalancer { name, directory, private_link: true, .. } => directory.node_in(name, cx.az()),
            Integration::LoadBalancer { name, directory, .. } => {
                let nodes = directory.resolve(cx, name, None);
                (!nodes.is_empty()).then(|| nodes[cx.rng().below(nodes.len() as u64) as usize].host)
            }
            Integration::Lambda(_) | Integration::Http(_) => None,
            Integration::CloudMap { registry, discover, cache_ttl } => {
                let now = cx.now();
                let cached = self.cache.lock().expect("discovery cache").get(&integration).filter(|(at, _)| now < at + cache_ttl).map(|(_, e)| e.clone());
                let endpoints = match cached {
                    Some(e) => e,
                    None => {
                        let found = registry.lock().expect("registry").discover(now, cx.rng(), discover).ok()?;
                        let topo = cx.topology();
                        let endpoints: Vec<Endpoint> = found
                            .instances
                            .iter()
                            .filter_map(|f| f.attributes.get("AWS_INSTANCE_IPV4")?.parse().ok())
                            .filter_map(|ip| topo.host_by_ip(ip))
                            .map(|h| Endpoint { host: h, az: topo.host(h).az })
                            .collect();
                        self.cache.lock().expect("discovery cache").insert(integration, (now, endpoints.clone()));
                        endpoints
                    }
                };
                (!endpoints.is_empty()).then(|| endpoints[cx.rng().below(endpoints.len() as u64) as usize].host)
            }
        }
    }
}

impl Process for VpcLinkEni {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let (id, bytes) = (msg.request, msg.bytes);
        match Body::of(msg) {
            Body::LinkRequest(LinkRequest { integration, req }) => {
                let Some(id) = id else { return };
                let Some(target) = self.target(cx, integration) else {
                    // Nothing to send to: API Gateway answers 503 (no healthy target).
                    cx.send(req.reply_to, rpc::response(Some(id), req.call_id, 503, 35));
                    return;
                };
                let out = self.relay.take(cx.host(), id, req);
                if !self.connects(integration) {
                    cx.send(target, rpc::request(id, out));
                    return;
                }
                let (Acquired::Opened(conn) | Acquired::Reused(conn)) = self.pool.acquire(cx, target, out.call_id, ENI_CONNECT_TIMER);
                self.on_conn.insert(out.call_id, (id, out, target, conn));
                cx.note_handshake(id);
                cx.send(target, Body::syn(conn));
            }
            Body::SynAck(seg) => match self.pool.established(seg.conn).and_then(|call| self.on_conn.get(&call)) {
                Some((id, out, target, _)) => cx.send(*target, Body::on_conn(*id, seg.conn, out.clone())),
                None => cx.send(from, Body::fin(seg.conn)), // given up meanwhile
            },
            Body::Response(resp) => {
                // One request per connection: the ENI closes it (unless the target did).
                if let Some((_, _, _, conn)) = self.on_conn.remove(&resp.call_id)
                    && let Some(dest) = self.pool.close_after_answer(conn, resp.connection_close)
                {
                    cx.send(dest, Body::fin(conn));
                }
                self.relay.answer(cx, resp.call_id, resp.status, bytes);
            }
            // The connection was reset (the NLB forgot the flow, the target closed it): "network
            // error communicating with endpoint", 500.
            Body::Rst(seg) => {
                if let Some(call) = self.pool.reset(seg.conn) {
                    self.fail_call(cx, call, 500);
                }
            }
            Body::Fin(seg) => self.pool.server_closed(seg.conn),
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        // The target is not listening: "execution failed due to configuration error", 500.
        match Body::of(msg) {
            Body::Request(req) | Body::ConnRequest(crate::conn::ConnRequest { req, .. }) => {
                if let Some((_, _, _, conn)) = self.on_conn.get(&req.call_id) {
                    self.pool.abandon(*conn);
                }
                self.fail_call(cx, req.call_id, 500);
            }
            Body::Syn(seg) => {
                if let Some(call) = self.pool.reset(seg.conn) {
                    self.fail_call(cx, call, 500);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, _token: u64) {
        let events = self.pool.connect_timer(cx, ENI_CONNECT_TIMER);
        // SYNs due go again; one with no SYN-ACK by the integration timeout is given up (the
        // gateway has answered 504 already).
        for call in events.resend(cx) {
            self.fail_call(cx, call, 504);
        }
    }

    fn on_crash(&mut self) {
        self.relay.clear();
        self.pool.clear();
        self.on_conn.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<RouteKey> {
        k.iter().map(|k| RouteKey::parse(k).unwrap()).collect()
    }

    /// One case per documented rule (`sim/fakes/FIDELITY.md` APIGW-02).
    #[test]
    fn routes_are_selected_in_aws_order() {
        let routes =
            keys(&["GET /pets/dog/{id}", "GET /pets/dog/1", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default", "ANY /orders/{id}", "PUT /orders/{id}"]);
        let cases = [
            ("GET", "/pets/dog/1", Some("GET /pets/dog/1"), "a literal segment beats {param}"),
            ("GET", "/pets/dog/2", Some("GET /pets/dog/{id}"), "a full match beats a greedy route"),
            ("GET", "/pets/cat/1", Some("GET /pets/{proxy+}"), "the longer greedy prefix wins"),
            ("POST", "/test/5", Some("ANY /{proxy+}"), "greedy routes beat $default"),
            ("PUT", "/orders/7", Some("PUT /orders/{id}"), "an explicit method beats ANY on the same path"),
            ("DELETE", "/orders/7", Some("ANY /orders/{id}"), "ANY takes the methods not defined"),
            ("GET", "/", Some("$default"), "what nothing else matches goes to $default"),
        ];
        for (method, path, want, rule) in cases {
            let got = select_route(&routes, method, path).map(|i| routes[i].text.clone());
            assert_eq!(got.as_deref(), want, "{method} {path}: {rule}");
        }
        let no_default = keys(&["GET /pets"]);
        assert_eq!(select_route(&no_default, "GET", "/cats"), None, "no match and no $default: 404");
        assert_eq!(select_route(&no_default, "POST", "/pets"), None, "another method does not match");
        assert!(RouteKey::parse("GET /{proxy+}/x").is_err(), "a greedy variable must be last");
        let k = RouteKey::parse("GET /foo/{id}/{proxy+}").unwrap();
        assert_eq!(k.params("/foo/7/a/b"), BTreeMap::from([("id".to_string(), "7".to_string()), ("proxy".to_string(), "a/b".to_string())]));
        let uri = IntegrationUri::parse("http://backend.example.com/foo/{proxy}", BTreeMap::from([("proxy".to_string(), "proxy".to_string())])).unwrap();
        assert_eq!((uri.host.as_str(), uri.path_for(&k.params("/foo/7/bar")).as_str()), ("backend.example.com", "/foo/bar"));
        assert_eq!(IntegrationUri::parse("http://backend.example.com", BTreeMap::new()).unwrap().path, "/");
        assert!(RouteKey::parse("FETCH /x").is_err());
    }

    #[test]
    fn jwt_checks_follow_aws_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/jwt");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap().trim().to_string();
        let auth = jwt::JwtAuthorizer::from_jwks("https://auth.example.com/", vec!["orders-api".into()], &read("jwks.json")).unwrap();
        let now = 1_767_225_700; // 2026-01-01, after the tokens' iat
        let write = vec!["orders/write".to_string()];
        let bearer = |t: &str| format!("Bearer {}", read(t));
        let status = |h: Option<String>, scopes: &[String]| auth.check(h.as_deref(), now, scopes).map(|_| 200).unwrap_or_else(|d| d.status());
        assert_eq!(status(Some(bearer("write.jwt")), &write), 200);
        assert_eq!(status(Some(read("write.jwt")), &write), 200, "the raw token, without `Bearer`");
        assert_eq!(status(Some(bearer("client-id.jwt")), &write), 200, "client_id stands in when aud is absent");
        assert_eq!(status(Some(bearer("read.jwt")), &write), 403, "valid, without the route's scope");
        assert_eq!(status(Some(bearer("read.jwt")), &[]), 200, "a route without scopes takes any valid token");
        assert_eq!(status(Some(bearer("expired.jwt")), &write), 401);
        assert_eq!(status(Some(bearer("other-audience.jwt")), &write), 401);
        assert_eq!(status(Some(bearer("forged.jwt")), &write), 401, "the signature covers the claims");
        assert_eq!(status(None, &write), 401);
        assert_eq!(status(Some("Bearer not.a.jwt".into()), &write), 401);
        let other_issuer = jwt::JwtAuthorizer { issuer: "https://other.example.com/".into(), ..auth.clone() };
        assert_eq!(other_issuer.check(Some(&bearer("write.jwt")), now, &write).unwrap_err().status(), 401);
        let challenge = |h: Option<String>| auth.check(h.as_deref(), now, &write).unwrap_err().www_authenticate();
        assert_eq!(
            challenge(Some(bearer("expired.jwt"))).as_deref(),
            Some(r#"Bearer scope="" error="invalid_token" error_description="the token has expired""#),
            "a 401 says why in www-authenticate"
        );
        assert_eq!(challenge(Some(bearer("read.jwt"))), None, "a 403 has no challenge");
    }

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_burst() {
        let mut b = Bucket::new(Throttle { rate: 10.0, burst: 5.0 });
        for _ in 0..5 {
            b.refill(0);
            assert!(b.tokens >= 1.0);
            b.tokens -= 1.0;
        }
        b.refill(0);
        assert!(b.tokens < 1.0, "the burst is spent");
        b.refill(100_000_000);
        assert!((b.tokens - 1.0).abs() < 1e-9, "one token per 100 ms at 10/s");
        b.refill(10_000_000_000);
        assert_eq!(b.tokens, 5.0, "never more than the burst");
    }
}
