//! The proxy and the agent on real loopback sockets, with a hyper backend behind the agent.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azsim_net::Listen;
use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tunnel::proxy::{Grant, Route};
use tunnel::{AgentConfig, Proxy, ProxyConfig};

mod common;

async fn listener() -> (azsim_net::tokio_impl::TokioListener, SocketAddr) {
    let l = TokioEnv.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = azsim_net::Accept::local_addr(&l).unwrap();
    (l, addr)
}

/// A backend: `/stream` sends three chunks 50 ms apart; `/hang` sends one chunk and never ends;
/// `/headers` answers the forwarding headers and the request id it got, one `name: value` a
/// line; anything else answers `backend saw <host> <path>`.
async fn backend() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let path = req.uri().path().to_string();
                    let host = req.headers().get("host").map(|h| h.to_str().unwrap().to_string()).unwrap_or_default();
                    let seen: String = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id"]
                        .iter()
                        .filter_map(|n| Some(format!("{n}: {}\n", req.headers().get(*n)?.to_str().ok()?)))
                        .collect();
                    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
                    tokio::spawn(async move {
                        match path.as_str() {
                            "/stream" => {
                                for i in 0..3 {
                                    let _ = tx.send(Ok(Frame::data(Bytes::from(format!("chunk{i};"))))).await;
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                            "/headers" => {
                                let _ = tx.send(Ok(Frame::data(Bytes::from(seen)))).await;
                            }
                            "/hang" => {
                                let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"first;")))).await;
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                            }
                            _ => {
                                let _ = tx.send(Ok(Frame::data(Bytes::from(format!("backend saw {host} {path}"))))).await;
                            }
                        }
                    });
                    Ok::<_, Infallible>(http::Response::new(StreamBody::new(common::Chunks(rx))))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });
    addr
}

struct Setup {
    proxy: Arc<Proxy<TokioEnv>>,
    clients: SocketAddr,
    agents: SocketAddr,
    backend: SocketAddr,
}

fn proxy_config() -> ProxyConfig {
    ProxyConfig {
        name: "p1".into(),
        agents: BTreeMap::from([
            ("agent-1".to_string(), Grant::new("t1", vec!["orders".into()])),
            ("agent-2".to_string(), Grant::new("t2", vec!["orders".into()])),
        ]),
        routes: vec![Route { backend: "orders".into(), path_prefix: Some("/".into()), ..Route::default() }],
        default_backend: None,
        backends: vec!["orders".into()],
        request_timeout_ms: 2_000,
        max_header_bytes: 8 * 1024,
        header_read_timeout_ms: 10_000,
        body_read_timeout_ms: 10_000,
        max_body_bytes: 1024 * 1024,
        retry_idempotent: false,
        max_in_flight: 10_000,
        tls: None,
        ..ProxyConfig::default()
    }
}

async fn setup() -> Setup {
    setup_with(proxy_config()).await
}

async fn setup_with(config: ProxyConfig) -> Setup {
    let proxy = Proxy::new(config, TokioEnv);
    let (cl, clients) = listener().await;
    let (al, agents) = listener().await;
    tokio::spawn(proxy.clone().serve_clients(cl));
    tokio::spawn(proxy.clone().accept_agents(al));
    Setup { proxy, clients, agents, backend: backend().await }
}

fn agent(s: &Setup, id: &str, token: &str, backends: &[&str]) -> tokio::task::JoinHandle<()> {
    let config = AgentConfig {
        backoff_base_ms: 20,
        backoff_cap_ms: 200,
        ..AgentConfig::new(id, token, backends.iter().map(|b| (b.to_string(), s.backend)).collect(), vec![s.agents])
    };
    tokio::spawn(async move {
        let _ = tunnel::agent::run(config, TokioEnv, Box::new(OsSeededRng::new())).await;
    })
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A client request: the status and the response, whose body the caller reads.
async fn request(addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> http::Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::get(path).header("host", "orders.corp.internal");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    tx.send_request(req.body(Empty::<Bytes>::new()).unwrap()).await.unwrap()
}

async fn body(resp: http::Response<hyper::body::Incoming>) -> String {
    String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn a_request_goes_through_proxy_and_agent_to_the_backend() {
    let s = setup().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || s.proxy.connected_backends() == ["orders"]).await;
    let resp = request(s.clients, "/orders/42", &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await, "backend saw orders.corp.internal /orders/42");
    assert_eq!(s.proxy.metrics.count("orders", 200), 1);
    assert!(s.proxy.metrics.prometheus().contains("tunnel_responses_total{backend=\"orders\",code=\"200\",class=\"2xx\"} 1"));
}

#[tokio::test]
async fn without_an_agent_the_answer_is_503_at_once() {
    let s = setup().await;
    let resp = request(s.clients, "/orders/1", &[]).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(s.proxy.admin("/ready").status(), 503, "not ready without an agent");
}

/// The proxy's one-line answer to a greeting sent on a raw connection.
async fn greet(agents: SocketAddr, greeting: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(agents).await.unwrap();
    stream.write_all(greeting.as_bytes()).await.unwrap();
    tunnel::protocol::read_line(&mut stream).await.unwrap()
}

#[tokio::test]
async fn an_agent_with_a_bad_token_or_a_backend_it_may_not_serve_is_refused() {
    // agent-3's token in this config is empty: an empty greeting token must not match it.
    let mut config = proxy_config();
    config.agents.insert("agent-3".into(), Grant::new(String::new(), vec!["orders".into()]));
    let s = setup_with(config).await;
    let wrong_token = greet(s.agents, "AZTUNNEL/1 agent-1 wrong orders\n").await;
    let unknown = greet(s.agents, "AZTUNNEL/1 intruder t1 orders\n").await;
    let empty_token = greet(s.agents, "AZTUNNEL/1 agent-3  orders\n").await;
    let bad_backend = greet(s.agents, "AZTUNNEL/1 agent-2 t2 orders,payroll\n").await;
    assert!(wrong_token.starts_with("ERR "), "{wrong_token}");
    // The same answer for an unknown id and a wrong token: ids cannot be enumerated.
    assert_eq!(unknown, wrong_token);
    assert_eq!(empty_token, wrong_token);
    assert_eq!(bad_backend, "ERR agent agent-2 may not serve payroll");
    // Each was refused before it could be registered (registration follows the `OK`).
    assert!(s.proxy.connected_backends().is_empty());
    assert_eq!(greet(s.agents, "AZTUNNEL/1 agent-2 t2 orders\n").await, "OK", "the right token is taken");
    let _good = agent(&s, "agent-2", "t2", &["orders"]);
    until("the good agent", || !s.proxy.connected_backends().is_empty()).await;
    assert_eq!(s.proxy.admin("/ready").status(), 200);
}

#[tokio::test]
async fn a_streamed_response_arrives_chunk_by_chunk() {
    let s = setup().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let resp = request(s.clients, "/stream", &[]).await;
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    while let Some(f) = body.frame().await {
        if let Ok(d) = f.unwrap().into_data() {
            frames.push(String::from_utf8(d.to_vec()).unwrap());
        }
    }
    assert_eq!(frames.concat(), "chunk0;chunk1;chunk2;");
    assert!(frames.len() >= 3, "each chunk flushed as sent: {frames:?}");
}

#[tokio::test]
async fn an_agent_lost_mid_response_aborts_the_client_never_a_clean_end() {
    let s = setup().await;
    let a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let resp = request(s.clients, "/hang", &[]).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"first;");
    a.abort(); // the agent process dies
    let next = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.expect("the client hears of it");
    assert!(matches!(next, Some(Err(_))), "the body must end in an error: {next:?}");
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let s = setup().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let resp = request(s.clients, "/orders", &[("x-big", "x".repeat(9 * 1024))]).await;
    assert_eq!(resp.status(), 431);
}

