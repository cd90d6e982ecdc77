//! The I/O seam between real code and the world it runs in.
//!
//! Real code (the tunnel, the affinity client library) never creates its own sockets, clocks or
//! random numbers: it receives them through the small traits defined here.
//!
//! - [`Connect`], [`Listen`] and [`Accept`]: byte streams between hosts (`connect.rs`, `listen.rs`);
//! - [`Resolve`]: names to addresses (`resolve.rs`);
//! - [`Clock`]: the current instant and sleeps (`clock.rs`);
//! - [`Rng`]: random numbers, and the workspace's one generator, [`Xoshiro256StarStar`] seeded
//!   through [`SplitMix64`] (`rng.rs`).
//!
//! [`tokio_impl`] implements every trait on real sockets and the real clock; the simulation kernel
//! (`sim/kernel`) implements them on simulated hosts, links and virtual time. This crate depends on
//! tokio alone and on nothing in the workspace.

mod clock;
mod connect;
mod listen;
mod resolve;
mod rng;
pub mod tokio_impl;

pub use clock::{BoxSleep, Clock};
pub use connect::{Connect, Stream};
pub use listen::{Accept, Listen};
pub use resolve::Resolve;
pub use rng::{Rng, SplitMix64, Xoshiro256StarStar};

/// Everything a component needs from its environment, as one bound.
pub trait Env: Connect + Listen + Resolve + Clock {}
impl<T: Connect + Listen + Resolve + Clock> Env for T {}
