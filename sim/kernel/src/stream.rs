//! A TCP-like byte stream over the simulated network, which hyper (or any tokio code) runs over
//! unchanged.
//!
//! - Connection set-up costs a round trip: SYN, then SYN-ACK; the first byte follows.
//! - Nothing listening, or a crashed process: the peer answers RST, so `connect` fails with
//!   `ConnectionRefused`, and an open connection fails with `ConnectionReset`.
//! - A black hole (host powered off, AZ outage, partition): a SYN vanishes and `connect` hangs
//!   until the caller's own timeout; a lost data segment is retransmitted after the
//!   retransmission timeout (doubling, capped at 120 s) with everything after it waiting in
//!   order, and after 15 tries the connection is reset, as Linux's TCP does.
//! - Segments of one direction arrive in order (a segment never overtakes the previous one).
//! - No flow control: a write is accepted at once (documented limitation).

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::core::{Core, Event, HopRef, Size};
use crate::history::RequestId;
use crate::sim::Shared;
use crate::time::Nanos;
use crate::topology::{HostId, HostState};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Syn,
    SynAck,
    Data(Vec<u8>),
    Fin,
    Rst,
}

/// Which end of a connection (a segment travels *toward* one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

#[derive(Default)]
struct Pipe {
    buf: VecDeque<u8>,
    fin: bool,
    rst: bool,
    reader: Option<Waker>,
    last_arrival: Nanos,
    /// Segments waiting to be retransmitted, the first one lost in a black hole and the rest
    /// queued behind it (a byte stream never has gaps). Empty while the path works.
    unacked: VecDeque<Segment>,
    /// Retransmissions of the head so far, and the current timeout (doubling, as TCP does).
    retries: u32,
    rto: Nanos,
}

struct Conn {
    client: HostId,
    server: HostId,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    established: bool,
    refused: bool,
    connect_waker: Option<Waker>,
    to_client: Pipe,
    to_server: Pipe,
    client_shut: bool,
    server_shut: bool,
    handles: u8,
    tag: Option<RequestId>,
}

impl Conn {
    fn pipe(&mut self, toward: Side) -> &mut Pipe {
        match toward {
            Side::Client => &mut self.to_client,
            Side::Server => &mut self.to_server,
        }
    }
    fn pipe_ref(&self, toward: Side) -> &Pipe {
        match toward {
            Side::Client => &self.to_client,
            Side::Server => &self.to_server,
        }
    }
    fn host(&self, side: Side) -> HostId {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }
    fn shut(&mut self, side: Side) -> &mut bool {
        match side {
            Side::Client => &mut self.client_shut,
            Side::Server => &mut self.server_shut,
        }
    }
}

struct Listener {
    backlog: VecDeque<(u64, SocketAddr)>,
    waker: Option<Waker>,
}

#[derive(Default)]
pub(crate) struct StreamTable {
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    listeners: BTreeMap<(HostId, u16), Listener>,
    next_port: BTreeMap<HostId, u16>,
    /// Static name table for [`crate::SimNet`]'s resolver.
    pub(crate) names: BTreeMap<String, Vec<IpAddr>>,
}

// === impl Core (the stream half of the network) ===

