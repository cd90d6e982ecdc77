//! What an attempt came to, and whether the request may go out again: the [`Policy`] trait
//! (tower's `retry::Policy` shape: classify the result, clone the request or refuse to) and
//! [`HttpPolicy`], the one for HTTP.
//!
//! - [`AttemptError`] lets an inner service's error say how the attempt failed: no connection
//!   ([`FailureKind::Connect`]) or a connection that broke ([`FailureKind::Reset`]).
//! - [`ReplayBody`] says whether a request body can be sent twice: a buffered body can, a
//!   stream cannot, and a request whose body cannot is simply not retried.

use std::convert::Infallible;
use std::time::Duration;

use azsim_net::Rng;

use crate::balancer::{FailureKind, Outcome};

/// Tells successes from failures, which failures are worth another attempt, and copies a
/// request for it.
pub trait Policy<R, Resp, E>: Send + Sync + 'static {
    /// What an attempt came to. A timeout never gets here (the client knows it as
    /// [`FailureKind::Timeout`]).
    fn classify(&self, result: &Result<Resp, E>) -> Outcome;

    /// Whether a failure of this kind is worth another attempt (default: every kind). A failure
    /// that is not still counts against the endpoint's health and ends the call at once.
    fn retryable(&self, _failure: FailureKind) -> bool {
        true
    }

    /// How long the endpoint asked the caller to wait before trying again (HTTP's
    /// `Retry-After`): the next attempt waits at least this long, and the call gives up rather
    /// than wait past its deadline.
    fn retry_after(&self, _result: &Result<Resp, E>) -> Option<Duration> {
        None
    }

    /// A copy of `request` for another attempt, taken before each attempt that could be
    /// followed by one; `None` when it must not or cannot be sent twice (not idempotent, or a
    /// body that cannot be replayed), and then it is not retried.
    fn clone_request(&self, request: &R) -> Option<R>;

    /// Called once per call before the first attempt (e.g. to add an idempotency key).
    fn prepare(&self, _request: &mut R, _rng: &mut dyn Rng) {}
}

/// How an inner service's error failed the attempt.
pub trait AttemptError {
    /// [`FailureKind::Connect`] when no connection was made (the request never left), else
    /// [`FailureKind::Reset`] (the request may have reached the endpoint).
    fn failure_kind(&self) -> FailureKind;
}

impl AttemptError for Infallible {
    fn failure_kind(&self) -> FailureKind {
        match *self {}
    }
}

/// By the I/O error's kind: refused, unreachable, or not connected is `Connect`.
impl AttemptError for std::io::Error {
    fn failure_kind(&self) -> FailureKind {
        use std::io::ErrorKind::*;
        match self.kind() {
            ConnectionRefused | NotConnected | AddrNotAvailable | HostUnreachable | NetworkUnreachable | AddrInUse => FailureKind::Connect,
            _ => FailureKind::Reset,
        }
    }
}

/// The first error in the source chain that is an I/O error (or, with the `hyper-transport`
/// feature, `HyperError`) decides; `Reset` without one, since the request
/// may have been sent.
impl AttemptError for Box<dyn std::error::Error + Send + Sync> {
    fn failure_kind(&self) -> FailureKind {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self.as_ref());
        while let Some(error) = next {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                return io.failure_kind();
            }
            #[cfg(feature = "hyper-transport")]
            if let Some(hyper) = error.downcast_ref::<crate::HyperError>() {
                return hyper.failure_kind();
            }
            next = error.source();
        }
        FailureKind::Reset
    }
}

/// A request body that may be sent again: [`try_clone`](Self::try_clone) returns a copy, or
/// `None` for a body that is read once (a stream), whose request is then not retried.
pub trait ReplayBody: Sized {
    fn try_clone(&self) -> Option<Self>;
}