#[tokio::test]
async fn with_two_agents_losing_one_keeps_the_backend_served() {
    let s = setup().await;
    let a1 = agent(&s, "agent-1", "t1", &["orders"]);
    let _a2 = agent(&s, "agent-2", "t2", &["orders"]);
    until("two agents", || s.proxy.admin("/ready").status() == 200).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a1.abort();
    let mut ok = 0;
    for i in 0..50 {
        let resp = request(s.clients, &format!("/orders/{i}"), &[]).await;
        ok += u32::from(resp.status() == 200);
    }
    // A request handed to agent-1 just as it died may get 502; none may hang or vanish.
    assert!(ok >= 49, "{ok} of 50");
}

/// A backend that counts how often it executed each request id.
async fn counting_backend(seen: Arc<std::sync::Mutex<BTreeMap<String, u32>>>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let id = req.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                        *seen.lock().unwrap().entry(id).or_default() += 1;
                        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(Bytes::from_static(b"done"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn agents_restarting_in_a_loop_lose_nothing_and_execute_nothing_twice() {
    let seen = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let mut s = setup().await;
    s.backend = counting_backend(seen.clone()).await;
    // Two agents, each killed and restarted every 20 to 40 ms.
    let chaos = {
        let setup = Setup { proxy: s.proxy.clone(), clients: s.clients, agents: s.agents, backend: s.backend };
        tokio::spawn(async move {
            let mut a1 = agent(&setup, "agent-1", "t1", &["orders"]);
            let mut a2 = agent(&setup, "agent-2", "t2", &["orders"]);
            for round in 0u64.. {
                tokio::time::sleep(Duration::from_millis(20 + round % 3 * 10)).await;
                if round % 2 == 0 {
                    a1.abort();
                    a1 = agent(&setup, "agent-1", "t1", &["orders"]);
                } else {
                    a2.abort();
                    a2 = agent(&setup, "agent-2", "t2", &["orders"]);
                }
            }
        })
    };
    let mut workers = Vec::new();
    for w in 0..8 {
        let clients = s.clients;
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..1250 {
                let id = format!("w{w}-{i}");
                let stream = tokio::net::TcpStream::connect(clients).await.unwrap();
                let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
                tokio::spawn(conn);
                let req = http::Request::post("/orders").header("host", "orders").header("x-request-id", &id).body(Empty::<Bytes>::new()).unwrap();
                let status = tokio::time::timeout(Duration::from_secs(5), async { tx.send_request(req).await.map(|r| r.status().as_u16()) })
                    .await
                    .expect("every request is answered")
                    .unwrap_or(0);
                out.push((id, status));
            }
            out
        }));
    }
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.unwrap());
    }
    chaos.abort();
    let seen = seen.lock().unwrap();
    assert_eq!(results.len(), 10_000);
    let mut by_status: BTreeMap<u16, u32> = BTreeMap::new();
    for (id, status) in &results {
        *by_status.entry(*status).or_default() += 1;
        let executed = seen.get(id).copied().unwrap_or(0);
        assert!(executed <= 1, "{id} executed {executed} times");
        if *status == 200 {
            assert_eq!(executed, 1, "{id} answered 200 but never executed");
        }
        assert!(matches!(status, 200 | 502 | 503), "{id}: unexpected status {status}");
    }
    eprintln!("statuses over 10,000 requests with agents restarting: {by_status:?}");
    // How many meet a dying agent depends on timing (a loaded machine sees more); most do not.
    assert!(by_status.get(&200).copied().unwrap_or(0) > 5_000, "{by_status:?}");
}

/// A CA, a proxy certificate for `proxy.test`, and an agent certificate, as PEM.
struct Pki {
    ca: String,
    proxy_cert: String,
    proxy_key: String,
    agent_cert: String,
    agent_key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (proxy_cert, proxy_key) = leaf("proxy.test");
    let (agent_cert, agent_key) = leaf("agent-1.agents.test");
    Pki { ca: ca_cert.pem(), proxy_cert, proxy_key, agent_cert, agent_key }
}

async fn tls_setup(pki: &Pki, mutual: bool) -> Setup {
    let acceptor = tunnel::tls::acceptor(pki.proxy_cert.as_bytes(), pki.proxy_key.as_bytes(), mutual.then_some(pki.ca.as_bytes())).unwrap();
    // The agents' certificates carry `<agent id>.agents.test`.
    let config = ProxyConfig { agent_cert_name: "{agent}.agents.test".into(), ..proxy_config() };
    let proxy = Proxy::with_agent_tls(config, TokioEnv, Some(acceptor));
    let (cl, clients) = listener().await;
    let (al, agents) = listener().await;
    tokio::spawn(proxy.clone().serve_clients(cl));
    tokio::spawn(proxy.clone().accept_agents(al));
    Setup { proxy, clients, agents, backend: backend().await }
}

