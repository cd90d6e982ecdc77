//! Fakes of AWS services, as event-driven processes on the kernel's typed message path.
//!
//! The foundation's minimal set (the full fakes come in later issues):
//! - `service.rs`: a compute service instance (processing time, concurrency limit and queue,
//!   calls and forwards to other services);
//! - `lb.rs`: a load-balancer node (ALB: cross-zone always on; NLB: cross-zone off by default),
//!   with active health checks per node and fail-open, and the DNS view clients resolve;
//! - `client.rs`: a client workload (open or closed loop, timeouts);
//! - `cloudmap.rs` + `cloudmap/`: AWS Cloud Map, registry and AWS JSON 1.1 endpoint;
//! - `rpc.rs`: the messages they exchange; `pick.rs`: how a caller picks an instance.
//!
//! Every fake learns about failures the way the real service does (timeouts, health checks);
//! only the load balancer's control plane, which AWS documents as watching its own nodes, reads
//! host liveness directly.

mod client;
pub mod cloudmap;
mod deadline;
mod lb;
mod pick;
mod rpc;
pub mod rules;
mod service;

pub use client::{Client, ClientConfig, Destination, Pacing};
pub use lb::{ClientRouting, HealthCheckConfig, LbAlgorithm, LbDirectory, LbKindConfig, LbNode, LbNodeConfig};
pub use pick::{Endpoint, PickPolicy, Picker};
pub use rpc::{HealthCheck, HealthReply, HttpRequest, Request, Response};
pub use service::{ColdStart, ServiceConfig, ServiceInstance, Step, StepKind};
