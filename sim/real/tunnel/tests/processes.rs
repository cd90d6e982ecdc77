//! The shipped binaries as processes on loopback: `kill -9` of the agent mid-stream, the agent
//! coming back, and a proxy restart that the agent rides out.

use std::collections::BTreeMap;
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

/// A process of one of the binaries, its log in a file.
struct Running {
    child: Child,
    log: std::path::PathBuf,
}

impl Running {
    fn start(bin: &str, args: &[&str], log: std::path::PathBuf, env: &[(&str, &str)]) -> Running {
        let child = Command::new(bin)
            .args(args)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Running { child, log }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{name}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit (up to 60 s: generous on a busy machine) and returns its
    /// exit code.
    async fn exited(&mut self) -> Option<i32> {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the process did not exit; its log:\n{}", self.log());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proxy_args(config: &std::path::Path, p: &Ports) -> Vec<String> {
    vec![
        "--config".into(),
        config.to_str().unwrap().into(),
        "--listen".into(),
        format!("127.0.0.1:{}", p.clients),
        "--agents".into(),
        format!("127.0.0.1:{}", p.agents),
        "--admin".into(),
        format!("127.0.0.1:{}", p.admin),
    ]
}

fn start_proxy(dir: &std::path::Path, config: &std::path::Path, p: &Ports, extra: &[&str], log: &str) -> Running {
    let mut args = proxy_args(config, p);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Running::start(env!("CARGO_BIN_EXE_inverting-proxy"), &args, dir.join(log), &[])
}

/// An agent `id` whose token is in `token_file`, with an admin endpoint on `admin`.
fn start_agent(dir: &std::path::Path, id: &str, token_file: &std::path::Path, p: &Ports, backend: SocketAddr, admin: u16) -> Running {
    let text = format!(
        r#"{{ "id": "{id}", "token_file": "{}", "backends": {{ "b": "{backend}" }}, "proxies": ["127.0.0.1:{}"], "backoff_base_ms": 50, "backoff_cap_ms": 500 }}"#,
        token_file.display(),
        p.agents
    );
    let config = write(dir, &format!("{id}.json"), &text);
    let admin = format!("127.0.0.1:{admin}");
    Running::start(env!("CARGO_BIN_EXE_forwarding-agent"), &["--config", config.to_str().unwrap(), "--admin", &admin], dir.join(format!("{id}.log")), &[])
}

/// The proxy's metrics, parsed: value by series (`name{labels}`).
async fn metrics(port: u16) -> BTreeMap<String, f64> {
    let Some(resp) = get(port, "/metrics").await else { return BTreeMap::new() };
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Waits (up to 30 s) until the metric `series` on `port` reaches `want`.
async fn until_metric(port: u16, series: &str, want: f64) {
    until_metric_is(port, series, |v| v >= want, want).await;
}

/// Waits (up to 30 s) until the metric `series` on `port` passes `test`.
async fn until_metric_is(port: u16, series: &str, test: impl Fn(f64) -> bool, want: f64) {
    for _ in 0..300 {
        if metrics(port).await.get(series).is_some_and(|v| test(*v)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never reached {want}: {:?}", metrics(port).await);
}

/// Clients sending requests one after another on keep-alive connections until told to stop:
/// (requests, failures with what went wrong).
struct Load {
    stop: tokio::sync::watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    fn start(port: u16, workers: usize) -> Load {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let workers = (0..workers)
            .map(|_| {
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    let (mut sent, mut failures) = (0u64, Vec::new());
                    let mut conn: Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> = None;
                    while !*stopped.borrow() {
                        if conn.as_ref().is_none_or(|c| c.is_closed()) {
                            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                            let (tx, c) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
                            tokio::spawn(c);
                            conn = Some(tx);
                        }
                        let tx = conn.as_mut().unwrap();
                        if tx.ready().await.is_err() {
                            conn = None;
                            continue;
                        }
                        sent += 1;
                        let req = http::Request::get("/").header("host", "b").body(Empty::<Bytes>::new()).unwrap();
                        match tx.send_request(req).await {
                            Ok(resp) => {
                                let status = resp.status();
                                match resp.into_body().collect().await {
                                    Ok(_) if status == 200 => {}
                                    Ok(_) => failures.push(format!("status {status}")),
                                    Err(e) => failures.push(format!("body: {e}")),
                                }
                            }
                            Err(e) => {
                                failures.push(format!("request: {e}"));
                                conn = None;
                            }
                        }
                    }
                    (sent, failures)
                })
            })
            .collect();
        Load { stop, workers }
    }

    async fn finish(self) -> (u64, Vec<String>) {
        let _ = self.stop.send(true);
        let (mut sent, mut failures) = (0, Vec::new());
        for w in self.workers {
            let (s, f) = w.await.unwrap();
            sent += s;
            failures.extend(f);
        }
        (sent, failures)
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tunnel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn sighup_reloads_both_binaries_under_load_with_no_failed_request_and_an_invalid_config_is_refused() {
    let dir = temp_dir("reload");
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let backend = backend().await;
    let grant = |timeout: u64| {
        format!(
            r#"{{ "name": "p", "backends": ["b"], "default_backend": "b", "request_timeout_ms": {timeout}, "agents": {{ "a": {{ "token_file": "{}", "backends": ["b"] }} }} }}"#,
            dir.join("proxy-a.tokens").display()
        )
    };
    write(&dir, "proxy-a.tokens", "# agent a\nt\n");
    write(&dir, "a.token", "t\n");
    let config = write(&dir, "proxy.json", &grant(30_000));
    let mut proxy = start_proxy(&dir, &config, &ports, &[], "proxy.log");
    let agent_admin = free_port();
    let agent = start_agent(&dir, "a", &dir.join("a.token"), &ports, backend, agent_admin);
    until_ready(&ports, 200).await;

    let load = Load::start(ports.clients, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A valid change: taken.
    write(&dir, "proxy.json", &grant(20_000));
    proxy.signal("HUP");
    until_metric(ports.admin, "tunnel_config_reloads_total{result=\"ok\"}", 1.0).await;
    // The agent reloads too: a new session to the proxy first, then the old one goes.
    agent.signal("HUP");
    until_metric(ports.admin, "tunnel_agents_accepted_total", 2.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // An invalid config: refused, the one in use kept, the log saying why.
    write(&dir, "proxy.json", &grant(0));
    proxy.signal("HUP");
    until_metric(ports.admin, "tunnel_config_reloads_total{result=\"error\"}", 1.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sent, failures) = load.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed: {:?}\nproxy:\n{}\nagent:\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        proxy.log(),
        agent.log()
    );
    assert!(sent > 20, "only {sent} requests");
    eprintln!("{sent} requests while both binaries reloaded, none failed");
    assert!(proxy.child.try_wait().unwrap().is_none(), "the proxy still runs");
    let log = proxy.log();
    assert!(log.contains("reload refused") && log.contains("request_timeout_ms"), "the log says why: {log}");
    until_ready(&ports, 200).await;
    let m = metrics(ports.admin).await;
    assert_eq!(m["tunnel_agents_refused_total{reason=\"reload\"}"], 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_token_rotates_with_two_agents_and_no_failed_request() {
    let dir = temp_dir("rotate");
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let backend = backend().await;
    let tokens = |id: &str| dir.join(format!("proxy-{id}.tokens"));
    let config = format!(
        r#"{{ "name": "p", "backends": ["b"], "default_backend": "b", "min_agents": 2, "agents": {{
            "a1": {{ "token_file": "{}", "backends": ["b"] }}, "a2": {{ "token_file": "{}", "backends": ["b"] }} }} }}"#,
        tokens("a1").display(),
        tokens("a2").display()
    );
    let config = write(&dir, "proxy.json", &config);
    for id in ["a1", "a2"] {
        write(&dir, &format!("proxy-{id}.tokens"), &format!("old-{id}\n"));
        write(&dir, &format!("{id}.token"), &format!("old-{id}\n"));
    }
    let proxy = start_proxy(&dir, &config, &ports, &[], "proxy.log");
    let agents: Vec<Running> = ["a1", "a2"].iter().map(|id| start_agent(&dir, id, &dir.join(format!("{id}.token")), &ports, backend, free_port())).collect();
    until_ready(&ports, 200).await;
    let load = Load::start(ports.clients, 4);

    // 1. The proxy takes the new tokens beside the old ones.
    for id in ["a1", "a2"] {
        write(&dir, &format!("proxy-{id}.tokens"), &format!("old-{id}\nnew-{id}\n"));
    }
    proxy.signal("HUP");
    until_metric(ports.admin, "tunnel_config_reloads_total{result=\"ok\"}", 1.0).await;
    // 2. The agents move to the new tokens, one after the other.
    for (i, (id, agent)) in ["a1", "a2"].iter().zip(&agents).enumerate() {
        write(&dir, &format!("{id}.token"), &format!("new-{id}\n"));
        agent.signal("HUP");
        until_metric(ports.admin, "tunnel_agents_accepted_total", 3.0 + i as f64).await;
        // The session it replaced has finished its streams and closed.
        until_metric_is(ports.admin, "tunnel_agents_connected{backend=\"b\"}", |v| v == 2.0, 2.0).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // 3. The old tokens go: no session uses them any more, so none is closed.
    for id in ["a1", "a2"] {
        write(&dir, &format!("proxy-{id}.tokens"), &format!("new-{id}\n"));
    }
    proxy.signal("HUP");
    until_metric(ports.admin, "tunnel_config_reloads_total{result=\"ok\"}", 2.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sent, failures) = load.finish().await;
    assert!(failures.is_empty(), "{} of {sent} requests failed: {:?}\nproxy:\n{}", failures.len(), &failures[..failures.len().min(5)], proxy.log());
    assert!(sent > 20, "only {sent} requests");
    eprintln!("{sent} requests while the token rotated, none failed");
    let m = metrics(ports.admin).await;
    assert_eq!(m["tunnel_agents_refused_total{reason=\"reload\"}"], 0.0, "no session was cut");
    assert_eq!(m["tunnel_agents_connected{backend=\"b\"}"], 2.0);
    assert_eq!(get(ports.admin, "/ready").await.unwrap().status(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each line of a JSON log, parsed (a line that is not JSON fails the test).
fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))).collect()
}

#[tokio::test]
async fn json_logs_an_access_line_per_request_ids_unique_across_restarts_and_clean_stops() {
    let dir = temp_dir("logs");
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let backend = backend().await;
    // A long drain grace: an idle proxy must stop without it.
    let config = write(
        &dir,
        "proxy.json",
        r#"{ "name": "p", "backends": ["b"], "default_backend": "b", "drain_grace_ms": 600000, "start_grace_ms": 0, "agents": { "a": { "token": "t", "backends": ["b"] } } }"#,
    );
    write(&dir, "a.token", "t\n");
    let mut proxy = start_proxy(&dir, &config, &ports, &["--log-format", "json"], "proxy-1.log");
    let agent_admin = free_port();
    let text = format!(
        r#"{{ "id": "a", "token_file": "{}", "backends": {{ "b": "{backend}" }}, "proxies": ["127.0.0.1:{}"] }}"#,
        dir.join("a.token").display(),
        ports.agents
    );
    let agent_config = write(&dir, "agent.json", &text);
    let admin = format!("127.0.0.1:{agent_admin}");
    let mut agent = Running::start(
        env!("CARGO_BIN_EXE_forwarding-agent"),
        &["--config", agent_config.to_str().unwrap(), "--admin", &admin, "--log-format", "json"],
        dir.join("agent.log"),
        &[],
    );
    until_ready(&ports, 200).await;
    let resp = get(ports.clients, "/").await.unwrap();
    assert_eq!(resp.status(), 200);
    let first_id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();

    // The agent's admin endpoint.
    assert_eq!(get(agent_admin, "/ready").await.unwrap().status(), 200);
    let m = metrics(agent_admin).await;
    assert_eq!(m["tunnel_agent_proxies_connected"], 1.0);
    assert_eq!(m["tunnel_agent_streams_in_flight"], 0.0);
    assert_eq!(m["tunnel_agent_backend_errors_total"], 0.0);
    assert!(m["process_open_fds"] > 0.0, "the agent has process metrics too");

    // A clean agent stop: its log has no warning, the proxy's says it at INFO.
    agent.signal("TERM");
    assert_eq!(agent.exited().await, Some(0));
    let agent_log = json_lines(&agent.log());
    let stop = agent_log.iter().position(|l| l["message"].as_str().is_some_and(|m| m.starts_with("shutting down"))).expect("the stop is logged");
    assert!(agent_log[stop..].iter().all(|l| l["level"] == "INFO"), "{agent_log:#?}");
    assert!(agent_log.iter().any(|l| l["message"] == "stopped"));
    until_ready(&ports, 503).await;

    // Idle (no agent, nothing in hand): it stops at once despite the 10-minute grace.
    proxy.signal("TERM");
    assert_eq!(proxy.exited().await, Some(0));
    let log = json_lines(&proxy.log());
    let disconnected = log.iter().find(|l| l["message"] == "agent disconnected").expect("the proxy logs the agent leaving");
    assert_eq!(disconnected["level"], "INFO", "{disconnected}");
    let access = log.iter().find(|l| l["target"] == "access" && l["request_id"] == first_id.as_str()).expect("an access line with the request id");
    assert_eq!((access["status"].as_u64(), access["method"].as_str(), access["path"].as_str()), (Some(200), Some("GET"), Some("/")));
    assert_eq!(access["answered_by"], "backend");
    assert!(log.iter().any(|l| l["message"] == "stopped"));

    // A restarted proxy makes ids of its own: its counter starts again, its boot id differs.
    let proxy = start_proxy(&dir, &config, &ports, &["--log-format", "json"], "proxy-2.log");
    until_ready(&ports, 503).await;
    let resp = get(ports.clients, "/").await.unwrap();
    assert_eq!(resp.status(), 503);
    let second_id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    assert!(first_id.ends_with("-000000000000") && second_id.ends_with("-000000000000"), "{first_id} {second_id}");
    assert_ne!(first_id, second_id);
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn check_mode_prints_the_effective_config_and_exits_0_or_2() {
    let dir = temp_dir("check");
    let check = |bin: &str, config: &std::path::Path, env: &[(&str, &str)]| {
        let out =
            Command::new(bin).args(["--check", "--config", config.to_str().unwrap()]).env_remove("TUNNEL_TOKEN").envs(env.iter().copied()).output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let proxy = env!("CARGO_BIN_EXE_inverting-proxy");
    let good = write(&dir, "good.json", r#"{ "backends": ["b"], "agents": { "a": { "token": ["old", "new"], "backends": ["b"] } } }"#);
    let (code, out, _) = check(proxy, &good, &[]);
    assert_eq!(code, Some(0));
    let effective: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(effective["drain_grace_ms"], 10_000);
    assert_eq!(effective["agents"]["a"]["token"], serde_json::json!(["***", "***"]), "tokens are not printed");
    let bad = write(&dir, "bad.json", r#"{ "backends": ["b"], "request_timeout_ms": 0, "agents": { "a": { "token": "t", "backends": ["b"] } } }"#);
    let (code, out, err) = check(proxy, &bad, &[]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert!(err.contains("`request_timeout_ms`: must be more than 0"), "{err}");
    let missing = write(&dir, "missing.json", r#"{ "backends": ["b"], "agents": { "a": { "token_file": "/nonexistent/tokens", "backends": ["b"] } } }"#);
    let (code, _, err) = check(proxy, &missing, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("agents.a.token_file"), "{err}");

    // The agent: a token from TUNNEL_TOKEN alone is enough; no token at all is an error.
    let agent = env!("CARGO_BIN_EXE_forwarding-agent");
    let config = write(&dir, "agent.json", r#"{ "id": "a", "backends": { "b": "127.0.0.1:1" }, "proxies": ["127.0.0.1:2"] }"#);
    let (code, out, err) = check(agent, &config, &[("TUNNEL_TOKEN", "s3cret")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.contains("s3cret") && out.contains("\"token\": \"***\""), "{out}");
    let (code, _, err) = check(agent, &config, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`token`: no token"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_shipped_sample_configs_pass_the_check() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = temp_dir("samples");
    // The files the samples name under /etc/tunnel, made in a directory of the test's own.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    for (name, files) in [("proxy.example.internal", ("proxy.pem", "proxy.key")), ("site-1", ("site-1.pem", "site-1.key"))] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
        write(&dir, files.0, &cert.pem());
        write(&dir, files.1, &key.serialize_pem());
    }
    for file in ["agents-ca.pem", "proxies-ca.pem"] {
        write(&dir, file, &ca.pem());
    }
    for file in ["site-1.tokens", "site-2.tokens", "token"] {
        write(&dir, file, "# rotate: add the new token on a line of its own\nchange-me\n");
    }
    let packaging = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    for (bin, sample) in [(env!("CARGO_BIN_EXE_inverting-proxy"), "proxy.json"), (env!("CARGO_BIN_EXE_forwarding-agent"), "agent.json")] {
        let text = std::fs::read_to_string(packaging.join(sample)).unwrap().replace("/etc/tunnel/", &format!("{}/", dir.display()));
        let config = write(&dir, sample, &text);
        let out = Command::new(bin).args(["--check", "--config", config.to_str().unwrap()]).env_remove("TUNNEL_TOKEN").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{sample}: {}", String::from_utf8_lossy(&out.stderr));
        // The sample gives every field the check prints, at the value it prints.
        let effective: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let given: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (key, value) in effective.as_object().unwrap() {
            if matches!(key.as_str(), "agents" | "token" | "routes" | "cloud_map" | "proxy_discovery") {
                continue;
            }
            assert_eq!(given.get(key), Some(value), "{sample}: `{key}`");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_starting_proxy_holds_its_first_clients_until_its_agents_are_in() {
    let dir = temp_dir("start");
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let backend = backend().await;
    let config = write(
        &dir,
        "proxy.json",
        r#"{ "name": "p", "backends": ["b"], "default_backend": "b", "start_grace_ms": 600000, "agents": { "a": { "token": "t", "backends": ["b"] } } }"#,
    );
    let _proxy = start_proxy(&dir, &config, &ports, &[], "proxy.log");
    until_ready(&ports, 503).await;
    // A client arriving before any agent waits (its connection in the listen queue)...
    let waiting = tokio::spawn(async move { get(ports.clients, "/").await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "no answer before the agent is in");
    // ... and is served once the agent is in, rather than answered 503.
    write(&dir, "a.token", "t\n");
    let _agent = start_agent(&dir, "a", &dir.join("a.token"), &ports, backend, free_port());
    assert_eq!(waiting.await.unwrap(), Some(http::StatusCode::OK));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_binaries_metrics_have_process_and_certificate_expiry_metrics() {
    use rcgen::{CertificateParams, KeyPair, date_time_ymd};
    let dir = temp_dir("expiry");
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["proxy.test".to_string()]).unwrap();
    params.not_after = date_time_ymd(2031, 5, 17);
    write(&dir, "proxy.pem", &params.self_signed(&key).unwrap().pem());
    write(&dir, "proxy.key", &key.serialize_pem());
    let text = format!(
        r#"{{ "backends": ["b"], "agents": {{ "a": {{ "token": "t", "backends": ["b"] }} }}, "tls": {{ "cert": "{}", "key": "{}" }} }}"#,
        dir.join("proxy.pem").display(),
        dir.join("proxy.key").display()
    );
    let config = write(&dir, "proxy.json", &text);
    let _proxy = start_proxy(&dir, &config, &ports, &[], "proxy.log");
    until_ready(&ports, 503).await;
    let resp = get(ports.admin, "/metrics").await.unwrap();
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    // Every sample's family has its # HELP and # TYPE.
    let typed: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(f))).unwrap_or(name);
        assert!(typed.contains(&family) && text.contains(&format!("# HELP {family} ")), "{line}");
    }
    let m = metrics(ports.admin).await;
    let expiry = format!("tunnel_tls_certificate_expiry_timestamp_seconds{{certificate=\"server\",file=\"{}\"}}", dir.join("proxy.pem").display());
    assert_eq!(m.get(&expiry), Some(&1_936_742_400.0), "{text}");
    assert!(m["process_resident_memory_bytes"] > 0.0 && m["process_open_fds"] > 0.0 && m["process_start_time_seconds"] > 0.0, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replaces `name` in `dir` at once (a new file renamed over it), as an operator should.
fn replace(dir: &std::path::Path, name: &str, text: &str) {
    let staged = write(dir, &format!(".{name}.new"), text);
    std::fs::rename(staged, dir.join(name)).unwrap();
}

#[tokio::test]
async fn with_watch_ms_a_changed_token_file_reloads_both_binaries_without_a_signal() {
    let dir = temp_dir("watch");
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let backend = backend().await;
    let text = format!(
        r#"{{ "name": "p", "backends": ["b"], "default_backend": "b", "agents": {{ "a": {{ "token_file": "{}", "backends": ["b"] }} }} }}"#,
        dir.join("proxy-a.tokens").display()
    );
    let config = write(&dir, "proxy.json", &text);
    write(&dir, "proxy-a.tokens", "old\n");
    write(&dir, "a.token", "old\n");
    let proxy = start_proxy(&dir, &config, &ports, &["--watch-ms", "50"], "proxy.log");
    let agent_text = format!(
        r#"{{ "id": "a", "token_file": "{}", "backends": {{ "b": "{backend}" }}, "proxies": ["127.0.0.1:{}"], "backoff_base_ms": 50, "backoff_cap_ms": 500 }}"#,
        dir.join("a.token").display(),
        ports.agents
    );
    let agent_config = write(&dir, "agent.json", &agent_text);
    let _agent =
        Running::start(env!("CARGO_BIN_EXE_forwarding-agent"), &["--config", agent_config.to_str().unwrap(), "--watch-ms", "50"], dir.join("agent.log"), &[]);
    until_ready(&ports, 200).await;
    let load = Load::start(ports.clients, 2);
    replace(&dir, "proxy-a.tokens", "old\nnew\n");
    until_metric(ports.admin, "tunnel_config_reloads_total{result=\"ok\"}", 1.0).await;
    replace(&dir, "a.token", "new\n");
    until_metric(ports.admin, "tunnel_agents_accepted_total", 2.0).await;
    until_metric_is(ports.admin, "tunnel_agents_connected{backend=\"b\"}", |v| v == 1.0, 1.0).await;
    replace(&dir, "proxy-a.tokens", "new\n");
    until_metric(ports.admin, "tunnel_config_reloads_total{result=\"ok\"}", 2.0).await;
    let (sent, failures) = load.finish().await;
    assert!(failures.is_empty(), "{} of {sent} requests failed: {:?}\nproxy:\n{}", failures.len(), &failures[..failures.len().min(5)], proxy.log());
    let m = metrics(ports.admin).await;
    assert_eq!(m["tunnel_agents_refused_total{reason=\"reload\"}"], 0.0);
    assert_eq!(m["tunnel_agents_connected{backend=\"b\"}"], 1.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rust_log_sets_the_levels_and_a_bad_one_is_refused() {
    let dir = temp_dir("rust-log");
    let ports = Ports { clients: free_port(), agents: free_port(), admin: free_port() };
    let config = write(
        &dir,
        "proxy.json",
        r#"{ "backends": ["b"], "default_backend": "b", "start_grace_ms": 0, "agents": { "a": { "token": "t", "backends": ["b"] } } }"#,
    );
    let args = proxy_args(&config, &ports);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--log-format", "json"]);
    // Warnings, and the access log at INFO.
    let mut proxy = Running::start(env!("CARGO_BIN_EXE_inverting-proxy"), &args, dir.join("proxy.log"), &[("RUST_LOG", "warn,access=info")]);
    until_ready(&ports, 503).await;
    assert_eq!(get(ports.clients, "/").await.unwrap().status(), 503);
    proxy.signal("TERM");
    assert_eq!(proxy.exited().await, Some(0));
    let lines = json_lines(&proxy.log());
    assert!(lines.iter().any(|l| l["target"] == "access" && l["status"] == 503 && l["reason"] == "no_agent"), "{lines:#?}");
    assert!(!lines.iter().any(|l| l["target"] != "access" && l["level"] == "INFO"), "no other INFO line: {lines:#?}");
    // A RUST_LOG that cannot be parsed: exit 2, naming it.
    let mut bad = Running::start(env!("CARGO_BIN_EXE_inverting-proxy"), &args, dir.join("bad.log"), &[("RUST_LOG", "access=loud")]);
    assert_eq!(bad.exited().await, Some(2));
    assert!(bad.log().contains("RUST_LOG"), "{}", bad.log());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_systemd_units_verify_and_are_hardened() {
    let analyze = |args: &[&str]| Command::new("systemd-analyze").args(args).output();
    if analyze(&["--version"]).is_err() {
        eprintln!("SKIPPED: no systemd-analyze");
        return;
    }
    let dir = temp_dir("units");
    let packaging = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    let bins = [("inverting-proxy", env!("CARGO_BIN_EXE_inverting-proxy")), ("forwarding-agent", env!("CARGO_BIN_EXE_forwarding-agent"))];
    for (name, bin) in bins {
        // The unit as shipped, with the binary where this build put it.
        let text = std::fs::read_to_string(packaging.join(format!("{name}.service"))).unwrap().replace(&format!("/usr/local/bin/{name}"), bin);
        let unit = write(&dir, &format!("{name}.service"), &text);
        let out = analyze(&["verify", unit.to_str().unwrap()]).unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.trim().is_empty(), "{name}.service: {said}");
        let out = analyze(&["security", "--offline=yes", unit.to_str().unwrap()]).unwrap();
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        let Some(level) = said.lines().find_map(|l| l.split("Overall exposure level for ").nth(1)?.split(": ").nth(1)?.split(' ').next()?.parse::<f64>().ok())
        else {
            eprintln!("SKIPPED the exposure check of {name}.service (this systemd-analyze has no --offline): {}", String::from_utf8_lossy(&out.stderr));
            continue;
        };
        assert!(level <= 2.0, "{name}.service: exposure {level}\n{said}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
