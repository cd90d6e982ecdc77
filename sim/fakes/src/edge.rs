//! CloudFront in front of an origin named by DNS, with an optional WAF IP allow-list.
//!
//! The edge resolves the origin's name through Route 53 (caching the answer for its TTL), so a
//! failover record behind it moves traffic when its answer changes. It reaches the origin on
//! keep-alive connections (`conn.rs`), as CloudFront's origin settings describe
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html>,
//! defaults in [`crate::defaults::cloudfront`]):
//! - Each attempt resolves the name (from the cache) and takes an idle connection to that
//!   address, or opens one (a SYN, the SYN-ACK, then the request: one round trip); AWS does
//!   not say when CloudFront resolves again, so a retried attempt may find a new answer. The edge closes a connection idle
//!   for the keep-alive timeout (5 s) with a FIN.
//! - An attempt to connect is given up after the connection timeout (10 s; the edge's kernel
//!   retransmits the SYN at 1, 3 and 7 s meanwhile) or when the origin refuses it (RST). The
//!   page counts "the number of times that CloudFront attempts to connect to the origin" and
//!   what happens "if the specified number of connection attempts fail", without singling out
//!   a refusal: a refused connection is a failed attempt too, tried again at once. After the
//!   last of the connection attempts (3), an origin group sends the request to the secondary
//!   origin (which gets as many attempts); without one the viewer gets 504 (attempts that
//!   timed out) or 502 (refused: "CloudFront wasn't able to ... connect to the origin",
//!   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-502-bad-gateway.html>).
//!   An unreachable origin thus costs attempts x connection timeout, 30 s by default.
//! - The response timeout (30 s) runs from when the request is sent on an open connection. When
//!   it passes, CloudFront drops the connection (a FIN here) and, for `GET` and `HEAD`, "tries
//!   again to connect according to the value of Connection attempts" (the attempts count
//!   connections and responses together); other methods are not tried again.
//!
//! With an origin group, a request that fails on the primary origin (one of the failover
//! status codes, timeouts or connection failures once its attempts are spent, or a name that
//! resolves to no address: CloudFront fails over when it cannot connect to the primary,
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html>)
//! is sent once to the secondary origin. With `allow`, a WAF web ACL answers 403 to clients
//! outside the allowed CIDR blocks.
//!
//! Not modelled: caching of responses, regional edge caches, the response completion timeout,
//! TLS to the origin, and which methods an origin group fails over (all of them here; AWS: GET,
//! HEAD and OPTIONS).

use std::collections::BTreeMap;

use azsim_kernel::{Cx, Dist, HostId, Message, Nanos, Packer, Process, RequestId, TimerToken, Unpacker};

use crate::conn::{Acquired, ConnRequest, ConnStats, Pool};
use crate::pick::Endpoint;
use crate::route53::Route53;
use crate::rpc::{self, Body, Request};
use crate::rules::in_cidr;

/// An edge's configuration.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    pub zone: Route53,
    /// The origin's DNS name.
    pub origin: String,
    /// An origin group's secondary origin, and the statuses that send a request there.
    pub secondary: Option<(String, Vec<u16>)>,
    /// How long the edge waits for an answer on an open connection (AWS default 30 s).
    pub response_timeout: Nanos,
    /// How long one attempt to connect may take (AWS default 10 s, 1 to 10 s).
    pub connection_timeout: Nanos,
    /// Attempts per origin, to connect or to get an answer (AWS default 3, 1 to 3).
    pub connection_attempts: u32,
    /// How long the edge keeps an idle connection to an origin (AWS default 5 s, 1 to 60 s).
    pub keep_alive_timeout: Nanos,
    /// WAF: only these client CIDR blocks (empty: everyone).
    pub allow: Vec<(std::net::Ipv4Addr, u8)>,
    /// The edge's own time per request.
    pub processing: Dist,
}

/// What the edge did, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeCounts {
    /// Viewer requests that reached the edge (what CloudFront bills, blocked ones included).
    pub requests: u64,
    pub blocked: u64,
    /// Attempts whose answer did not come within the response timeout.
    pub timeouts: u64,
    /// Attempts that could not connect (no SYN-ACK within the connection timeout, or refused).
    pub connect_failures: u64,
    /// Attempts after the first on the same origin.
    pub retries: u64,
    pub failed_over: u64,
    pub no_origin: u64,
}