macro_rules! replayable {
    ($($t:ty),*) => {$(
        impl ReplayBody for $t {
            fn try_clone(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replayable!((), String, Vec<u8>, &'static str, &'static [u8], bytes::Bytes);

impl<D: Clone> ReplayBody for http_body_util::Full<D> {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for http_body_util::Empty<D> {
    fn try_clone(&self) -> Option<Self> {
        Some(http_body_util::Empty::new())
    }
}

/// A boxed body may be anything, a stream included: never replayed.
impl<D, E> ReplayBody for http_body_util::combinators::BoxBody<D, E> {
    fn try_clone(&self) -> Option<Self> {
        None
    }
}

/// A boxed body may be anything, a stream included: never replayed.
impl<D, E> ReplayBody for http_body_util::combinators::UnsyncBoxBody<D, E> {
    fn try_clone(&self) -> Option<Self> {
        None
    }
}

/// The policy for HTTP.
///
/// | answer | outcome | retried |
/// |---|---|---|
/// | 1xx to 4xx, but 429 | success | no |
/// | 429 Too Many Requests | [`FailureKind::Throttled`]: not against the endpoint's health | yes, after `Retry-After` |
/// | 5xx | [`FailureKind::Status`] | yes, but 501 and 505 (every endpoint answers them alike); [`HttpPolicy::retry_status`] changes it per status |
/// | no connection, a broken one | [`FailureKind::Connect`], [`FailureKind::Reset`] ([`AttemptError`]) | yes |
///
/// `Retry-After` is read in seconds (its HTTP-date form needs the wall clock, which the library
/// does not read, and counts as absent) on any failed answer. Only a request that may be sent
/// twice is retried: GET, HEAD, OPTIONS, TRACE, PUT and DELETE, or any request with an
/// `idempotency-key` header, whose body [`ReplayBody::try_clone`] copies.
/// [`HttpPolicy::with_idempotency_keys`] adds a random key to requests that have none (POST,
/// PATCH), so the server can drop duplicates and the library may retry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpPolicy {
    add_keys: bool,
    /// Bit `s - 500` set: status `s` is a failure not worth another attempt.
    final_5xx: u128,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy { add_keys: false, final_5xx: (1 << (501 - 500)) | (1 << (505 - 500)) }
    }
}

impl HttpPolicy {
    /// Adds an idempotency key to requests that are not idempotent, so they may be retried.
    pub fn with_idempotency_keys() -> Self {
        HttpPolicy { add_keys: true, ..HttpPolicy::default() }
    }

    /// Whether a failed answer with this 5xx `status` is tried again (statuses outside 500 to
    /// 599 are not failures and are left alone).
    pub fn retry_status(mut self, status: u16, retry: bool) -> Self {
        if let Some(bit) = status.checked_sub(500).filter(|b| *b < 100) {
            match retry {
                true => self.final_5xx &= !(1 << bit),
                false => self.final_5xx |= 1 << bit,
            }
        }
        self
    }
}

impl<B: ReplayBody, RB, E: AttemptError> Policy<http::Request<B>, http::Response<RB>, E> for HttpPolicy {
    fn classify(&self, result: &Result<http::Response<RB>, E>) -> Outcome {
        match result {
            Ok(r) if r.status() == http::StatusCode::TOO_MANY_REQUESTS => Outcome::Failure(FailureKind::Throttled(429)),
            Ok(r) if r.status().is_server_error() => Outcome::Failure(FailureKind::Status(r.status().as_u16())),
            Ok(_) => Outcome::Success,
            Err(e) => Outcome::Failure(e.failure_kind()),
        }
    }

    fn retryable(&self, failure: FailureKind) -> bool {
        match failure {
            FailureKind::Status(s) => s.checked_sub(500).is_none_or(|bit| bit >= 100 || self.final_5xx & (1 << bit) == 0),
            _ => true,
        }
    }

    fn retry_after(&self, result: &Result<http::Response<RB>, E>) -> Option<Duration> {
        let value = result.as_ref().ok()?.headers().get(http::header::RETRY_AFTER)?;
        value.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    fn clone_request(&self, request: &http::Request<B>) -> Option<http::Request<B>> {
        if !idempotent(request) {
            return None;
        }
        let mut copy = http::Request::new(request.body().try_clone()?);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }

    fn prepare(&self, request: &mut http::Request<B>, rng: &mut dyn Rng) {
        if self.add_keys && !idempotent(request) {
            let key = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
            request.headers_mut().insert("idempotency-key", http::HeaderValue::from_str(&key).expect("hex is a valid header value"));
        }
    }
}

/// Safe to send twice: an idempotent method, or an idempotency key the server honours.
fn idempotent<B>(request: &http::Request<B>) -> bool {
    use http::Method;
    matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
        || request.headers().contains_key("idempotency-key")
}

#[cfg(test)]
mod tests {
    use super::*;

    type Result = std::result::Result<http::Response<()>, std::io::Error>;

    fn answer(status: u16, retry_after: Option<&str>) -> Result {
        let mut r = http::Response::builder().status(status);
        if let Some(v) = retry_after {
            r = r.header("retry-after", v);
        }
        Ok(r.body(()).expect("a status"))
    }

    fn policy() -> impl Policy<http::Request<()>, http::Response<()>, std::io::Error> {
        HttpPolicy::default()
    }

    #[test]
    fn each_answer_has_its_outcome_and_retry_decision() {
        use FailureKind::*;
        use std::io::ErrorKind;
        let p = policy();
        let io = |kind| -> Result { Err(std::io::Error::from(kind)) };
        let cases: [(Result, Outcome, bool); 9] = [
            (answer(200, None), Outcome::Success, false),
            (answer(404, None), Outcome::Success, false),
            (answer(429, None), Outcome::Failure(Throttled(429)), true),
            (answer(500, None), Outcome::Failure(Status(500)), true),
            (answer(503, None), Outcome::Failure(Status(503)), true),
            (answer(501, None), Outcome::Failure(Status(501)), false),
            (answer(505, None), Outcome::Failure(Status(505)), false),
            (io(ErrorKind::ConnectionRefused), Outcome::Failure(Connect), true),
            (io(ErrorKind::ConnectionReset), Outcome::Failure(Reset), true),
        ];
        for (result, outcome, retried) in cases {
            let shown = format!("{result:?}");
            assert_eq!(p.classify(&result), outcome, "{shown}");
            if let Outcome::Failure(kind) = outcome {
                assert_eq!(p.retryable(kind), retried, "{shown}");
            }
        }
        let changed = HttpPolicy::default().retry_status(501, true).retry_status(503, false).retry_status(404, false);
        let retried = |s| <HttpPolicy as Policy<http::Request<()>, http::Response<()>, std::io::Error>>::retryable(&changed, Status(s));
        assert_eq!((retried(501), retried(503), retried(502)), (true, false, true), "per status");
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_an_http_date_counts_as_absent() {
        let p = policy();
        assert_eq!(p.retry_after(&answer(429, Some("3"))), Some(Duration::from_secs(3)));
        assert_eq!(p.retry_after(&answer(503, Some(" 120 "))), Some(Duration::from_secs(120)));
        assert_eq!(p.retry_after(&answer(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
        assert_eq!(p.retry_after(&answer(429, None)), None);
    }

    #[test]
    fn only_requests_that_may_go_twice_and_whose_body_replays_are_copied() {
        let p = HttpPolicy::default();
        let get = http::Request::get("/a").header("x-trace", "1").body(bytes::Bytes::from_static(b"q")).expect("a request");
        let copy = Policy::<_, http::Response<()>, std::io::Error>::clone_request(&p, &get).expect("a GET with a buffered body");
        assert_eq!((copy.method(), copy.uri(), copy.headers(), copy.body()), (get.method(), get.uri(), get.headers(), get.body()));
        let post = http::Request::post("/").body(bytes::Bytes::new()).expect("a request");
        assert!(Policy::<_, http::Response<()>, std::io::Error>::clone_request(&p, &post).is_none(), "not idempotent");
        let stream = http_body_util::BodyExt::boxed(http_body_util::Full::new(bytes::Bytes::new()));
        let streamed = http::Request::get("/").body(stream).expect("a request");
        assert!(Policy::<_, http::Response<()>, std::io::Error>::clone_request(&p, &streamed).is_none(), "a boxed body is not replayed");
    }
}
