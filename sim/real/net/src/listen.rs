use std::future::Future;
use std::io;
use std::net::SocketAddr;

use crate::Stream;

/// A bound listening socket.
pub trait Accept: Send + 'static {
    /// The stream type of accepted connections.
    type Stream: Stream;
    /// Waits for the next inbound connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    /// The address this listener is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Binds listening sockets.
pub trait Listen: Clone + Send + Sync + 'static {
    /// The listener type this environment produces.
    type Listener: Accept;
    /// Binds `addr` (port 0 picks a free port).
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
}