fn tls_agent(s: &Setup, tls: tunnel::agent::Tls) -> tokio::task::JoinHandle<()> {
    let config = AgentConfig {
        backoff_base_ms: 20,
        backoff_cap_ms: 200,
        ..AgentConfig::new("agent-1", "t1", BTreeMap::from([("orders".to_string(), s.backend)]), vec![s.agents])
    };
    tokio::spawn(tunnel::agent::run_with_tls(config, TokioEnv, Box::new(OsSeededRng::new()), Some(tls)))
}

#[tokio::test]
async fn over_mutual_tls_the_agent_verifies_the_proxy_and_the_proxy_the_agent() {
    let pki = pki();
    let s = tls_setup(&pki, true).await;
    let tls = tunnel::tls::connector(pki.ca.as_bytes(), "proxy.test", Some((pki.agent_cert.as_bytes(), pki.agent_key.as_bytes()))).unwrap();
    let _a = tls_agent(&s, tls);
    until("the agent over TLS", || !s.proxy.connected_backends().is_empty()).await;
    let resp = request(s.clients, "/orders/7", &[]).await;
    assert_eq!(body(resp).await, "backend saw orders.corp.internal /orders/7");
}

/// An agent's greeting over TLS: the proxy's answer, or why the connection failed.
async fn greet_over_tls(agents: SocketAddr, (connector, name): tunnel::agent::Tls) -> Result<String, String> {
    use tokio::io::AsyncWriteExt;
    let stream = tokio::net::TcpStream::connect(agents).await.map_err(|e| e.to_string())?;
    let mut tls = connector.connect(name, stream).await.map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(b"AZTUNNEL/1 agent-1 t1 orders\n").await.map_err(|e| format!("write: {e}"))?;
    // With TLS 1.3 the proxy checks the client's certificate after the client's handshake
    // ends: a missing one shows as the proxy's alert on the first read.
    tunnel::protocol::read_line(&mut tls).await.map_err(|e| format!("read: {e}"))
}

#[tokio::test]
async fn an_agent_never_connects_to_a_proxy_it_cannot_verify_nor_without_a_client_certificate() {
    let pki = pki();
    let other = pki_other_ca();
    let s = tls_setup(&pki, true).await;
    let agent_cert = Some((pki.agent_cert.as_bytes(), pki.agent_key.as_bytes()));
    let attempts = [
        // Trusts another CA: the proxy's certificate does not verify.
        ("another CA", tunnel::tls::connector(other.as_bytes(), "proxy.test", agent_cert).unwrap()),
        // Expects another name.
        ("another name", tunnel::tls::connector(pki.ca.as_bytes(), "elsewhere.test", agent_cert).unwrap()),
        // No client certificate for a proxy that requires one.
        ("no client certificate", tunnel::tls::connector(pki.ca.as_bytes(), "proxy.test", None).unwrap()),
    ];
    for (what, tls) in attempts {
        let outcome = greet_over_tls(s.agents, tls).await;
        assert!(outcome.is_err(), "{what}: the connection must fail, got {outcome:?}");
    }
    assert!(s.proxy.connected_backends().is_empty());
    // The same greeting with everything right is taken.
    let right = tunnel::tls::connector(pki.ca.as_bytes(), "proxy.test", agent_cert).unwrap();
    assert_eq!(greet_over_tls(s.agents, right).await.as_deref(), Ok("OK"));
}

#[tokio::test]
async fn under_mutual_tls_an_agents_certificate_is_bound_to_its_name() {
    let pki = pki();
    let s = tls_setup(&pki, true).await;
    let agent_cert = Some((pki.agent_cert.as_bytes(), pki.agent_key.as_bytes()));
    let tls = || tunnel::tls::connector(pki.ca.as_bytes(), "proxy.test", agent_cert).unwrap();
    // agent-1's certificate, agent-2's right token: refused.
    let (connector, name) = tls();
    let stream = tokio::net::TcpStream::connect(s.agents).await.unwrap();
    let mut stream = connector.connect(name, stream).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        b"AZTUNNEL/1 agent-2 t2 orders
",
    )
    .await
    .unwrap();
    let answer = tunnel::protocol::read_line(&mut stream).await.unwrap();
    assert_eq!(answer, "ERR the client certificate is not agent-2.agents.test's");
    assert_eq!(s.proxy.metrics.agents_refused(tunnel::proxy::Refusal::Certificate), 1);
    assert_eq!(greet_over_tls(s.agents, tls()).await.as_deref(), Ok("OK"), "as agent-1 it is taken");
}

#[tokio::test]
async fn a_reload_rotates_a_token_keeping_the_agents_and_disconnects_an_agent_no_longer_granted() {
    let mut config = proxy_config();
    config.agents.get_mut("agent-1").unwrap().token = tunnel::proxy::Tokens(vec!["t1".to_string(), "t1-new".to_string()]);
    let s = setup_with(config.clone()).await;
    // Both tokens of a list are taken (that session ends with its connection).
    assert_eq!(greet(s.agents, "AZTUNNEL/1 agent-1 t1-new orders\n").await, "OK");
    until("the greeting's session to end", || s.proxy.agents_of("orders").is_empty()).await;
    let _a1 = agent(&s, "agent-1", "t1", &["orders"]);
    let _a2 = agent(&s, "agent-2", "t2", &["orders"]);
    until("two agents", || s.proxy.agents_of("orders").len() == 2).await;
    // The old token goes, agent-2's grant too: agent-1 still greets with the old token, so
    // both sessions are closed; nothing else changes.
    let mut next = config.clone();
    next.agents.get_mut("agent-1").unwrap().token = "t1-new".into();
    next.agents.remove("agent-2");
    let reloaded = s.proxy.reload(next, None);
    let mut gone = reloaded.disconnected.clone();
    gone.sort();
    gone.dedup();
    assert_eq!(gone, ["agent-1", "agent-2"]);
    assert!(s.proxy.agents_of("orders").is_empty());
    assert_eq!(greet(s.agents, "AZTUNNEL/1 agent-1 t1 orders\n").await, "ERR unknown agent or wrong token");
    assert_eq!(greet(s.agents, "AZTUNNEL/1 agent-1 t1-new orders\n").await, "OK");
    assert!(s.proxy.prometheus().contains("tunnel_agents_refused_total{reason=\"reload\"} 2"), "{}", s.proxy.prometheus());
}

