//! Event-driven programs on hosts: the fakes run here, on the typed message path.

use std::any::Any;

use crate::core::Core;
use crate::history::{Outcome, RequestId};
use crate::message::Message;
use crate::rng::SimRng;
use crate::time::Nanos;
use crate::timer::TimerToken;
use crate::topology::{AzId, HostId, RegionId, Topology};

/// A program running on a simulated host. Handlers run to completion at one instant of virtual
/// time; work that takes time is a timer.
pub trait Process: Send + 'static {
    /// Called once when the run starts (and, by default, after a restart).
    fn on_start(&mut self, _cx: &mut Cx<'_>) {}
    /// A message arrived from `from`.
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message);
    /// `msg`, sent to `to`, met a crashed process there: the connection was refused or reset
    /// (one round trip after sending). Powered-off hosts and partitions stay silent instead.
    fn on_refused(&mut self, _cx: &mut Cx<'_>, _to: HostId, _msg: Message) {}
    /// A timer set with [`Cx::set_timer`] fired; `token` is what it was set with, as a `u64`
    /// ([`TimerToken::from_token`] turns it back into the process's own timer type).
    fn on_timer(&mut self, _cx: &mut Cx<'_>, _token: u64) {}
    /// The host crashed or lost power: everything in memory is gone. Timers already set will
    /// not fire.
    fn on_crash(&mut self) {}
    /// Called just before [`Process::on_crash`] when the process crashes (not when the host
    /// loses power): the requests it had accepted and not answered, with who sent each. Their
    /// connections die with the process, so the OS resets them: each sender's
    /// [`Process::on_refused`] gets the message back, one trip later. Default: none (the
    /// senders find out by their own timeouts).
    fn open_requests(&mut self) -> Vec<(HostId, Message)> {
        Vec::new()
    }
    /// The host is back.
    fn on_restart(&mut self, cx: &mut Cx<'_>) {
        self.on_start(cx);
    }
    /// For reading results after the run.
    fn as_any(&self) -> &dyn Any;
}

/// What a process may do: its view of the kernel.
pub struct Cx<'a> {
    core: &'a mut Core,
    host: HostId,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(core: &'a mut Core, host: HostId) -> Self {
        Cx { core, host }
    }
    pub fn now(&self) -> Nanos {
        self.core.now()
    }
    pub fn host(&self) -> HostId {
        self.host
    }
    pub fn az(&self) -> AzId {
        self.core.topology().host(self.host).az
    }
    pub fn region(&self) -> RegionId {
        self.core.topology().host(self.host).region
    }
    pub fn topology(&self) -> &Topology {
        self.core.topology()
    }
    /// Whether `host` is up, as seen by an omniscient observer. Fakes must not use this to
    /// route (they learn of failures through health checks and timeouts); it exists for
    /// components that AWS documents as knowing, and for assertions.
    pub fn host_is_up(&self, host: HostId) -> bool {
        self.core.host_state(host) == crate::HostState::Up
    }
    /// How long `host` has been down (crashed or powered off), or `None` while it is up; the
    /// same omniscient view as [`Cx::host_is_up`].
    pub fn host_down_for(&self, host: HostId) -> Option<Nanos> {
        (!self.host_is_up(host)).then(|| self.now().saturating_sub(self.core.host_state_since(host)))
    }
    /// This host's random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.core.host_rng(self.host)
    }
    /// Sends a message to the process on `to`.
    pub fn send(&mut self, to: HostId, msg: Message) {
        self.core.send_message(self.host, to, msg);
    }
    /// Sends a message to the process on `to` after `after`: it leaves then, as if sent by
    /// [`Cx::send`] at that time (latency, faults and bytes then apply), and not at all if this
    /// process dies first. For data the sender's transport holds back (a congestion window).
    /// With `after` zero it is [`Cx::send`].
    pub fn send_after(&mut self, after: Nanos, to: HostId, msg: Message) {
        if after == 0 {
            return self.send(to, msg);
        }
        self.core.send_later(self.host, after, to, msg);
    }
    /// Calls [`Process::on_timer`] with `token` after `after`.
    pub fn set_timer(&mut self, after: Nanos, token: impl TimerToken) {
        self.core.set_process_timer(self.host, after, token.into_token());
    }
    /// Starts a request's history; the client owns the returned id.
    pub fn new_request(&mut self, label: u32) -> RequestId {
        self.core.new_request(self.host, label)
    }
    pub fn finish_request(&mut self, id: RequestId, outcome: Outcome) {
        self.core.finish_request(id, outcome);
    }
    /// Notes which kind of request `id` is ([`crate::RequestRecord::kind`]).
    pub fn tag_request(&mut self, id: RequestId, kind: u32) {
        self.core.tag_request(id, kind);
    }
    /// Notes the status of the answer request `id` got ([`crate::RequestRecord::status`]).
    pub fn note_status(&mut self, id: RequestId, status: u16) {
        self.core.note_status(id, status);
    }
    /// Notes that a connection was opened for request `id` ([`crate::RequestRecord::handshakes`]).
    pub fn note_handshake(&mut self, id: RequestId) {
        self.core.note_handshake(id);
    }
    /// Call after waking tokio tasks from a handler (e.g. sending on a channel a task reads),
    /// so the driver lets them run at this instant, before it moves time.
    pub fn tasks_woken(&mut self) {
        self.core.woke_tasks = true;
    }
}
