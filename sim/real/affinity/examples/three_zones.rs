//! A whole program on loopback, as an adopter writes it: three local HTTP servers labelled as
//! zones `az1`..`az3`, a client in `az1` built with the production defaults, and a loop of
//! requests while `az1` breaks and heals.
//!
//! ```sh
//! cargo run -p affinity-client --example three_zones
//! ```
//!
//! The transport is the crate's [`HyperTransport`] (HTTP/1.1, pooled connections), which
//! tags each response with the endpoint, zone and attempt that served it. It prints, per phase,
//! which zones answered, how many on a retry and how many requests failed (none: a failed
//! attempt is retried in another zone), then the client's counters. Real sockets and the wall
//! clock: this is an application, not the simulation.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use affinity_client::{AffinityClient, BreakerConfig, Breakers, Endpoint, HyperTransport, Mode, OutlierConfig, Served, Trip};
use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let broken = Arc::new(AtomicBool::new(false));
    let mut endpoints = Vec::new();
    for zone in ["az1", "az2", "az3"] {
        let fails = if zone == "az1" { broken.clone() } else { Arc::new(AtomicBool::new(false)) };
        let addr = serve(zone, fails).await?;
        endpoints.push(Endpoint::new(zone, addr, zone, "local"));
    }

    // The builder, a transport and a loop. Breakers, ejections and failback are shortened so the
    // demo fits in a few seconds; the defaults are 30 s each.
    let short = Duration::from_millis(500);
    let client = AffinityClient::builder("az1")
        .configure(|c| {
            c.breaker = Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(5)).open_for(short)));
            c.outlier = Some(OutlierConfig::default().base_ejection(short).max_ejection(short));
            c.zones.failback_after = Duration::from_secs(1);
        })
        .transport(HyperTransport::http1())
        .build()?;
    client.set_endpoints(endpoints);

    for (phase, az1_broken) in [("healthy", false), ("az1 broken", true), ("az1 healed", false)] {
        broken.store(az1_broken, Ordering::Relaxed);
        let (mut answered, mut retried, mut failed) = (BTreeMap::<String, u32>::new(), 0, 0);
        for _ in 0..1_000 {
            match client.clone().oneshot(http::Request::new(Empty::<Bytes>::new())).await {
                Ok(response) => {
                    // The transport names who answered, and on which attempt.
                    let served = response.extensions().get::<Served>().expect("HyperTransport tags every response");
                    *answered.entry(served.endpoint.zone.clone()).or_default() += 1;
                    retried += u32::from(served.attempt > 1);
                }
                Err(_) => failed += 1,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mode = if client.snapshot().mode == Mode::Local { "local" } else { "spilled over" };
        println!("{phase:>11}: answered by {answered:?} ({retried} on a retry), {failed} failed; ends {mode}");
    }
    println!("counters: {:?}", client.snapshot().counters);
    Ok(())
}

/// A server that answers with its zone's name, or 503 while `broken`.
async fn serve(zone: &'static str, broken: Arc<AtomicBool>) -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let broken = broken.clone();
            let answer = hyper::service::service_fn(move |_request| {
                let status = if broken.load(Ordering::Relaxed) { 503 } else { 200 };
                let response = http::Response::builder().status(status).body(Full::new(Bytes::from(zone)));
                async move { Ok::<_, Infallible>(response.expect("a status and a body")) }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), answer));
        }
    });
    Ok(addr)
}
