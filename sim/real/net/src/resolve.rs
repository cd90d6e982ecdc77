use std::future::Future;
use std::io;
use std::net::IpAddr;

/// Resolves host names to addresses.
pub trait Resolve: Clone + Send + Sync + 'static {
    /// The addresses of `name`, in the order the resolver returned them.
    fn resolve(&self, name: &str) -> impl Future<Output = io::Result<Vec<IpAddr>>> + Send;
}
