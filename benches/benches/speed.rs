//! How fast the simulator runs, printed and never asserted (wall time depends on the machine):
//!
//! - (b) simulator speed: simulated seconds per wall second for a long drill through the foo
//!   service (`scenarios/reference/az-affinity.yaml`, variant `nlb-affinity`, 100 requests/s);
//!   target ≥ 1000×. `AZSIM_SPEED_SECONDS` shortens the drill (default 3600).
//! - (c) our kernel versus turmoil 0.7 on the same hyper HTTP/1.1 workload: 50 hosts as 25
//!   server/client pairs, each client on one keep-alive connection to its own server, for 60
//!   simulated seconds; target: turmoil's wall time ≥ 10× ours.
//!
//! Run: `cargo bench -p azsim-benches --bench speed`. Under `cargo test` (no `--bench` argument)
//! the same code runs as a smoke check: a 10 s drill and 2 s of load, so `--all-targets` stays
//! quick.

// Benches measure wall time on purpose: `std::time::Instant::now` is the point of this file, and
// nothing here feeds a simulated decision.
#![allow(clippy::disallowed_methods)]

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use azsim::RunOptions;
use azsim_kernel::{Dist, HostId, Sim, SimConfig, SimListener, SimNet, Topology};
use azsim_net::tokio_impl::TokioEnv;
use azsim_net::{Accept, Clock, Connect, Listen};
use azsim_scenario::{BASELINE, ClientPacing, Dur, Scenario, ScenarioFile};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

/// How much to simulate.
struct Plan {
    /// (b): simulated seconds of the drill (before its drain).
    drill_seconds: u64,
    /// (c): how long each client sends requests, in simulated time.
    client_run: Duration,
}

fn main() {
    // cargo passes `--bench` to bench targets under `cargo bench`, not under `cargo test`.
    let plan = if std::env::args().any(|a| a == "--bench") {
        Plan { drill_seconds: drill_seconds(), client_run: Duration::from_secs(60) }
    } else {
        println!("speed: smoke run (cargo test); `cargo bench` prints the real figures");
        Plan { drill_seconds: 10, client_run: Duration::from_secs(2) }
    };
    simulator_speed(plan.drill_seconds);
    kernel_vs_turmoil(plan.client_run);
}

// ------------------------------------------------------------------------------------------
// (b) simulator speed on the foo service

const DRILL_FILE: &str = "scenarios/reference/az-affinity.yaml";
const DRILL_VARIANT: &str = "nlb-affinity";
const DRILL_TOTAL_RPS: f64 = 100.0;
/// Issue 13: the one-hour drill at or above 2,000x real time with connections modelled.
const SPEED_TARGET: f64 = 2000.0;

fn simulator_speed(seconds: u64) {
    // The reference's clients keep connections: the first run turns them into messages.
    let mut messages = drill(seconds);
    for c in messages.file.clients.values_mut() {
        c.connections = None;
    }
    let message_events = drill_report(&messages, seconds, "requests as messages", None);
    // The same drill with every client keeping keep-alive connections to the NLB (each new one
    // a handshake through the node to a target it keeps): issue 13's "with connections
    // modelled" figures, and kernel events per request against the run above.
    let mut connections = messages;
    for c in connections.file.clients.values_mut() {
        c.keep_connections();
    }
    drill_report(&connections, seconds, "clients on keep-alive connections", Some(message_events));
}

/// Runs one drill and prints its figures; returns its kernel events per request.
fn drill_report(scenario: &Scenario, seconds: u64, how: &str, compare: Option<f64>) -> f64 {
    // The run goes on through the drain, so that is simulated time too.
    let simulated_s = (scenario.file.duration.nanos() + scenario.file.drain.nanos()) as f64 / 1e9;

    let start = Instant::now();
    let record = azsim::run_variant(scenario, BASELINE, &RunOptions { record_hops: false, ..RunOptions::default() }).unwrap_or_else(|e| panic!("{e}"));
    let wall_s = start.elapsed().as_secs_f64();

    let speed = simulated_s / wall_s;
    let per_request = record.events as f64 / record.requests.sent.max(1) as f64;
    println!();
    println!("(b) simulator speed: {DRILL_FILE} variant {DRILL_VARIANT}, {seconds} s at {DRILL_TOTAL_RPS} requests/s, {how}");
    line("requests simulated", format!("{} ({} ok)", record.requests.sent, record.requests.ok));
    match compare {
        None => line("kernel events", format!("{} ({per_request:.2} a request)", record.events)),
        Some(base) => line("kernel events", format!("{} ({per_request:.2} a request, {:.2}x the messages run)", record.events, per_request / base)),
    }
    if let Some(c) = record.connections.iter().find(|c| c.caller.starts_with("client ")) {
        line("client connections", format!("{} opened, {} reused", c.opened, c.reused));
    }
    line("simulated seconds", format!("{simulated_s:.0} (duration + drain)"));
    line("wall seconds", format!("{wall_s:.3}"));
    line("simulated s per wall s", format!("{speed:.0}x"));
    line(&format!("target >= {SPEED_TARGET:.0}x"), verdict(speed >= SPEED_TARGET));
    per_request
}

