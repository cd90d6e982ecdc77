//! What fakes say to each other: one vocabulary, [`Body`], which every process on the fakes'
//! message path sends and `match`es on. Sizes on the wire are in the kernel's [`Message::bytes`].

use std::sync::Arc;

use azsim_kernel::{AzId, HostId, Message, RequestId};

use crate::apigw::LinkRequest;
use crate::cloudmap::{DiscoverAnswer, DiscoverCall};
use crate::conn::{ConnRequest, Segment};
use crate::nat::{ConnReset, NatForward, NatProbe};

/// Every message between fakes (and the harness's processes that talk to them). The kernel
/// carries it type-erased (it knows nothing of AWS); [`Body::message`] wraps one and
/// [`Body::of`] unwraps one, the single place where the type is recovered.
#[derive(Clone, Debug)]
pub enum Body {
    Request(Request),
    Response(Response),
    HealthCheck(HealthCheck),
    HealthReply(HealthReply),
    /// Cloud Map's `DiscoverInstances` on the message path, and its answer.
    DiscoverCall(DiscoverCall),
    DiscoverAnswer(DiscoverAnswer),
    /// API Gateway to a VPC link ENI.
    LinkRequest(LinkRequest),
    /// Egress proxy to NAT gateway: a request, a probe to send on; NAT to proxy: a reset.
    NatForward(NatForward),
    NatProbe(NatProbe),
    ConnReset(ConnReset),
    /// A pooled connection's handshake and close (`conn.rs`), and a request on it.
    Syn(Segment),
    SynAck(Segment),
    Fin(Segment),
    Rst(Segment),
    ConnRequest(ConnRequest),
    /// A TLS handshake's flights on a connection (`tls.rs`): the client's, the server's.
    TlsHello(crate::tls::Flight),
    TlsReply(crate::tls::Flight),
}

impl Body {
    /// This body as a message of `bytes` (over TCP: the kernel adds segment headers and ACKs),
    /// part of `request` (if any).
    pub fn message(self, request: Option<RequestId>, bytes: u64) -> Message {
        Message::new(request, bytes, self)
    }

    /// This body as a whole packet of `bytes` (a TCP control segment), part of `request`.
    pub fn packet(self, request: Option<RequestId>, bytes: u64) -> Message {
        Message::raw(request, bytes, self)
    }

    /// The body of a message on the fakes' path. Panics if it is anything else: every process
    /// here speaks this vocabulary, so another type is a wiring bug.
    pub fn of(msg: Message) -> Body {
        msg.take().unwrap_or_else(|m| panic!("{m:?} is not an rpc::Body: a process off the fakes' vocabulary sent it"))
    }

    /// A health probe, as every prober sends it.
    pub fn health_check(seq: u64) -> Message {
        Body::HealthCheck(HealthCheck { seq }).message(None, HEALTH_CHECK_BYTES)
    }

    /// An answer to a health probe.
    pub fn health_reply(reply: HealthReply) -> Message {
        Body::HealthReply(reply).message(None, HEALTH_CHECK_BYTES)
    }
}

/// The HTTP parts of a request that listener rules look at.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// One more header of this many bytes (a large cookie or token), for header limits.
    pub large_header_bytes: u64,
}

impl Default for HttpRequest {
    /// `GET /`.
    fn default() -> Self {
        HttpRequest { method: "GET".into(), path: "/".into(), host: String::new(), headers: Vec::new(), query: Vec::new(), large_header_bytes: 0 }
    }
}

impl HttpRequest {
    /// The request line's size and the largest header line's, and all of the head's, in bytes
    /// (`name: value\r\n` per header).
    pub fn head_sizes(&self) -> (u64, u64, u64) {
        let line = (self.method.len() + self.path.len() + 11) as u64 + self.query.iter().map(|(k, v)| (k.len() + v.len() + 2) as u64).sum::<u64>();
        let mut largest = self.large_header_bytes;
        let mut total = line + self.large_header_bytes + (self.host.len() + 8) as u64;
        for (k, v) in &self.headers {
            let h = (k.len() + v.len() + 4) as u64;
            largest = largest.max(h);
            total += h;
        }
        (line, largest, total)
    }

