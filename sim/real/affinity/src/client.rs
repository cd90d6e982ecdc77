//! The tower service: each call picks an endpoint, sends through the inner service, classifies
//! the result, and retries under the budget while the request allows it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use azsim_net::{Clock, Rng};
use tower::{Service, ServiceExt};

use crate::balancer::{Balancer, Endpoint, FailureKind, Outcome, PickError, Snapshot};
use crate::config::Config;
use crate::retry::{Budget, backoff};

/// What the inner service is asked to do: send `request` to `endpoint`.
#[derive(Clone, Debug)]
pub struct Routed<R> {
    pub endpoint: Endpoint,
    pub request: R,
}

/// Tells successes from failures, and which requests may be sent twice.
pub trait Policy<R, Resp, E>: Send + Sync + 'static {
    fn classify(&self, result: &Result<Resp, E>) -> Outcome;
    /// Whether a failed request may be sent again (idempotent, or carrying an idempotency key).
    fn may_retry(&self, request: &R) -> bool;
    /// Called once per call before the first attempt (e.g. to add an idempotency key).
    fn prepare(&self, _request: &mut R, _rng: &mut dyn Rng) {}
}

/// Why a call failed.
#[derive(Debug)]
pub enum Error<E> {
    /// Discovery has found nothing (yet).
    NoEndpoints,
    /// Every zone (or endpoint) that could take it has its breaker open, and panic is off
    /// (`panic_threshold` 0); with panic on, such a call goes out as a probe instead (see
    /// [`ZoneConfig`](crate::ZoneConfig)).
    CircuitOpen,
    /// The last attempt timed out (its per-try timeout or the deadline).
    Timeout { attempts: u32 },
    /// A retry was due but the budget was spent. `status` is the last attempt's, if it answered.
    BudgetExhausted { attempts: u32, status: Option<u16> },
    /// The inner service's error from the last attempt.
    Inner { attempts: u32, error: E },
}