fn pki_other_ca() -> String {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

#[tokio::test]
async fn draining_reports_not_ready_and_lets_requests_in_hand_finish() {
    let s = setup().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || s.proxy.admin("/ready").status() == 200).await;
    // A streamed response (150 ms) is in hand when the drain starts.
    let clients = s.clients;
    let slow = tokio::spawn(async move { body(request(clients, "/stream", &[]).await).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let proxy = s.proxy.clone();
    let drain = tokio::spawn(async move {
        let t = tokio::time::Instant::now();
        (proxy.drain(Duration::from_millis(10), Duration::from_secs(5)).await, t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(s.proxy.admin("/ready").status(), 503, "not ready while draining");
    let (unfinished, took) = drain.await.unwrap();
    assert_eq!(unfinished, 0);
    // The body's last chunk leaves about 100 ms after the drain began: it waited for it.
    assert!(took >= Duration::from_millis(90), "the drain waited for the streamed body: {took:?}");
    assert_eq!(slow.await.unwrap(), "chunk0;chunk1;chunk2;");
}

/// A backend that accepts a WebSocket upgrade and then echoes raw bytes (framing does not
/// matter to a tunnel: it carries bytes).
async fn echo_backend() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|mut req: http::Request<hyper::body::Incoming>| async move {
                    assert_eq!(req.headers()["upgrade"], "websocket");
                    let key = req.headers()["sec-websocket-key"].to_str().unwrap().to_string();
                    let upgraded = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        let mut io = TokioIo::new(upgraded.await.unwrap());
                        let mut buf = [0u8; 64];
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        while let Ok(n) = io.read(&mut buf).await {
                            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                    let resp = http::Response::builder()
                        .status(101)
                        .header("connection", "upgrade")
                        .header("upgrade", "websocket")
                        .header("sec-websocket-accept", format!("accept-for-{key}"))
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).with_upgrades().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_websocket_upgrade_passes_through_and_carries_bytes_both_ways() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = setup().await;
    s.backend = echo_backend().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let mut client = tokio::net::TcpStream::connect(s.clients).await.unwrap();
    client
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k123\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-accept: accept-for-k123"), "the backend's handshake answer reaches the client: {head}");
    for msg in ["ping-1", "a longer second message"] {
        client.write_all(msg.as_bytes()).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg.as_bytes());
    }
}

#[tokio::test]
async fn beyond_its_limit_of_requests_in_flight_the_proxy_answers_503() {
    let proxy = Proxy::new(ProxyConfig { max_in_flight: 1, ..proxy_config() }, TokioEnv);
    let (cl, clients) = listener().await;
    let (al, agents) = listener().await;
    tokio::spawn(proxy.clone().serve_clients(cl));
    tokio::spawn(proxy.clone().accept_agents(al));
    let s = Setup { proxy, clients, agents, backend: backend().await };
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    // One request streams (and stays in flight); the next is over the limit.
    let held = request(s.clients, "/hang", &[]).await;
    assert_eq!(held.status(), 200);
    assert_eq!(request(s.clients, "/orders", &[]).await.status(), 503);
    drop(held);
}

#[tokio::test]
async fn a_backend_id_that_cannot_be_a_header_gets_500_not_a_crash() {
    let config = ProxyConfig { name: "bad\nname".into(), routes: vec![Route { backend: "orders\u{7f}".into(), ..Route::default() }], ..proxy_config() };
    let proxy = Proxy::new(config, TokioEnv);
    let (cl, clients) = listener().await;
    tokio::spawn(proxy.clone().serve_clients(cl));
    assert_eq!(request(clients, "/x", &[]).await.status(), 500);
}

/// Registration against AWS itself: HTTPS to the Region's Cloud Map endpoint (here a stand-in
/// on loopback with a certificate for that name), signed with SigV4. The stand-in checks the
/// signature by signing the request it received again with the same secret.
#[tokio::test]
async fn registering_with_aws_goes_over_tls_and_is_signed_with_sigv4() {
    use aws_json::sigv4::{Credentials, Signer, amz_date};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tunnel::cloudmap::{AwsApi, AwsSession, CloudMapApi, Registration};
    let host = "servicediscovery.us-east-1.amazonaws.com";
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![host.to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    let acceptor = tunnel::tls::acceptor(cert.pem().as_bytes(), key.serialize_pem().as_bytes(), None).unwrap();
    let dir = std::env::temp_dir().join(format!("azsim-sigv4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("ca.pem");
    std::fs::write(&bundle, &ca_pem).unwrap();

    use azsim_net::Accept;
    let (mut aws, endpoint) = listener().await;
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = aws.accept().await {
            let Ok(tls) = acceptor.accept(s).await else { continue };
            let log = log.clone();
            let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let log = log.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    let h = |n: &str| parts.headers.get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                    let signer = Signer {
                        credentials: Credentials { access_key_id: "AKIDTEST".into(), secret_access_key: "the-secret".into(), session_token: None },
                        region: "us-east-1".into(),
                        service: "servicediscovery".into(),
                    };
                    let (host, ct, target) = (h("host"), h("content-type"), h("x-amz-target"));
                    let expected = signer.sign("POST", "/", "", &[("host", &host), ("content-type", &ct), ("x-amz-target", &target)], &body, &h("x-amz-date"));
                    let valid = expected.iter().any(|(k, v)| k == "authorization" && *v == h("authorization"));
                    log.lock().unwrap().push((format!("{target} {}", h("x-amz-date")), valid));
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(b"{\"OperationId\":\"op-1\"}"))))
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc));
        }
    });

    let api = AwsApi { region: "us-east-1".into(), ca_bundle: bundle };
    let env = |k: &str| match k {
        "AWS_ACCESS_KEY_ID" => Some("AKIDTEST".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("the-secret".to_string()),
        _ => None,
    };
    let session = AwsSession::load(&api, env, || 1_440_938_160).unwrap();
    let reg = Registration {
        api: CloudMapApi { endpoint: Some(endpoint), aws: Some(api), session: Some(Arc::new(session)) },
        service_id: "srv-123".into(),
        zone: "dc1".into(),
        attributes: BTreeMap::new(),
    };
    let backends = BTreeMap::from([("ledger".to_string(), "127.0.0.1:8080".parse().unwrap())]);
    tunnel::cloudmap::register(&TokioEnv, &reg, "agent-1", &backends).await.unwrap();
    tunnel::cloudmap::deregister(&TokioEnv, &reg, "agent-1", &backends).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let date = amz_date(1_440_938_160);
    assert_eq!(
        seen,
        vec![(format!("Route53AutoNaming_v20170314.RegisterInstance {date}"), true), (format!("Route53AutoNaming_v20170314.DeregisterInstance {date}"), true)]
    );
    // Without credentials loaded the agent says so rather than sending an unsigned call.
    let unsigned = Registration { api: CloudMapApi { session: None, ..reg.api.clone() }, ..reg };
    let err = tunnel::cloudmap::register(&TokioEnv, &unsigned, "agent-1", &backends).await.unwrap_err();
    assert!(err.contains("credentials were not loaded"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A backend that logs what it saw: `/upload` reads the whole body (`clean <n>` or `error`),
/// `/slow` logs `slow <request id>` and answers after a second.
async fn recording_backend(log: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        match req.uri().path() {
                            "/upload" => {
                                let seen = match req.into_body().collect().await {
                                    Ok(b) => format!("clean {}", b.to_bytes().len()),
                                    Err(_) => "error".to_string(),
                                };
                                log.lock().unwrap().push(seen);
                            }
                            "/slow" => {
                                let id = req.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                                log.lock().unwrap().push(format!("slow {id}"));
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            _ => {}
                        }
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"done"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });
    addr
}

/// Everything the proxy sends on a raw client connection until it closes it (or 5 s pass).
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the proxy must close the connection; it sent {:?}", String::from_utf8_lossy(&out));
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_client_sending_its_headers_slowly_is_cut_off_and_others_are_served() {
    let s = setup_with(ProxyConfig { header_read_timeout_ms: 300, ..proxy_config() }).await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    use tokio::io::AsyncWriteExt;
    let mut slow = tokio::net::TcpStream::connect(s.clients).await.unwrap();
    slow.write_all(b"GET /orders HTTP/1.1\r\nhost: orders.corp.internal\r\n").await.unwrap();
    // One header line every 100 ms, never the blank line that ends the head.
    let trickle = async {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), trickle).await.expect("the proxy stops taking the trickle");
    let seen = read_until_closed(&mut slow).await;
    assert!(!seen.contains(" 200 "), "a request whose head never ended is not served: {seen:?}");
    // Others are served meanwhile, and afterwards.
    let resp = request(s.clients, "/orders/1", &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await, "backend saw orders.corp.internal /orders/1");
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_408_and_the_backend_never_sees_a_clean_end() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut s = setup_with(ProxyConfig { body_read_timeout_ms: 300, ..proxy_config() }).await;
    s.backend = recording_backend(log.clone()).await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    use tokio::io::AsyncWriteExt;
    // The same stall with each framing of a request body.
    let heads = ["transfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n", "content-length: 100\r\n\r\n0123456789"];
    for (i, framing) in heads.iter().enumerate() {
        let mut stalled = tokio::net::TcpStream::connect(s.clients).await.unwrap();
        let head = format!("POST /upload HTTP/1.1\r\nhost: orders.corp.internal\r\n{framing}");
        stalled.write_all(head.as_bytes()).await.unwrap();
        // A client that keeps its connection open meanwhile is served.
        let resp = request(s.clients, "/orders/2", &[]).await;
        assert_eq!(resp.status(), 200);
        let seen = read_until_closed(&mut stalled).await;
        assert!(seen.starts_with("HTTP/1.1 408"), "{seen:?}");
        until("the backend to hear of it", || log.lock().unwrap().len() > i).await;
        assert_eq!(log.lock().unwrap()[i], "error", "the backend must never see a clean end of a truncated body");
    }
    assert_eq!(s.proxy.metrics.count("orders", 408), 2);
    let resp = request(s.clients, "/orders/3", &[]).await;
    assert_eq!(resp.status(), 200);
}

/// A request to `/slow` is handed to agent-1, which is then lost with it in flight; agent-2
/// stays. Returns the client's status and how often the backend executed the request.
async fn lose_the_agent_mid_request(retry_idempotent: bool, method: http::Method) -> (u16, usize) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut s = setup_with(ProxyConfig { retry_idempotent, ..proxy_config() }).await;
    s.backend = recording_backend(log.clone()).await;
    let a1 = agent(&s, "agent-1", "t1", &["orders"]);
    until("agent-1", || !s.proxy.connected_backends().is_empty()).await;
    // Agent-2 connects second: with both idle, the proxy picks agent-1.
    let _a2 = agent(&s, "agent-2", "t2", &["orders"]);
    until("agent-2", || s.proxy.agents_of("orders") == ["agent-1", "agent-2"]).await;
    let clients = s.clients;
    let client = tokio::spawn(async move {
        let stream = tokio::net::TcpStream::connect(clients).await.unwrap();
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        let req = http::Request::builder().method(method).uri("/slow").header("host", "orders.corp.internal").body(Empty::<Bytes>::new()).unwrap();
        tx.send_request(req).await.unwrap().status().as_u16()
    });
    until("the backend to take the request", || !log.lock().unwrap().is_empty()).await;
    a1.abort(); // agent-1 dies with the request in flight
    let status = tokio::time::timeout(Duration::from_secs(5), client).await.expect("an answer").unwrap();
    // The proxy sends a request again only before it answers, and the backend logs a request
    // as it takes it: the log is complete once the client has its answer.
    let log = log.lock().unwrap();
    assert!(log.iter().all(|l| l == &log[0]), "one request id throughout: {log:?}");
    (status, log.len())
}

#[tokio::test]
async fn a_request_whose_agent_is_lost_gets_502_and_is_sent_again_only_if_idempotent_and_allowed() {
    assert_eq!(lose_the_agent_mid_request(false, http::Method::GET).await, (502, 1), "retries off");
    assert_eq!(lose_the_agent_mid_request(true, http::Method::POST).await, (502, 1), "POST is not idempotent");
    assert_eq!(lose_the_agent_mid_request(true, http::Method::GET).await, (200, 2), "GET is sent again to agent-2");
}

// === A hostile client's requests ===

/// Writes `bytes` on a new client connection and returns all the proxy sends until it closes
/// the connection (which it must, within 5 s).
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream).await
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_clients_fault_400_not_an_agent_loss() {
    use tunnel::metrics::ClientError;
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut s = setup().await;
    s.backend = recording_backend(log.clone()).await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let bodies = [
        ("size zz", "zz\r\nhello\r\n0\r\n\r\n"),
        ("size -1", "-1\r\nhello\r\n0\r\n\r\n"),
        ("size 2^72", "1000000000000000000\r\nhello\r\n0\r\n\r\n"),
        ("no CRLF after the data", "5\r\nhelloXX0\r\n\r\n"),
    ];
    for (what, body) in bodies {
        let request = format!("POST /upload HTTP/1.1\r\nhost: orders.corp.internal\r\ntransfer-encoding: chunked\r\n\r\n{body}");
        let seen = raw(s.clients, request.as_bytes()).await;
        assert!(seen.starts_with("HTTP/1.1 400"), "{what}: {seen:?}");
    }
    assert_eq!(s.proxy.metrics.client_errors(ClientError::MalformedBody), 4);
    assert_eq!(s.proxy.metrics.count("orders", 502), 0, "no agent was blamed");
    assert!(s.proxy.metrics.prometheus().contains("tunnel_client_errors_total{reason=\"malformed_body\"} 4"));
    // A well-formed chunked body still goes through.
    let fine = raw(
        s.clients,
        b"POST /upload HTTP/1.1\r\nhost: orders.corp.internal\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine:?}");
}