/// `AZSIM_SPEED_SECONDS`, or an hour.
fn drill_seconds() -> u64 {
    match std::env::var("AZSIM_SPEED_SECONDS") {
        Err(_) => 3600,
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(s) if s > 0 => s,
            _ => panic!("AZSIM_SPEED_SECONDS must be a positive whole number of seconds, not `{v}`"),
        },
    }
}

/// The `nlb-affinity` variant stretched to `seconds`, its clients sending 100 requests/s in all.
fn drill(seconds: u64) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(DRILL_FILE);
    let path = path.to_str().unwrap_or_else(|| panic!("scenario path is not UTF-8: {}", path.display()));
    let loaded = azsim_scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let mut file = loaded.resolve(DRILL_VARIANT).unwrap_or_else(|| panic!("{path}: no variant named `{DRILL_VARIANT}`"));
    file.duration = Dur(seconds * 1_000_000_000);
    set_total_rate(&mut file, DRILL_TOTAL_RPS);
    // `resolve` cleared the variants, so the run's "baseline" is exactly this file.
    Scenario::of_file(loaded.path, file)
}

/// Spreads `total` requests/s evenly over every host of every open-loop client (`rate` is per
/// host: the `app` client has 3 hosts, so each sends 100/3 per second).
fn set_total_rate(file: &mut ScenarioFile, total: f64) {
    let open_loop = |c: &&mut azsim_scenario::ClientSpec| matches!(c.pacing, ClientPacing::Rate(_));
    let hosts: u32 = file.clients.values_mut().filter(open_loop).map(|c| c.azs.value.values().sum::<u32>()).sum();
    if hosts == 0 {
        panic!("{DRILL_FILE}: variant `{DRILL_VARIANT}` has no open-loop client host to carry {total} requests/s");
    }
    for c in file.clients.values_mut().filter(open_loop) {
        c.pacing = ClientPacing::Rate(total / f64::from(hosts));
    }
}

