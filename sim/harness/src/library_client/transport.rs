//! The library's inner service (`Service<Routed<R>>`): one attempt, sent as a message-path
//! [`Request`] to the endpoint's host and answered through [`Pending`] by the process on this
//! host, which receives the [`Response`](azsim_fakes::Response) or the refusal.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use affinity_client::Routed;
use azsim_fakes::{HttpRequest, Request};
use azsim_kernel::{HostId, RequestId, SimNet};
use tokio::sync::oneshot;

/// How an attempt was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Status(u16),
    /// The endpoint's process was down: the connection was refused or reset.
    Refused,
}

/// The inner service's error: the attempt's connection was refused or reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}

/// A refused attempt never reached a process: the library may send it again anywhere.
impl affinity_client::AttemptError for Refused {
    fn failure_kind(&self) -> affinity_client::FailureKind {
        affinity_client::FailureKind::Connect
    }
}

/// Attempts sent and not yet answered, by the `call_id` their [`Request`] carries. The process
/// answers them; an attempt the library stops waiting for (its timeout) takes itself out.
#[derive(Default)]
pub(crate) struct Pending {
    /// Never reused, so a late answer from before a crash cannot reach a new attempt.
    next: u64,
    waiting: BTreeMap<u64, oneshot::Sender<Answer>>,
}

pub(crate) type SharedPending = Arc<Mutex<Pending>>;

impl Pending {
    fn open(&mut self) -> (u64, oneshot::Receiver<Answer>) {
        self.next += 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(self.next, tx);
        (self.next, rx)
    }

    /// Hands `answer` to attempt `call_id`; false if nobody waits for it any more.
    pub(crate) fn answer(&mut self, call_id: u64, answer: Answer) -> bool {
        self.waiting.remove(&call_id).is_some_and(|tx| tx.send(answer).is_ok())
    }

    /// The host went down: every attempt in flight is forgotten.
    pub(crate) fn clear(&mut self) {
        self.waiting.clear();
    }
}

/// Attempts sent, and retries among them, over the run (the report's amplification figure).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) attempts: AtomicU64,
    pub(crate) retries: AtomicU64,
}

/// What each call's `http::Request` carries in its extensions (attempts clone the request, so
/// they share it): the request's history id, the request as the fakes read it, and its attempts.
#[derive(Clone, Debug)]
pub(crate) struct CallTag {
    pub(crate) id: RequestId,
    pub(crate) http: Arc<HttpRequest>,
    attempts: Arc<AtomicU32>,
}

impl CallTag {
    pub(crate) fn new(id: RequestId, http: Arc<HttpRequest>) -> Self {
        CallTag { id, http, attempts: Arc::default() }
    }
}

/// Sends an attempt to the host behind the endpoint's address.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) net: SimNet,
    /// Endpoint address -> host, filled from discovery.
    pub(crate) hosts: Arc<Mutex<BTreeMap<SocketAddr, HostId>>>,
    pub(crate) pending: SharedPending,
    pub(crate) counters: Arc<Counters>,
    pub(crate) request_bytes: u64,
    pub(crate) response_bytes: u64,
}

type AttemptFuture = Pin<Box<dyn Future<Output = Result<http::Response<()>, Refused>> + Send>>;

impl tower::Service<Routed<http::Request<()>>> for Transport {
    type Response = http::Response<()>;
    type Error = Refused;
    type Future = AttemptFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Refused>> {
        Poll::Ready(Ok(()))
    }

