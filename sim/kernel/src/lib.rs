//! The deterministic simulation kernel. It knows hosts, AZs, Regions, links, time and faults;
//! it knows nothing of AWS.
//!
//! Where to start reading:
//! - [`Sim`] (`sim.rs`): owns one paused tokio `current_thread` runtime and the driver loop that
//!   jumps virtual time to the next event with nanosecond precision;
//! - [`Core`] (`core.rs`): the world's state: topology, event queue, links, faults, accounting,
//!   history; every byte and message between hosts passes through [`Core::transmit`];
//! - [`Process`] (`process.rs`): event-driven programs on hosts (the fakes), on the typed message
//!   path ([`Message`], `message.rs`; timers named by a [`TimerToken`], `timer.rs`); [`SimNet`] (`seam.rs`): the I/O seam for real code, on the byte-stream path
//!   (`stream.rs`);
//! - `topology.rs`, `latency.rs`, `dist.rs`, `rng.rs`, `faults.rs`: the world's description;
//! - `history.rs` (with [`Failure`], `failure.rs`), `accounting.rs`: what the run recorded, read
//!   by the checks.
//!
//! Determinism: one root [`Seed`] forks named random streams (per link, per host, per workload);
//! every collection that reaches a decision or an output is ordered; the tokio clock is paused and
//! only the driver moves it.

mod accounting;
mod core;
mod dist;
mod failure;
mod faults;
mod history;
mod latency;
mod message;
mod process;
mod queue;
mod rng;
mod seam;
mod sim;
mod stream;
mod time;
mod timer;
mod topology;
pub mod wire;

pub use crate::core::Core;
pub use accounting::{PairCounter, Traffic};
pub use dist::Dist;
pub use failure::Failure;
pub use faults::{Fault, FaultId, Scope};
pub use history::{Hop, Outcome, RequestId, RequestRecord};
pub use latency::LatencyModel;
pub use message::Message;
pub use process::{Cx, Process};
pub use rng::{Seed, SimRng};
pub use seam::{SimClock, SimListener, SimNet};
pub use sim::{Sim, SimConfig, Stalled};
pub use stream::SimStream;
pub use time::{Nanos, fmt_duration, nanos};
pub use timer::{Packer, TimerToken, Unpacker};
pub use topology::{AzId, HostId, HostInfo, HostState, PlaceKind, RegionId, Topology};