struct Pending {
    id: RequestId,
    client: Request,
    /// Sent to the secondary origin already.
    secondary: bool,
    /// Attempts made on the current origin.
    tries: u32,
    /// The attempt the answer must belong to (wrapped to [`ATTEMPT_BITS`]).
    attempt: u64,
    /// The current attempt's connection and the address it goes to.
    conn: Option<(u64, HostId)>,
}

/// How a failed attempt failed: what the viewer gets if it was the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttemptFailure {
    /// No SYN-ACK within the connection timeout, or no answer within the response timeout.
    TimedOut,
    /// The origin refused the connection or reset it.
    Refused,
}

impl AttemptFailure {
    fn status(self) -> u16 {
        match self {
            AttemptFailure::TimedOut => 504,
            AttemptFailure::Refused => 502,
        }
    }
}

/// Attempt numbers an answer is told apart by (they wrap: only the latest attempt counts).
const ATTEMPT_BITS: u32 = 20;
const ATTEMPT_MASK: u64 = (1 << ATTEMPT_BITS) - 1;
/// Bits of the edge's call number in an attempt id (room is left for a timer's kind).
const CALL_BITS: u32 = 42;

/// The call id an attempt goes out under: the edge's call and the attempt, so an answer to an
/// older attempt is recognised as late.
fn attempt_id(call: u64, attempt: u64) -> u64 {
    Packer::new().put(attempt, ATTEMPT_BITS).put(call, CALL_BITS).finish()
}

/// The inverse of [`attempt_id`]: the call and the attempt.
fn split_attempt_id(id: u64) -> (u64, u64) {
    let mut fields = Unpacker::new(id);
    let attempt = fields.take(ATTEMPT_BITS);
    (fields.take(CALL_BITS), attempt)
}

/// An edge's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EdgeTimer {
    /// The edge's processing of `call` is done: time to send it to the origin.
    Send { call: u64 },
    /// The origin did not answer this attempt in time.
    Timeout { call: u64, attempt: u64 },
    /// Connection attempts are due a SYN retransmission or to be given up ([`Pool::connect_timer`]).
    Connect,
    /// Idle connections are due to close.
    ConnSweep,
}

const TIMER_KIND_BITS: u32 = 2;

impl TimerToken for EdgeTimer {
    fn into_token(self) -> u64 {
        let (kind, value) = match self {
            EdgeTimer::Send { call } => (0, call),
            EdgeTimer::Timeout { call, attempt } => (1, attempt_id(call, attempt)),
            EdgeTimer::Connect => (2, 0),
            EdgeTimer::ConnSweep => (3, 0),
        };
        Packer::new().put(kind, TIMER_KIND_BITS).put(value, 64 - TIMER_KIND_BITS).finish()
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        let (kind, value) = (fields.take(TIMER_KIND_BITS), fields.take(64 - TIMER_KIND_BITS));
        match kind {
            0 => EdgeTimer::Send { call: value },
            1 => {
                let (call, attempt) = split_attempt_id(value);
                EdgeTimer::Timeout { call, attempt }
            }
            2 => EdgeTimer::Connect,
            _ => EdgeTimer::ConnSweep,
        }
    }
}

/// A CloudFront edge location.
pub struct Edge {
    config: EdgeConfig,
    cache: BTreeMap<String, (Nanos, Vec<Endpoint>)>,
    pending: BTreeMap<u64, Pending>,
    /// Keep-alive connections to origins, per address (one pool: the settings are the
    /// distribution's).
    pool: Pool,
    next: u64,
    pub counts: EdgeCounts,
}

impl Edge {
    pub fn new(config: EdgeConfig) -> Edge {
        let pool = Pool::new(config.keep_alive_timeout, config.connection_timeout);
        Edge { config, cache: BTreeMap::new(), pending: BTreeMap::new(), pool, next: 0, counts: EdgeCounts::default() }
    }

    /// What the edge's connections to its origins did.
    pub fn conn_stats(&self) -> ConnStats {
        self.pool.stats
    }

    fn resolve(&mut self, cx: &mut Cx<'_>, name: &str) -> Option<HostId> {
        let now = cx.now();
        if self.cache.get(name).is_none_or(|(expires, _)| now >= *expires) {
            let (endpoints, ttl) = self.config.zone.resolve(cx, name).unwrap_or_default();
            self.cache.insert(name.to_string(), (now + ttl.max(1), endpoints));
        }
        let endpoints = &self.cache[name].1;
        (!endpoints.is_empty()).then(|| endpoints[cx.rng().below(endpoints.len() as u64) as usize].host)
    }

