//! The world's state and the one place every byte and message between hosts passes:
//! [`Core::transmit`] applies latency and faults and does the accounting.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::Duration;

use crate::accounting::Traffic;
use crate::dist::Dist;
use crate::faults::{Fault, FaultId};
use crate::history::{Hop, Outcome, RequestId, RequestRecord};
use crate::latency::LatencyModel;
use crate::message::Message;
use crate::process::{Cx, Process};
use crate::queue::EventQueue;
use crate::rng::{Seed, SimRng};
use crate::stream::{Segment, Side, StreamTable};
use crate::time::{Nanos, nanos};
use crate::topology::{HostId, HostState, Topology};

pub(crate) type HopRef = Option<(RequestId, u32)>;

pub(crate) enum Event {
    Start(HostId),
    /// A lost stream segment's retransmission timer.
    Retransmit {
        conn: u64,
        toward: Side,
    },
    Message {
        from: HostId,
        to: HostId,
        msg: Message,
        hop: HopRef,
        /// Its size on the wire.
        bytes: u64,
    },
    /// A message met a crashed process: the sender's OS gets a reset (RST).
    Refused {
        sender: HostId,
        refuser: HostId,
        msg: Message,
    },
    Segment {
        conn: u64,
        toward: Side,
        segment: Segment,
        bytes: u64,
        hop: HopRef,
    },
    Timer {
        host: HostId,
        generation: u32,
        token: u64,
    },
    /// A message a process handed over to leave later ([`Cx::send_after`]): it is sent then,
    /// unless the sender's process died meanwhile (its generation moved on).
    SendLater {
        from: HostId,
        generation: u32,
        to: HostId,
        msg: Message,
    },
    AsyncTimer(u64),
    FaultStart(FaultId),
    FaultEnd(FaultId),
}

/// The result of handing something to the network.
pub(crate) struct Transmit {
    /// When it arrives, or `None` if the path is a black hole.
    pub(crate) arrive_at: Option<Nanos>,
    pub(crate) hop: HopRef,
    /// Its size on the wire.
    pub(crate) bytes: u64,
}

/// What a transmission carries.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Size {
    /// Application bytes over TCP: headers and ACKs are added for the path ([`crate::wire`]).
    Tcp(u64),
    /// A whole packet (a SYN, FIN or RST): counted as it is, no payload.
    Raw(u64),
}

/// An RST's size on the wire (IP and TCP headers).
pub(crate) const RST_BYTES: u64 = 40;

#[derive(Default)]
pub(crate) struct AsyncTimer {
    pub(crate) fired: bool,
    pub(crate) waker: Option<Waker>,
}

/// The simulated world. Reached through [`crate::Sim::core`] for set-up and inspection, through
/// [`Cx`] by processes, and through [`crate::SimNet`] by real code.
pub struct Core {
    seed: Seed,
    base: tokio::time::Instant,
    topo: Topology,
    latency: LatencyModel,
    pub(crate) queue: EventQueue<Event>,
    link_rngs: BTreeMap<(HostId, HostId), SimRng>,
    host_rngs: Vec<SimRng>,
    fault_rng: SimRng,
    faults: BTreeMap<FaultId, (Fault, bool)>,
    path_faults_active: usize,
    host_states: Vec<HostState>,
    /// When each host's state last changed (0: it has been so since the start).
    state_since: Vec<Nanos>,
    generations: Vec<u32>,
    pub(crate) processes: Vec<Option<Box<dyn Process>>>,
    traffic: Traffic,
    requests: Vec<RequestRecord>,
    record_hops: bool,
    retransmit_timeout: Nanos,
    pub(crate) streams: StreamTable,
    pub(crate) async_timers: BTreeMap<u64, AsyncTimer>,
    next_async_timer: u64,
    /// Set when the kernel woke a tokio task: the driver must let tasks run before moving time.
    pub(crate) woke_tasks: bool,
    /// While the driver sleeps towards an event: that event's time (an earlier event wakes it).
    /// Zero while it is not sleeping.
    pub(crate) driver_deadline: Nanos,
    pub(crate) driver_waker: Option<Waker>,
    pub(crate) events_processed: u64,
    /// Set while no task exists: virtual time then lives here alone and tokio's clock lags
    /// behind (the driver catches it up before any task runs). Saves a scheduler round trip
    /// per event when only processes (fakes) run.
    pub(crate) detached_now: Option<Nanos>,
    /// Connection attempts a closed Region's firewall dropped.
    pub(crate) firewall_drops: u64,
    /// Tasks waiting for a host to change state ([`crate::SimNet::until_up`]).
    pub(crate) state_wakers: Vec<Waker>,
}

