//! The retry policy: throttling and `Retry-After`, connect / reset / timeout told apart, a
//! decision per status, requests that cannot be replayed, and the one rule for how a call
//! ends (a success is `Ok`; a failed last attempt is an `Err` carrying its answer).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affinity_client::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

use super::{bare, endpoints, test_rng};

/// How the scripted endpoint answers each attempt, in turn (the last answer repeats).
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// 429 with `Retry-After` in seconds.
    Throttle(&'static str),
    Refused,
    Reset,
    Hang,
}

type Transport = tower::util::BoxCloneSyncService<Routed<http::Request<()>>, http::Response<()>, io::Error>;
type Client = AffinityClient<Transport, TokioEnv, HttpPolicy>;
type Outcome = Result<http::Response<()>, Error<io::Error, http::Response<()>>>;

fn scripted(config: Config, policy: HttpPolicy, answers: &[Answer]) -> Client {
    let script = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
    let send = tower::service_fn(move |_: Routed<http::Request<()>>| {
        let answer = {
            let mut s = script.lock().unwrap();
            if s.len() > 1 { s.pop_front() } else { s.front().copied() }.expect("a script")
        };
        async move {
            let status = |s: u16| http::Response::builder().status(s);
            match answer {
                Answer::Status(s) => Ok(status(s).body(()).unwrap()),
                Answer::Throttle(after) => Ok(status(429).header("retry-after", after).body(()).unwrap()),
                Answer::Refused => Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
                Answer::Reset => Err(io::Error::from(io::ErrorKind::ConnectionReset)),
                Answer::Hang => std::future::pending().await,
            }
        }
    });
    let c = AffinityClient::builder(None).config(config).policy(policy).transport(Transport::new(send)).rng(test_rng(11)).build().unwrap();
    c.set_endpoints(endpoints());
    c
}

fn attempts(n: u32) -> Config {
    let mut c = bare();
    c.retry.max_attempts = n;
    c
}

async fn get(c: &Client) -> Outcome {
    c.clone().oneshot(http::Request::new(())).await
}

