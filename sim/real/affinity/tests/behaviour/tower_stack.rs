//! The client in a tower stack: honest readiness, and [`AffinityLayer`] under tower's buffer,
//! concurrency limit and timeout.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use affinity_client::*;
use tower::{Service, ServiceBuilder, ServiceExt};

use super::{bare, endpoints, test_rng};

/// A transport that is not ready until its gate opens (a connection pool at its limit, say).
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<(bool, Option<Waker>)>>);

impl Gate {
    fn open(&self) {
        let mut g = self.0.lock().unwrap();
        g.0 = true;
        if let Some(w) = g.1.take() {
            w.wake();
        }
    }
}

impl Service<Routed<http::Request<()>>> for Gate {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<()>, Infallible>>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        let mut g = self.0.lock().unwrap();
        if g.0 {
            return Poll::Ready(Ok(()));
        }
        g.1 = Some(cx.waker().clone());
        Poll::Pending
    }
    fn call(&mut self, _request: Routed<http::Request<()>>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(())))
    }
}

/// The client's type names no closure, so a struct field can hold it.
struct Holder {
    client: AffinityClient<Gate, TokioEnv, HttpPolicy>,
}

#[tokio::test(start_paused = true)]
async fn it_is_ready_when_its_transport_is_and_the_first_attempt_uses_that_readiness() {
    let gate = Gate::default();
    let mut holder = Holder { client: AffinityClient::builder(None).config(bare()).transport(gate.clone()).rng(test_rng(1)).build().unwrap() };
    holder.client.set_endpoints(endpoints());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(holder.client.poll_ready(&mut cx).is_pending(), "not ready while its transport is not: back-pressure reaches the caller");
    assert_eq!(holder.client.snapshot().counters.attempts, 0, "nothing picked while waiting");
    let waiting = tokio::spawn(holder.client.clone().oneshot(http::Request::new(())));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiting.is_finished(), "a caller waits for readiness, not for a per-try timeout");
    gate.open();
    assert_eq!(waiting.await.unwrap().unwrap().status(), 200);
    assert!(holder.client.poll_ready(&mut cx).is_ready());
}

#[tokio::test(start_paused = true)]
async fn it_stacks_with_tower_buffer_concurrency_limit_and_timeout() {
    let affinity = AffinityClient::builder("az1").config(bare()).rng(test_rng(3)).layer().unwrap();
    affinity.set_endpoints(endpoints());
    let hang = Arc::new(Mutex::new(false));
    let h = hang.clone();
    let transport = tower::service_fn(move |_: Routed<http::Request<()>>| {
        let hang = *h.lock().unwrap();
        async move {
            tokio::time::sleep(if hang { Duration::from_secs(3600) } else { Duration::from_millis(100) }).await;
            Ok::<_, Infallible>(http::Response::new(()))
        }
    });
    let stack = ServiceBuilder::new().buffer(8).concurrency_limit(2).timeout(Duration::from_secs(1)).layer(affinity.clone()).service(transport);
    // Six calls at once, at most two in flight, 100 ms each: the last ends at 300 ms.
    let started = tokio::time::Instant::now();
    let calls: Vec<_> = (0..6).map(|_| tokio::spawn(stack.clone().oneshot(http::Request::new(())))).collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(affinity.snapshot().counters.attempts, 6, "the layer's handle sees what its services did");
    // tower's timeout (1 s) ends a hung call before the client's own per-try timeout (5 s).
    *hang.lock().unwrap() = true;
    let started = tokio::time::Instant::now();
    let e = stack.clone().oneshot(http::Request::new(())).await.unwrap_err();
    assert!(e.is::<tower::timeout::error::Elapsed>(), "{e}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}