    /// A new attempt for `call` on its current origin: on an idle connection, or a new one.
    fn send(&mut self, cx: &mut Cx<'_>, call: u64) {
        let Some(p) = self.pending.get(&call) else { return };
        let origin = if p.secondary { self.config.secondary.as_ref().map(|(o, _)| o.clone()) } else { Some(self.config.origin.clone()) };
        let target = origin.and_then(|o| self.resolve(cx, &o));
        let Some(p) = self.pending.get_mut(&call) else { return };
        let Some(target) = target else {
            // No address to connect to: CloudFront cannot connect to the origin, which sends an
            // origin group's request to the secondary (as a refused connection does); without
            // one, or on the secondary, the viewer gets 502.
            self.counts.no_origin += 1;
            return self.failed(cx, call, 502, 0);
        };
        self.next += 1;
        p.attempt = self.next & ATTEMPT_MASK;
        p.tries += 1;
        if p.tries > 1 {
            self.counts.retries += 1;
        }
        let key = attempt_id(call, p.attempt);
        let conn = match self.pool.acquire(cx, target, key, EdgeTimer::Connect) {
            Acquired::Reused(conn) => {
                p.conn = Some((conn, target));
                return self.send_on(cx, call);
            }
            Acquired::Opened(conn) => {
                cx.note_handshake(p.id);
                conn
            }
        };
        p.conn = Some((conn, target));
        cx.send(target, Body::syn(conn));
    }

    /// Sends `call`'s request on its open connection; the response timeout starts now.
    fn send_on(&mut self, cx: &mut Cx<'_>, call: u64) {
        let Some(p) = self.pending.get(&call) else { return };
        let Some((conn, target)) = p.conn else { return };
        let mut req = p.client.clone();
        req.reply_to = cx.host();
        req.call_id = attempt_id(call, p.attempt);
        req.source = cx.host();
        cx.send(target, Body::on_conn(p.id, conn, req));
        cx.set_timer(self.config.response_timeout, EdgeTimer::Timeout { call, attempt: p.attempt });
    }

    /// The attempt `key` (an [`attempt_id`]) failed: tried again while attempts remain (a
    /// timed-out answer only for `GET` and `HEAD`), else the origin has failed.
    fn attempt_failed(&mut self, cx: &mut Cx<'_>, key: u64, how: AttemptFailure, answer_timed_out: bool) {
        let (call, attempt) = split_attempt_id(key);
        let Some(p) = self.pending.get_mut(&call).filter(|p| p.attempt == attempt) else { return };
        p.conn = None;
        let method = &p.client.http.method;
        let may_retry = !answer_timed_out || method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
        if may_retry && p.tries < self.config.connection_attempts {
            return self.send(cx, call);
        }
        self.failed(cx, call, how.status(), 0);
    }

    /// The current origin failed with `status`: the secondary origin, if the group says so,
    /// else the client gets `status`.
    fn failed(&mut self, cx: &mut Cx<'_>, call: u64, status: u16, bytes: u64) {
        let Some(p) = self.pending.get_mut(&call) else { return };
        let eligible = !p.secondary && self.config.secondary.as_ref().is_some_and(|(_, codes)| codes.contains(&status) || status == 504 || status == 502);
        if eligible {
            p.secondary = true;
            p.tries = 0;
            self.counts.failed_over += 1;
            return self.send(cx, call);
        }
        let p = self.pending.remove(&call).expect("present");
        cx.send(p.client.reply_to, rpc::response(Some(p.id), p.client.call_id, status, bytes));
    }

    /// The SYN-ACK of `conn` came from `from`: the attempt it was opened for goes with the ACK;
    /// if that attempt ended meanwhile, the connection waits idle for the next request.
    fn connected(&mut self, cx: &mut Cx<'_>, from: HostId, conn: u64) {
        let Some(key) = self.pool.established(conn) else {
            cx.send(from, Body::fin(conn)); // given up meanwhile: close it at the origin too
            return;
        };
        let (call, attempt) = split_attempt_id(key);
        if self.pending.get(&call).is_some_and(|p| p.attempt == attempt) {
            return self.send_on(cx, call);
        }
        if let Some(dest) = self.pool.release(cx, conn, false, EdgeTimer::ConnSweep) {
            cx.send(dest, Body::fin(conn));
        }
    }

