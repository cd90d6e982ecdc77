//! Accept loops that outlive accept errors, in mini-redis's `run(listener, shutdown)` shape.
//!
//! An accept can fail for reasons that pass: the process is out of file descriptors (`EMFILE`
//! under `ulimit -n` while many connections are held), the system is out of them, or a
//! connection was aborted before it was taken. Ending the loop there would close the listener
//! for good while the process looks alive. Instead the error is logged and accepting resumes
//! after a backoff (10 ms doubling to 1 s, on the injected clock, reset by a success); while it
//! backs off, or once the loop has ended, [`ListenerHealth`] says so and the proxy's `/ready`
//! reports not ready.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use azsim_net::{Accept, Clock};

/// The first wait after an accept error.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

const UNUSED: u8 = 0;
const ACCEPTING: u8 = 1;
const BACKING_OFF: u8 = 2;
const STOPPED: u8 = 3;

/// Whether a listener is taking connections.
#[derive(Debug, Default)]
pub struct ListenerHealth(AtomicU8);

impl ListenerHealth {
    /// Accepting, or never started (a listener a deployment does not use is not missing).
    pub fn is_healthy(&self) -> bool {
        matches!(self.0.load(Ordering::Relaxed), UNUSED | ACCEPTING)
    }

    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Relaxed);
    }
}

/// Marks the listener stopped however its loop ends (returned, or its task aborted).
struct StopOnDrop<'a>(&'a ListenerHealth);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(STOPPED);
    }
}

/// Accepts connections from `listener` and hands each to `serve`, until `shutdown` completes.
/// `what` names the listener in logs.
pub async fn accept_until<A: Accept, C: Clock>(
    listener: &mut A,
    clock: &C,
    health: &ListenerHealth,
    what: &str,
    shutdown: impl Future,
    mut serve: impl FnMut(A::Stream, SocketAddr),
) {
    let _stopped = StopOnDrop(health);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = FIRST_BACKOFF;
    loop {
        health.set(ACCEPTING);
        // Shutdown wins a tie: a stopped server takes no more connections.
        let accepted = tokio::select! {
            biased;
            _ = &mut shutdown => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = FIRST_BACKOFF;
                serve(stream, peer);
            }
            Err(e) => {
                health.set(BACKING_OFF);
                tracing::warn!(listener = what, error = %e, retry_in = ?backoff, "accept failed; accepting again after a backoff");
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return,
                    _ = clock.sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