    /// The request head as sent, in bytes: the request line, `Host`, the headers,
    /// `Content-Length` when there is a body, and the blank line. The large header, if any, is
    /// counted in the body's size (clients add it there); headers a real client adds on its own
    /// (`User-Agent`, `Accept`) are not counted: the scenario does not name them.
    pub fn request_head_bytes(&self, body: u64) -> u64 {
        // `METHOD SP path[?k=v&...] SP HTTP/1.1 CRLF`, `Host: h CRLF`, `k: v CRLF` each.
        let query: u64 = self.query.iter().map(|(k, v)| (k.len() + v.len() + 2) as u64).sum();
        let line = (self.method.len() + 1 + self.path.len() + 1 + 8 + 2) as u64 + query;
        let headers: u64 = self.headers.iter().map(|(k, v)| (k.len() + v.len() + 4) as u64).sum();
        line + (self.host.len() + 8) as u64 + headers + content_length_line(body) + 2
    }
}

/// `Content-Length: <n>\r\n`, or nothing for an empty body.
fn content_length_line(body: u64) -> u64 {
    // "Content-Length: " (16), the digits, CRLF (2); no allocation: this runs per message.
    if body == 0 { 0 } else { 18 + u64::from(body.ilog10()) + 1 }
}

/// The status line's reason phrase (RFC 9110) of the statuses the fakes answer.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// An answer's head as sent, in bytes: the status line, `Date` (an origin server with a clock
/// sends it, RFC 9110 section 6.6.1), `Content-Type: application/json` and `Content-Length`
/// when there is a body (`Content-Length: 0` otherwise), and the blank line. Other headers a
/// server or load balancer adds are not counted (ours: the scenario names none).
/// <https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1>
pub fn response_head_bytes(status: u16, body: u64) -> u64 {
    let status_line = 13 + reason(status).len() as u64 + 2; // "HTTP/1.1 200 " + reason + CRLF
    let date = 37; // "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    let body_headers = if body == 0 { 19 } else { 32 + content_length_line(body) };
    status_line + date + body_headers + 2
}

/// A request travelling towards a service.
#[derive(Clone, Debug)]
pub struct Request {
    /// Who gets the answer.
    pub reply_to: HostId,
    /// The answerer echoes it, so the caller can match the answer to its call.
    pub call_id: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// AZs of the forward chain so far (for `spread` placement).
    pub chain_azs: Vec<AzId>,
    /// Method, path, host, headers and query (shared, not copied, hop to hop).
    pub http: Arc<HttpRequest>,
    /// The address the receiver sees the request come from: the client, or the hop before it.
    /// An ALB node substitutes its own (the client's goes in `X-Forwarded-For`); an NLB keeps
    /// the client's (client IP preservation, on by default for instance and IP targets).
    pub source: HostId,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug)]
pub struct Response {
    pub call_id: u64,
    /// HTTP-like status: 200 ok, 503 no capacity or no target, 504 timeout.
    pub status: u16,
    /// `Connection: close`: the answerer closes the connection after it (keep-alive off).
    pub connection_close: bool,
}

/// A load balancer node's health probe.
#[derive(Clone, Debug)]
pub struct HealthCheck {
    pub seq: u64,
}

/// A target's answer to a probe.
#[derive(Clone, Debug)]
pub struct HealthReply {
    pub seq: u64,
    /// The probe's HTTP status. Load balancer nodes judge it by their health check's
    /// [`crate::Matcher`]; [`HealthReply::passes`] is the 2xx-or-3xx rule of Route 53's
    /// checks and the egress proxy's.
    pub status: u16,
    /// The start of the answer's body, for checks that look for a string in it.
    pub body: Option<Arc<str>>,
}