#[tokio::test]
async fn two_hosts_or_none_on_http_1_1_get_400() {
    use tunnel::metrics::ClientError;
    let s = setup().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let cases: [(&str, &[u8], &str); 4] = [
        ("two Host headers", b"GET /orders HTTP/1.1\r\nhost: orders\r\nhost: evil\r\n\r\n", "HTTP/1.1 400"),
        ("no Host", b"GET /orders HTTP/1.1\r\n\r\n", "HTTP/1.1 400"),
        ("a Host that is not host[:port]", b"GET /orders HTTP/1.1\r\nhost: a\"b\r\n\r\n", "HTTP/1.1 400"),
        // HTTP/1.0 may leave Host out.
        ("no Host on HTTP/1.0", b"GET /orders HTTP/1.0\r\n\r\n", "HTTP/1.0 200"),
    ];
    for (what, request, want) in cases {
        let seen = raw(s.clients, request).await;
        assert!(seen.starts_with(want), "{what}: {seen:?}");
    }
    assert_eq!(s.proxy.metrics.client_errors(ClientError::BadTarget), 3);
}

#[tokio::test]
async fn routes_match_hosts_ignoring_case_and_path_prefixes_by_whole_normalised_segments() {
    let config = ProxyConfig {
        agents: BTreeMap::from([("agent-1".to_string(), Grant::new("t1", vec!["orders".into()]))]),
        routes: vec![
            // No agent serves `admin`: a request that reaches it gets 503 naming it.
            Route { backend: "admin".into(), path_prefix: Some("/admin".into()), ..Route::default() },
            Route { backend: "orders".into(), host: Some("orders.corp.internal".into()), ..Route::default() },
        ],
        backends: vec!["orders".into(), "admin".into()],
        ..proxy_config()
    };
    let s = setup_with(config).await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let get = |path: &str, host: &str| format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    let cases = [
        ("/adminx", "orders.corp.internal", "200", "backend saw orders.corp.internal /adminx"),
        ("/admin/../ledger", "orders.corp.internal", "200", "backend saw orders.corp.internal /ledger"),
        ("/admin/%2e%2e/ledger", "orders.corp.internal", "200", "backend saw orders.corp.internal /ledger"),
        ("/admin", "orders.corp.internal", "503", "no agent connected for backend admin"),
        ("/admin/x", "orders.corp.internal", "503", "no agent connected for backend admin"),
        ("/x/../admin/y", "orders.corp.internal", "503", "no agent connected for backend admin"),
        ("/ledger", "ORDERS.Corp.Internal:8080", "200", "backend saw ORDERS.Corp.Internal:8080 /ledger"),
        ("/ledger", "elsewhere", "404", "no route"),
        ("/..", "orders.corp.internal", "400", "climbs above the root"),
        ("/a/../../etc", "orders.corp.internal", "400", "climbs above the root"),
    ];
    for (path, host, status, says) in cases {
        let seen = raw(s.clients, get(path, host).as_bytes()).await;
        assert!(seen.starts_with(&format!("HTTP/1.1 {status}")) && seen.contains(says), "{host}{path}: want {status} {says:?}, got {seen:?}");
    }
}

