//! Connections on the message path: an HTTP/1.1 keep-alive pool at the caller ([`Pool`]) and
//! the accepting side's table ([`Accepted`]), as state and virtual-time timers, no tasks.
//!
//! The model (HTTP/1.1, one request at a time on a connection, no pipelining):
//! - A caller keeps, per destination host, connections that are connecting, busy or idle. A
//!   request takes the most recently used idle connection (ours: AWS does not say which), or
//!   opens a new one: SYN and SYN-ACK are messages (latency, faults and bytes apply) and the
//!   request goes with the ACK, so a new connection costs exactly one round trip. A SYN
//!   that gets no SYN-ACK (a black-holed target: powered off, partitioned; an NLB node with no
//!   target) is retransmitted as Linux does, 1 s after the SYN and then at doubling intervals
//!   (SYNs at 0, 1, 3, 7, 15, 31 and 63 s with `tcp_syn_retries` 6, [`crate::defaults::tcp`]),
//!   and given up after the caller's connect timeout (an ALB's 10 s) or the last retry's wait
//!   (127 s), whichever comes first: the caller learns both from [`Pool::connect_timer`].
//! - Each end closes a connection idle for its own timeout (the caller's idle timeout, the
//!   server's keep-alive timeout) with a FIN, itself a message: the other end learns of the
//!   close one one-way latency later. A server answers a request that reaches it on a
//!   connection it has closed (or never knew: it restarted) with RST.
//! - Hence the race AWS documents for ALB ("The target closed the connection with a TCP RST or
//!   a TCP FIN while the load balancer had an outstanding request to the target": 502, and its
//!   advice that the target's keep-alive timeout be longer than the load balancer's idle
//!   timeout, <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html>):
//!   a server that closes at `c` resets every request sent on that connection which reaches
//!   it after `c` and left the caller before the FIN arrived there, i.e. sent in
//!   `(c - L_request, c + L_fin)`, one one-way latency either side of the close.
//! - A server with keep-alive `off` answers with `Connection: close` and closes: the caller
//!   never reuses the connection, so every request pays the handshake.
//! - A server's answers on a connection wait for its congestion window (slow start, from 10
//!   segments, again after idle): [`Accepted::answer`], [`crate::slow_start`].
//!
//! Sizes (TCP/IP headers; the ACK of the handshake rides with the request): SYN and SYN-ACK 60
//! bytes (20 IP + 20 TCP + 20 of options: MSS, SACK permitted, timestamps, window scale, as
//! Linux sends them), FIN 52 (with timestamps), RST 40.

use std::collections::{BTreeMap, BTreeSet};

use azsim_kernel::{Cx, HostId, Message, Nanos, RequestId, TimerToken};

use azsim_kernel::wire;

use crate::rpc::{self, Body, Request};
use crate::slow_start::SendWindow;

pub const SYN_BYTES: u64 = 60;
pub const SYN_ACK_BYTES: u64 = 60;
pub const FIN_BYTES: u64 = 52;
pub const RST_BYTES: u64 = 40;

/// A connection's control segment (SYN, SYN-ACK, FIN, RST): which connection, numbered by the
/// caller that opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub conn: u64,
}

/// A request on an open connection.
#[derive(Clone, Debug)]
pub struct ConnRequest {
    pub conn: u64,
    pub req: Request,
}

impl Body {
    pub fn syn(conn: u64) -> Message {
        Body::Syn(Segment { conn }).packet(None, SYN_BYTES)
    }
    pub fn syn_ack(conn: u64) -> Message {
        Body::SynAck(Segment { conn }).packet(None, SYN_ACK_BYTES)
    }
    pub fn fin(conn: u64) -> Message {
        Body::Fin(Segment { conn }).packet(None, FIN_BYTES)
    }
    /// The reset of request `id`'s connection: the request's hop back, so its history shows it.
    pub fn rst(id: Option<RequestId>, conn: u64) -> Message {
        Body::Rst(Segment { conn }).packet(id, RST_BYTES)
    }
    /// Request `id` on connection `conn` (its HTTP head, then `req.request_bytes` of body).
    pub fn on_conn(id: RequestId, conn: u64, req: Request) -> Message {
        let head = req.http.request_head_bytes(req.request_bytes);
        let bytes = req.request_bytes;
        Body::ConnRequest(ConnRequest { conn, req }).message(Some(id), bytes).with_head(head)
    }
}

