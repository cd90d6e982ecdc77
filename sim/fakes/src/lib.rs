//! Fakes of AWS services, as event-driven processes on the kernel's typed message path.
//!
//! - `service.rs`: a compute service instance (processing time, concurrency limit and queue,
//!   calls and forwards to other services, Lambda-style cold starts);
//! - `ecs.rs`: an ECS service's control plane (task placement, lifecycle, container health
//!   checks, registration in target groups and Cloud Map, replacement);
//! - `lb.rs`: a load-balancer node (ALB: cross-zone always on; NLB: cross-zone off by default),
//!   with active health checks per node, routing and DNS failover, draining, and the DNS view
//!   clients resolve; `targets.rs`: the target groups it reads; `matcher.rs`: a health
//!   check's success codes;
//! - `client.rs`: a client workload (open or closed loop, timeouts);
//! - `cloudmap.rs` + `cloudmap/`: AWS Cloud Map, registry and AWS JSON 1.1 endpoint;
//! - `apigw.rs`: API Gateway (HTTP and REST APIs) and its VPC link ENIs;
//! - `route53.rs`: Route 53 records, health checks and checkers; `edge.rs`: CloudFront and WAF;
//! - `nat.rs`: NAT gateways and the egress proxy fleet;
//! - `conn.rs`: connections on the message path (keep-alive pools, handshakes, idle closes,
//!   the RST race); the ALB's nodes pool their target connections and CloudFront's edges
//!   their origin connections, clients keep theirs; services and ALB nodes accept them
//!   ([`conn::Accepted`]: keep-alive, idle close), API Gateway, CloudFront's edges (toward
//!   viewers) and egress proxies without per-connection state ([`conn::accept_stateless`]);
//!   `slow_start.rs`: the congestion window a service's answers on a connection wait for;
//! - `rpc.rs`: the messages they exchange (one enum, [`Body`]); `pick.rs`: how a caller picks an instance.
//!
//! Every fake learns about failures the way the real service does (timeouts, health checks).
//! Three read host liveness directly, standing for a component AWS runs: the load balancer's
//! control plane, which AWS documents as watching its own nodes; the ECS agent, which runs the
//! container health check on the task's host; and API Gateway, which manages its VPC link's
//! ENIs (it stops using those in a dead AZ: our assumption, AWS does not document it).

pub mod apigw;
mod client;
pub mod cloudmap;
pub mod conn;
mod deadline;
pub mod defaults;
mod ecs;
pub mod edge;
pub mod lb;
pub mod matcher;
pub mod nat;
mod pick;
pub mod route53;
mod rpc;
pub mod rules;
mod service;
pub mod slow_start;
mod targets;
pub mod tls;

pub use client::{Client, ClientConfig, ClientConnections, Destination, Pacing};
pub use conn::{ConnStats, ConnUsage, KeepAlive, SlowStartStats};
pub use ecs::{AutoScaling, ContainerHealthCheck, EcsCloudMap, EcsService, EcsServiceConfig, TaskEvent, TaskEvents, TaskSlot, TaskSwitch};
pub use lb::{ClientRouting, EmptyTargetGroups, HealthCheckConfig, LbAlgorithm, LbDirectory, LbNode, LbNodeConfig};
pub use matcher::Matcher;
pub use pick::{Endpoint, PickPolicy, Picker};
pub use rpc::{Body, HEALTH_CHECK_BYTES, HealthCheck, HealthReply, HttpRequest, Request, Response, request, response};
pub use service::{CannedRoute, ColdStart, ServiceConfig, ServiceInstance, Step, StepKind};
pub use targets::{Registration, TargetRegistry};
