//! Kernel tests: exact timing of hyper over simulated streams, fault semantics, accounting, and
//! property tests over random topologies. One binary, several modules.

mod faults;
mod http;
mod messages;
mod properties;
mod support;