impl Core {
    pub(crate) fn new(seed: Seed, topo: Topology, latency: LatencyModel, record_hops: bool, retransmit_timeout: Duration, base: tokio::time::Instant) -> Core {
        let host_rngs = topo.hosts().map(|(_, h)| seed.stream(&format!("host/{}", h.name))).collect();
        let n = topo.host_count();
        Core {
            seed,
            base,
            latency,
            queue: EventQueue::new(),
            link_rngs: BTreeMap::new(),
            host_rngs,
            fault_rng: seed.stream("faults"),
            faults: BTreeMap::new(),
            path_faults_active: 0,
            host_states: vec![HostState::Up; n],
            state_since: vec![0; n],
            generations: vec![0; n],
            processes: (0..n).map(|_| None).collect(),
            traffic: Traffic::default(),
            requests: Vec::new(),
            record_hops,
            retransmit_timeout: nanos(retransmit_timeout),
            streams: StreamTable::default(),
            async_timers: BTreeMap::new(),
            next_async_timer: 0,
            woke_tasks: false,
            driver_deadline: 0,
            driver_waker: None,
            events_processed: 0,
            detached_now: None,
            firewall_drops: 0,
            state_wakers: Vec::new(),
            topo,
        }
    }

    // === time and randomness ===

    /// Virtual time since the start of the run. It is tokio's paused clock, which only the
    /// driver moves; so it must be read on the simulation's runtime.
    pub fn now(&self) -> Nanos {
        match self.detached_now {
            Some(t) => t,
            None => self.tokio_elapsed(),
        }
    }

    /// Where tokio's clock stands.
    pub(crate) fn tokio_elapsed(&self) -> Nanos {
        nanos(tokio::time::Instant::now().saturating_duration_since(self.base)) // determinism: ok — tokio's clock here is paused; only the driver advances it
    }

    /// The tokio instant at which the run started.
    pub fn base(&self) -> tokio::time::Instant {
        self.base
    }

    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// The host's own random stream (`host/<name>`).
    pub fn host_rng(&mut self, host: HostId) -> &mut SimRng {
        &mut self.host_rngs[host.0 as usize]
    }

    // === topology and state ===

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    pub fn latency_model(&self) -> &LatencyModel {
        &self.latency
    }

    pub fn host_state(&self, host: HostId) -> HostState {
        self.host_states[host.0 as usize]
    }

    /// When `host` entered its current state (0 if it has been in it since the start).
    pub fn host_state_since(&self, host: HostId) -> Nanos {
        self.state_since[host.0 as usize]
    }

    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    pub fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    /// Connection attempts dropped by a Region closed to inbound connections.
    pub fn firewall_drops(&self) -> u64 {
        self.firewall_drops
    }

    /// Events handled so far (a measure of the simulator's work).
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    pub fn process(&self, host: HostId) -> Option<&dyn Process> {
        self.processes[host.0 as usize].as_deref()
    }

    // === scheduling ===

    pub(crate) fn schedule(&mut self, at: Nanos, event: Event) {
        if at < self.driver_deadline {
            self.driver_deadline = at;
            if let Some(w) = self.driver_waker.take() {
                w.wake();
            }
        }
        self.queue.push(at, event);
    }

