//! The shipped binaries as processes on loopback: `kill -9` of the agent mid-stream, the agent
//! coming back, and a proxy restart that the agent rides out.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

mod common;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Ports {
    clients: u16,
    agents: u16,
    admin: u16,
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path
}

fn proxy(dir: &std::path::Path, p: &Ports) -> Child {
    let config =
        write(dir, "proxy.json", r#"{ "name": "p", "backends": ["b"], "default_backend": "b", "agents": { "a": { "token": "t", "backends": ["b"] } } }"#);
    Command::new(env!("CARGO_BIN_EXE_inverting-proxy"))
        .args(["--config", config.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{}", p.clients), "--agents", &format!("127.0.0.1:{}", p.agents), "--admin", &format!("127.0.0.1:{}", p.admin)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn agent(dir: &std::path::Path, p: &Ports, backend: SocketAddr) -> Child {
    let text = format!(
        r#"{{ "id": "a", "token": "t", "backends": {{ "b": "{backend}" }}, "proxies": ["127.0.0.1:{}"], "backoff_base_ms": 50, "backoff_cap_ms": 500 }}"#,
        p.agents
    );
    let config = write(dir, "agent.json", &text);
    Command::new(env!("CARGO_BIN_EXE_forwarding-agent"))
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A backend whose `/slow` streams one chunk, then waits a long time.
async fn backend() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let (tx, rx) = tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>>(2);
                    let slow = req.uri().path() == "/slow";
                    tokio::spawn(async move {
                        let _ = tx.send(Ok(hyper::body::Frame::data(Bytes::from_static(b"first;")))).await;
                        if slow {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                    });
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::StreamBody::new(common::Chunks(rx))))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });
    addr
}

async fn get(port: u16, path: &str) -> Option<http::Response<hyper::body::Incoming>> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    tx.send_request(http::Request::get(path).header("host", "b").body(Empty::<Bytes>::new()).unwrap()).await.ok()
}

/// Waits (up to 10 s) until the proxy's `/ready` says `want`; returns how long it took.
async fn until_ready(p: &Ports, want: u16) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        if get(p.admin, "/ready").await.is_some_and(|r| r.status() == want) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "/ready never said {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn kill_9_of_the_agent_aborts_the_stream_and_a_proxy_restart_is_ridden_out() {
    let dir = std::env::temp_dir().join(format!("tunnel-processes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let backend = backend().await;
    let mut proxy_process = proxy(&dir, &ports);
    let mut agent_process = agent(&dir, &ports, backend);
    until_ready(&ports, 200).await;

    // kill -9 mid-stream: the client's body ends in an error, not a clean end.
    let resp = get(ports.clients, "/slow").await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    assert_eq!(&body.frame().await.unwrap().unwrap().into_data().unwrap()[..], b"first;");
    agent_process.kill().unwrap(); // SIGKILL
    agent_process.wait().unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.expect("the client hears of it");
    assert!(matches!(next, Some(Err(_))), "{next:?}");
    until_ready(&ports, 503).await;
    assert_eq!(get(ports.clients, "/").await.unwrap().status(), 503, "no agent: 503 at once");

    // The agent comes back; then the proxy restarts and the agent reconnects by itself.
    let mut agent_process = agent(&dir, &ports, backend);
    until_ready(&ports, 200).await;
    proxy_process.kill().unwrap();
    proxy_process.wait().unwrap();
    let mut proxy_process = proxy(&dir, &ports);
    let took = until_ready(&ports, 200).await;
    assert!(took < Duration::from_secs(5), "the agent reconnected in {took:?}");
    let resp = get(ports.clients, "/").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "first;");
    for child in [&mut agent_process, &mut proxy_process] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
