//! A scenario client that sends through the AZ-affinity client library.
//!
//! The library's decision core runs here unchanged: its [`Balancer`] (zone-aware selection,
//! outlier ejection, circuit breakers, failover hysteresis), its retry [`Budget`] and its
//! [`backoff`]. What its tower service does with futures (attempt, per-try timeout, backoff
//! sleep, retry) this process does with the kernel's messages and timers, so a scenario can run
//! hundreds of thousands of requests at full simulator speed. The tower service itself runs
//! unchanged in the kernel in `sim/real/affinity/tests/in_simulation.rs`.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use affinity_client::retry::{Budget, RetryConfig, backoff};
use affinity_client::{Balancer, Config, Endpoint, FailureKind, Outcome, Pick};
use azsim_fakes::cloudmap::{DISCOVER_REQUEST_BYTES, Discover, DiscoverAnswer, DiscoverCall};
use azsim_fakes::{HttpRequest, Request, Response};
use azsim_kernel::{Cx, HostId, Message, Nanos, Process, RequestId};

/// How the library client is set up.
#[derive(Clone, Debug)]
pub(crate) struct LibraryClientConfig {
    pub(crate) label: u32,
    pub(crate) library: Config,
    /// Cloud Map's endpoint host and the `DiscoverInstances` call (every zone).
    pub(crate) cloud_map: HostId,
    pub(crate) discover: Discover,
    pub(crate) refresh: Nanos,
    pub(crate) rate: f64,
    pub(crate) poisson: bool,
    pub(crate) start_at: Nanos,
    pub(crate) stop_at: Nanos,
    pub(crate) request_bytes: u64,
    pub(crate) response_bytes: u64,
    /// The whole request's deadline (the scenario client's `timeout`).
    pub(crate) timeout: Nanos,
    /// The requests it sends, with weights (empty: `GET /`).
    pub(crate) mix: Vec<(u32, Arc<HttpRequest>)>,
    /// The kernel's time zero as a tokio instant (the library works in instants).
    pub(crate) base: tokio::time::Instant,
}

struct Call {
    id: RequestId,
    http: Arc<HttpRequest>,
    started: Nanos,
    attempt: u32,
    /// The attempt in flight (its key and pick).
    current: Option<(u64, Pick)>,
    avoid: Option<usize>,
    retried: bool,
    after_timeout: bool,
}

// Timer kinds (low two bits).
const ARRIVAL: u64 = 0;
const REFRESH: u64 = 1;
const ATTEMPT_TIMEOUT: u64 = 2;
const RETRY: u64 = 3;

/// The process.
pub(crate) struct LibraryClient {
    config: LibraryClientConfig,
    balancer: Balancer,
    budget: Budget,
    retry: RetryConfig,
    calls: BTreeMap<u64, Call>,
    /// Attempt key -> call key.
    attempts: BTreeMap<u64, u64>,
    next_key: u64,
    started: bool,
    /// Total attempts sent, and retries among them (the report's amplification figure).
    pub(crate) sent_attempts: u64,
    pub(crate) retries: u64,
}

impl LibraryClient {
    pub(crate) fn new(config: LibraryClientConfig) -> Self {
        let retry = config.library.retry;
        LibraryClient {
            balancer: Balancer::new(config.library.clone()),
            budget: Budget::new(retry.budget),
            retry,
            config,
            calls: BTreeMap::new(),
            attempts: BTreeMap::new(),
            next_key: 0,
            started: false,
            sent_attempts: 0,
            retries: 0,
        }
    }

    fn instant(&self, cx: &Cx<'_>) -> tokio::time::Instant {
        self.config.base + Duration::from_nanos(cx.now())
    }

    fn discover(&mut self, cx: &mut Cx<'_>) {
        let call = DiscoverCall { call_id: 0, request: self.config.discover.clone() };
        cx.send(self.config.cloud_map, Message { request: None, bytes: DISCOVER_REQUEST_BYTES, body: Box::new(call) });
        cx.set_timer(self.config.refresh, REFRESH);
    }

    fn discovered(&mut self, cx: &mut Cx<'_>, answer: DiscoverAnswer) {
        if !self.started {
            self.started = true;
            cx.set_timer(self.config.start_at.saturating_sub(cx.now()), ARRIVAL);
        }
        // A failed or empty answer keeps the last good set (static stability).
        let Ok(found) = answer.result else { return };
        if found.is_empty() {
            return;
        }
        let topo = cx.topology();
        let endpoints: Vec<Endpoint> = found
            .iter()
            .filter_map(|f| {
                let ip: std::net::Ipv4Addr = f.attributes.get("AWS_INSTANCE_IPV4")?.parse().ok()?;
                topo.host_by_ip(ip)?;
                Some(Endpoint {
                    id: f.id.clone(),
                    addr: std::net::SocketAddr::new(ip.into(), 80),
                    zone: f.attributes.get("AVAILABILITY_ZONE").cloned().unwrap_or_default(),
                    region: f.attributes.get("REGION").cloned().unwrap_or_default(),
                })
            })
            .collect();
        let now = self.instant(cx);
        self.balancer.set_endpoints(now, endpoints);
    }

    fn arrival(&mut self, cx: &mut Cx<'_>) {
        if cx.now() >= self.config.stop_at {
            return;
        }
        let id = cx.new_request(self.config.label);
        self.next_key += 1;
        let key = self.next_key;
        let now = self.instant(cx);
        self.budget.on_request(now);
        let http = self.pick_http(cx);
        self.calls.insert(key, Call { id, http, started: cx.now(), attempt: 0, current: None, avoid: None, retried: false, after_timeout: false });
        self.attempt(cx, key);
        let mean = 1e9 / self.config.rate;
        let gap = if self.config.poisson { -mean * (1.0 - cx.rng().next_f64()).ln() } else { mean };
        cx.set_timer(gap.round().max(1.0) as Nanos, ARRIVAL);
    }

