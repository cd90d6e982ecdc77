use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed sleep future, as returned by [`Clock::sleep`].
pub type BoxSleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Time, as the component's world sees it.
///
/// `now` is a [`tokio::time::Instant`] so that it mixes with tokio's own timeouts. In the
/// simulation tokio's clock is paused and kept equal to virtual time, and `sleep` wakes at the
/// exact nanosecond (tokio's timer wheel rounds up to the next millisecond).
pub trait Clock: Clone + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> tokio::time::Instant;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxSleep;
    // determinism: ok — names the wall clock only to say when code must not depend on it.
    /// Whether this clock is the wall clock, the one `std::time::Instant::now()` reads. Some
    /// libraries read that themselves and take no clock (h2 times with it how long it remembers
    /// a stream it reset). Under any other clock (the simulation's virtual time) such a timer
    /// would make what the code does depend on how fast the machine runs it: where this is
    /// false, code sets those libraries up so that no wall-clock reading can change an outcome.
    fn is_wall_clock(&self) -> bool;
}