#[tokio::test]
async fn connect_is_refused_with_405() {
    use tunnel::metrics::ClientError;
    let s = setup().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || !s.proxy.connected_backends().is_empty()).await;
    let seen = raw(s.clients, b"CONNECT orders.corp.internal:443 HTTP/1.1\r\nhost: orders.corp.internal:443\r\n\r\n").await;
    assert!(seen.starts_with("HTTP/1.1 405"), "{seen:?}");
    assert!(seen.to_ascii_lowercase().contains("\r\nallow: get"), "a 405 says what is allowed: {seen:?}");
    assert_eq!(s.proxy.metrics.client_errors(ClientError::Connect), 1);
}

#[tokio::test]
async fn a_431_closes_the_connection_at_once() {
    // The head-read timeout is far beyond the 5 s `raw` waits: only the 431 can close it.
    let s = setup_with(ProxyConfig { header_read_timeout_ms: 60_000, ..proxy_config() }).await;
    let request = format!("GET /orders HTTP/1.1\r\nhost: orders.corp.internal\r\nx-big: {}\r\n\r\n", "x".repeat(9 * 1024));
    let seen = raw(s.clients, request.as_bytes()).await;
    assert!(seen.starts_with("HTTP/1.1 431"), "{seen:?}");
}

// === Determinism of the real code: every `select!` is biased ===

