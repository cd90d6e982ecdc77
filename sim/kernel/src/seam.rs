//! The kernel's implementation of the I/O seam (`azsim-net`): what real code gets inside the
//! simulation.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use azsim_net::{Accept, BoxSleep, Clock, Connect, Listen, Resolve};

use crate::sim::Shared;
use crate::stream::{self, SimStream};
use crate::time::nanos;
use crate::topology::HostId;

/// The network, clock and resolver of one simulated host.
#[derive(Clone)]
pub struct SimNet {
    shared: Arc<Shared>,
    host: HostId,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNet").field("host", &self.host).finish()
    }
}

impl SimNet {
    pub(crate) fn new(shared: Arc<Shared>, host: HostId) -> Self {
        SimNet { shared, host }
    }

    pub fn host(&self) -> HostId {
        self.host
    }

    /// The host's address.
    pub fn ip(&self) -> IpAddr {
        IpAddr::V4(self.shared.lock().topology().host(self.host).ip)
    }

    /// Adds `name -> addrs` to the resolver every host uses.
    pub fn register_name(&self, name: &str, addrs: Vec<IpAddr>) {
        self.shared.lock().register_name(name, addrs);
    }

    /// Virtual time since the start of the run, in nanoseconds (what fakes' registries use).
    pub fn elapsed(&self) -> crate::Nanos {
        self.shared.lock().now()
    }

    /// Whether this host is up (not crashed, not powered off). For supervisors that model a
    /// process's lifetime (a crash kills it; a restart starts it again), not for routing.
    pub fn is_up(&self) -> bool {
        self.shared.lock().host_state(self.host) == crate::HostState::Up
    }

    /// Waits until this host is up (`true`) or down (`false`).
    pub async fn until_up(&self, up: bool) {
        std::future::poll_fn(|cx| {
            let mut core = self.shared.lock();
            if (core.host_state(self.host) == crate::HostState::Up) == up {
                return Poll::Ready(());
            }
            core.state_wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Sends a typed message from this host to the process on `to` (the message path), for
    /// adapters that join real code to the fakes. A host that is not up sends nothing.
    pub fn send(&self, to: HostId, msg: crate::Message) {
        let mut core = self.shared.lock();
        if core.host_state(self.host) == crate::HostState::Up {
            core.send_message(self.host, to, msg);
        }
    }

    /// Ends a request of the history with `outcome` at this instant, for real code that stands
    /// for a client (a process calls `Cx::finish_request`). A host that is not up finishes
    /// nothing: its tasks died with it.
    pub fn finish_request(&self, id: crate::RequestId, outcome: crate::Outcome) {
        let mut core = self.shared.lock();
        if core.host_state(self.host) == crate::HostState::Up {
            core.finish_request(id, outcome);
        }
    }

    /// The clock alone (for components that take a `Clock`).
    pub fn clock(&self) -> SimClock {
        SimClock { shared: self.shared.clone() }
    }
}

impl Connect for SimNet {
    type Stream = SimStream;
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<SimStream>> + Send {
        stream::connect(self.shared.clone(), self.host, addr)
    }
}

/// A listening socket on a simulated host.
pub struct SimListener {
    shared: Arc<Shared>,
    host: HostId,
    addr: SocketAddr,
}

impl Accept for SimListener {
    type Stream = SimStream;
    fn accept(&mut self) -> impl Future<Output = io::Result<(SimStream, SocketAddr)>> + Send {
        std::future::poll_fn(move |cx| stream::poll_accept(&self.shared, self.host, self.addr.port(), cx))
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        self.shared.lock().unbind(self.host, self.addr.port());
    }
}

impl Listen for SimNet {
    type Listener = SimListener;
    async fn bind(&self, addr: SocketAddr) -> io::Result<SimListener> {
        let mut core = self.shared.lock();
        let ip = IpAddr::V4(core.topology().host(self.host).ip);
        if !addr.ip().is_unspecified() && addr.ip() != ip {
            return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{} is not an address of this host ({ip})", addr.ip())));
        }
        let port = core.bind(self.host, addr.port())?;
        Ok(SimListener { shared: self.shared.clone(), host: self.host, addr: SocketAddr::new(ip, port) })
    }
}

impl Resolve for SimNet {
    /// Host names and registered names resolve at once (a resolver with TTLs and query
    /// latency is the DNS fakes' business, later).
    async fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        let core = self.shared.lock();
        if let Some(addrs) = core.streams.names.get(name) {
            return Ok(addrs.clone());
        }
        if let Some(h) = core.topology().host_by_name(name) {
            return Ok(vec![IpAddr::V4(core.topology().host(h).ip)]);
        }
        Err(io::Error::new(io::ErrorKind::NotFound, format!("NXDOMAIN: {name}")))
    }
}

impl Clock for SimNet {
    fn now(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() // determinism: ok — the sim's runtime clock is paused and moved only by the driver
    }
    fn sleep(&self, duration: Duration) -> BoxSleep {
        self.clock().sleep(duration)
    }
    fn is_wall_clock(&self) -> bool {
        false
    }
}

/// Virtual time with nanosecond sleeps.
#[derive(Clone)]
pub struct SimClock {
    shared: Arc<Shared>,
}

impl Clock for SimClock {
    fn now(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() // determinism: ok — the sim's runtime clock is paused and moved only by the driver
    }
    fn sleep(&self, duration: Duration) -> BoxSleep {
        let shared = self.shared.clone();
        let id = {
            let mut core = shared.lock();
            let at = core.now().saturating_add(nanos(duration));
            core.new_async_timer(at)
        };
        Box::pin(SimSleep { shared, id })
    }
    fn is_wall_clock(&self) -> bool {
        false
    }
}

struct SimSleep {
    shared: Arc<Shared>,
    id: u64,
}

impl Future for SimSleep {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut core = self.shared.lock();
        let t = core.async_timers.get_mut(&self.id).expect("timer lives while its future does");
        if t.fired {
            return Poll::Ready(());
        }
        t.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for SimSleep {
    fn drop(&mut self) {
        self.shared.lock().async_timers.remove(&self.id);
    }
}