/// What a caller's connections did, for records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// New connections (each paid a handshake).
    pub opened: u64,
    /// Requests sent on an idle pooled connection.
    pub reused: u64,
    /// Closed by the caller after its idle timeout.
    pub closed_idle_by_caller: u64,
    /// Closed by the server after its keep-alive timeout (the FIN reached the caller).
    pub closed_idle_by_server: u64,
    /// Closed by the server after its answer (`Connection: close`: keep-alive off).
    pub closed_after_response: u64,
    /// Reset by the server: a request reached it on a connection it had closed.
    pub reset: u64,
    /// Given up after the connect timeout: no SYN-ACK came (the target is black-holed).
    pub connect_timeouts: u64,
    /// Closed by the caller after its last allowed request (`max_requests`).
    pub recycled: u64,
    /// SYNs sent again because no SYN-ACK came within the retransmission timeout.
    pub syn_retransmits: u64,
}

impl ConnStats {
    pub fn add(&mut self, other: &ConnStats) {
        self.opened += other.opened;
        self.reused += other.reused;
        self.closed_idle_by_caller += other.closed_idle_by_caller;
        self.closed_idle_by_server += other.closed_idle_by_server;
        self.closed_after_response += other.closed_after_response;
        self.reset += other.reset;
        self.connect_timeouts += other.connect_timeouts;
        self.recycled += other.recycled;
        self.syn_retransmits += other.syn_retransmits;
    }
}

// === impl IdleTimers ===

/// Idle deadlines with one armed kernel timer: the earliest. A connection reused before its
/// deadline is just removed, so a busy pool costs about one timer event per idle timeout, not
/// one per request.
#[derive(Debug)]
pub(crate) struct IdleTimers<K> {
    due: BTreeSet<(Nanos, K)>,
    armed: Option<Nanos>,
}

impl<K: Ord + Copy> IdleTimers<K> {
    pub(crate) fn new() -> Self {
        IdleTimers { due: BTreeSet::new(), armed: None }
    }

    pub(crate) fn add(&mut self, cx: &mut Cx<'_>, at: Nanos, key: K, token: impl TimerToken) {
        self.due.insert((at, key));
        if self.armed.is_none_or(|armed| at < armed) {
            self.armed = Some(at);
            cx.set_timer(at - cx.now(), token);
        }
    }

    pub(crate) fn remove(&mut self, at: Nanos, key: K) {
        self.due.remove(&(at, key));
    }

    /// The timer fired: the keys due now (none if it is a timer an earlier one replaced), and
    /// the timer re-armed for the next deadline.
    pub(crate) fn expire(&mut self, cx: &mut Cx<'_>, token: impl TimerToken) -> Vec<K> {
        let now = cx.now();
        if self.armed != Some(now) {
            return Vec::new();
        }
        let mut keys = Vec::new();
        while let Some(&(at, key)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            keys.push(key);
        }
        self.armed = self.due.first().map(|(at, _)| *at);
        if let Some(at) = self.armed {
            cx.set_timer(at - now, token);
        }
        keys
    }

    pub(crate) fn clear(&mut self) {
        self.due.clear();
        self.armed = None;
    }
}

// === impl Pool ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// SYN sent at `since` and retransmitted `retries` times, waiting for the SYN-ACK; the call
    /// goes with the ACK. The connect timer fires at `next`: to retransmit, or to give up.
    Connecting {
        call: u64,
        since: Nanos,
        retries: u32,
        next: Nanos,
    },
    Busy {
        call: u64,
    },
    /// Idle since `since`; the caller closes it at `since + idle_timeout`.
    Idle {
        since: Nanos,
    },
}

#[derive(Clone, Copy, Debug)]
struct Conn {
    dest: HostId,
    state: State,
    /// The server's FIN arrived while a request was outstanding: never reuse it.
    server_closed: bool,
    /// Requests sent on it so far.
    uses: u64,
}