/// `tokio::select!` without `biased;` polls its branches in an order drawn from tokio's
/// OS-seeded generator: a tie between two ready branches then goes either way, and a
/// simulation run is no longer a function of its seed.
mod biased_select {
    use std::path::{Path, PathBuf};

    const MACRO: &str = concat!("select", "!");

    /// Each `select!` invocation in `source` whose first token is not `biased;`, by line.
    pub fn unbiased(source: &str) -> Vec<usize> {
        let mut found = Vec::new();
        for (at, _) in source.match_indices(MACRO) {
            let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
            // In a `//` comment, or part of a longer name.
            if source[line_start..at].contains("//") || source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = source[at + MACRO.len()..].trim_start();
            // Not an invocation (the name in a string, a path, ...).
            let Some(body) = rest.strip_prefix(['{', '(', '[']) else { continue };
            if !skip_comments(body).starts_with("biased;") {
                found.push(source[..at].lines().count().max(1));
            }
        }
        found
    }

    fn skip_comments(mut s: &str) -> &str {
        loop {
            s = s.trim_start();
            match s.strip_prefix("//") {
                Some(comment) => s = comment.split_once('\n').map_or("", |(_, next)| next),
                None => return s,
            }
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_check_finds_an_unbiased_select_and_passes_a_biased_one() {
        let bad = format!("fn f() {{\n    tokio::{MACRO} {{\n        _ = a => {{}}\n    }}\n}}\n");
        let good = format!("tokio::{MACRO} {{\n    // why\n    biased;\n    _ = a => {{}}\n}}\n// {MACRO} in a comment\nlet s = \"{MACRO}\";\n");
        assert_eq!(unbiased(&bad), [2]);
        assert_eq!(unbiased(&good), Vec::<usize>::new());
    }

    #[test]
    fn every_select_in_real_code_and_the_harness_is_biased() {
        let sim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        rust_files(&sim.join("real"), &mut files);
        rust_files(&sim.join("harness/src"), &mut files);
        files.sort();
        let (mut invocations, mut offenders) = (0, Vec::new());
        for file in &files {
            let source = std::fs::read_to_string(file).unwrap();
            invocations += source.matches(MACRO).count();
            let shown = file.strip_prefix(&sim).unwrap_or(file).display().to_string();
            offenders.extend(unbiased(&source).into_iter().map(|line| format!("sim/{shown}:{line}")));
        }
        // The walk found the code it is meant to check.
        assert!(files.len() > 20 && invocations >= 10, "{} files, {invocations} invocations: wrong directory?", files.len());
        assert!(offenders.is_empty(), "`{MACRO}` without `biased;` as its first token:\n{}", offenders.join("\n"));
    }
}

#[tokio::test]
async fn the_backend_gets_forwarding_headers_and_the_client_its_request_id() {
    let s = setup().await;
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || s.proxy.connected_backends() == ["orders"]).await;
    // A client's own X-Forwarded-For is not trusted by default: replaced.
    let resp = request(s.clients, "/headers", &[("x-forwarded-for", "6.6.6.6".into())]).await;
    let id = resp.headers().get("x-request-id").expect("the request id comes back").to_str().unwrap().to_string();
    assert!(id.starts_with("p1-00000000-"), "{id}");
    let seen = body(resp).await;
    assert_eq!(seen, format!("x-forwarded-for: 127.0.0.1\nx-forwarded-proto: http\nx-forwarded-host: orders.corp.internal\nx-request-id: {id}\n"));
    // Ids are unique; a client's own id is kept and returned.
    let second = request(s.clients, "/", &[]).await.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    assert_ne!(second, id);
    let own = request(s.clients, "/", &[("x-request-id", "mine-1".into())]).await;
    assert_eq!(own.headers().get("x-request-id").unwrap(), "mine-1");

    // Trusted, with RFC 7239 too: the client's chain is extended.
    let mut config = proxy_config();
    config.headers = tunnel::proxy::HeaderSettings { forwarded: true, trust_client_forwarded: true, ..Default::default() };
    s.proxy.reload(config, None);
    let resp = request(s.clients, "/headers", &[("x-forwarded-for", "10.0.0.9".into()), ("x-request-id", "r-2".into())]).await;
    assert_eq!(
        body(resp).await,
        "x-forwarded-for: 10.0.0.9, 127.0.0.1\nx-forwarded-proto: http\nx-forwarded-host: orders.corp.internal\nforwarded: for=127.0.0.1;proto=http;host=\"orders.corp.internal\"\nx-request-id: r-2\n"
    );
    // Off: nothing added.
    let config = ProxyConfig { headers: tunnel::proxy::HeaderSettings::none(), ..proxy_config() };
    s.proxy.reload(config, None);
    let resp = request(s.clients, "/headers", &[("x-request-id", "r-3".into())]).await;
    assert!(resp.headers().get("x-request-id").is_none());
    assert_eq!(body(resp).await, "x-request-id: r-3\n");
}

/// Prometheus text, parsed: each sample's value by its name and labels, after checking that
/// every line is a `# HELP`, a `# TYPE` or a sample of a family that has both.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let (mut help, mut kind, mut samples) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new(), BTreeMap::new());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help.insert(rest.split(' ').next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, k) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&k), "{line}");
            kind.insert(name.to_string());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let name = series.split('{').next().unwrap();
            let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s).filter(|f| kind.contains(*f))).unwrap_or(name);
            assert!(help.contains(family) && kind.contains(family), "{name} has no # HELP or # TYPE before it");
            samples.insert(series.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {line:?}")));
        }
    }
    samples
}