impl Core {
    pub(crate) fn bind(&mut self, host: HostId, port: u16) -> io::Result<u16> {
        let port = if port == 0 { self.ephemeral_port(host) } else { port };
        if self.streams.listeners.contains_key(&(host, port)) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("port {port} in use")));
        }
        self.streams.listeners.insert((host, port), Listener { backlog: VecDeque::new(), waker: None });
        Ok(port)
    }

    pub(crate) fn unbind(&mut self, host: HostId, port: u16) {
        self.streams.listeners.remove(&(host, port));
    }

    fn ephemeral_port(&mut self, host: HostId) -> u16 {
        let p = self.streams.next_port.entry(host).or_insert(49152);
        let port = *p;
        *p = if *p == u16::MAX { 49152 } else { *p + 1 };
        port
    }

    /// Starts a connection from `client` to `addr`: sends the SYN.
    pub(crate) fn open_connection(&mut self, client: HostId, addr: SocketAddr) -> u64 {
        let port = self.ephemeral_port(client);
        let client_ip = self.topology().host(client).ip;
        let server = match addr.ip() {
            IpAddr::V4(ip) => self.topology().host_by_ip(ip),
            IpAddr::V6(_) => None,
        };
        self.streams.next_conn += 1;
        let id = self.streams.next_conn;
        // An address with no host behind it: the SYN goes nowhere (hang), like a real VPC.
        let server_host = server.unwrap_or(client);
        self.streams.conns.insert(
            id,
            Conn {
                client,
                server: server_host,
                client_addr: SocketAddr::new(IpAddr::V4(client_ip), port),
                server_addr: addr,
                established: false,
                refused: false,
                connect_waker: None,
                to_client: Pipe::default(),
                to_server: Pipe::default(),
                client_shut: false,
                server_shut: false,
                handles: 1,
                tag: None,
            },
        );
        // A firewall that admits no inbound connection drops the SYN: the connect hangs until
        // the caller's own timeout, as it would against a real one.
        if server.is_some_and(|s| self.topology().admits(client, s)) {
            self.send_segment(id, Side::Server, Segment::Syn);
        } else if server.is_some() {
            self.firewall_drops += 1;
        }
        id
    }

    fn send_segment(&mut self, conn: u64, toward: Side, segment: Segment) {
        let Some(c) = self.streams.conns.get_mut(&conn) else { return };
        let carries_stream = matches!(segment, Segment::Data(_) | Segment::Fin);
        if carries_stream && !c.pipe_ref(toward).unacked.is_empty() {
            // Behind a lost segment: wait for it.
            c.pipe(toward).unacked.push_back(segment);
            return;
        }
        if let Err(lost) = self.try_send(conn, toward, segment)
            && carries_stream
        {
            // Lost: TCP retransmits it after a timeout, and everything after it waits.
            self.start_retransmission(conn, toward, vec![lost]);
        }
    }

    /// Hands one segment to the network; gives it back if the path is a black hole.
    fn try_send(&mut self, conn: u64, toward: Side, segment: Segment) -> Result<(), Segment> {
        let Some(c) = self.streams.conns.get(&conn) else { return Ok(()) };
        let (from, to, tag) = (c.host(toward.other()), c.host(toward), c.tag);
        // Control segments' sizes: SYN and SYN-ACK with Linux's options (MSS, SACK, timestamps,
        // window scale), FIN with timestamps, RST bare.
        let size = match &segment {
            Segment::Data(d) => Size::Tcp(d.len() as u64),
            Segment::Syn | Segment::SynAck => Size::Raw(60),
            Segment::Fin => Size::Raw(52),
            Segment::Rst => Size::Raw(crate::core::RST_BYTES),
        };
        let carries_data = matches!(segment, Segment::Data(_));
        let t = self.transmit(from, to, size, tag.filter(|_| carries_data));
        let bytes = t.bytes;
        let Some(arrive) = t.arrive_at else { return Err(segment) };
        let pipe = self.streams.conns.get_mut(&conn).expect("checked above").pipe(toward);
        let at = arrive.max(pipe.last_arrival);
        pipe.last_arrival = at;
        self.schedule(at, Event::Segment { conn, toward, segment, bytes, hop: t.hop });
        Ok(())
    }

    fn start_retransmission(&mut self, conn: u64, toward: Side, waiting: Vec<Segment>) {
        let rto = self.retransmit_timeout_ns();
        let Some(c) = self.streams.conns.get_mut(&conn) else { return };
        let pipe = c.pipe(toward);
        pipe.unacked = waiting.into();
        pipe.retries = 0;
        pipe.rto = rto;
        let at = self.now().saturating_add(rto);
        self.schedule(at, Event::Retransmit { conn, toward });
    }

    /// The retransmission timer of a direction fired: send the lost segment again; if it gets
    /// through, release the ones queued behind it in order; after 15 tries (about 15 minutes of
    /// backing off, when Linux gives up) reset the connection.
    pub(crate) fn retransmit(&mut self, conn: u64, toward: Side) {
        let Some(c) = self.streams.conns.get_mut(&conn) else { return };
        let pipe = c.pipe(toward);
        let mut waiting: VecDeque<Segment> = std::mem::take(&mut pipe.unacked);
        let Some(head) = waiting.pop_front() else { return };
        match self.try_send(conn, toward, head) {
            Err(head) => {
                waiting.push_front(head);
                let Some(c) = self.streams.conns.get_mut(&conn) else { return };
                let pipe = c.pipe(toward);
                pipe.unacked = waiting;
                pipe.retries += 1;
                if pipe.retries >= 15 {
                    pipe.unacked.clear();
                    self.reset_both_ends(conn);
                    return;
                }
                pipe.rto = pipe.rto.saturating_mul(2).min(120_000_000_000);
                let rto = pipe.rto;
                let at = self.now().saturating_add(rto);
                self.schedule(at, Event::Retransmit { conn, toward });
            }
            Ok(()) => {
                while let Some(next) = waiting.pop_front() {
                    if let Err(lost) = self.try_send(conn, toward, next) {
                        waiting.push_front(lost);
                        self.start_retransmission(conn, toward, waiting.into());
                        return;
                    }
                }
            }
        }
    }

    fn reset_both_ends(&mut self, conn: u64) {
        let Some(c) = self.streams.conns.get_mut(&conn) else { return };
        let mut wakers = vec![c.connect_waker.take()];
        for side in [Side::Client, Side::Server] {
            let p = c.pipe(side);
            p.rst = true;
            wakers.push(p.reader.take());
        }
        for w in wakers {
            self.wake(w);
        }
    }

    pub(crate) fn deliver_segment(&mut self, conn: u64, toward: Side, segment: Segment, bytes: u64, hop: HopRef) {
        let Some(c) = self.streams.conns.get(&conn) else {
            // The socket is gone; the bytes still reached the host.
            self.settle(bytes, hop, true);
            return;
        };
        let receiver = c.host(toward);
        let (server, server_addr, client_addr) = (c.server, c.server_addr, c.client_addr);
        match self.host_state(receiver) {
            HostState::Down => {
                self.settle(bytes, hop, false);
                return;
            }
            HostState::Crashed => {
                self.settle(bytes, hop, false);
                if segment != Segment::Rst {
                    self.send_segment(conn, toward.other(), Segment::Rst);
                }
                return;
            }
            HostState::Up => self.settle(bytes, hop, true),
        }
        match segment {
            Segment::Syn => match self.streams.listeners.get_mut(&(server, server_addr.port())) {
                Some(l) => {
                    l.backlog.push_back((conn, client_addr));
                    let w = l.waker.take();
                    self.wake(w);
                    self.send_segment(conn, Side::Client, Segment::SynAck);
                }
                None => self.send_segment(conn, Side::Client, Segment::Rst),
            },
            Segment::SynAck => {
                let c = self.streams.conns.get_mut(&conn).expect("present");
                c.established = true;
                let w = c.connect_waker.take();
                self.wake(w);
            }
            Segment::Rst => {
                let c = self.streams.conns.get_mut(&conn).expect("present");
                if !c.established && toward == Side::Client {
                    c.refused = true;
                }
                let w1 = c.connect_waker.take();
                let p = c.pipe(toward);
                p.rst = true;
                let w2 = p.reader.take();
                self.wake(w1);
                self.wake(w2);
            }
            Segment::Data(d) => {
                let p = self.streams.conns.get_mut(&conn).expect("present").pipe(toward);
                p.buf.extend(d);
                let w = p.reader.take();
                self.wake(w);
            }
            Segment::Fin => {
                let p = self.streams.conns.get_mut(&conn).expect("present").pipe(toward);
                p.fin = true;
                let w = p.reader.take();
                self.wake(w);
            }
        }
    }

    /// A host crashed (peers get RST) or went down (peers hear nothing). Its own sockets fail.
    pub(crate) fn host_failed(&mut self, host: HostId, state: HostState) {
        let ids: Vec<(u64, Side)> = self
            .streams
            .conns
            .iter()
            .flat_map(|(id, c)| {
                let mut v = Vec::new();
                if c.client == host {
                    v.push((*id, Side::Client));
                }
                if c.server == host && c.established {
                    v.push((*id, Side::Server));
                }
                v
            })
            .collect();
        for (id, side) in ids {
            if state == HostState::Crashed {
                self.send_segment(id, side.other(), Segment::Rst);
            }
            let c = self.streams.conns.get_mut(&id).expect("present");
            let p = c.pipe(side);
            p.rst = true;
            let w = p.reader.take();
            let w2 = c.connect_waker.take();
            self.wake(w);
            self.wake(w2);
        }
        let dead: Vec<(HostId, u16)> = self.streams.listeners.keys().filter(|(h, _)| *h == host).copied().collect();
        for key in dead {
            if let Some(l) = self.streams.listeners.remove(&key) {
                self.wake(l.waker);
            }
        }
    }

    pub(crate) fn register_name(&mut self, name: &str, addrs: Vec<IpAddr>) {
        self.streams.names.insert(name.to_string(), addrs);
    }
}

