//! [`HyperTransport`] (feature `hyper-transport`): the transport every adopter would otherwise
//! write. Each attempt goes to the picked endpoint's address over hyper-util's pooled client
//! (HTTP/1.1, or HTTP/2 with prior knowledge), with the `Host` the endpoint answers to, and the
//! response comes back tagged with [`Served`].
//!
//! No TLS: the scheme is always `http`. Behind TLS-terminating sidecars or inside a VPC that
//! is enough; for TLS, wrap your own connector's streams (the [`Connect`] seam takes any
//! stream) or write a transport over hyper-rustls. Connections come through `azsim-net`'s
//! [`Connect`] seam (tokio's sockets by default); the pool's idle timer and the connection
//! tasks are tokio's.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use azsim_net::Connect;
use azsim_net::tokio_impl::TokioEnv;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::balancer::FailureKind;
use crate::client::{AffinityClient, Routed, Served};
use crate::policy::{AttemptError, HttpPolicy};

/// An [`AffinityClient`] over [`HyperTransport`]: a nameable type for a struct field.
pub type HttpClient<B = Full<Bytes>> = AffinityClient<HyperTransport<B>, TokioEnv, HttpPolicy>;

/// Sends each attempt to its endpoint with hyper: the URI's scheme and authority become
/// `http://` and the endpoint's address (a request's own authority is never dialled), `Host`
/// becomes the endpoint's [`host`](crate::Endpoint::host) if it has one, else stays the
/// request's own `Host` if it set one, else the address; the response carries [`Served`].
/// Connections are pooled per endpoint address (hyper-util's defaults: kept 90 s idle).
pub struct HyperTransport<B = Full<Bytes>, N = TokioEnv> {
    client: Client<SeamConnector<N>, B>,
}

impl<B, N: Clone> Clone for HyperTransport<B, N> {
    fn clone(&self) -> Self {
        HyperTransport { client: self.client.clone() }
    }
}

impl<B> HyperTransport<B, TokioEnv>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
{
    /// HTTP/1.1 over tokio's sockets.
    pub fn http1() -> Self {
        HyperTransport::with_net(TokioEnv, false)
    }

    /// HTTP/2 with prior knowledge (h2c: no TLS, so no ALPN) over tokio's sockets: one
    /// connection per endpoint carries every request to it.
    pub fn http2() -> Self {
        HyperTransport::with_net(TokioEnv, true)
    }
}

impl<B, N: Connect> HyperTransport<B, N>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
{
    /// Over the sockets `net` makes (the simulation's, or a wrapper of your own), HTTP/2 with
    /// prior knowledge if `http2`, else HTTP/1.1.
    pub fn with_net(net: N, http2: bool) -> Self {
        let client = Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).http2_only(http2).build(SeamConnector { net });
        HyperTransport { client }
    }
}

/// What an attempt's future is.
pub type HyperFuture = Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, HyperError>> + Send>>;

impl<B, N> tower::Service<Routed<http::Request<B>>> for HyperTransport<B, N>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    N: Connect,
{
    type Response = http::Response<Incoming>;
    type Error = HyperError;
    type Future = HyperFuture;

    /// Always ready: the pool opens connections as attempts need them.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), HyperError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, routed: Routed<http::Request<B>>) -> HyperFuture {
        let served = routed.served();
        let addr = served.endpoint.addr;
        let mut request = routed.request;
        if let Err(error) = aim(&mut request, &served) {
            return Box::pin(std::future::ready(Err(HyperError { addr, kind: FailureKind::Connect, error: error.into() })));
        }
        let sent = self.client.request(request);
        Box::pin(async move {
            match sent.await {
                Ok(mut response) => {
                    response.extensions_mut().insert(served);
                    Ok(response)
                }
                Err(error) => {
                    let kind = if error.is_connect() { FailureKind::Connect } else { FailureKind::Reset };
                    Err(HyperError { addr, kind, error: error.into() })
                }
            }
        })
    }
}

/// Points `request` at the endpoint: `http://<addr><path?query>`, and its `Host`.
fn aim<B>(request: &mut http::Request<B>, served: &Served) -> Result<(), http::Error> {
    let endpoint = &served.endpoint;
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::builder().scheme("http").authority(endpoint.addr.to_string()).path_and_query(path).build()?;
    let host = match &endpoint.host {
        Some(name) => Some(http::HeaderValue::try_from(name.as_str())?),
        None if request.headers().contains_key(http::header::HOST) => None,
        None => Some(http::HeaderValue::try_from(endpoint.addr.to_string())?),
    };
    if let Some(host) = host {
        request.headers_mut().insert(http::header::HOST, host);
    }
    Ok(())
}

/// Why an attempt through [`HyperTransport`] failed: at which address, whether a connection
/// was made ([`AttemptError`]), and hyper's error as the source.
#[derive(Debug)]
pub struct HyperError {
    addr: SocketAddr,
    kind: FailureKind,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl HyperError {
    /// The endpoint's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// No connection was made: the request never left.
    pub fn is_connect(&self) -> bool {
        self.kind == FailureKind::Connect
    }
}

impl AttemptError for HyperError {
    fn failure_kind(&self) -> FailureKind {
        self.kind
    }
}

impl std::fmt::Display for HyperError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            FailureKind::Connect => write!(f, "no connection to {}: {}", self.addr, self.error),
            _ => write!(f, "the connection to {} broke: {}", self.addr, self.error),
        }
    }
}

impl std::error::Error for HyperError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error.as_ref())
    }
}

// === impl SeamConnector ===

/// hyper-util's connector over the [`Connect`] seam: dials the address in the URI's authority
/// (always an `IP:port` here, see [`aim`]), never a name.
#[derive(Clone)]
struct SeamConnector<N> {
    net: N,
}

type Connecting<S> = Pin<Box<dyn Future<Output = io::Result<SeamStream<S>>> + Send>>;

impl<N: Connect> tower::Service<http::Uri> for SeamConnector<N> {
    type Response = SeamStream<N::Stream>;
    type Error = io::Error;
    type Future = Connecting<N::Stream>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let net = self.net.clone();
        Box::pin(async move {
            let authority = uri.authority().map_or("", |a| a.as_str());
            let addr: SocketAddr = authority
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("expected an IP:port to connect to, got `{authority}` in {uri}")))?;
            Ok(SeamStream(TokioIo::new(net.connect(addr).await?)))
        })
    }
}

/// A seam stream as hyper reads and writes it.
struct SeamStream<S>(TokioIo<S>);

impl<S: azsim_net::Stream> Connection for SeamStream<S> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl<S: azsim_net::Stream> hyper::rt::Read for SeamStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: hyper::rt::ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: azsim_net::Stream> hyper::rt::Write for SeamStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