/// How a request got its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// An idle one: send the request now.
    Reused(u64),
    /// A new one: send a SYN, and the request when the SYN-ACK comes.
    Opened(u64),
}

/// What the connect timer found ([`Pool::connect_timer`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConnectEvents {
    /// Connections whose SYN is due again (send the destination a SYN).
    pub retransmit: Vec<(u64, HostId)>,
    /// Calls whose connection was given up: no SYN-ACK before the connect timeout or after
    /// the last retry.
    pub given_up: Vec<u64>,
}

impl ConnectEvents {
    /// Sends each due SYN again (to its destination); the calls whose connection was given up.
    pub fn resend(self, cx: &mut Cx<'_>) -> Vec<u64> {
        for (conn, dest) in self.retransmit {
            cx.send(dest, Body::syn(conn));
        }
        self.given_up
    }
}

/// A caller's keep-alive connections, per destination host.
#[derive(Debug)]
pub struct Pool {
    idle_timeout: Nanos,
    connect_timeout: Nanos,
    /// The caller's kernel: the first SYN retransmission timeout, and how many retries.
    syn_rto: Nanos,
    syn_retries: u32,
    /// When the connect timer of each connection still waiting for its SYN-ACK fires.
    connecting: IdleTimers<u64>,
    /// Close a connection after this many requests (`None`: never).
    max_requests: Option<u64>,
    conns: BTreeMap<u64, Conn>,
    /// Idle connections per destination, by when they became idle (the last is the most
    /// recently used).
    idle: BTreeMap<HostId, BTreeSet<(Nanos, u64)>>,
    timers: IdleTimers<u64>,
    next: u64,
    pub stats: ConnStats,
}

impl Pool {
    /// A pool whose idle connections close after `idle_timeout` and whose connection attempts
    /// are given up after `connect_timeout`.
    pub fn new(idle_timeout: Nanos, connect_timeout: Nanos) -> Pool {
        Pool {
            idle_timeout,
            connect_timeout,
            syn_rto: crate::defaults::tcp::SYN_INITIAL_RTO,
            syn_retries: crate::defaults::tcp::SYN_RETRIES,
            connecting: IdleTimers::new(),
            max_requests: None,
            conns: BTreeMap::new(),
            idle: BTreeMap::new(),
            timers: IdleTimers::new(),
            next: 0,
            stats: ConnStats::default(),
        }
    }

    /// Closes each connection after `max` requests (a client's recycling: HTTP clients'
    /// `max requests per connection`, Envoy's `max_requests_per_connection`).
    pub fn with_max_requests(mut self, max: Option<u64>) -> Pool {
        self.max_requests = max;
        self
    }

    /// A connection to `dest` for `call`: the most recently used idle one, or a new one, whose
    /// connect deadline arms `connect_token`.
    pub fn acquire(&mut self, cx: &mut Cx<'_>, dest: HostId, call: u64, connect_token: impl TimerToken) -> Acquired {
        if let Some((since, conn)) = self.idle.get_mut(&dest).and_then(BTreeSet::pop_last) {
            return self.reuse(since, conn, call);
        }
        self.open(cx, dest, call, connect_token)
    }

    /// The most recently used idle connection to any destination, now busy with `call` (a
    /// pool keyed by a name, whose connections went to whichever address the name resolved to
    /// when each was opened), and where it goes. `None`: open one with [`Pool::acquire`].
    pub fn reuse_any(&mut self, call: u64) -> Option<(u64, HostId)> {
        let (since, conn) = self.idle.values().filter_map(|set| set.last()).max().copied()?;
        let dest = self.conns[&conn].dest;
        self.idle.get_mut(&dest).expect("an idle connection's destination").remove(&(since, conn));
        self.reuse(since, conn, call);
        Some((conn, dest))
    }

    fn reuse(&mut self, since: Nanos, conn: u64, call: u64) -> Acquired {
        self.timers.remove(since + self.idle_timeout, conn);
        let c = self.conns.get_mut(&conn).expect("idle connections are known");
        c.state = State::Busy { call };
        c.uses += 1;
        self.stats.reused += 1;
        Acquired::Reused(conn)
    }

