//! The tunnel on loopback, in one run: an origin (hyper) reached directly and through
//! inverting-proxy + forwarding-agent, at 1, 16 and 64 client connections (keep-alive, one
//! request in flight per connection), and a 100 MB download. Prints requests/s, p50/p99, the
//! tunnel/direct ratio, the added p50 at one connection, and the CPU time each component spends
//! per request. `AZSIM_TUNNEL_SECONDS` sets the length of each measurement (default 2).
//!
//! Each component runs as its binary does: on its own single-threaded tokio runtime, on its own
//! thread (a stand-in for its own process). The load generator, the origin, the proxy and the
//! agent share the machine's cores; the direct arm uses the same load generator and origin.

// Real sockets, real time: this bench measures wall-clock throughput, nothing simulated.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
use azsim_net::{Accept, Listen};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use tokio::runtime::Handle;
use tunnel::proxy::{Grant, Route};

const BULK: usize = 100 * 1024 * 1024;

async fn origin() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let bulk = Bytes::from(vec![7u8; 1024 * 1024]);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            let bulk = bulk.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let bulk = bulk.clone();
                    async move {
                        if req.uri().path() == "/bulk" {
                            // 100 chunks of 1 MiB, streamed.
                            let (tx, rx) = tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, Infallible>>(4);
                            tokio::spawn(async move {
                                for _ in 0..BULK / bulk.len() {
                                    if tx.send(Ok(hyper::body::Frame::data(bulk.clone()))).await.is_err() {
                                        return;
                                    }
                                }
                            });
                            let body = http_body_util::StreamBody::new(Chunks(rx)).boxed();
                            return Ok::<_, Infallible>(http::Response::new(body));
                        }
                        Ok(http::Response::new(Full::new(Bytes::from_static(b"hello")).map_err(|n: Infallible| match n {}).boxed()))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });
    addr
}

struct Chunks<T>(tokio::sync::mpsc::Receiver<T>);
impl<T> futures_core::Stream for Chunks<T> {
    type Item = T;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// The proxy and an agent in front of `origin`; returns the proxy's client address.
async fn tunnel_in_front(origin: SocketAddr, proxy_rt: &Handle, agent_rt: &Handle) -> SocketAddr {
    let config = tunnel::ProxyConfig {
        name: "bench".into(),
        agents: BTreeMap::from([("a".to_string(), Grant::new("t", vec!["o".into()]))]),
        routes: vec![Route { backend: "o".into(), ..Route::default() }],
        default_backend: None,
        backends: vec!["o".into()],
        request_timeout_ms: 30_000,
        max_header_bytes: 16 * 1024,
        header_read_timeout_ms: 10_000,
        body_read_timeout_ms: 10_000,
        max_body_bytes: u64::MAX,
        retry_idempotent: false,
        max_in_flight: 10_000,
        tls: None,
        ..tunnel::ProxyConfig::default()
    };
    // Listeners are bound inside the proxy's runtime: their sockets belong to its reactor.
    let (proxy, client_addr, agent_addr) = proxy_rt
        .spawn(async move {
            let proxy = tunnel::Proxy::new(config, TokioEnv);
            let clients = TokioEnv.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let agents = TokioEnv.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let (client_addr, agent_addr) = (clients.local_addr().unwrap(), agents.local_addr().unwrap());
            tokio::spawn(proxy.clone().serve_clients(clients));
            tokio::spawn(proxy.clone().accept_agents(agents));
            (proxy, client_addr, agent_addr)
        })
        .await
        .unwrap();
    let agent = tunnel::AgentConfig {
        backoff_base_ms: 10,
        backoff_cap_ms: 100,
        ..tunnel::AgentConfig::new("a", "t", BTreeMap::from([("o".to_string(), origin)]), vec![agent_addr])
    };
    agent_rt.spawn(async move {
        let _ = tunnel::agent::run(agent, TokioEnv, Box::new(OsSeededRng::new())).await;
    });
    while proxy.connected_backends().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    client_addr
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connection(addr: SocketAddr) -> Sender {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s)).await.unwrap();
    tokio::spawn(conn);
    tx
}

/// `conns` connections sending back to back for `secs`: requests/s and latencies (µs).
async fn load(addr: SocketAddr, conns: usize, secs: f64) -> (f64, Vec<u64>) {
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(requests(addr, until)));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    all.sort_unstable();
    (rate, all)
}

/// One keep-alive connection sending `GET /` until `until`, as wrk does: the request's bytes
/// made once, each response read up to its `content-length`. The load generator's own cost
/// stays small (it shares the cores with what it measures) and is the same for both arms.
async fn requests(addr: SocketAddr, until: Instant) -> Vec<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nhost: o\r\n\r\n";
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut lat = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        s.write_all(REQUEST).await.unwrap();
        buf.clear();
        let total = loop {
            if let Some(head) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break head + 4 + response_length(&buf[..head]);
            }
            assert!(s.read_buf(&mut buf).await.unwrap() > 0, "connection closed");
        };
        while buf.len() < total {
            assert!(s.read_buf(&mut buf).await.unwrap() > 0, "connection closed");
        }
        lat.push(t.elapsed().as_micros() as u64);
    }
    lat
}