// === impl SimStream ===

/// One end of a simulated connection. Implements tokio's `AsyncRead` and `AsyncWrite`, so hyper
/// runs over it through `hyper_util::rt::TokioIo`.
pub struct SimStream {
    shared: Arc<Shared>,
    conn: u64,
    side: Side,
    local: SocketAddr,
    peer: SocketAddr,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream").field("local", &self.local).field("peer", &self.peer).finish()
    }
}

impl SimStream {
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Attributes the bytes this connection carries from now on to `request`, so they appear
    /// in its history (the typed message path does this per message).
    pub fn tag_request(&self, request: Option<RequestId>) {
        let mut core = self.shared.lock();
        if let Some(c) = core.streams.conns.get_mut(&self.conn) {
            c.tag = request;
        }
    }
}

pub(crate) async fn connect(shared: Arc<Shared>, host: HostId, addr: SocketAddr) -> io::Result<SimStream> {
    let (conn, local) = {
        let mut core = shared.lock();
        let id = core.open_connection(host, addr);
        (id, core.streams.conns[&id].client_addr)
    };
    // The handle exists from the start, so a cancelled connect cleans up on drop.
    let stream = SimStream { shared, conn, side: Side::Client, local, peer: addr };
    std::future::poll_fn(|cx| {
        let mut core = stream.shared.lock();
        let c = core.streams.conns.get_mut(&stream.conn).expect("connection exists while its handle does");
        if c.refused {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionRefused, format!("connection to {addr} refused"))));
        }
        if c.to_client.rst {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, format!("connection to {addr} reset"))));
        }
        if c.established {
            return Poll::Ready(Ok(()));
        }
        c.connect_waker = Some(cx.waker().clone());
        Poll::Pending
    })
    .await?;
    Ok(stream)
}

