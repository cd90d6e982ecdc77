//! CloudFront in front of an origin named by DNS, with an optional WAF IP allow-list.
//!
//! The edge resolves the origin's name through Route 53 (caching the answer for its TTL), so a
//! failover record behind it moves traffic when its answer changes. A request the origin does
//! not answer within the response timeout (CloudFront's default 30 s) gets 504; a refused
//! connection 502. With an origin group, a request that fails on the primary origin (one of
//! the failover status codes, a timeout, a refusal, or a name that resolves to no address: CloudFront
//! fails over when it cannot connect to the primary,
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html>)
//! is sent once to the secondary origin.
//! With `allow`, a WAF web ACL answers 403 to clients outside the allowed CIDR blocks.
//!
//! Not modelled: caching of responses, connection attempts and the connection timeout (10 s,
//! three attempts) apart from the response timeout, regional edge caches.

use std::collections::BTreeMap;

use azsim_kernel::{Cx, Dist, HostId, Message, Nanos, Packer, Process, RequestId, TimerToken, Unpacker};

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
    pub response_timeout: Nanos,
    /// WAF: only these client CIDR blocks (empty: everyone).
    pub allow: Vec<(std::net::Ipv4Addr, u8)>,
    /// The edge's own time per request.
    pub processing: Dist,
}

/// What the edge did, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeCounts {
    pub blocked: u64,
    pub timeouts: u64,
    pub failed_over: u64,
    pub no_origin: u64,
}

struct Pending {
    id: RequestId,
    client: Request,
    /// Sent to the secondary origin already.
    secondary: bool,
    /// The attempt the answer must belong to (wrapped to [`ATTEMPT_BITS`]).
    attempt: u64,
}

/// Attempt numbers an answer is told apart by (they wrap: only the latest attempt counts).
const ATTEMPT_BITS: u32 = 20;
const ATTEMPT_MASK: u64 = (1 << ATTEMPT_BITS) - 1;

/// The call id an attempt goes out under: the edge's call and the attempt, so an answer to an
/// older attempt is recognised as late.
fn attempt_id(call: u64, attempt: u64) -> u64 {
    Packer::new().put(attempt, ATTEMPT_BITS).put(call, 64 - ATTEMPT_BITS).finish()
}

/// The inverse of [`attempt_id`]: the call and the attempt.
fn split_attempt_id(id: u64) -> (u64, u64) {
    let mut fields = Unpacker::new(id);
    let attempt = fields.take(ATTEMPT_BITS);
    (fields.take(64 - ATTEMPT_BITS), attempt)
}

/// An edge's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EdgeTimer {
    /// The edge's processing of `call` is done: time to send it to the origin.
    Send { call: u64 },
    /// The origin did not answer this attempt in time.
    Timeout { call: u64, attempt: u64 },
}

impl TimerToken for EdgeTimer {
    fn into_token(self) -> u64 {
        match self {
            EdgeTimer::Send { call } => Packer::new().put(0, 1).put(call, 63).finish(),
            EdgeTimer::Timeout { call, attempt } => Packer::new().put(1, 1).put(attempt_id(call, attempt), 63).finish(),
        }
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        match fields.take(1) {
            0 => EdgeTimer::Send { call: fields.take(63) },
            _ => {
                let (call, attempt) = split_attempt_id(fields.take(63));
                EdgeTimer::Timeout { call, attempt }
            }
        }
    }
}

/// A CloudFront edge location.
pub struct Edge {
    config: EdgeConfig,
    cache: BTreeMap<String, (Nanos, Vec<Endpoint>)>,
    pending: BTreeMap<u64, Pending>,
    next: u64,
    pub counts: EdgeCounts,
}

impl Edge {
    pub fn new(config: EdgeConfig) -> Edge {
        Edge { config, cache: BTreeMap::new(), pending: BTreeMap::new(), next: 0, counts: EdgeCounts::default() }
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
        let mut req = p.client.clone();
        req.reply_to = cx.host();
        req.call_id = attempt_id(call, p.attempt);
        req.source = cx.host();
        cx.send(target, rpc::request(p.id, req));
        cx.set_timer(self.config.response_timeout, EdgeTimer::Timeout { call, attempt: p.attempt });
    }

    /// The primary failed with `status`: the secondary origin, if the group says so, else the
    /// client gets `status`.
    fn failed(&mut self, cx: &mut Cx<'_>, call: u64, status: u16, bytes: u64) {
        let Some(p) = self.pending.get_mut(&call) else { return };
        let eligible = !p.secondary && self.config.secondary.as_ref().is_some_and(|(_, codes)| codes.contains(&status) || status == 504 || status == 502);
        if eligible {
            p.secondary = true;
            self.counts.failed_over += 1;
            return self.send(cx, call);
        }
        let p = self.pending.remove(&call).expect("present");
        cx.send(p.client.reply_to, rpc::response(Some(p.id), p.client.call_id, status, bytes));
    }
}

impl Process for Edge {
    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        let (id, bytes) = (msg.request, msg.bytes);
        match Body::of(msg) {
            Body::Request(req) => {
                let Some(id) = id else { return };
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
                self.pending.insert(call, Pending { id, client: req, secondary: false, attempt: 0 });
                let t = self.config.processing.sample(cx.rng());
                cx.set_timer(t, EdgeTimer::Send { call });
            }
            Body::Response(resp) => {
                let (call, attempt) = split_attempt_id(resp.call_id);
                if self.pending.get(&call).is_none_or(|p| p.attempt != attempt) {
                    return; // an answer after the timeout
                }
                if self.config.secondary.as_ref().is_some_and(|(_, codes)| codes.contains(&resp.status)) {
                    return self.failed(cx, call, resp.status, bytes);
                }
                let p = self.pending.remove(&call).expect("present");
                cx.send(p.client.reply_to, rpc::response(Some(p.id), p.client.call_id, resp.status, bytes));
            }
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        if let Body::Request(req) = Body::of(msg) {
            let (call, attempt) = split_attempt_id(req.call_id);
            if self.pending.get(&call).is_some_and(|p| p.attempt == attempt) {
                self.failed(cx, call, 502, 0);
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        match EdgeTimer::from_token(token) {
            EdgeTimer::Send { call } => self.send(cx, call),
            EdgeTimer::Timeout { call, attempt } => {
                if self.pending.get(&call).is_some_and(|p| p.attempt == attempt) {
                    self.counts.timeouts += 1;
                    self.failed(cx, call, 504, 0);
                }
            }
        }
    }

    fn on_crash(&mut self) {
        self.pending.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
