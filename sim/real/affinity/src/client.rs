//! The tower service: [`AffinityClient`] (in `client/call.rs`, one call's retry loop; in
//! `client/error.rs`, how a call fails) and [`AffinityLayer`], which puts it over any transport
//! in a tower stack.

mod call;
mod error;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use azsim_net::{Clock, Rng};
use tower::Service;

use crate::balancer::{Balancer, Endpoint, Snapshot};
use crate::config::Config;
use crate::policy::Policy;
use crate::retry::Budget;
pub use error::{Error, GaveUp};

/// What the inner service is asked to do: send `request` to `endpoint`, as attempt number
/// `attempt` of the call (1 for the first).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Routed<R> {
    pub endpoint: Endpoint,
    pub request: R,
    pub attempt: u32,
}

impl<R> Routed<R> {
    /// An attempt to hand a transport by hand (the client makes these; a transport's own tests
    /// may too).
    pub fn new(endpoint: Endpoint, request: R, attempt: u32) -> Self {
        Routed { endpoint, request, attempt }
    }

    /// What a transport tags its response with (see [`Served`]).
    pub fn served(&self) -> Served {
        Served { endpoint: self.endpoint.clone(), attempt: self.attempt }
    }
}

/// Which endpoint answered, and on which attempt of the call: a response extension
/// (`HyperTransport`, feature `hyper-transport`, adds it to every response, a failing one
/// included; other transports may, with [`Routed::served`]). Since a call's result is always
/// its last attempt's, `attempt` is also how many attempts the call took.
///
/// ```
/// fn who_answered(response: &http::Response<()>) -> Option<(&str, u32)> {
///     let served = response.extensions().get::<affinity_client::Served>()?;
///     Some((served.endpoint.zone.as_str(), served.attempt))
/// }
/// # assert_eq!(who_answered(&http::Response::new(())), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// The endpoint; its `zone` is the zone that answered.
    pub endpoint: Endpoint,
    /// The attempt's number, 1 for the first.
    pub attempt: u32,
}

/// The state a client's clones (and every service an [`AffinityLayer`] makes) share.
pub(crate) struct Shared<C, P> {
    pub(crate) balancer: Mutex<Balancer>,
    pub(crate) budget: Mutex<Budget>,
    pub(crate) rng: Mutex<Box<dyn Rng + Send>>,
    pub(crate) clock: C,
    pub(crate) policy: P,
}

impl<C: Clock, P> Shared<C, P> {
    pub(crate) fn new(config: Config, policy: P, clock: C, rng: Box<dyn Rng + Send>) -> Self {
        let budget = Budget::new(config.retry.budget);
        Shared { balancer: Mutex::new(Balancer::new(config)), budget: Mutex::new(budget), rng: Mutex::new(rng), clock, policy }
    }

    /// The balancer, locked: every call waits while it is held (so it stays inside the crate;
    /// callers get a snapshot).
    pub(crate) fn balancer(&self) -> std::sync::MutexGuard<'_, Balancer> {
        self.balancer.lock().expect("balancer lock")
    }

    fn set_endpoints(&self, endpoints: Vec<Endpoint>) {
        let now = self.clock.now();
        self.balancer().set_endpoints(now, endpoints);
    }

    fn snapshot(&self) -> Snapshot {
        let now = self.clock.now();
        self.balancer().snapshot(now)
    }

    fn budget_balance(&self) -> f64 {
        self.budget.lock().expect("budget lock").balance()
    }
}

/// The AZ-affinity client: a tower [`Service`] over an inner service `S` (the transport) that
/// sends a request to one endpoint, with time from `C` and the [`Policy`] `P`. Cloning it
/// shares the balancer, budget and randomness.
///
/// Its type names no closure: with `HyperTransport` (feature `hyper-transport`) it is
/// `AffinityClient<HyperTransport<B>, TokioEnv, HttpPolicy>` (alias `HttpClient`),
/// to keep in a struct field or behind tower's `Buffer`.
///
/// Readiness is honest: [`poll_ready`](Service::poll_ready) is the transport's, and the first
/// attempt uses the readiness it reserved; a retry waits for a clone of the transport to be
/// ready, within its per-try timeout.
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
    /// Replaces the endpoints (what discovery does on each refresh). The same list again
    /// changes nothing; attempts in flight are recorded against their endpoints either way.
    pub fn set_endpoints(&self, endpoints: Vec<Endpoint>) {
        self.shared.set_endpoints(endpoints);
    }

    /// An owned picture of the state now: mode, zones and their breakers, ejected endpoints,
    /// and the [`Counters`](crate::Counters) (attempts, retries, budget refusals, ejections,
    /// breaker transitions, spills and failbacks, panic probes, throttled answers).
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// Retries the budget still holds.
    pub fn budget_balance(&self) -> f64 {
        self.shared.budget_balance()
    }
}

/// What a call returns: boxed, so the client's type stays nameable.
pub type ResponseFuture<Resp, E> = Pin<Box<dyn Future<Output = Result<Resp, Error<E, Resp>>> + Send + 'static>>;

impl<S, C, P, R> Service<R> for AffinityClient<S, C, P>
where
    S: Service<Routed<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
    C: Clock,
    P: Policy<R, S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = Error<S::Error, S::Response>;
    type Future = ResponseFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|error| {
            let (kind, error) = call::failure_of(&self.shared.policy, error);
            Error::Transport { attempts: 0, kind, gave_up: GaveUp::NotRetryable, error }
        })
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The ready service goes with the first attempt; a clone, not ready, stays here.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        Box::pin(call::run(ready, self.shared.clone(), request))
    }
}

/// Puts an [`AffinityClient`] over a transport in a tower stack
/// (`ServiceBuilder::new().buffer(..).timeout(..).layer(affinity_layer).service(transport)`).
/// Made by [`Builder::layer`](crate::Builder::layer); every service it makes shares one state,
/// which [`set_endpoints`](Self::set_endpoints) feeds and [`snapshot`](Self::snapshot) shows.
pub struct AffinityLayer<C, P> {
    pub(crate) shared: Arc<Shared<C, P>>,
}

impl<C, P> Clone for AffinityLayer<C, P> {
    fn clone(&self) -> Self {
        AffinityLayer { shared: self.shared.clone() }
    }
}

impl<S, C, P> tower::Layer<S> for AffinityLayer<C, P> {
    type Service = AffinityClient<S, C, P>;

    fn layer(&self, inner: S) -> Self::Service {
        AffinityClient { inner, shared: self.shared.clone() }
    }
}

impl<C: Clock, P> AffinityLayer<C, P> {
    /// See [`AffinityClient::set_endpoints`].
    pub fn set_endpoints(&self, endpoints: Vec<Endpoint>) {
        self.shared.set_endpoints(endpoints);
    }

    /// See [`AffinityClient::snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }
}