    pub(crate) fn wake(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            self.woke_tasks = true;
            w.wake();
        }
    }

    pub(crate) fn new_async_timer(&mut self, at: Nanos) -> u64 {
        self.next_async_timer += 1;
        let id = self.next_async_timer;
        self.async_timers.insert(id, AsyncTimer::default());
        self.schedule(at, Event::AsyncTimer(id));
        id
    }

    pub(crate) fn set_process_timer(&mut self, host: HostId, after: Nanos, token: u64) {
        let generation = self.generations[host.0 as usize];
        let at = self.now().saturating_add(after);
        self.schedule(at, Event::Timer { host, generation, token });
    }

    /// Sends `msg` from `from` to `to` after `after`, through [`Core::send_message`] then (so
    /// latency, faults and bytes are those of that time); void if the process on `from` dies
    /// first, as its timers are.
    pub(crate) fn send_later(&mut self, from: HostId, after: Nanos, to: HostId, msg: Message) {
        let generation = self.generations[from.0 as usize];
        let at = self.now().saturating_add(after);
        self.schedule(at, Event::SendLater { from, generation, to, msg });
    }

    /// Places a process on `host`; its `on_start` runs at the current time.
    pub fn add_process(&mut self, host: HostId, process: Box<dyn Process>) {
        self.processes[host.0 as usize] = Some(process);
        let now = self.now();
        self.schedule(now, Event::Start(host));
    }

    /// Schedules `fault` from `start` until `end` (forever if `None`).
    pub fn schedule_fault(&mut self, start: Nanos, end: Option<Nanos>, fault: Fault) -> FaultId {
        let id = FaultId(self.faults.len() as u32);
        self.faults.insert(id, (fault, false));
        self.schedule(start, Event::FaultStart(id));
        if let Some(end) = end {
            self.schedule(end, Event::FaultEnd(id));
        }
        id
    }

    // === requests ===

    /// Starts the history of a new request sent by `client`.
    pub fn new_request(&mut self, client: HostId, label: u32) -> RequestId {
        let id = RequestId(self.requests.len() as u64);
        let now = self.now();
        self.requests.push(RequestRecord::new(id, client, label, now));
        id
    }

    /// Records how a request ended. The first outcome wins; later ones are ignored (a late
    /// answer after a timeout does not turn a failure into a success).
    pub fn finish_request(&mut self, id: RequestId, outcome: Outcome) {
        let now = self.now();
        let r = &mut self.requests[id.0 as usize];
        if r.finished.is_none() {
            r.finished = Some(now);
            r.outcome = outcome;
        }
    }

    /// Notes which kind of request `id` is ([`crate::RequestRecord::kind`]).
    pub fn tag_request(&mut self, id: RequestId, kind: u32) {
        if let Some(r) = self.requests.get_mut(id.0 as usize) {
            r.kind = Some(kind);
        }
    }

    /// Notes the status of the answer request `id` got ([`crate::RequestRecord::status`]).
    pub fn note_status(&mut self, id: RequestId, status: u16) {
        if let Some(r) = self.requests.get_mut(id.0 as usize) {
            r.status = Some(status);
        }
    }

    /// Notes that a connection was opened for request `id` (it waits for the handshake).
    pub fn note_handshake(&mut self, id: RequestId) {
        if let Some(r) = self.requests.get_mut(id.0 as usize) {
            r.handshakes += 1;
        }
    }

    // === the network ===

    /// Hands `size` from `from` to `to` to the network: samples the link's latency, applies the
    /// active faults, and counts the wire bytes and (for a request) the hop.
    pub(crate) fn transmit(&mut self, from: HostId, to: HostId, size: Size, request: Option<RequestId>) -> Transmit {
        let now = self.now();
        let (bytes, payload) = match size {
            Size::Tcp(payload) => (crate::wire::tcp_bytes(payload, self.topo.path_mtu(from, to)), payload),
            Size::Raw(bytes) => (bytes, 0),
        };
        let (a, b) = (self.topo.host(from), self.topo.host(to));
        let (azs, regions) = ((a.az, b.az), (a.region, b.region));
        self.traffic.record_send((from, to), azs, regions, bytes, payload);
        let black_hole = self.host_states[from.0 as usize] == HostState::Down || self.partitioned(from, to);
        let arrive_at = if black_hole { None } else { self.sample_latency(from, to).map(|l| now.saturating_add(l)) };
        if arrive_at.is_none() {
            self.traffic.bytes_dropped += bytes;
        }
        let crosses_az = self.topo.crosses_az(azs.0, azs.1);
        let (crosses_region, crosses_outside) = (self.topo.crosses_region(regions.0, regions.1), self.topo.crosses_outside(regions.0, regions.1));
        let hop = request.and_then(|id| {
            let r = &mut self.requests[id.0 as usize];
            r.bytes += bytes;
            if crosses_az {
                r.az_crossings += 1;
                r.bytes_cross_az += bytes;
            }
            if crosses_region {
                r.region_crossings += 1;
                r.bytes_cross_region += bytes;
            }
            if crosses_outside {
                r.outside_crossings += 1;
            }
            if !self.record_hops {
                return None;
            }
            r.hops.push(Hop { from, to, from_az: azs.0, to_az: azs.1, from_region: regions.0, to_region: regions.1, bytes, sent_at: now, arrived_at: None });
            Some((id, (r.hops.len() - 1) as u32))
        });
        Transmit { arrive_at, hop, bytes }
    }

    /// Called when something transmitted arrives (`delivered`) or is destroyed on arrival.
    pub(crate) fn settle(&mut self, bytes: u64, hop: HopRef, delivered: bool) {
        if delivered {
            self.traffic.bytes_delivered += bytes;
            if let Some((id, i)) = hop {
                let now = self.now();
                self.requests[id.0 as usize].hops[i as usize].arrived_at = Some(now);
            }
        } else {
            self.traffic.bytes_dropped += bytes;
        }
    }

    fn partitioned(&self, from: HostId, to: HostId) -> bool {
        self.path_faults_active > 0
            && self.faults.values().any(|(f, active)| *active && matches!(f, Fault::Partition { .. }) && f.matches_path(&self.topo, from, to))
    }

    /// The one-way latency of a transmission from `from` to `to`: the link's, as faults change
    /// it, with a retransmission timeout for each loss. `None`: lost more often than the
    /// sender's kernel retransmits (the connection times out; its caller's timeout says so).
    fn sample_latency(&mut self, from: HostId, to: HostId) -> Option<Nanos> {
        let mut replaced: Option<Dist> = None;
        let mut extra = 0;
        let mut loss = 0.0f64;
        if self.path_faults_active > 0 {
            for (f, active) in self.faults.values() {
                if !*active || !f.matches_path(&self.topo, from, to) {
                    continue;
                }
                match f {
                    Fault::Latency { latency, add: false, .. } => replaced = Some(latency.clone()),
                    Fault::Latency { latency, add: true, .. } => extra += latency.sample(&mut self.fault_rng),
                    Fault::Loss { probability, .. } => loss = 1.0 - (1.0 - loss) * (1.0 - probability),
                    _ => {}
                }
            }
        }
        let topo = &self.topo;
        let names = || format!("link/{}/{}", topo.host(from).name, topo.host(to).name);
        let rng = self.link_rngs.entry((from, to)).or_insert_with(|| self.seed.stream(&names()));
        let dist = replaced.as_ref().unwrap_or_else(|| self.latency.base(&self.topo, from, to));
        let mut latency = dist.sample(rng) + extra;
        // Each loss costs one retransmission timeout, doubling as TCP backs off (up to
        // TCP_RTO_MAX); past `tcp_retries2` retransmissions the connection gives up.
        let mut rto = self.retransmit_timeout;
        let mut tries = 0;
        while rng.chance(loss) {
            if tries == crate::wire::TCP_RETRIES2 {
                return None;
            }
            latency += rto;
            rto = (rto * 2).min(crate::wire::TCP_RTO_MAX);
            tries += 1;
        }
        Some(latency)
    }

    /// Sends a typed message from the process on `from` to the process on `to`.
    pub(crate) fn send_message(&mut self, from: HostId, to: HostId, msg: Message) {
        let size = if msg.raw { Size::Raw(msg.bytes) } else { Size::Tcp(msg.payload()) };
        let t = self.transmit(from, to, size, msg.request);
        if let Some(at) = t.arrive_at {
            self.schedule(at, Event::Message { from, to, msg, hop: t.hop, bytes: t.bytes });
        }
    }

    // === event handling ===

    pub(crate) fn handle(&mut self, event: Event) {
        self.events_processed += 1;
        match event {
            Event::Start(host) => {
                if self.host_states[host.0 as usize] == HostState::Up {
                    self.with_process(host, |p, cx| p.on_start(cx));
                }
            }
            Event::Message { from, to, msg, hop, bytes } => {
                let state = self.host_states[to.0 as usize];
                self.settle(bytes, hop, state == HostState::Up);
                match state {
                    HostState::Up => self.with_process(to, |p, cx| p.on_message(cx, from, msg)),
                    // Nothing listens any more, but the host answers: a reset goes back.
                    HostState::Crashed => {
                        if let Some(at) = self.transmit(to, from, Size::Raw(RST_BYTES), None).arrive_at {
                            self.schedule(at, Event::Refused { sender: from, refuser: to, msg });
                        }
                    }
                    HostState::Down => {}
                }
            }
            Event::Refused { sender, refuser, msg } => {
                if self.host_states[sender.0 as usize] == HostState::Up {
                    self.with_process(sender, |p, cx| p.on_refused(cx, refuser, msg));
                }
            }
            Event::Segment { conn, toward, segment, bytes, hop } => self.deliver_segment(conn, toward, segment, bytes, hop),
            Event::Retransmit { conn, toward } => self.retransmit(conn, toward),
            Event::Timer { host, generation, token } => {
                if self.generations[host.0 as usize] == generation && self.host_states[host.0 as usize] == HostState::Up {
                    self.with_process(host, |p, cx| p.on_timer(cx, token));
                }
            }
            Event::SendLater { from, generation, to, msg } => {
                if self.generations[from.0 as usize] == generation && self.host_states[from.0 as usize] == HostState::Up {
                    self.send_message(from, to, msg);
                }
            }
            Event::AsyncTimer(id) => {
                if let Some(t) = self.async_timers.get_mut(&id) {
                    t.fired = true;
                    let w = t.waker.take();
                    self.wake(w);
                }
            }
            Event::FaultStart(id) => self.set_fault_active(id, true),
            Event::FaultEnd(id) => self.set_fault_active(id, false),
        }
    }

    fn with_process(&mut self, host: HostId, f: impl FnOnce(&mut dyn Process, &mut Cx<'_>)) {
        if let Some(mut p) = self.processes[host.0 as usize].take() {
            let mut cx = Cx::new(self, host);
            f(p.as_mut(), &mut cx);
            self.processes[host.0 as usize] = Some(p);
        }
    }

    fn set_fault_active(&mut self, id: FaultId, active: bool) {
        let Some((fault, was)) = self.faults.get_mut(&id) else { return };
        if *was == active {
            return;
        }
        *was = active;
        let is_path = matches!(fault, Fault::Partition { .. } | Fault::Latency { .. } | Fault::Loss { .. });
        tracing::debug!(?id, active, "fault");
        if is_path {
            if active {
                self.path_faults_active += 1;
            } else {
                self.path_faults_active -= 1;
            }
            return;
        }
        self.recompute_host_states();
    }

    fn recompute_host_states(&mut self) {
        let hosts: Vec<HostId> = self.topo.hosts().map(|(id, _)| id).collect();
        for host in hosts {
            // A host's state follows from the faults active on it (a host that starts powered
            // off is a power-off fault at time zero).
            let mut state = HostState::Up;
            for (f, active) in self.faults.values() {
                if *active && f.affects_host(&self.topo, host) {
                    state = match (state, f) {
                        (HostState::Down, _) => HostState::Down,
                        (_, Fault::HostCrash(_)) => HostState::Crashed,
                        _ => HostState::Down,
                    };
                }
            }
            let old = self.host_states[host.0 as usize];
            if old == state {
                continue;
            }
            self.host_states[host.0 as usize] = state;
            self.state_since[host.0 as usize] = self.now();
            if old == HostState::Up {
                // The process dies: its timers are void, its state is lost, its connections break.
                self.generations[host.0 as usize] += 1;
                let mut open = Vec::new();
                if let Some(p) = self.processes[host.0 as usize].as_mut() {
                    if state == HostState::Crashed {
                        open = p.open_requests();
                    }
                    p.on_crash();
                }
                // The OS resets the dead process's connections: each sender hears it.
                for (sender, msg) in open {
                    if let Some(at) = self.transmit(host, sender, Size::Raw(RST_BYTES), None).arrive_at {
                        self.schedule(at, Event::Refused { sender, refuser: host, msg });
                    }
                }
                self.host_failed(host, state);
            } else if state == HostState::Up {
                self.with_process(host, |p, cx| p.on_restart(cx));
            }
            for w in std::mem::take(&mut self.state_wakers) {
                self.wake(Some(w));
            }
        }
    }

    pub(crate) fn retransmit_timeout_ns(&self) -> Nanos {
        self.retransmit_timeout
    }
}
