//! The production implementations: real sockets, the system resolver, tokio's clock.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::{Accept, BoxSleep, Clock, Connect, Listen, Resolve, Rng, SplitMix64, Stream, Xoshiro256StarStar};

/// The real world: tokio sockets, tokio's clock, the system resolver.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioEnv;

impl Stream for tokio::net::TcpStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpStream::peer_addr(self)
    }
}

impl Connect for TokioEnv {
    type Stream = tokio::net::TcpStream;
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// A real listening socket.
#[derive(Debug)]
pub struct TokioListener(tokio::net::TcpListener);

impl Accept for TokioListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Listen for TokioEnv {
    type Listener = TokioListener;
    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        Ok(TokioListener(tokio::net::TcpListener::bind(addr).await?))
    }
}

impl Resolve for TokioEnv {
    async fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        // `lookup_host` wants a port; it is discarded.
        let addrs = tokio::net::lookup_host((name, 0)).await?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

impl Clock for TokioEnv {
    fn now(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() // determinism: ok — production implementation; the simulation substitutes SimClock
    }
    fn sleep(&self, duration: Duration) -> BoxSleep {
        Box::pin(tokio::time::sleep(duration))
    }
    fn is_wall_clock(&self) -> bool {
        true
    }
}

/// The workspace's generator ([`Xoshiro256StarStar`]) for production use, seeded from the
/// process's hash-map keys, which the standard library draws from the operating system.
#[derive(Clone, Debug)]
pub struct OsSeededRng(Xoshiro256StarStar);

impl OsSeededRng {
    /// A generator seeded from operating-system randomness.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let keys = std::collections::hash_map::RandomState::new();
        let mut hasher = keys.build_hasher();
        hasher.write_u64(0x9e37_79b9_7f4a_7c15);
        OsSeededRng(Xoshiro256StarStar::from_splitmix64(&mut SplitMix64::new(hasher.finish())))
    }
}

impl Default for OsSeededRng {
    fn default() -> Self {
        Self::new()
    }
}

impl Rng for OsSeededRng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn loopback_round_trip() {
        let env = TokioEnv;
        let mut listener = env.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut c = env.connect(addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.await.unwrap();
    }

    #[test]
    fn rng_below_stays_in_bounds() {
        let mut rng = OsSeededRng::new();
        for bound in [1u64, 2, 3, 1000] {
            for _ in 0..1000 {
                assert!(rng.below(bound) < bound);
            }
        }
    }
}