    fn open(&mut self, cx: &mut Cx<'_>, dest: HostId, call: u64, connect_token: impl TimerToken) -> Acquired {
        self.next += 1;
        let now = cx.now();
        let next = now + self.syn_rto.min(self.connect_timeout);
        self.conns.insert(self.next, Conn { dest, state: State::Connecting { call, since: now, retries: 0, next }, server_closed: false, uses: 1 });
        self.connecting.add(cx, next, self.next, connect_token);
        self.stats.opened += 1;
        Acquired::Opened(self.next)
    }

    /// The call connection `conn` is busy with, if it is open and busy.
    pub fn busy_with(&self, conn: u64) -> Option<u64> {
        match self.conns.get(&conn)?.state {
            State::Busy { call } => Some(call),
            _ => None,
        }
    }

    /// Whether `body`, from `from`, is a FIN about one of this pool's connections (rather than
    /// about a connection `from` opened to us: each side numbers its own).
    pub fn owns_fin(&self, from: HostId, body: &Body) -> bool {
        matches!(body, Body::Fin(seg) if self.dest(seg.conn) == Some(from))
    }

    /// Where connection `conn` goes, if the pool knows it (a segment from elsewhere is not
    /// about it: connection numbers are the caller's own).
    pub fn dest(&self, conn: u64) -> Option<HostId> {
        self.conns.get(&conn).map(|c| c.dest)
    }

    /// The connect timer fired: the connections whose SYN is due again, and the calls whose
    /// connection is given up (a late SYN-ACK finds none). The `retries`-th retransmission
    /// goes `syn_rto * 2^(retries - 1)` after the one before; after the last one the kernel
    /// waits twice as long again, then `connect()` fails; the caller's connect timeout cuts
    /// either short.
    pub fn connect_timer(&mut self, cx: &mut Cx<'_>, token: impl TimerToken + Copy) -> ConnectEvents {
        let now = cx.now();
        let mut events = ConnectEvents::default();
        for conn in self.connecting.expire(cx, token) {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            let State::Connecting { call, since, retries, .. } = c.state else { continue };
            if now >= since + self.connect_timeout || retries >= self.syn_retries {
                self.conns.remove(&conn);
                self.stats.connect_timeouts += 1;
                events.given_up.push(call);
                continue;
            }
            let retries = retries + 1;
            let next = (now + (self.syn_rto << retries)).min(since + self.connect_timeout);
            c.state = State::Connecting { call, since, retries, next };
            self.stats.syn_retransmits += 1;
            events.retransmit.push((conn, c.dest));
            self.connecting.add(cx, next, conn, token);
        }
        events
    }

    /// The SYN-ACK of `conn` arrived: it is open and busy with the call it was opened for
    /// (returned). `None`: the connection was given up meanwhile.
    pub fn established(&mut self, conn: u64) -> Option<u64> {
        let c = self.conns.get_mut(&conn)?;
        let State::Connecting { call, next, .. } = c.state else { return None };
        c.state = State::Busy { call };
        self.connecting.remove(next, conn);
        Some(call)
    }

    /// The answer on `conn` arrived: it is idle again, unless the server closes it
    /// (`connection_close`) or already did, or it has carried its last allowed request: then
    /// the caller closes it, and gets its destination to send the FIN to.
    pub fn release(&mut self, cx: &mut Cx<'_>, conn: u64, connection_close: bool, token: impl TimerToken) -> Option<HostId> {
        let c = self.conns.get_mut(&conn)?;
        if connection_close || c.server_closed {
            if connection_close {
                self.stats.closed_after_response += 1;
            }
            self.conns.remove(&conn);
            return None;
        }
        if self.max_requests.is_some_and(|max| c.uses >= max) {
            let dest = c.dest;
            self.conns.remove(&conn);
            self.stats.recycled += 1;
            return Some(dest);
        }
        let now = cx.now();
        c.state = State::Idle { since: now };
        self.idle.entry(c.dest).or_default().insert((now, conn));
        self.timers.add(cx, now + self.idle_timeout, conn, token);
        None
    }

