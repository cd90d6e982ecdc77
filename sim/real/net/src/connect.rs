use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream (a TCP connection or its simulated twin).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The address of the other end.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
}

/// Opens byte streams to other hosts.
pub trait Connect: Clone + Send + Sync + 'static {
    /// The stream type this environment produces.
    type Stream: Stream;
    /// Connects to `addr`. Fails with `ConnectionRefused` when nothing listens there; hangs
    /// (as a real network does) when the path is black-holed, so callers need a timeout.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}