    /// Sends at once (the library calls this when the attempt starts), then waits.
    fn call(&mut self, routed: Routed<http::Request<()>>) -> AttemptFuture {
        let tag = routed.request.extensions().get::<CallTag>().cloned().expect("every call carries its tag");
        let host = *self.hosts.lock().expect("hosts").get(&routed.endpoint.addr).expect("discovery maps every endpoint to a host");
        self.counters.attempts.fetch_add(1, Ordering::Relaxed);
        if tag.attempts.fetch_add(1, Ordering::Relaxed) > 0 {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        let (call_id, answer) = self.pending.lock().expect("pending").open();
        let req = Request {
            reply_to: self.net.host(),
            call_id,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            chain_azs: Vec::new(),
            http: with_library_headers(&tag.http, &routed.request),
            source: self.net.host(),
        };
        self.net.send(host, azsim_fakes::request(tag.id, req));
        let forget = Forget { pending: self.pending.clone(), call_id };
        Box::pin(async move {
            let _forget = forget;
            // A dropped sender: the host went down, and this task goes with it.
            let Ok(answer) = answer.await else { return std::future::pending().await };
            match answer {
                Answer::Status(s) => {
                    let status = http::StatusCode::from_u16(s).expect("the fakes answer with HTTP statuses");
                    Ok(http::Response::builder().status(status).body(()).expect("a status and no headers"))
                }
                Answer::Refused => Err(Refused),
            }
        })
    }
}

/// Takes an attempt out of [`Pending`] when the library stops waiting for it.
struct Forget {
    pending: SharedPending,
    call_id: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        if let Ok(mut p) = self.pending.lock() {
            p.waiting.remove(&self.call_id);
        }
    }
}

/// The call's request as the library sends it: `original`, plus any header the library added
/// (an idempotency key, with `HttpPolicy::with_idempotency_keys`).
fn with_library_headers(original: &Arc<HttpRequest>, sent: &http::Request<()>) -> Arc<HttpRequest> {
    let known = |name: &str| original.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let added: Vec<(String, String)> =
        sent.headers().iter().filter(|(k, _)| !known(k.as_str())).filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    if added.is_empty() {
        return original.clone();
    }
    let mut http = HttpRequest::clone(original);
    http.headers.extend(added);
    Arc::new(http)
}

/// The `http::Request` the library decides on (method and headers: whether it may be sent
/// twice), with the call's tag. Headers that are not valid HTTP are left out (they cannot be
/// an idempotency key); the fakes still receive them, from the tag.
pub(crate) fn http_request(tag: CallTag) -> http::Request<()> {
    let http = &tag.http;
    let mut builder = http::Request::builder().method(http.method.as_str()).uri(http.path.as_str());
    for (k, v) in &http.headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            builder = builder.header(name, value);
        }
    }
    let mut request = builder.body(()).unwrap_or_else(|_| {
        // A path or method http will not parse: keep the method if it can, for the policy.
        let mut r = http::Request::new(());
        *r.method_mut() = http::Method::from_bytes(http.method.as_bytes()).unwrap_or(http::Method::POST);
        r
    });
    request.extensions_mut().insert(tag);
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use affinity_client::{HttpPolicy, Policy};

    fn may_retry(method: &str, headers: &[(&str, &str)]) -> bool {
        let http =
            HttpRequest { method: method.into(), headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..HttpRequest::default() };
        let request = http_request(CallTag::new(RequestId(0), Arc::new(http)));
        <HttpPolicy as Policy<_, http::Response<()>, Refused>>::clone_request(&HttpPolicy::default(), &request).is_some()
    }

    #[test]
    fn the_librarys_policy_retries_what_the_harness_always_did() {
        let cases = [
            ("GET", &[][..], true),
            ("HEAD", &[], true),
            ("PUT", &[], true),
            ("DELETE", &[], true),
            ("OPTIONS", &[], true),
            ("POST", &[], false),
            ("PATCH", &[], false),
            ("POST", &[("Idempotency-Key", "k1")], true),
            ("POST", &[("x-other", "1")], false),
        ];
        for (method, headers, expected) in cases {
            assert_eq!(may_retry(method, headers), expected, "{method} {headers:?}");
        }
    }

    #[test]
    fn headers_the_library_adds_reach_the_fakes_and_the_rest_is_untouched() {
        let original = Arc::new(HttpRequest { headers: vec![("X-Trace".into(), "1".into())], ..HttpRequest::default() });
        let mut sent = http_request(CallTag::new(RequestId(0), original.clone()));
        assert!(Arc::ptr_eq(&with_library_headers(&original, &sent), &original), "nothing added: the same request");
        sent.headers_mut().insert("idempotency-key", http::HeaderValue::from_static("abc"));
        let headers = with_library_headers(&original, &sent).headers.clone();
        assert_eq!(headers, [("X-Trace".to_string(), "1".to_string()), ("idempotency-key".to_string(), "abc".to_string())]);
    }
}