/// One aligned `label: value` line of a report.
fn line(label: &str, value: impl std::fmt::Display) {
    println!("    {:<27}{value}", format!("{label}:"));
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

// ------------------------------------------------------------------------------------------
// (c) our kernel versus turmoil on the same hyper workload
//
// Both sides run the same hyper server and client code (below); only accepting, connecting and
// the clock differ. Fixed 1 ms one-way latency, 1 ms of server processing, 10 ms of think time
// between requests: a request cycle is 13 ms, about 4,600 requests per client in 60 s.

/// Server/client pairs: 50 hosts. Pairs rather than one server for 49 clients so that no single
/// host's queue dominates, and both simulators do the same per-host work.
const PAIRS: usize = 25;
const PORT: u16 = 80;
const ONE_WAY: Duration = Duration::from_millis(1);
const PROCESSING: Duration = Duration::from_millis(1);
const THINK: Duration = Duration::from_millis(10);
/// Room, after the clients' run, for the last requests in flight.
const GRACE: Duration = Duration::from_secs(10);
const TURMOIL_TARGET: f64 = 10.0;

/// What one simulator did with the workload.
struct LoadRun {
    wall: Duration,
    requests: u64,
}

fn kernel_vs_turmoil(client_run: Duration) {
    let ours = on_kernel(client_run);
    let theirs = on_turmoil(client_run);
    let ratio = theirs.wall.as_secs_f64() / ours.wall.as_secs_f64();
    println!();
    println!("(c) kernel vs turmoil 0.7: hyper HTTP/1.1 keep-alive, {PAIRS} servers + {PAIRS} clients, {} s per client", client_run.as_secs());
    println!("    one-way latency {ONE_WAY:?}, processing {PROCESSING:?}, think time {THINK:?}");
    println!("    azsim kernel:  {:>8.3} s wall, {:>7} requests", ours.wall.as_secs_f64(), ours.requests);
    println!("    turmoil 0.7:   {:>8.3} s wall, {:>7} requests", theirs.wall.as_secs_f64(), theirs.requests);
    println!("    turmoil wall / kernel wall: {ratio:.1}x (target >= {TURMOIL_TARGET:.0}x: {})", verdict(ratio >= TURMOIL_TARGET));
    println!();
}

/// Answers every request on `stream` after `PROCESSING` on `clock`.
async fn serve_connection<S, C>(stream: S, clock: C)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C: Clock,
{
    let service = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
        let clock = clock.clone();
        async move {
            clock.sleep(PROCESSING).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    // The connection ends when the client goes away at the end of the run: not worth reporting.
    let _ = hyper::server::conn::http1::Builder::new().timer(TokioTimer::new()).auto_date_header(false).serve_connection(TokioIo::new(stream), service).await;
}

/// Sends requests one after another on one keep-alive connection for `run`, thinking `THINK`
/// between them; returns how many completed.
async fn keep_alive_client<S, C>(stream: S, clock: C, run: Duration) -> Result<u64, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C: Clock,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let end = clock.now() + run;
    let mut completed = 0;
    while clock.now() < end {
        let req = Request::get("/").header("host", "bench").body(Full::new(Bytes::new())).expect("a constant request is valid");
        let resp = sender.send_request(req).await.map_err(|e| format!("request {completed}: {e}"))?;
        resp.into_body().collect().await.map_err(|e| format!("response {completed}: {e}"))?;
        completed += 1;
        clock.sleep(THINK).await;
    }
    Ok(completed)
}

/// The workload on our kernel: one AZ, `PAIRS` server/client host pairs, 1 ms between hosts.
fn on_kernel(client_run: Duration) -> LoadRun {
    let start = Instant::now();
    let (mut sim, pairs) = kernel_world();
    let requests = sim
        .block_on(client_run + GRACE, async move {
            let mut clients = Vec::new();
            for (server, client) in pairs {
                let addr = SocketAddr::new(server.ip(), PORT);
                // Bind before any client connects, so no connection is refused.
                let listener = server.bind(addr).await.unwrap_or_else(|e| panic!("bind {addr}: {e}"));
                tokio::spawn(kernel_accept_loop(listener, server));
                clients.push(tokio::spawn(async move {
                    let stream = client.connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
                    keep_alive_client(stream, client, client_run).await
                }));
            }
            let mut total = 0;
            for c in clients {
                total += c.await.expect("client task").unwrap_or_else(|e| panic!("kernel client: {e}"));
            }
            total
        })
        .unwrap_or_else(|e| panic!("kernel run: {e}"));
    LoadRun { wall: start.elapsed(), requests }
}

fn kernel_world() -> (Sim, Vec<(SimNet, SimNet)>) {
    let mut topo = Topology::default();
    let region = topo.add_region("us-east-1");
    let az = topo.add_az(region, "use1-az1");
    let hosts: Vec<(HostId, HostId)> =
        (0..PAIRS).map(|i| (topo.add_host(&format!("server-{i}"), az, None), topo.add_host(&format!("client-{i}"), az, None))).collect();
    let mut config = SimConfig::new(1, topo);
    config.latency.intra_az = Dist::Fixed(ONE_WAY.as_nanos() as u64);
    // Hops are not needed here, and turmoil keeps no such history either.
    config.record_hops = false;
    let sim = Sim::new(config);
    let nets = hosts.into_iter().map(|(s, c)| (sim.net(s), sim.net(c))).collect();
    (sim, nets)
}

async fn kernel_accept_loop(mut listener: SimListener, net: SimNet) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_connection(stream, net.clone()));
    }
}

/// The workload on turmoil: same hosts, same fixed latency, tokio's clock for processing and
/// think time (turmoil's hosts run on paused tokio runtimes).
fn on_turmoil(client_run: Duration) -> LoadRun {
    let start = Instant::now();
    let mut sim = turmoil::Builder::new().simulation_duration(client_run + GRACE).min_message_latency(ONE_WAY).max_message_latency(ONE_WAY).build();
    for i in 0..PAIRS {
        sim.host(format!("server-{i}"), || async {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(serve_connection(stream, TokioEnv));
            }
        });
    }
    // Turmoil's clients run on one thread each tick, so a shared counter needs no lock.
    let requests = Rc::new(Cell::new(0u64));
    for i in 0..PAIRS {
        let requests = requests.clone();
        sim.client(format!("client-{i}"), async move {
            let stream = turmoil::net::TcpStream::connect((format!("server-{i}"), PORT)).await?;
            let completed = keep_alive_client(stream, TokioEnv, client_run).await?;
            requests.set(requests.get() + completed);
            Ok(())
        });
    }
    sim.run().unwrap_or_else(|e| panic!("turmoil run: {e}"));
    LoadRun { wall: start.elapsed(), requests: requests.get() }
}
