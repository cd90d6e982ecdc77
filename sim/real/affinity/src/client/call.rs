//! One call, as a state machine in one loop: pick an endpoint, send one attempt under the
//! per-try timeout and the deadline, classify what came back, record it, then either return
//! or wait out the backoff (at least `Retry-After`) and go again, under the retry budget.
//!
//! The rule for results (see `error.rs`): a success is `Ok(response)`; a call whose last
//! attempt failed is an `Err` carrying that attempt's answer and why the client stopped.

use std::sync::Arc;
use std::time::Duration;

use azsim_net::Clock;
use tower::{Service, ServiceExt};

use super::{Error, GaveUp, Routed, Shared};
use crate::balancer::{FailureKind, Outcome, PickError};
use crate::policy::Policy;
use crate::retry::backoff;

type CallResult<S, R> = Result<<S as Service<Routed<R>>>::Response, Error<<S as Service<Routed<R>>>::Error, <S as Service<Routed<R>>>::Response>>;

/// Runs a call. `ready` has had `poll_ready` answer yes; it sends the first attempt, and its
/// clones, made ready again, send the retries.
pub(super) async fn run<S, C, P, R>(ready: S, shared: Arc<Shared<C, P>>, mut request: R) -> CallResult<S, R>
where
    S: Service<Routed<R>> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
    C: Clock,
    P: Policy<R, S::Response, S::Error>,
{
    shared.policy.prepare(&mut request, shared.rng.lock().expect("rng lock").as_mut());
    let retry = shared.balancer().config().retry;
    let start = shared.clock.now();
    let deadline = retry.deadline.map(|d| start + d);
    shared.budget.lock().expect("budget lock").on_request(start);
    let base = ready.clone();
    let mut ready = Some(ready);
    let (mut attempt, mut avoid, mut retried, mut after_timeout) = (0u32, None, false, false);
    // The failure a retry follows: what the call ends with if the retry finds no endpoint.
    let mut previous: Option<Error<S::Error, S::Response>> = None;
    loop {
        attempt += 1;
        let now = shared.clock.now();
        let picked = {
            let mut rng = shared.rng.lock().expect("rng lock");
            let mut balancer = shared.balancer();
            balancer.pick(now, rng.as_mut(), avoid).map(|p| (p, balancer.endpoint(p.index).clone()))
        };
        let (pick, endpoint) = match (picked, previous.take()) {
            (Ok(p), _) => p,
            (Err(_), Some(failure)) => return Err(failure.because(GaveUp::Unavailable)),
            (Err(PickError::NoEndpoints), None) => return Err(Error::NoEndpoints),
            (Err(PickError::CircuitOpen), None) => return Err(Error::CircuitOpen),
        };
        // Copied before it goes, as tower's retry does: the attempt consumes the request.
        let spare = if attempt < retry.max_attempts { shared.policy.clone_request(&request) } else { None };
        let limit = [retry.per_try_timeout, deadline.map(|d| d.saturating_duration_since(now))].into_iter().flatten().min();
        let (svc, base) = (ready.take(), base.clone());
        let routed = Routed { endpoint, request, attempt };
        let send = async move {
            let mut svc = match svc {
                Some(svc) => svc,
                None => base.ready_oneshot().await?,
            };
            svc.call(routed).await
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
        shared.balancer().record(now, pick, outcome);
        let (kind, retry_after) = match (outcome, result) {
            (Outcome::Success, Some(Ok(response))) => {
                shared.budget.lock().expect("budget lock").on_success(retried, after_timeout);
                return Ok(response);
            }
            // A transport error the policy calls a success: not retried, still an error.
            (Outcome::Success, Some(Err(error))) => {
                return Err(Error::Transport { attempts: attempt, kind: FailureKind::Reset, gave_up: GaveUp::NotRetryable, error });
            }
            (Outcome::Success, None) => unreachable!("a timeout is classified as a failure above"),
            (Outcome::Failure(kind), result) => {
                let retry_after = result.as_ref().and_then(|r| shared.policy.retry_after(r));
                previous = Some(failure(result, attempt, kind));
                (kind, retry_after)
            }
        };
        let next = match spare {
            _ if !shared.policy.retryable(kind) => Err(GaveUp::NotRetryable),
            None if attempt >= retry.max_attempts => Err(GaveUp::Attempts),
            None => Err(GaveUp::NotReplayable),
            Some(spare) => next_attempt(&shared, &retry, attempt, (kind, retry_after), deadline).map(|pause| (pause, spare)),
        };
        let (pause, spare) = match next {
            Ok(next) => next,
            Err(gave_up) => return Err(previous.take().expect("the failure was just kept").because(gave_up)),
        };
        shared.balancer().count_retry();
        tracing::debug!(attempt, failure = ?kind, backoff = ?pause, "retrying");
        shared.clock.sleep(pause).await;
        request = spare;
        avoid = if retry.other_zone { shared.balancer().zone_of(pick) } else { None };
        retried = true;
        after_timeout = kind == FailureKind::Timeout;
    }
}

/// The pause before the retry after a failure of this `kind`, one the policy deems worth it:
/// the backoff, at least `retry_after` (bounded by `cap` without a deadline); or why there is
/// none. The retry budget is asked last, so a call that stops for another reason leaves it be.
fn next_attempt<C: Clock, P>(
    shared: &Shared<C, P>,
    retry: &crate::RetryConfig,
    attempt: u32,
    (kind, retry_after): (FailureKind, Option<Duration>),
    deadline: Option<tokio::time::Instant>,
) -> Result<Duration, GaveUp> {
    let now = shared.clock.now();
    if deadline.is_some_and(|d| now >= d) {
        return Err(GaveUp::Deadline);
    }
    let after_timeout = kind == FailureKind::Timeout;
    if !shared.budget.lock().expect("budget lock").try_withdraw(after_timeout) {
        tracing::debug!(failure = ?kind, "retry budget exhausted");
        shared.balancer().count_budget_refusal();
        return Err(GaveUp::Budget);
    }
    let pause = backoff(retry, attempt, shared.rng.lock().expect("rng lock").as_mut());
    let pause = match (retry_after, deadline) {
        (Some(asked), Some(_)) => pause.max(asked),
        (Some(asked), None) => pause.max(asked.min(retry.cap)),
        (None, _) => pause,
    };
    // No attempt could start before the deadline: stop now rather than wait for nothing.
    if deadline.is_some_and(|d| now + pause >= d) {
        shared.budget.lock().expect("budget lock").refund(after_timeout);
        return Err(GaveUp::Deadline);
    }
    Ok(pause)
}

/// The error a failed attempt ends the call with, before it is known why no retry follows
/// (`because` says).
fn failure<Resp, E>(result: Option<Result<Resp, E>>, attempts: u32, kind: FailureKind) -> Error<E, Resp> {
    let gave_up = GaveUp::Attempts;
    match result {
        None => Error::Timeout { attempts, gave_up },
        Some(Ok(response)) => Error::Failed { attempts, kind, gave_up, response: Box::new(response) },
        Some(Err(error)) => Error::Transport { attempts, kind, gave_up, error },
    }
}

/// How the policy classifies a transport error (a `Reset` if it calls it a success), and the
/// error back.
pub(super) fn failure_of<R, Resp, E, P: Policy<R, Resp, E>>(policy: &P, error: E) -> (FailureKind, E) {
    let result = Err(error);
    let kind = match policy.classify(&result) {
        Outcome::Failure(kind) => kind,
        Outcome::Success => FailureKind::Reset,
    };
    match result {
        Err(error) => (kind, error),
        Ok(_) => unreachable!("built as an error"),
    }
}

impl<E, Resp> Error<E, Resp> {
    /// The same failure, ended for `reason`.
    fn because(mut self, reason: GaveUp) -> Self {
        if let Error::Failed { gave_up, .. } | Error::Timeout { gave_up, .. } | Error::Transport { gave_up, .. } = &mut self {
            *gave_up = reason;
        }
        self
    }
}