impl HealthReply {
    /// An answer with `status` and no body.
    pub fn status(seq: u64, status: u16) -> HealthReply {
        HealthReply { seq, status, body: None }
    }

    pub fn passes(&self) -> bool {
        (200..400).contains(&self.status)
    }
}

/// Bytes on the wire of a health probe and its answer (an HTTP GET and a small 200).
pub const HEALTH_CHECK_BYTES: u64 = 120;

/// `req` as a message of request `id` (its head, then `req.request_bytes` of body).
pub fn request(id: RequestId, req: Request) -> Message {
    let head = req.http.request_head_bytes(req.request_bytes);
    let bytes = req.request_bytes;
    Body::Request(req).message(Some(id), bytes).with_head(head)
}

/// A hop that passes requests on (a VPC link's ENI, a NAT gateway, an egress proxy): what it
/// sent on, and to whom each answer goes back.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    pending: std::collections::BTreeMap<u64, (RequestId, Request)>,
    next: u64,
}

impl Relay {
    /// Takes over `req` and returns what to send on: from this host (the address the next hop
    /// sees), answered here, under a call id of the relay's.
    pub(crate) fn take(&mut self, host: HostId, id: RequestId, req: Request) -> Request {
        self.next += 1;
        let mut out = req.clone();
        out.reply_to = host;
        out.call_id = self.next;
        out.source = host;
        self.pending.insert(self.next, (id, req));
        out
    }

    /// Passes the answer to call `call_id` back to whoever sent the request; false if the call
    /// is not (or no longer) one of ours.
    pub(crate) fn answer(&mut self, cx: &mut azsim_kernel::Cx<'_>, call_id: u64, status: u16, bytes: u64) -> bool {
        let Some((id, req)) = self.pending.remove(&call_id) else { return false };
        cx.send(req.reply_to, response(Some(id), req.call_id, status, bytes));
        true
    }

    /// Forgets everything (the process died).
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }
}

/// The answer to a request (`call_id` is the request's), `bytes` on the wire.
pub fn response(id: Option<RequestId>, call_id: u64, status: u16, bytes: u64) -> Message {
    Body::Response(Response { call_id, status, connection_close: false }).message(id, bytes).with_head(response_head_bytes(status, bytes))
}

/// [`response`] with `Connection: close`.
pub fn response_closing(id: Option<RequestId>, call_id: u64, status: u16, bytes: u64) -> Message {
    Body::Response(Response { call_id, status, connection_close: true }).message(id, bytes).with_head(response_head_bytes(status, bytes) + 19)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `GET /orders?id=7 HTTP/1.1` (27 bytes with CRLF), `Host: api.example` (19), `accept:
    /// */*` (13), the blank line (2): 61 bytes, and `Content-Length: 1024` (22) with a body.
    #[test]
    fn a_request_head_counts_its_lines() {
        let http = HttpRequest {
            method: "GET".into(),
            path: "/orders".into(),
            host: "api.example".into(),
            headers: vec![("accept".into(), "*/*".into())],
            query: vec![("id".into(), "7".into())],
            large_header_bytes: 0,
        };
        assert_eq!(http.request_head_bytes(0), 61);
        assert_eq!(http.request_head_bytes(1024), 61 + 22);
    }

    /// `HTTP/1.1 200 OK` (17 with CRLF), `Date: ...` (37), `Content-Type: application/json`
    /// (32), `Content-Length: 1024` (22), the blank line (2): 110; an empty 503 has
    /// `Content-Length: 0` (19) and no type: 13 + 19 + 2 + 37 + 19 + 2 = 92.
    #[test]
    fn an_answer_head_counts_its_lines() {
        assert_eq!(response_head_bytes(200, 1024), 110);
        assert_eq!(response_head_bytes(503, 0), 92);
    }
}