#[tokio::test(start_paused = true)]
async fn a_throttled_attempt_waits_for_retry_after_and_spares_the_endpoints_health() {
    let mut config = attempts(2);
    config.outlier = Some(OutlierConfig::default().consecutive_failures(1).max_ejected_share(1.0));
    let c = scripted(config, HttpPolicy::default(), &[Answer::Throttle("2"), Answer::Status(200)]);
    let started = tokio::time::Instant::now();
    assert_eq!(get(&c).await.unwrap().status(), 200);
    // The backoff draws at most 100 ms; Retry-After asks for 2 s, which wins.
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let s = c.snapshot();
    assert_eq!((s.counters.throttled, s.counters.retries, s.ejected.len()), (1, 1, 0), "throttling ejects nobody: {s:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_ends_the_call_at_once_with_the_answer() {
    // bare(): a 15 s deadline; the endpoint asks for a minute.
    let c = scripted(attempts(3), HttpPolicy::default(), &[Answer::Throttle("60")]);
    let started = tokio::time::Instant::now();
    let e = get(&c).await.unwrap_err();
    assert!(e.is_throttled(), "{e}");
    assert!(matches!(&e, Error::Failed { attempts: 1, gave_up: GaveUp::Deadline, response, .. } if response.status() == 429), "{e}");
    assert_eq!(started.elapsed(), Duration::ZERO, "no waiting for an attempt that could not start in time");
    assert_eq!(c.budget_balance(), 500.0, "the retry not made costs nothing");
}

#[tokio::test(start_paused = true)]
async fn connect_reset_and_timeout_are_told_apart_and_each_is_retried() {
    type Is = fn(&Error<io::Error, http::Response<()>>) -> bool;
    let cases: [(Answer, Is, &str); 3] =
        [(Answer::Refused, Error::is_connect, "connect"), (Answer::Reset, Error::is_reset, "reset"), (Answer::Hang, Error::is_timeout, "timeout")];
    for (answer, is, name) in cases {
        let mut config = attempts(2);
        config.retry.per_try_timeout = Some(Duration::from_secs(1));
        let c = scripted(config, HttpPolicy::default(), &[answer]);
        let e = get(&c).await.unwrap_err();
        assert!(is(&e), "{name}: {e}");
        assert_eq!((e.attempts(), e.gave_up()), (2, Some(GaveUp::Attempts)), "{name}: retried once: {e}");
        let c = scripted(attempts(2), HttpPolicy::default(), &[answer, Answer::Status(200)]);
        assert_eq!(get(&c).await.unwrap().status(), 200, "{name}: the retry answers");
    }
}

#[tokio::test(start_paused = true)]
async fn each_status_has_its_decision() {
    let not_501 = HttpPolicy::default();
    let not_503 = HttpPolicy::default().retry_status(503, false);
    /// The status it ends with, and why it stopped if it failed.
    type Ends = Result<u16, (u16, GaveUp)>;
    // (policy, answers, attempts made, how it ends)
    let cases: [(HttpPolicy, &[Answer], u32, Ends); 5] = [
        (not_501, &[Answer::Status(501)], 1, Err((501, GaveUp::NotRetryable))),
        (not_501, &[Answer::Status(502), Answer::Status(200)], 2, Ok(200)),
        (not_501, &[Answer::Status(503)], 3, Err((503, GaveUp::Attempts))),
        (not_503, &[Answer::Status(503)], 1, Err((503, GaveUp::NotRetryable))),
        (not_501, &[Answer::Status(404)], 1, Ok(404)),
    ];
    for (policy, answers, made, ends) in cases {
        let c = scripted(attempts(3), policy, answers);
        let result = get(&c).await;
        let seen = match &result {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) => Err((e.response().map_or(0, |r| r.status().as_u16()), e.gave_up().expect("an attempt was made"))),
        };
        assert_eq!(seen, ends, "{answers:?}");
        assert_eq!(c.snapshot().counters.attempts, u64::from(made), "{answers:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_body_cannot_be_replayed_is_sent_once() {
    // The request type is not `Clone` at all: the policy copies what it can.
    async fn sent<B: ReplayBody + Send + 'static>(body: B) -> (u32, Option<GaveUp>) {
        let send = tower::service_fn(|_: Routed<http::Request<B>>| async { Ok::<_, Infallible>(http::Response::builder().status(503).body(()).unwrap()) });
        let c = AffinityClient::builder(None).config(attempts(3)).transport(send).rng(test_rng(5)).build().unwrap();
        c.set_endpoints(endpoints());
        let e = c.clone().oneshot(http::Request::put("/").body(body).unwrap()).await.unwrap_err();
        (e.attempts(), e.gave_up())
    }
    assert_eq!(sent(Full::new(Bytes::from_static(b"buffered"))).await, (3, Some(GaveUp::Attempts)), "a buffered body is replayed");
    assert_eq!(sent(Full::new(Bytes::from_static(b"streamed")).boxed()).await, (1, Some(GaveUp::NotReplayable)), "a boxed body is not");
}

#[tokio::test(start_paused = true)]
async fn a_failed_call_always_ends_in_an_error_that_carries_its_last_answer() {
    let mut spent = attempts(3);
    spent.retry.budget = BudgetConfig::TokenBucket { capacity: 5, retry_cost: 5, timeout_cost: 10, success_refund: 1 };
    // (settings, answers, the last answer's status or 0, why it stopped)
    let cases: [(Config, &[Answer], u16, GaveUp); 4] = [
        (attempts(3), &[Answer::Status(503)], 503, GaveUp::Attempts),
        (spent, &[Answer::Status(500)], 500, GaveUp::Budget),
        (attempts(3), &[Answer::Status(503), Answer::Refused], 0, GaveUp::Attempts),
        (attempts(2), &[Answer::Throttle("1"), Answer::Throttle("1")], 429, GaveUp::Attempts),
    ];
    for (config, answers, status, gave_up) in cases {
        let c = scripted(config, HttpPolicy::default(), answers);
        let e = get(&c).await.unwrap_err();
        assert_eq!(e.response().map_or(0, |r| r.status().as_u16()), status, "{answers:?}: {e}");
        assert_eq!(e.gave_up(), Some(gave_up), "{answers:?}: {e}");
    }
}
