//! The container tier: two proxies and two agents as containers on a private Docker network,
//! from a local image (`FROM scratch` with statically linked binaries; nothing is pulled).
//! Agents are stopped and disconnected; clients on the host reach the proxies by their
//! network addresses; the backend runs on the host, reached through the network's gateway.
//!
//! It drives the `docker` CLI (no client library: fewer dependencies to build). Where no Docker
//! engine answers, it says so and skips. `AZSIM_SKIP_DOCKER=1` skips it too.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker").args(args).output().map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Builds the two binaries statically (their own target directory, so this does not wait on
/// the test's own build) and returns the directory holding them.
fn static_binaries() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let target = root.join("target/static");
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release", "--locked", "-p", "tunnel", "--bins", "--target", "x86_64-unknown-linux-gnu"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "static build of the tunnel binaries failed");
    target.join("x86_64-unknown-linux-gnu/release")
}

struct Cleanup {
    containers: Vec<String>,
    network: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        let _ = docker(&["network", "rm", &self.network]);
        let _ = docker(&["rmi", "-f", &self.image]);
    }
}

/// A backend on the host: answers `served`.
async fn backend() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(b"served"))))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });
    addr
}

async fn status(addr: &str) -> Option<u16> {
    let stream = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await.ok()?.ok()?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    let resp = tokio::time::timeout(Duration::from_secs(5), tx.send_request(http::Request::get("/").header("host", "b").body(Empty::<Bytes>::new()).unwrap()))
        .await
        .ok()?
        .ok()?;
    let code = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Some(code)
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn two_proxies_and_two_agents_in_containers_survive_losing_an_agent() {
    if std::env::var_os("AZSIM_SKIP_DOCKER").is_some() {
        eprintln!("SKIPPED: AZSIM_SKIP_DOCKER is set");
        return;
    }
    if let Err(e) = docker(&["info", "--format", "{{.ServerVersion}}"]) {
        eprintln!("SKIPPED: no Docker engine reachable ({e})");
        return;
    }
    let bins = static_binaries();
    let tag = format!("azsim-tunnel-test-{}", std::process::id());
    let ctx = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&ctx).unwrap();
    for b in ["inverting-proxy", "forwarding-agent"] {
        std::fs::copy(bins.join(b), ctx.join(b)).unwrap();
    }
    let subnet_octet = 100 + std::process::id() % 100;
    let net = format!("172.29.{subnet_octet}");
    std::fs::write(
        ctx.join("proxy.json"),
        r#"{ "name": "p", "backends": ["b"], "default_backend": "b", "agents": { "a1": { "token": "t", "backends": ["b"] }, "a2": { "token": "t", "backends": ["b"] } } }"#,
    )
    .unwrap();
    let backend = backend().await;
    for agent in ["a1", "a2"] {
        let text = format!(
            r#"{{ "id": "{agent}", "token": "t", "backends": {{ "b": "{net}.1:{}" }}, "proxies": ["{net}.10:8443", "{net}.11:8443"], "backoff_base_ms": 50, "backoff_cap_ms": 500 }}"#,
            backend.port()
        );
        std::fs::write(ctx.join(format!("{agent}.json")), text).unwrap();
    }
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY inverting-proxy forwarding-agent proxy.json a1.json a2.json /\n").unwrap();
    let mut cleanup = Cleanup { containers: Vec::new(), network: tag.clone(), image: format!("{tag}:latest") };
    docker(&["build", "-q", "-t", &cleanup.image, ctx.to_str().unwrap()]).unwrap();
    docker(&["network", "create", "--subnet", &format!("{net}.0/24"), "--gateway", &format!("{net}.1"), &tag]).unwrap();
    let run = |name: &str, ip: &str, cmd: &[&str], cleanup: &mut Cleanup| {
        let cname = format!("{tag}-{name}");
        let mut args = vec!["run", "-d", "--name", &cname, "--network", &tag, "--ip", ip, &cleanup.image];
        args.extend_from_slice(cmd);
        docker(&args).unwrap();
        cleanup.containers.push(cname);
    };
    for (i, p) in ["p1", "p2"].iter().enumerate() {
        let ip = format!("{net}.{}", 10 + i);
        run(
            p,
            &ip,
            &["/inverting-proxy", "--config", "/proxy.json", "--listen", "0.0.0.0:8080", "--agents", "0.0.0.0:8443", "--admin", "0.0.0.0:9090"],
            &mut cleanup,
        );
    }
    for (i, a) in ["a1", "a2"].iter().enumerate() {
        let ip = format!("{net}.{}", 20 + i);
        let config = format!("/{a}.json");
        run(a, &ip, &["/forwarding-agent", "--config", &config], &mut cleanup);
    }
    let (p1, p2) = (format!("{net}.10:8080"), format!("{net}.11:8080"));
    until("both proxies served", async || status(&p1).await == Some(200) && status(&p2).await == Some(200)).await;

    // Stop one agent: the other still serves through both proxies.
    docker(&["stop", "-t", "1", &format!("{tag}-a1")]).unwrap();
    for _ in 0..20 {
        assert_eq!(status(&p1).await, Some(200));
        assert_eq!(status(&p2).await, Some(200));
    }
    // Cut the other off the network: nothing serves; the proxies say 503 at once.
    docker(&["network", "disconnect", &tag, &format!("{tag}-a2")]).unwrap();
    until("503 without agents", async || status(&p1).await == Some(503)).await;
    // Reconnect it: served again.
    docker(&["network", "connect", "--ip", &format!("{net}.21"), &tag, &format!("{tag}-a2")]).unwrap();
    until("served again", async || status(&p1).await == Some(200) && status(&p2).await == Some(200)).await;
    drop(cleanup);
    let _ = std::fs::remove_dir_all(&ctx);
}