    /// The server's FIN for `conn` arrived.
    pub fn server_closed(&mut self, conn: u64) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        self.stats.closed_idle_by_server += 1;
        match c.state {
            State::Idle { since } => {
                let dest = c.dest;
                self.forget_idle(dest, since, conn);
                self.conns.remove(&conn);
            }
            // A request is on its way: the server resets it.
            State::Busy { .. } | State::Connecting { .. } => c.server_closed = true,
        }
    }

    /// The server reset `conn`: the call that was on it, if any.
    pub fn reset(&mut self, conn: u64) -> Option<u64> {
        let c = self.conns.remove(&conn)?;
        self.stats.reset += 1;
        match c.state {
            State::Busy { call } => Some(call),
            State::Connecting { call, next, .. } => {
                self.connecting.remove(next, conn);
                Some(call)
            }
            State::Idle { since } => {
                self.forget_idle(c.dest, since, conn);
                None
            }
        }
    }

    /// Gives `conn` up (its call timed out or was refused): its destination, if it was open
    /// there, so the caller can tell the server with a FIN.
    pub fn abandon(&mut self, conn: u64) -> Option<HostId> {
        let c = self.conns.remove(&conn)?;
        match c.state {
            State::Idle { since } => self.forget_idle(c.dest, since, conn),
            State::Connecting { next, .. } => self.connecting.remove(next, conn),
            State::Busy { .. } => {}
        }
        (!matches!(c.state, State::Connecting { .. })).then_some(c.dest)
    }

    /// The caller closes `conn` after its answer (one request per connection): its destination,
    /// to send a FIN, unless the server closed it already.
    pub fn close_after_answer(&mut self, conn: u64, server_closing: bool) -> Option<HostId> {
        let dest = self.abandon(conn)?;
        self.stats.closed_after_response += 1;
        (!server_closing).then_some(dest)
    }

    /// The idle timer fired: closes the connections idle for the idle timeout, a FIN to each
    /// destination.
    pub fn sweep(&mut self, cx: &mut Cx<'_>, token: impl TimerToken) {
        for conn in self.timers.expire(cx, token) {
            let Some(c) = self.conns.remove(&conn) else { continue };
            if let State::Idle { since } = c.state {
                self.forget_idle(c.dest, since, conn);
            }
            self.stats.closed_idle_by_caller += 1;
            cx.send(c.dest, Body::fin(conn));
        }
    }

    /// Gives `conn` up ([`Pool::abandon`]) and, if it was open, closes it at its destination
    /// with a FIN.
    pub fn give_up(&mut self, cx: &mut Cx<'_>, conn: u64) {
        if let Some(dest) = self.abandon(conn) {
            cx.send(dest, Body::fin(conn));
        }
    }

    fn forget_idle(&mut self, dest: HostId, since: Nanos, conn: u64) {
        if let Some(set) = self.idle.get_mut(&dest) {
            set.remove(&(since, conn));
        }
        self.timers.remove(since + self.idle_timeout, conn);
    }

    /// Forgets every connection (the caller crashed).
    pub fn clear(&mut self) {
        self.conns.clear();
        self.idle.clear();
        self.timers.clear();
        self.connecting.clear();
    }
}

// === stateless accept ===

/// How a server that keeps no per-connection state takes what arrives (an API Gateway
/// endpoint, a CloudFront edge toward viewers, an egress proxy): it answers a SYN with a
/// SYN-ACK, takes a request on a connection as a plain request (answered the same way, by
/// `reply_to` and `call_id`), and ignores a FIN. `None`: handled here.
///
/// Ours, where AWS documents no idle timeout toward callers (API Gateway's REST and HTTP APIs,
/// CloudFront toward viewers): such a server never closes an idle connection, so the caller's
/// idle timeout decides, and a server-side close never races a request. A request on a
/// connection the server never saw (it restarted) is served, not reset. An ALB node keeps
/// state instead ([`Accepted`]): it closes callers' connections idle for its idle timeout.
pub fn accept_stateless(cx: &mut Cx<'_>, from: HostId, body: Body) -> Option<Body> {
    match body {
        Body::Syn(seg) => {
            cx.send(from, Body::syn_ack(seg.conn));
            None
        }
        Body::ConnRequest(cr) => Some(Body::Request(cr.req)),
        Body::Fin(_) => None,
        Body::TlsHello(f) => {
            cx.send(from, Body::tls_reply(f));
            None
        }
        other => Some(other),
    }
}