impl<E> Error<E> {
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, Error::CircuitOpen)
    }
    pub fn is_budget_exhausted(&self) -> bool {
        matches!(self, Error::BudgetExhausted { .. })
    }
    pub fn is_no_endpoints(&self) -> bool {
        matches!(self, Error::NoEndpoints)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for Error<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoEndpoints => write!(f, "no endpoint to send to"),
            Error::CircuitOpen => write!(f, "circuit open for every zone that could take the request"),
            Error::Timeout { attempts } => write!(f, "timed out after {attempts} attempt(s)"),
            Error::BudgetExhausted { attempts, status } => write!(f, "retry budget exhausted after {attempts} attempt(s) (last status {status:?})"),
            Error::Inner { attempts, error } => write!(f, "attempt {attempts} failed: {error}"),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for Error<E> {}

struct Shared<C, P> {
    balancer: Mutex<Balancer>,
    budget: Mutex<Budget>,
    rng: Mutex<Box<dyn Rng + Send>>,
    clock: C,
    policy: P,
}

/// The AZ-affinity client: a tower [`Service`] over an inner service that sends a request to
/// one endpoint. Cloning it shares the balancer, budget and randomness.
pub struct AffinityClient<S, C, P> {
    inner: S,
    shared: Arc<Shared<C, P>>,
}

impl<S: Clone, C, P> Clone for AffinityClient<S, C, P> {
    fn clone(&self) -> Self {
        AffinityClient { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

impl<S, C: Clock, P> AffinityClient<S, C, P> {
    /// A client with a validated `config`, sending through `inner`, with time from `clock` and
    /// randomness from `rng` ([`AffinityClient::builder`] is the way in).
    pub(crate) fn new(config: Config, inner: S, policy: P, clock: C, rng: Box<dyn Rng + Send>) -> Self {
        let budget = Budget::new(config.retry.budget);
        let shared = Shared { balancer: Mutex::new(Balancer::new(config)), budget: Mutex::new(budget), rng: Mutex::new(rng), clock, policy };
        AffinityClient { inner, shared: Arc::new(shared) }
    }

    /// Replaces the endpoints (what discovery does on each refresh).
    pub fn set_endpoints(&self, endpoints: Vec<Endpoint>) {
        let now = self.shared.clock.now();
        self.balancer().set_endpoints(now, endpoints);
    }

    /// An owned picture of the state now: mode, zones and their breakers, ejected endpoints,
    /// and the [`Counters`](crate::Counters) (attempts, retries, budget refusals, ejections,
    /// breaker transitions, spills and failbacks, panic probes).
    pub fn snapshot(&self) -> Snapshot {
        let now = self.shared.clock.now();
        self.balancer().snapshot(now)
    }

    /// The balancer, locked: every call waits while it is held (so it stays inside the crate;
    /// callers get a [`snapshot`](Self::snapshot)).
    fn balancer(&self) -> std::sync::MutexGuard<'_, Balancer> {
        self.shared.balancer.lock().expect("balancer lock")
    }

    /// Retries the budget still holds.
    pub fn budget_balance(&self) -> f64 {
        self.shared.budget.lock().expect("budget lock").balance()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, C, P, R> Service<R> for AffinityClient<S, C, P>
where
    S: Service<Routed<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    R: Clone + Send + 'static,
    C: Clock,
    P: Policy<R, S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = BoxFuture<Result<S::Response, Error<S::Error>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is per attempt: each waits for the inner service in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        Box::pin(async move { run(inner, shared, request).await })
    }
}

/// One call: pick, attempt under the per-try timeout and deadline, classify, retry under the
/// budget. Long on purpose: the retry loop reads as one state machine.
async fn run<S, C, P, R>(inner: S, shared: Arc<Shared<C, P>>, mut request: R) -> Result<S::Response, Error<S::Error>>
where
    S: Service<Routed<R>> + Clone + Send + 'static,
    S::Future: Send,
    R: Clone + Send + 'static,
    C: Clock,
    P: Policy<R, S::Response, S::Error>,
{
    shared.policy.prepare(&mut request, shared.rng.lock().expect("rng lock").as_mut());
    let retry = shared.balancer.lock().expect("balancer lock").config().retry;
    let start = shared.clock.now();
    let deadline = retry.deadline.map(|d| start + d);
    shared.budget.lock().expect("budget lock").on_request(start);
    let (mut attempt, mut avoid, mut retried, mut after_timeout) = (0u32, None, false, false);
    loop {
        attempt += 1;
        let now = shared.clock.now();
        let picked = {
            let mut rng = shared.rng.lock().expect("rng lock");
            let mut balancer = shared.balancer.lock().expect("balancer lock");
            balancer.pick(now, rng.as_mut(), avoid).map(|p| (p, balancer.endpoint(p.index).clone()))
        };
        let (pick, endpoint) = match picked {
            Ok(p) => p,
            Err(PickError::NoEndpoints) => return Err(Error::NoEndpoints),
            Err(PickError::CircuitOpen) => return Err(Error::CircuitOpen),
        };
        let limit = [retry.per_try_timeout, deadline.map(|d| d.saturating_duration_since(now))].into_iter().flatten().min();
        let (svc, copy) = (inner.clone(), request.clone());
        let send = async move {
            let mut svc = svc.ready_oneshot().await?;
            svc.call(Routed { endpoint, request: copy }).await
        };
        let result = match limit {
            Some(limit) => {
                tokio::select! {
                    biased;
                    r = send => Some(r),
                    _ = shared.clock.sleep(limit) => None,
                }
            }
            None => Some(send.await),
        };
        let now = shared.clock.now();
        let outcome = match &result {
            None => Outcome::Failure(FailureKind::Timeout),
            Some(r) => shared.policy.classify(r),
        };
        shared.balancer.lock().expect("balancer lock").record(now, pick, outcome);
        let kind = match outcome {
            Outcome::Success => {
                shared.budget.lock().expect("budget lock").on_success(retried, after_timeout);
                return result.expect("a success has a result").map_err(|error| Error::Inner { attempts: attempt, error });
            }
            Outcome::Failure(kind) => kind,
        };
        let status = match kind {
            FailureKind::Status(s) => Some(s),
            _ => None,
        };
        // Give up: out of attempts, not allowed to send it twice, or past the deadline.
        let out_of_time = deadline.is_some_and(|d| now >= d);
        if attempt >= retry.max_attempts || !shared.policy.may_retry(&request) || out_of_time {
            return match result {
                None => Err(Error::Timeout { attempts: attempt }),
                Some(Ok(response)) => Ok(response),
                Some(Err(error)) => Err(Error::Inner { attempts: attempt, error }),
            };
        }
        if !shared.budget.lock().expect("budget lock").try_withdraw(kind == FailureKind::Timeout) {
            tracing::debug!(attempts = attempt, "retry budget exhausted");
            shared.balancer.lock().expect("balancer lock").count_budget_refusal();
            return Err(Error::BudgetExhausted { attempts: attempt, status });
        }
        shared.balancer.lock().expect("balancer lock").count_retry();
        tracing::debug!(attempt, failure = ?kind, "retrying");
        let pause = backoff(&retry, attempt, shared.rng.lock().expect("rng lock").as_mut());
        let pause = deadline.map_or(pause, |d| pause.min(d.saturating_duration_since(now)));
        shared.clock.sleep(pause).await;
        avoid = retry.other_zone.then_some(pick.zone);
        retried = true;
        after_timeout = kind == FailureKind::Timeout;
    }
}

/// The policy for HTTP: 5xx answers and transport errors are failures; GET, HEAD, OPTIONS,
/// TRACE, PUT and DELETE, or any request with an `idempotency-key` header, may be retried.
/// [`HttpPolicy::with_idempotency_keys`] adds a random key to requests that have none (POST,
/// PATCH), so the server can drop duplicates and the library may retry them.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpPolicy {
    add_keys: bool,
}

impl HttpPolicy {
    pub fn with_idempotency_keys() -> Self {
        HttpPolicy { add_keys: true }
    }
}

impl<B, RB, E> Policy<http::Request<B>, http::Response<RB>, E> for HttpPolicy {
    fn classify(&self, result: &Result<http::Response<RB>, E>) -> Outcome {
        match result {
            Ok(r) if r.status().is_server_error() => Outcome::Failure(FailureKind::Status(r.status().as_u16())),
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure(FailureKind::Connect),
        }
    }

    fn may_retry(&self, request: &http::Request<B>) -> bool {
        idempotent(request)
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