/// The body length a `200` response head declares.
fn response_length(head: &[u8]) -> usize {
    let head = std::str::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    head.lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no content-length: {head}"))
}

fn pct(v: &[u64], p: f64) -> f64 {
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0
}

async fn bulk(addr: SocketAddr) -> f64 {
    let mut tx = connection(addr).await;
    let t = Instant::now();
    let resp = tx.send_request(http::Request::get("/bulk").header("host", "o").body(Empty::new()).unwrap()).await.unwrap();
    let mut body = resp.into_body();
    let mut n = 0usize;
    while let Some(f) = body.frame().await {
        if let Ok(d) = f.unwrap().into_data() {
            n += d.len();
        }
    }
    assert_eq!(n, BULK);
    n as f64 / t.elapsed().as_secs_f64() / 1e9
}

/// A component's own single-threaded runtime on its own thread, as the binaries run.
fn process(name: &str) -> Handle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            tx.send(rt.handle().clone()).unwrap();
            rt.block_on(std::future::pending::<()>());
        })
        .unwrap();
    rx.recv().unwrap()
}

/// CPU time (ns) each named thread of this process has used so far (Linux; empty elsewhere).
fn cpu_by_thread() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default().trim().to_string();
        let ns = std::fs::read_to_string(task.path().join("schedstat")).ok().and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = ns {
            *out.entry(comm).or_insert(0) += ns;
        }
    }
    out
}

/// `load` with the CPU time per request (µs) of each component during it.
async fn measured(addr: SocketAddr, conns: usize, secs: f64) -> (f64, Vec<u64>, String) {
    let before = cpu_by_thread();
    let (rate, lat) = load(addr, conns, secs).await;
    let after = cpu_by_thread();
    let n = lat.len().max(1) as f64;
    let mut total = 0.0;
    let mut parts = Vec::new();
    for name in ["load", "origin", "proxy", "agent"] {
        let used = after.get(name).copied().unwrap_or(0).saturating_sub(before.get(name).copied().unwrap_or(0)) as f64 / 1000.0 / n;
        if used >= 0.05 {
            total += used;
            parts.push(format!("{name} {used:.1}"));
        }
    }
    (rate, lat, format!("{total:.1} ({})", parts.join(", ")))
}

fn main() {
    let secs: f64 = std::env::var("AZSIM_TUNNEL_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let (origin_rt, proxy_rt, agent_rt) = (process("origin"), process("proxy"), process("agent"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // The load generator has its thread too.
    let load_thread = std::thread::Builder::new()
        .name("load".into())
        .spawn(move || {
            rt.block_on(async move {
                let origin = origin_rt.spawn(origin()).await.unwrap();
                let through = tunnel_in_front(origin, &proxy_rt, &agent_rt).await;
                println!("tunnel on loopback (origin, proxy, agent and load generator each on its own single-threaded runtime), {secs} s per figure");
                println!(
                    "{:>6} | {:>12} {:>9} {:>9} | {:>12} {:>9} {:>9} | {:>6}",
                    "conns", "direct rps", "p50 ms", "p99 ms", "tunnel rps", "p50 ms", "p99 ms", "ratio"
                );
                let mut added_p50 = 0.0;
                // `AZSIM_TUNNEL_ONLY=direct|tunnel`: one arm at 16 connections (for a profiler).
                if let Ok(arm) = std::env::var("AZSIM_TUNNEL_ONLY") {
                    let (r, l, c) = measured(if arm == "direct" { origin } else { through }, 16, secs).await;
                    println!("{arm}, 16 connections: {r:.0} requests/s, p50 {:.3} ms, CPU µs per request {c}", pct(&l, 0.5));
                    return;
                }
                let mut cpu = Vec::new();
                for conns in [1usize, 16, 64] {
                    let (dr, dl, dcpu) = measured(origin, conns, secs).await;
                    let (tr, tl, tcpu) = measured(through, conns, secs).await;
                    if conns == 1 {
                        added_p50 = pct(&tl, 0.5) - pct(&dl, 0.5);
                    }
                    println!(
                        "{conns:>6} | {dr:>12.0} {:>9.3} {:>9.3} | {tr:>12.0} {:>9.3} {:>9.3} | {:>6.2}",
                        pct(&dl, 0.5),
                        pct(&dl, 0.99),
                        pct(&tl, 0.5),
                        pct(&tl, 0.99),
                        tr / dr
                    );
                    cpu.push(format!("{conns:>6} | direct {dcpu} | tunnel {tcpu}"));
                }
                println!("CPU µs per request (all components; each one's share):");
                for line in cpu {
                    println!("{line}");
                }
                println!("added p50 at one connection: {added_p50:.3} ms (target <= 0.15 ms)");
                println!("100 MB download: direct {:.2} GB/s, tunnel {:.2} GB/s (target >= 0.8 GB/s)", bulk(origin).await, bulk(through).await);
            })
        })
        .unwrap();
    load_thread.join().unwrap();
}