    /// The answer to attempt `key` came.
    fn answered(&mut self, cx: &mut Cx<'_>, key: u64, status: u16, connection_close: bool, bytes: u64) {
        let (call, attempt) = split_attempt_id(key);
        let Some(p) = self.pending.get_mut(&call).filter(|p| p.attempt == attempt) else { return }; // an answer after the timeout
        if let Some((conn, _)) = p.conn.take()
            && let Some(dest) = self.pool.release(cx, conn, connection_close, EdgeTimer::ConnSweep)
        {
            cx.send(dest, Body::fin(conn));
        }
        if self.config.secondary.as_ref().is_some_and(|(_, codes)| codes.contains(&status)) {
            return self.failed(cx, call, status, bytes);
        }
        let p = self.pending.remove(&call).expect("present");
        cx.send(p.client.reply_to, rpc::response(Some(p.id), p.client.call_id, status, bytes));
    }
}

impl Process for Edge {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let (id, bytes) = (msg.request, msg.bytes);
        // Viewers' connections to the edge are accepted without per-connection state (AWS
        // documents no idle timeout toward viewers shorter than clients' own).
        let body = Body::of(msg);
        let body = match self.pool.owns_fin(from, &body) {
            true => body,
            false => match crate::conn::accept_stateless(cx, from, body) {
                Some(body) => body,
                None => return,
            },
        };
        match body {
            Body::Request(req) => {
                let Some(id) = id else { return };
                self.counts.requests += 1;
                if !self.config.allow.is_empty() {
                    let source = cx.topology().host(req.source).ip;
                    if !self.config.allow.iter().any(|c| in_cidr(source, *c)) {
                        self.counts.blocked += 1;
                        cx.send(req.reply_to, rpc::response(Some(id), req.call_id, 403, 0));
                        return;
                    }
                }
                self.next += 1;
                let call = self.next;
                self.pending.insert(call, Pending { id, client: req, secondary: false, tries: 0, attempt: 0, conn: None });
                let t = self.config.processing.sample(cx.rng());
                cx.set_timer(t, EdgeTimer::Send { call });
            }
            Body::SynAck(seg) => self.connected(cx, from, seg.conn),
            Body::Response(resp) => self.answered(cx, resp.call_id, resp.status, resp.connection_close, bytes),
            Body::Fin(seg) => self.pool.server_closed(seg.conn),
            // The origin reset the connection under the request (it had closed it): a failed
            // attempt.
            Body::Rst(seg) => {
                if let Some(key) = self.pool.reset(seg.conn) {
                    self.counts.connect_failures += 1;
                    self.attempt_failed(cx, key, AttemptFailure::Refused, false);
                }
            }
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        // The origin's process is gone: the connection is refused (a SYN), or reset under the
        // request (one sent on a kept connection).
        let conn = match Body::of(msg) {
            Body::Syn(seg) => seg.conn,
            Body::ConnRequest(ConnRequest { conn, .. }) => conn,
            // A request the origin had taken when it crashed (its OS resets the connection).
            Body::Request(req) => {
                let (call, attempt) = split_attempt_id(req.call_id);
                let Some((conn, _)) = self.pending.get(&call).filter(|p| p.attempt == attempt).and_then(|p| p.conn) else { return };
                conn
            }
            _ => return,
        };
        if let Some(key) = self.pool.reset(conn) {
            self.counts.connect_failures += 1;
            self.attempt_failed(cx, key, AttemptFailure::Refused, false);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        match EdgeTimer::from_token(token) {
            EdgeTimer::Send { call } => self.send(cx, call),
            EdgeTimer::Timeout { call, attempt } => {
                let Some(p) = self.pending.get_mut(&call).filter(|p| p.attempt == attempt) else { return };
                self.counts.timeouts += 1;
                // CloudFront drops the connection.
                if let Some((conn, _)) = p.conn {
                    self.pool.give_up(cx, conn);
                }
                self.attempt_failed(cx, attempt_id(call, attempt), AttemptFailure::TimedOut, true);
            }
            EdgeTimer::Connect => {
                let events = self.pool.connect_timer(cx, EdgeTimer::Connect);
                for key in events.resend(cx) {
                    self.counts.connect_failures += 1;
                    self.attempt_failed(cx, key, AttemptFailure::TimedOut, false);
                }
            }
            EdgeTimer::ConnSweep => {
                self.pool.sweep(cx, EdgeTimer::ConnSweep);
            }
        }
    }

    fn on_crash(&mut self) {
        self.pending.clear();
        self.pool.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
