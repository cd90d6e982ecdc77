//! A tiny hyper HTTP/1.1 server and client written against the I/O seam only, so the same code
//! runs on real loopback sockets and inside the simulation.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use azsim_kernel::{AzId, HostId, Sim, SimConfig, Topology};
use azsim_net::{Accept, Clock, Connect, Listen};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

/// Serves every request after `processing`, answering with the request's path.
pub async fn serve<E>(env: E, addr: SocketAddr, processing: Duration) -> SocketAddr
where
    E: Listen + Clock,
{
    let mut listener = env.bind(addr).await.expect("bind");
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let env = env.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let env = env.clone();
                    async move {
                        env.sleep(processing).await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(req.uri().path().to_string()))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .auto_date_header(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    local
}

/// A keep-alive HTTP/1.1 connection.
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn connect<E: Connect>(env: &E, addr: SocketAddr) -> std::io::Result<Client> {
        let stream = env.connect(addr).await?;
        // (hyper's http1 client connection has no timer of its own; the pooled client would.)
        let (sender, conn) = hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok(Client { sender })
    }

    pub async fn get(&mut self, path: &str) -> hyper::Result<String> {
        let req = Request::get(path).header("host", "test").body(Full::new(Bytes::new())).unwrap();
        let resp = self.sender.send_request(req).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// Two AZs of one Region, a client host in the first and a server host in the second.
pub fn two_az_world(seed: u64) -> (SimConfig, HostId, HostId, AzId, AzId) {
    let mut topo = Topology::default();
    let r = topo.add_region("us-east-1");
    let a = topo.add_az(r, "use1-az1");
    let b = topo.add_az(r, "use1-az2");
    let client = topo.add_host("client", a, None);
    let server = topo.add_host("server", b, None);
    (SimConfig::new(seed, topo), client, server, a, b)
}

pub fn sim_with_latency(seed: u64, one_way: Duration) -> (Sim, HostId, HostId) {
    let (mut config, client, server, _, _) = two_az_world(seed);
    config.latency.inter_az = azsim_kernel::Dist::Fixed(one_way.as_nanos() as u64);
    (Sim::new(config), client, server)
}
