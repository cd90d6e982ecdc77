//! A scenario client that sends through the AZ-affinity client library: its own tower service,
//! [`affinity_client::AffinityClient`], unchanged (balancer, breakers, outlier ejection, retry
//! budget, backoff, per-try timeouts and deadline), on a simulated host, as the tunnel's
//! scenarios run the real proxy and agent.
//!
//! Each client host has two halves:
//! - [`LibraryClient`], a process on the message path: the workload's arrivals (Poisson timer,
//!   the request mix), discovery (`DiscoverInstances` to Cloud Map's endpoint, every refresh),
//!   and the attempts' answers. It hands each request and each discovery answer to the task
//!   ([`task::Command`]), passes each attempt's `Response` or refusal on ([`transport::Pending`]),
//!   and records each request's outcome when the task reports it;
//! - the task ([`task::run`]), which owns the `AffinityClient` for one life of the host. Its
//!   inner service ([`transport::Transport`]) sends each attempt as a message-path `Request` to
//!   the endpoint's host; time is the host's clock (exact to the nanosecond), randomness the
//!   stream `library/<host>/<life>`.
//!
//! A call's end is reported to the process in a message over the host's loopback (no delay, no
//! bytes) because only a process can close a request in the history. Faults on the client
//! host's own outgoing path (a partition or added latency from it to everything) therefore
//! also reach that report.

mod outcome;
mod task;
mod transport;

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use affinity_client::{Config, Endpoint};
use azsim_fakes::cloudmap::{DISCOVER_REQUEST_BYTES, Discover, DiscoverAnswer, DiscoverCall};
use azsim_fakes::{Body, HttpRequest};
use azsim_kernel::{Cx, HostId, Message, Nanos, Packer, Process, Sim, TimerToken, Unpacker};
use tokio::sync::mpsc;

use task::Command;
pub(crate) use task::LibraryTask;
use transport::{Answer, Counters, SharedPending};

/// How the library client is set up.
#[derive(Clone, Debug)]
pub(crate) struct LibraryClientConfig {
    pub(crate) label: u32,
    pub(crate) library: Config,
    /// Cloud Map's endpoint host and the `DiscoverInstances` call (every zone).
    pub(crate) cloud_map: HostId,
    pub(crate) discover: Discover,
    pub(crate) refresh: Nanos,
    pub(crate) rate: f64,
    pub(crate) poisson: bool,
    pub(crate) start_at: Nanos,
    pub(crate) stop_at: Nanos,
    pub(crate) request_bytes: u64,
    pub(crate) response_bytes: u64,
    /// The whole request's deadline (the scenario client's `timeout`; the library's
    /// `retry.deadline`).
    pub(crate) timeout: Nanos,
    /// The requests it sends, with weights (empty: `GET /`).
    pub(crate) mix: Vec<(u32, Arc<HttpRequest>)>,
}

/// The client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LibraryTimer {
    /// Time for the next request.
    Arrival,
    /// Time to ask Cloud Map again.
    Refresh,
}

impl TimerToken for LibraryTimer {
    fn into_token(self) -> u64 {
        let kind = match self {
            LibraryTimer::Arrival => 0,
            LibraryTimer::Refresh => 1,
        };
        Packer::new().put(kind, 1).finish()
    }
    fn from_token(token: u64) -> Self {
        match Unpacker::new(token).take(1) {
            0 => LibraryTimer::Arrival,
            _ => LibraryTimer::Refresh,
        }
    }
}

/// The message-path half of a library client host (see the module's documentation).
pub(crate) struct LibraryClient {
    config: LibraryClientConfig,
    commands: mpsc::UnboundedSender<Command>,
    pending: SharedPending,
    counters: Arc<Counters>,
    /// Whether this life's workload has begun (it waits for discovery's first answer).
    started: bool,
}

impl LibraryClient {
    /// The process, and the task that [`start`] spawns for it.
    pub(crate) fn new(mut config: LibraryClientConfig) -> (Self, LibraryTask) {
        config.library.retry.deadline = Some(std::time::Duration::from_nanos(config.timeout));
        let (tx, rx) = mpsc::unbounded_channel();
        let (pending, counters) = (SharedPending::default(), Arc::new(Counters::default()));
        let task = LibraryTask {
            commands: rx,
            library: config.library.clone(),
            pending: pending.clone(),
            counters: counters.clone(),
            request_bytes: config.request_bytes,
            response_bytes: config.response_bytes,
        };
        let client = LibraryClient { config, commands: tx, pending, counters, started: false };
        (client, task)
    }