// === impl Accepted ===

/// A server's keep-alive: how long it keeps an idle connection open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeepAlive {
    /// Never closes an idle connection (Go's `net/http` default): the caller's idle timeout
    /// decides.
    #[default]
    Unlimited,
    /// Closes a connection idle for this long.
    Timeout(Nanos),
    /// `Connection: close` on every answer: one request per connection.
    Off,
}

/// A connection as its server sees it: its caller and the caller's number for it.
pub type ConnKey = (HostId, u64);

/// A server's side of its connections.
#[derive(Debug)]
pub struct Accepted {
    keep_alive: KeepAlive,
    /// Open connections: idle until a time (`Some`: the close is due then), or busy.
    conns: BTreeMap<ConnKey, Open>,
    timers: IdleTimers<ConnKey>,
    pub stats: SlowStartStats,
    /// How many connections callers opened, and how long they stayed open.
    pub usage: ConnUsage,
    /// The server's CPU time for a full TLS handshake ([`crate::tls`]): its first flight
    /// leaves this much later.
    handshake_cpu: Nanos,
}

/// Connections a server accepted and the time they were open, in all: what a load
/// balancer's capacity units are billed on (new connections a second, active connections).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnUsage {
    /// Connections opened (SYNs that found no connection).
    pub opened: u64,
    /// The sum over connections of the time each was open, up to `last` (nanoseconds).
    open_ns: u128,
    /// Connections open since `last`.
    open: u64,
    last: Nanos,
}

impl ConnUsage {
    /// Brings the sum up to `now` before the number of open connections becomes `open`.
    pub(crate) fn at(&mut self, now: Nanos, open: usize) {
        self.open_ns += u128::from(self.open) * u128::from(now.saturating_sub(self.last));
        (self.open, self.last) = (open as u64, now);
    }

    /// Everything open is gone, at an instant not known (a crash): its open time counts up to
    /// the last change before.
    pub(crate) fn clear(&mut self) {
        self.open = 0;
    }

    /// Connection-nanoseconds up to `now` (connections still open count until then).
    pub fn open_ns(&self, now: Nanos) -> u128 {
        self.open_ns + u128::from(self.open) * u128::from(now.saturating_sub(self.last))
    }
}

/// An open connection at its server.
#[derive(Clone, Copy, Debug)]
struct Open {
    /// Idle until this time (the keep-alive close is due then), or `None`: busy or no limit.
    idle_until: Option<Nanos>,
    /// Its congestion window for answers ([`crate::slow_start`]).
    send: SendWindow,
}

/// What slow start cost a server's answers, for records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlowStartStats {
    /// Answers sent on connections.
    pub answers: u64,
    /// Answers that needed more than one flight (a new or idled connection's window was too
    /// small for them).
    pub multi_flight: u64,
    /// The round trips those answers waited for, in all (nanoseconds).
    pub extra_wait: Nanos,
}

impl SlowStartStats {
    pub fn add(&mut self, other: &SlowStartStats) {
        self.answers += other.answers;
        self.multi_flight += other.multi_flight;
        self.extra_wait += other.extra_wait;
    }
}

/// What the server does with a request on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The connection is open: serve it.
    Serve,
    /// The server closed it (or never knew it): answer RST.
    Reset,
}

impl Accepted {
    pub fn new(keep_alive: KeepAlive) -> Accepted {
        Accepted {
            keep_alive,
            conns: BTreeMap::new(),
            timers: IdleTimers::new(),
            stats: SlowStartStats::default(),
            usage: ConnUsage::default(),
            handshake_cpu: 0,
        }
    }

    pub fn keep_alive(&self) -> KeepAlive {
        self.keep_alive
    }