pub(crate) fn poll_accept(shared: &Arc<Shared>, host: HostId, port: u16, cx: &mut Context<'_>) -> Poll<io::Result<(SimStream, SocketAddr)>> {
    let mut core = shared.lock();
    if !core.streams.listeners.contains_key(&(host, port)) {
        return Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "listener closed (host failed)")));
    }
    // Skip connections whose client hung up before we accepted them.
    let (conn, peer) = loop {
        let l = core.streams.listeners.get_mut(&(host, port)).expect("checked above");
        let Some((conn, peer)) = l.backlog.pop_front() else {
            l.waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        if core.streams.conns.contains_key(&conn) {
            break (conn, peer);
        }
    };
    let c = core.streams.conns.get_mut(&conn).expect("just checked");
    c.handles += 1;
    let local = c.server_addr;
    Poll::Ready(Ok((SimStream { shared: shared.clone(), conn, side: Side::Server, local, peer }, peer)))
}

impl AsyncRead for SimStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut core = self.shared.lock();
        let Some(c) = core.streams.conns.get_mut(&self.conn) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let p = c.pipe(self.side);
        if !p.buf.is_empty() {
            let n = buf.remaining().min(p.buf.len());
            let (a, b) = p.buf.as_slices();
            let from_a = n.min(a.len());
            buf.put_slice(&a[..from_a]);
            buf.put_slice(&b[..n - from_a]);
            p.buf.drain(..n);
            return Poll::Ready(Ok(()));
        }
        if p.rst {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if p.fin {
            return Poll::Ready(Ok(()));
        }
        p.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut core = self.shared.lock();
        let Some(c) = core.streams.conns.get_mut(&self.conn) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if c.pipe(self.side).rst {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if *c.shut(self.side) {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        core.send_segment(self.conn, self.side.other(), Segment::Data(data.to_vec()));
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut core = self.shared.lock();
        close_write(&mut core, self.conn, self.side);
        Poll::Ready(Ok(()))
    }
}

fn close_write(core: &mut Core, conn: u64, side: Side) {
    let Some(c) = core.streams.conns.get_mut(&conn) else { return };
    let established = c.established;
    let shut = c.shut(side);
    if !*shut {
        *shut = true;
        if established {
            core.send_segment(conn, side.other(), Segment::Fin);
        }
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let mut core = self.shared.lock();
        close_write(&mut core, self.conn, self.side);
        if let Some(c) = core.streams.conns.get_mut(&self.conn) {
            c.handles -= 1;
            if c.handles == 0 {
                core.streams.conns.remove(&self.conn);
            }
        }
    }
}

impl azsim_net::Stream for SimStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}
