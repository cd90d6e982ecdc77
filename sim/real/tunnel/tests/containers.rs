//! The container tier: two proxies and two agents as containers on a private Docker network,
//! from the shipped images (`packaging/Dockerfile.*`: `FROM scratch` with a statically linked
//! binary; nothing is pulled), run with their own command line; configs are mounted at
//! `/etc/tunnel` as an operator would.
//! Agents are stopped and disconnected; clients on the host reach the proxies by their
//! network addresses; the backend runs on the host, reached through the network's gateway.
//!
//! testcontainers builds the image and owns the containers and their network: both are removed
//! when the handles drop, on failure too. Fault injection the crate does not offer (network
//! disconnect and connect) goes through its Docker client. Where no Docker engine answers, the
//! test says so and skips. `AZSIM_SKIP_DOCKER=1` skips it too.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use testcontainers::bollard::query_parameters::RemoveImageOptionsBuilder;
use testcontainers::core::client::docker_client_instance;
use testcontainers::runners::{AsyncBuilder, AsyncRunner};
use testcontainers::{ContainerAsync, GenericBuildableImage, GenericImage, ImageExt};

const IMAGE: &str = "azsim-tunnel-test";

const PROXY_CONFIG: &str = r#"{ "name": "p", "backends": ["b"], "default_backend": "b", "agents": { "a1": { "token": "t", "backends": ["b"] }, "a2": { "token": "t", "backends": ["b"] } } }"#;

/// The Docker engine's client, or why there is none to use.
async fn docker_engine() -> Result<Docker, String> {
    if std::env::var_os("AZSIM_SKIP_DOCKER").is_some() {
        return Err("AZSIM_SKIP_DOCKER is set".into());
    }
    let docker = docker_client_instance().await.map_err(|e| format!("no Docker engine reachable ({e})"))?;
    docker.ping().await.map_err(|e| format!("no Docker engine reachable ({e})"))?;
    Ok(docker)
}

/// Builds the two binaries statically (their own target directory, so this does not wait on
/// the test's own build) and returns the directory holding them. The musl target is not
/// installed on the project's machines: glibc with `crt-static` gives a static-pie instead.
fn static_binaries() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
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

/// The image is the one thing testcontainers builds but does not remove: this guard removes it
/// (declared before the containers, so it drops after them).
struct BuiltImage(String);

impl Drop for BuiltImage {
    fn drop(&mut self) {
        let descriptor = self.0.clone();
        let remove = async move {
            if let Ok(docker) = docker_client_instance().await {
                let options = RemoveImageOptionsBuilder::new().force(true).build();
                let _ = docker.remove_image(&descriptor, Some(options), None).await;
            }
        };
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(remove));
    }
}

/// The shipped image of `program` (`packaging/Dockerfile.<program>`), its binary from `bins`.
async fn shipped_image(program: &str, tag: &str, bins: &Path) -> (BuiltImage, GenericImage) {
    let name = format!("{IMAGE}-{program}");
    let guard = BuiltImage(format!("{name}:{tag}"));
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging").join(format!("Dockerfile.{program}"));
    let dockerfile = std::fs::read_to_string(&dockerfile).expect("the shipped Dockerfile");
    let image = GenericBuildableImage::new(&name, tag)
        .with_dockerfile_string(dockerfile)
        .with_file(bins.join(program), program)
        .build_image()
        .await
        .expect("the image builds");
    (guard, image)
}

/// A proxy from the shipped image, with its own command line, its config at `/etc/tunnel`.
async fn start_proxy(image: &GenericImage, network: &str, name: &str) -> ContainerAsync<GenericImage> {
    image
        .clone()
        .with_copy_to("/etc/tunnel/proxy.json", PROXY_CONFIG.as_bytes().to_vec())
        .with_network(network)
        .with_container_name(format!("{network}-{name}"))
        .start()
        .await
        .expect("a proxy starts")
}