    /// Spends `cpu` on each full TLS handshake before answering its first flight.
    pub fn with_handshake_cpu(mut self, cpu: Nanos) -> Accepted {
        self.handshake_cpu = cpu;
        self
    }

    /// A SYN arrived: the connection is open and idle (its first request follows the ACK),
    /// with the initial window; a SYN sent again restarts the handshake's RTT measurement.
    pub fn syn(&mut self, cx: &mut Cx<'_>, key: ConnKey, token: impl TimerToken) {
        let send = SendWindow::new(cx.now());
        if !self.conns.contains_key(&key) {
            self.usage.opened += 1;
            self.usage.at(cx.now(), self.conns.len() + 1);
        }
        self.idle(cx, key, token);
        self.conns.get_mut(&key).expect("just opened").send = send;
    }

    /// A request arrived on `key` at `now` (the first one measures the handshake's RTT).
    pub fn request(&mut self, now: Nanos, key: ConnKey) -> Arrival {
        match self.conns.get_mut(&key) {
            Some(open) => {
                if let Some(at) = open.idle_until.take() {
                    self.timers.remove(at, key);
                }
                open.send.request(now);
                Arrival::Serve
            }
            None => Arrival::Reset,
        }
    }

    /// An answer of `payload` bytes (head and body) leaves on `key` now, in segments of `mss`:
    /// how long after now its last flight leaves ([`crate::slow_start`]). Zero for a
    /// connection the caller has closed meanwhile.
    pub fn answer(&mut self, now: Nanos, key: ConnKey, payload: u64, mss: u64) -> Nanos {
        let Some(open) = self.conns.get_mut(&key) else { return 0 };
        let delay = open.send.send(now, payload.div_ceil(mss).max(1));
        self.stats.answers += 1;
        if delay > 0 {
            self.stats.multi_flight += 1;
            self.stats.extra_wait += delay;
        }
        delay
    }

    /// The server answered (or passed on) the request on `key`: true if it closes the
    /// connection now (keep-alive off: the answer says `Connection: close`, then a FIN).
    pub fn done(&mut self, cx: &mut Cx<'_>, key: ConnKey, token: impl TimerToken) -> bool {
        if !self.conns.contains_key(&key) {
            return false; // the caller closed it meanwhile
        }
        if self.keep_alive == KeepAlive::Off {
            self.conns.remove(&key);
            self.usage.at(cx.now(), self.conns.len());
            return true;
        }
        self.idle(cx, key, token);
        false
    }

    fn idle(&mut self, cx: &mut Cx<'_>, key: ConnKey, token: impl TimerToken) {
        let until = match self.keep_alive {
            KeepAlive::Timeout(t) => Some(cx.now() + t),
            KeepAlive::Unlimited | KeepAlive::Off => None,
        };
        let open = self.conns.entry(key).or_insert(Open { idle_until: None, send: SendWindow::new(cx.now()) });
        if let Some(at) = std::mem::replace(&mut open.idle_until, until) {
            self.timers.remove(at, key);
        }
        if let Some(at) = until {
            self.timers.add(cx, at, key, token);
        }
    }

    /// The caller's FIN arrived: the connection is gone.
    pub fn closed_by_caller(&mut self, now: Nanos, key: ConnKey) {
        if let Some(Open { idle_until: Some(at), .. }) = self.conns.remove(&key) {
            self.timers.remove(at, key);
        }
        self.usage.at(now, self.conns.len());
    }

    /// The keep-alive timer fired: the connections to close now (the server sends each caller
    /// a FIN).
    pub fn expire(&mut self, cx: &mut Cx<'_>, token: impl TimerToken) -> Vec<ConnKey> {
        let keys = self.timers.expire(cx, token);
        for key in &keys {
            self.conns.remove(key);
        }
        self.usage.at(cx.now(), self.conns.len());
        keys
    }

    /// Forgets every connection (the server crashed: a request on one of them is reset). Their
    /// open time counts up to the last change before the crash (the crash's instant is not
    /// known here).
    pub fn clear(&mut self) {
        self.usage.clear();
        self.conns.clear();
        self.timers.clear();
    }

