//! AWS Cloud Map (servicediscovery): the registry (`state.rs`), its operations as AWS documents
//! them (`ops.rs`), and the AWS JSON 1.1 endpoint that real code calls over the network
//! (`server.rs`).

mod node;
mod ops;
mod server;
mod state;

pub use node::{CloudMapNode, DISCOVER_BYTES_PER_INSTANCE, DISCOVER_REQUEST_BYTES, DiscoverAnswer, DiscoverCall};
pub use ops::{CloudMapError, Discover, Discovered, Found, HealthFilter};
pub use server::serve;
pub use state::{Health, HealthConfig, Instance, Namespace, NamespaceKind, Registry, RoutingPolicy, Service, Settings};

#[cfg(test)]
mod tests;