    /// One request of the mix, by weight.
    fn pick_http(&self, cx: &mut Cx<'_>) -> Arc<HttpRequest> {
        let total: u64 = self.config.mix.iter().map(|(w, _)| u64::from(*w)).sum();
        if total == 0 {
            return Arc::default();
        }
        let mut x = cx.rng().below(total);
        for (w, http) in &self.config.mix {
            if x < u64::from(*w) {
                return http.clone();
            }
            x -= u64::from(*w);
        }
        unreachable!("x < total")
    }

    fn attempt(&mut self, cx: &mut Cx<'_>, key: u64) {
        let now = self.instant(cx);
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.attempt += 1;
        let avoid = call.avoid;
        let picked = self.balancer.pick(now, cx.rng(), avoid);
        let pick = match picked {
            Ok(p) => p,
            Err(e) => return self.finish(cx, key, Err(format!("{e:?}"))),
        };
        let ip = self.balancer.endpoint(pick.index).addr.ip();
        let std::net::IpAddr::V4(ip) = ip else { return self.finish(cx, key, Err("IPv6 endpoint".into())) };
        let Some(host) = cx.topology().host_by_ip(ip) else { return self.finish(cx, key, Err("unknown endpoint".into())) };
        self.next_key += 1;
        let attempt_key = self.next_key;
        let call = self.calls.get_mut(&key).expect("present");
        call.current = Some((attempt_key, pick));
        self.attempts.insert(attempt_key, key);
        self.sent_attempts += 1;
        let req = Request {
            reply_to: cx.host(),
            call_id: attempt_key,
            request_bytes: self.config.request_bytes,
            response_bytes: self.config.response_bytes,
            chain_azs: Vec::new(),
            http: call.http.clone(),
            source: cx.host(),
        };
        let id = call.id;
        cx.send(host, Message { request: Some(id), bytes: req.request_bytes, body: Box::new(req) });
        // The attempt ends at its per-try timeout or the call's deadline, whichever is first.
        let remaining = (call.started + self.config.timeout).saturating_sub(cx.now());
        let limit = self.retry.per_try_timeout.map_or(remaining, |t| (t.as_nanos() as Nanos).min(remaining));
        cx.set_timer(limit.max(1), attempt_key << 2 | ATTEMPT_TIMEOUT);
    }

    /// An attempt ended: success, or a failure to retry or give up on.
    fn outcome(&mut self, cx: &mut Cx<'_>, attempt_key: u64, outcome: Outcome) {
        let Some(key) = self.attempts.remove(&attempt_key) else { return }; // already timed out
        let now = self.instant(cx);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some((_, pick)) = call.current.take() else { return };
        self.balancer.record(now, pick, outcome);
        let kind = match outcome {
            Outcome::Success => {
                self.budget.on_success(call.retried, call.after_timeout);
                return self.finish(cx, key, Ok(()));
            }
            Outcome::Failure(kind) => kind,
        };
        let reason = match kind {
            FailureKind::Status(s) => format!("status {s}"),
            FailureKind::Timeout => "timeout".to_string(),
            FailureKind::Connect => "connection refused".to_string(),
        };
        let deadline = call.started + self.config.timeout;
        let idempotent = matches!(call.http.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
            || call.http.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"));
        if call.attempt >= self.retry.max_attempts || !idempotent || cx.now() >= deadline {
            return self.finish(cx, key, Err(reason));
        }
        if !self.budget.try_withdraw(kind == FailureKind::Timeout) {
            return self.finish(cx, key, Err(format!("{reason}; retry budget exhausted")));
        }
        let attempt = call.attempt;
        call.avoid = self.retry.other_zone.then_some(pick.zone);
        call.retried = true;
        call.after_timeout = kind == FailureKind::Timeout;
        self.retries += 1;
        let pause = backoff(&self.retry, attempt, cx.rng()).as_nanos() as Nanos;
        cx.set_timer(pause.min(deadline - cx.now()).max(1), key << 2 | RETRY);
    }

    fn finish(&mut self, cx: &mut Cx<'_>, key: u64, result: Result<(), String>) {
        let Some(call) = self.calls.remove(&key) else { return };
        let outcome = match result {
            Ok(()) => azsim_kernel::Outcome::Ok,
            Err(e) => azsim_kernel::Outcome::Failed(e),
        };
        cx.finish_request(call.id, outcome);
    }
}

impl Process for LibraryClient {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        // The workload starts once discovery has answered.
        self.discover(cx);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        let body: Box<dyn Any + Send> = msg.body;
        let body = match body.downcast::<DiscoverAnswer>() {
            Ok(answer) => return self.discovered(cx, *answer),
            Err(b) => b,
        };
        if let Ok(resp) = body.downcast::<Response>() {
            let outcome = if resp.status >= 500 { Outcome::Failure(FailureKind::Status(resp.status)) } else { Outcome::Success };
            self.outcome(cx, resp.call_id, outcome);
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        if let Ok(req) = msg.body.downcast::<Request>() {
            self.outcome(cx, req.call_id, Outcome::Failure(FailureKind::Connect));
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        match token & 3 {
            ARRIVAL => self.arrival(cx),
            REFRESH => self.discover(cx),
            ATTEMPT_TIMEOUT => self.outcome(cx, token >> 2, Outcome::Failure(FailureKind::Timeout)),
            _ => self.attempt(cx, token >> 2),
        }
    }

    fn on_crash(&mut self) {
        self.calls.clear();
        self.attempts.clear();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