    /// Takes what arrived from `from` (request `id`'s hop, if any): a SYN is answered, a FIN
    /// noted, a request on a connection the server closed is reset; a request to serve (on a
    /// connection or as a plain message) and anything else go back to the server.
    pub fn take(&mut self, cx: &mut Cx<'_>, from: HostId, id: Option<RequestId>, body: Body, token: impl TimerToken) -> Taken {
        match body {
            Body::Request(req) => Taken::Serve(req, None),
            Body::Syn(seg) => {
                self.syn(cx, (from, seg.conn), token);
                cx.send(from, Body::syn_ack(seg.conn));
                Taken::Handled
            }
            Body::ConnRequest(cr) => match self.request(cx.now(), (from, cr.conn)) {
                Arrival::Serve => Taken::Serve(cr.req, Some((from, cr.conn))),
                Arrival::Reset => {
                    cx.send(from, Body::rst(id, cr.conn));
                    Taken::Handled
                }
            },
            Body::Fin(seg) => {
                self.closed_by_caller(cx.now(), (from, seg.conn));
                Taken::Handled
            }
            // The handshake's traffic keeps the connection from idling out (a request follows).
            Body::TlsHello(f) => {
                if self.request(cx.now(), (from, f.conn)) == Arrival::Serve {
                    // A full handshake's first flight costs the server its key exchange.
                    let cpu = if f.round == 1 && !f.resumed { self.handshake_cpu } else { 0 };
                    cx.send_after(cpu, from, Body::tls_reply(f));
                } else {
                    cx.send(from, Body::rst(None, f.conn));
                }
                Taken::Handled
            }
            other => Taken::Other(other),
        }
    }

    /// Answers request `id` (the caller's `call_id`) with `status` and `bytes` of body, to
    /// `to`, on connection `conn` if it came on one: the answer waits for the connection's
    /// congestion window (it leaves, whole, as its last flight, `(flights - 1) x RTT` later:
    /// [`crate::slow_start`]), handed to the kernel with [`Cx::send_after`] rather than held
    /// under a timer of the server's, so it dies with the process by the same rule as its
    /// timers. Then the connection is idle again, or closed (keep-alive off: the answer says
    /// `Connection: close`, and a FIN follows its last flight).
    pub fn reply(
        &mut self,
        cx: &mut Cx<'_>,
        to: HostId,
        conn: Option<ConnKey>,
        (id, call_id): (RequestId, u64),
        (status, bytes): (u16, u64),
        token: impl TimerToken,
    ) {
        let closing = conn.is_some() && self.keep_alive == KeepAlive::Off;
        let msg = if closing { rpc::response_closing(Some(id), call_id, status, bytes) } else { rpc::response(Some(id), call_id, status, bytes) };
        let delay = match conn {
            Some(key) => {
                let mss = wire::mss(cx.topology().path_mtu(cx.host(), to));
                self.answer(cx.now(), key, msg.payload(), mss)
            }
            None => 0,
        };
        cx.send_after(delay, to, msg);
        self.release(cx, conn, delay, token);
    }

    /// The request on `conn` is answered or passed on: the connection is idle again, or
    /// closed (keep-alive off) with a FIN that follows the answer's last flight, `after` from
    /// now.
    pub fn release(&mut self, cx: &mut Cx<'_>, conn: Option<ConnKey>, after: Nanos, token: impl TimerToken) {
        if let Some(key) = conn
            && self.done(cx, key, token)
        {
            cx.send_after(after, key.0, Body::fin(key.1));
        }
    }

    /// The keep-alive timer fired: closes the connections idle for the keep-alive timeout, a
    /// FIN to each caller.
    pub fn sweep(&mut self, cx: &mut Cx<'_>, token: impl TimerToken) {
        for (caller, conn) in self.expire(cx, token) {
            cx.send(caller, Body::fin(conn));
        }
    }
}

/// What [`Accepted::take`] made of an arriving message.
#[derive(Debug)]
pub enum Taken {
    /// A request to serve, and the connection it came on (`None`: a plain message).
    Serve(Request, Option<ConnKey>),
    /// A connection's segment, dealt with.
    Handled,
    /// Not about connections: the server's to handle.
    Other(Body),
}