#[tokio::test]
async fn the_metrics_tell_agents_refusals_in_flight_and_the_proxys_own_answers_apart() {
    let s = setup_with(ProxyConfig { min_agents: 2, ..proxy_config() }).await;
    assert_eq!(request(s.clients, "/x", &[]).await.status(), 503);
    let _a = agent(&s, "agent-1", "t1", &["orders"]);
    until("the agent", || s.proxy.connected_backends() == ["orders"]).await;
    // One agent of the two asked for: not ready.
    let ready = s.proxy.admin("/ready");
    assert_eq!(ready.status(), 503);
    assert_eq!(body_of(ready).await, "fewer than 2 agents for: [\"orders\"]\n");
    assert_eq!(greet(s.agents, "AZTUNNEL/1 agent-2 wrong orders\n").await, "ERR unknown agent or wrong token");
    assert_eq!(request(s.clients, "/x", &[]).await.status(), 200);
    // A response still streaming counts as in flight.
    let hanging = request(s.clients, "/hang", &[]).await;
    let m = parse_prometheus(&body_of(s.proxy.admin("/metrics")).await);
    assert_eq!(m["tunnel_agents_connected{backend=\"orders\"}"], 1.0);
    assert_eq!(m["tunnel_agents_refused_total{reason=\"credentials\"}"], 1.0);
    assert_eq!(m["tunnel_requests_in_flight"], 1.0);
    assert_eq!(m["tunnel_proxy_answers_total{backend=\"orders\",code=\"503\",reason=\"no_agent\"}"], 1.0);
    assert_eq!(m["tunnel_responses_total{backend=\"orders\",code=\"200\",class=\"2xx\"}"], 2.0);
    assert!(!m.keys().any(|k| k.starts_with("tunnel_proxy_answers_total") && k.contains("code=\"200\"")), "a backend's 200 is not the proxy's");
    assert_eq!(
        m[&format!("tunnel_build_info{{program=\"inverting-proxy\",version=\"{}\",revision=\"{}\"}}", env!("CARGO_PKG_VERSION"), tunnel::metrics::REVISION)],
        1.0
    );
    drop(hanging);
    let _b = agent(&s, "agent-2", "t2", &["orders"]);
    until("two agents: ready", || s.proxy.admin("/ready").status() == 200).await;
}

async fn body_of(resp: http::Response<tunnel::proxy::Body>) -> String {
    String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn a_reload_replaces_the_certificates_and_the_sessions_in_place_stay() {
    let (old, new) = (pki(), pki());
    let s = tls_setup(&old, false).await;
    let _a = tls_agent(&s, tunnel::tls::connector(old.ca.as_bytes(), "proxy.test", None).unwrap());
    until("the agent over TLS", || !s.proxy.connected_backends().is_empty()).await;
    // New certificates from another CA (and mutual TLS with the new client CA).
    let acceptor = tunnel::tls::acceptor(new.proxy_cert.as_bytes(), new.proxy_key.as_bytes(), Some(new.ca.as_bytes())).unwrap();
    let config = ProxyConfig { agent_cert_name: "{agent}.agents.test".into(), ..proxy_config() };
    assert!(s.proxy.reload(config, Some(acceptor)).disconnected.is_empty(), "the session in place is not cut");
    assert_eq!(s.proxy.agents_of("orders"), ["agent-1"]);
    assert_eq!(body(request(s.clients, "/orders/8", &[]).await).await, "backend saw orders.corp.internal /orders/8");
    // New connections get the new certificate: trusting only the old CA fails, the new one works.
    let client = Some((new.agent_cert.as_bytes(), new.agent_key.as_bytes()));
    let stale = greet_over_tls(s.agents, tunnel::tls::connector(old.ca.as_bytes(), "proxy.test", client).unwrap()).await;
    assert!(stale.is_err(), "{stale:?}");
    let fresh = greet_over_tls(s.agents, tunnel::tls::connector(new.ca.as_bytes(), "proxy.test", client).unwrap()).await;
    assert_eq!(fresh.as_deref(), Ok("OK"));
}

#[tokio::test]
async fn an_agents_new_settings_replace_its_session_only_once_the_new_one_is_taken() {
    let s = setup().await;
    let settings = |token: &str| tunnel::agent::Settings {
        config: AgentConfig {
            backoff_base_ms: 20,
            backoff_cap_ms: 100,
            ..AgentConfig::new("agent-1", token, BTreeMap::from([("orders".to_string(), s.backend)]), vec![s.agents])
        },
        tls: None,
    };
    let (update, live) = tokio::sync::watch::channel(settings("t1"));
    let stats = Arc::new(tunnel::agent::AgentStats::default());
    let _agent = tokio::spawn(tunnel::agent::run_live(live, TokioEnv, Box::new(OsSeededRng::new()), stats.clone(), std::future::pending::<()>()));
    until("the agent", || s.proxy.agents_of("orders").len() == 1).await;
    // A token the proxy does not take: refused, and the session in place keeps serving.
    update.send(settings("t1-next")).unwrap();
    until("a refused greeting", || stats.refused.load(std::sync::atomic::Ordering::Relaxed) >= 2).await;
    assert_eq!(s.proxy.agents_of("orders"), ["agent-1"]);
    assert_eq!(request(s.clients, "/orders/1", &[]).await.status(), 200);
    // Once the proxy takes it, the new session comes up and the old one goes.
    let mut config = proxy_config();
    config.agents.get_mut("agent-1").unwrap().token = tunnel::proxy::Tokens(vec!["t1".into(), "t1-next".into()]);
    assert!(s.proxy.reload(config, None).disconnected.is_empty());
    until("the new session", || s.proxy.metrics.prometheus().contains("tunnel_agents_accepted_total 2")).await;
    until("the old session gone", || s.proxy.agents_of("orders").len() == 1).await;
    assert_eq!(request(s.clients, "/orders/2", &[]).await.status(), 200);
    until("one session on the agent's side too", || stats.proxies_connected.load(std::sync::atomic::Ordering::Relaxed) == 1).await;
}