    fn hand_over(&mut self, cx: &mut Cx<'_>, command: Command) {
        if self.commands.send(command).is_ok() {
            cx.tasks_woken();
        }
    }

    fn discover(&mut self, cx: &mut Cx<'_>) {
        let call = DiscoverCall { call_id: 0, request: self.config.discover.clone() };
        cx.send(self.config.cloud_map, Body::DiscoverCall(call).message(None, DISCOVER_REQUEST_BYTES));
        cx.set_timer(self.config.refresh, LibraryTimer::Refresh);
    }

    fn discovered(&mut self, cx: &mut Cx<'_>, answer: DiscoverAnswer) {
        if !self.started {
            self.started = true;
            cx.set_timer(self.config.start_at.saturating_sub(cx.now()), LibraryTimer::Arrival);
        }
        // A failed or empty answer keeps the last good set (static stability).
        let Ok(found) = answer.result else { return };
        if found.is_empty() {
            return;
        }
        let topo = cx.topology();
        let endpoints: Vec<(Endpoint, HostId)> = found
            .iter()
            .filter_map(|f| {
                let ip: std::net::Ipv4Addr = f.attributes.get("AWS_INSTANCE_IPV4")?.parse().ok()?;
                let host = topo.host_by_ip(ip)?;
                let endpoint = Endpoint::new(
                    f.id.clone(),
                    std::net::SocketAddr::new(ip.into(), 80),
                    f.attributes.get("AVAILABILITY_ZONE").cloned().unwrap_or_default(),
                    f.attributes.get("REGION").cloned().unwrap_or_default(),
                );
                Some((endpoint, host))
            })
            .collect();
        self.hand_over(cx, Command::Endpoints(endpoints));
    }

    fn arrival(&mut self, cx: &mut Cx<'_>) {
        if cx.now() >= self.config.stop_at {
            return;
        }
        let id = cx.new_request(self.config.label);
        let http = self.pick_http(cx);
        self.hand_over(cx, Command::Call { id, http });
        let mean = 1e9 / self.config.rate;
        let gap = if self.config.poisson { -mean * (1.0 - cx.rng().next_f64()).ln() } else { mean };
        cx.set_timer(gap.round().max(1.0) as Nanos, LibraryTimer::Arrival);
    }

    /// One request of the mix, by weight.
    fn pick_http(&self, cx: &mut Cx<'_>) -> Arc<HttpRequest> {
        let total: u64 = self.config.mix.iter().map(|(w, _)| u64::from(*w)).sum();
        if total == 0 {
            return Arc::default();
        }
        let mut x = cx.rng().below(total);
        for (w, http) in &self.config.mix {
            if x < u64::from(*w) {
                return http.clone();
            }
            x -= u64::from(*w);
        }
        unreachable!("x < total")
    }

    /// Hands an attempt's answer to the attempt, if it still waits.
    fn answer(&mut self, cx: &mut Cx<'_>, call_id: u64, answer: Answer) {
        if self.pending.lock().expect("pending").answer(call_id, answer) {
            cx.tasks_woken();
        }
    }

    /// Attempts the library sent over the run (the report's amplification figure).
    pub(crate) fn sent_attempts(&self) -> u64 {
        self.counters.attempts.load(Ordering::Relaxed)
    }

    /// Retries among them.
    pub(crate) fn retries(&self) -> u64 {
        self.counters.retries.load(Ordering::Relaxed)
    }
}

impl Process for LibraryClient {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        // The workload starts once discovery has answered.
        self.discover(cx);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        match Body::of(msg) {
            Body::DiscoverAnswer(answer) => self.discovered(cx, answer),
            Body::Response(resp) => self.answer(cx, resp.call_id, Answer::Status(resp.status)),
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        if let Body::Request(req) = Body::of(msg) {
            self.answer(cx, req.call_id, Answer::Refused);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        match LibraryTimer::from_token(token) {
            LibraryTimer::Arrival => self.arrival(cx),
            LibraryTimer::Refresh => self.discover(cx),
        }
    }

    fn on_crash(&mut self) {
        // The task's life ends with the host; its attempts are forgotten, and the workload
        // begins again after the restart's first discovery answer.
        self.pending.lock().expect("pending").clear();
        self.started = false;
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Spawns each library client host's task on the simulation.
pub(crate) fn start(sim: &Sim, tasks: Vec<(HostId, LibraryTask)>) {
    for (host, task) in tasks {
        let (seed, name) = sim.with_core(|c| (c.seed(), c.topology().host(host).name.clone()));
        sim.spawn(task::run(sim.net(host), task, seed, name));
    }
}