/// An agent from the shipped image; its config names the proxies' addresses, known only once
/// those run.
async fn start_agent(image: &GenericImage, network: &str, id: &str, backend: SocketAddr, proxies: &[IpAddr]) -> ContainerAsync<GenericImage> {
    let proxies: Vec<String> = proxies.iter().map(|ip| format!("\"{ip}:8443\"")).collect();
    let config = format!(
        r#"{{ "id": "{id}", "token": "t", "backends": {{ "b": "{backend}" }}, "proxies": [{}], "backoff_base_ms": 50, "backoff_cap_ms": 500 }}"#,
        proxies.join(", ")
    );
    image
        .clone()
        .with_copy_to("/etc/tunnel/agent.json", config.into_bytes())
        .with_network(network)
        .with_container_name(format!("{network}-{id}"))
        .start()
        .await
        .expect("an agent starts")
}

/// The network's gateway: the host's address on it, where the containers reach the backend.
async fn gateway(docker: &Docker, network: &str) -> IpAddr {
    let inspect = docker.inspect_network(network, None).await.expect("the network is inspected");
    let configs = inspect.ipam.and_then(|ipam| ipam.config).unwrap_or_default();
    configs.iter().filter_map(|c| c.gateway.as_deref()?.parse::<IpAddr>().ok()).find(IpAddr::is_ipv4).expect("the network has an IPv4 gateway")
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

// Multi-threaded: testcontainers removes containers in `Drop` with `block_in_place` there; on a
// current-thread runtime it hands that to a thread of its own, sharing this runtime's client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_and_two_agents_in_containers_survive_losing_an_agent() {
    let docker = match docker_engine().await {
        Ok(docker) => docker,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let bins = static_binaries();
    let tag = std::process::id().to_string();
    let network = format!("{IMAGE}-{tag}");
    let (_proxy_guard, proxy_image) = shipped_image("inverting-proxy", &tag, &bins).await;
    let (_agent_guard, agent_image) = shipped_image("forwarding-agent", &tag, &bins).await;
    eprintln!("images {IMAGE}-inverting-proxy:{tag} and {IMAGE}-forwarding-agent:{tag} built; containers on network {network}");

    let p1 = start_proxy(&proxy_image, &network, "p1").await;
    let p2 = start_proxy(&proxy_image, &network, "p2").await;
    let proxies = [p1.get_bridge_ip_address().await.unwrap(), p2.get_bridge_ip_address().await.unwrap()];
    let backend = SocketAddr::new(gateway(&docker, &network).await, backend().await.port());
    eprintln!("proxies at {} and {}; backend at {backend} (the network's gateway)", proxies[0], proxies[1]);
    let a1 = start_agent(&agent_image, &network, "a1", backend, &proxies).await;
    let a2 = start_agent(&agent_image, &network, "a2", backend, &proxies).await;
    let [at_p1, at_p2] = proxies.map(|ip| format!("{ip}:8080"));
    until("both proxies served", async || status(&at_p1).await == Some(200) && status(&at_p2).await == Some(200)).await;

    // Stop one agent: the other still serves through both proxies.
    a1.stop_with_timeout(Some(1)).await.unwrap();
    for _ in 0..20 {
        assert_eq!(status(&at_p1).await, Some(200));
        assert_eq!(status(&at_p2).await, Some(200));
    }
    // Cut the other off the network: nothing serves; the proxies say 503 at once.
    let disconnect = NetworkDisconnectRequest { container: a2.id().into(), force: Some(false) };
    docker.disconnect_network(&network, disconnect).await.unwrap();
    until("503 without agents", async || status(&at_p1).await == Some(503)).await;
    // Reconnect it: served again.
    let connect = NetworkConnectRequest { container: a2.id().into(), endpoint_config: None };
    docker.connect_network(&network, connect).await.unwrap();
    until("served again", async || status(&at_p1).await == Some(200) && status(&at_p2).await == Some(200)).await;
}
