//! An NLB node's flow table: which target each client connection (flow) was given.
//!
//! An NLB routes connections, not requests (FIDELITY.md, NLB rows):
//! - A node picks a target for a TCP connection when its SYN arrives, from the protocol, the
//!   addresses and ports and the sequence number, and keeps that target for the connection's
//!   life: a SYN retransmission (same ports, same sequence number) lands where the first SYN
//!   did, and every request on the connection goes to the same target.
//!   <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/introduction.html#network-load-balancer-overview>
//! - A node with no target for a SYN (cross-zone off and no registered target in its AZ)
//!   answers nothing: the caller's kernel retransmits the SYN until it gives up. AWS's advice
//!   is that each enabled AZ have a registered target; a node without one does not accept
//!   connections.
//!   <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#availability-zones>
//! - A flow idle for the TCP idle timeout (350 s) is forgotten, silently; a packet on it
//!   afterwards, from either side, is answered with RST.
//!   <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#connection-idle-timeout>
//!
//! The node's own connection to the target carries the flow's number: the target sees a
//! connection from the node (client IP preservation decides the source address requests
//! carry, not the connection's identity here).

use std::collections::BTreeMap;

use azsim_kernel::{Cx, HostId, Nanos, TimerToken};

use crate::conn::{ConnKey, IdleTimers};

/// What a node's flows did, for records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Connections given a target.
    pub flows: u64,
    /// SYNs (first or retransmitted) that found no target: dropped, as a black hole.
    pub syns_dropped: u64,
    /// Flows forgotten after the idle timeout.
    pub idle_expired: u64,
    /// Packets on a flow the node does not know (forgotten, or the node restarted): RST.
    pub resets: u64,
}

impl FlowStats {
    pub fn add(&mut self, other: &FlowStats) {
        self.flows += other.flows;
        self.syns_dropped += other.syns_dropped;
        self.idle_expired += other.idle_expired;
        self.resets += other.resets;
    }
}

#[derive(Clone, Copy, Debug)]
struct Flow {
    client: ConnKey,
    target: HostId,
    /// When it is forgotten unless a packet passes first.
    idle_due: Nanos,
}

/// A node's flows: client connection -> target, with the idle timeout.
#[derive(Debug)]
pub struct Flows {
    idle_timeout: Nanos,
    by_client: BTreeMap<ConnKey, u64>,
    flows: BTreeMap<u64, Flow>,
    timers: IdleTimers<u64>,
    next: u64,
    pub stats: FlowStats,
    /// Flows opened and how long they lasted (NLB capacity units are billed on both).
    pub usage: crate::ConnUsage,
}

impl Flows {
    pub fn new(idle_timeout: Nanos) -> Flows {
        Flows {
            idle_timeout,
            by_client: BTreeMap::new(),
            flows: BTreeMap::new(),
            timers: IdleTimers::new(),
            next: 0,
            stats: FlowStats::default(),
            usage: crate::ConnUsage::default(),
        }
    }

    /// A new flow from `client` to `target`: its number (the node's connection to the target).
    pub fn open(&mut self, cx: &mut Cx<'_>, client: ConnKey, target: HostId, token: impl TimerToken) -> u64 {
        self.next += 1;
        self.usage.opened += 1;
        self.usage.at(cx.now(), self.flows.len() + 1);
        let idle_due = cx.now() + self.idle_timeout;
        self.flows.insert(self.next, Flow { client, target, idle_due });
        self.by_client.insert(client, self.next);
        self.timers.add(cx, idle_due, self.next, token);
        self.stats.flows += 1;
        self.next
    }

    /// A packet from the client side of `client`: its flow and target, the idle timer
    /// restarted (`None`: the node does not know the flow).
    pub fn from_client(&mut self, cx: &mut Cx<'_>, client: ConnKey, token: impl TimerToken) -> Option<(u64, HostId)> {
        let id = *self.by_client.get(&client)?;
        let target = self.touch(cx, id, token)?.target;
        Some((id, target))
    }

    /// A packet from the target side of flow `id`: the client connection it belongs to, the
    /// idle timer restarted.
    pub fn from_target(&mut self, cx: &mut Cx<'_>, id: u64, token: impl TimerToken) -> Option<ConnKey> {
        Some(self.touch(cx, id, token)?.client)
    }

    fn touch(&mut self, cx: &mut Cx<'_>, id: u64, token: impl TimerToken) -> Option<Flow> {
        let flow = self.flows.get_mut(&id)?;
        self.timers.remove(flow.idle_due, id);
        flow.idle_due = cx.now() + self.idle_timeout;
        let flow = *flow;
        self.timers.add(cx, flow.idle_due, id, token);
        Some(flow)
    }

    /// The flow `id` ended (a FIN or RST passed, or the target closed after its answer).
    pub fn close(&mut self, now: Nanos, id: u64) -> Option<(ConnKey, HostId)> {
        let flow = self.flows.remove(&id)?;
        self.usage.at(now, self.flows.len());
        self.by_client.remove(&flow.client);
        self.timers.remove(flow.idle_due, id);
        Some((flow.client, flow.target))
    }

    /// The flow `id` ended from its target's side (`target` must be the flow's target).
    pub fn close_from_target(&mut self, now: Nanos, id: u64, target: HostId) -> Option<(ConnKey, HostId)> {
        if self.flows.get(&id)?.target != target {
            return None;
        }
        self.close(now, id)
    }

    /// The flow of `client`, if the node knows it (without touching it).
    pub fn of_client(&self, client: ConnKey) -> Option<u64> {
        self.by_client.get(&client).copied()
    }

    /// The idle timer fired: forgets the flows idle for the timeout (silently: neither side
    /// hears of it).
    pub fn expire(&mut self, cx: &mut Cx<'_>, token: impl TimerToken) {
        for id in self.timers.expire(cx, token) {
            if let Some(flow) = self.flows.remove(&id) {
                self.by_client.remove(&flow.client);
                self.stats.idle_expired += 1;
            }
        }
        self.usage.at(cx.now(), self.flows.len());
    }

    /// Forgets every flow (the node restarted).
    pub fn clear(&mut self) {
        self.usage.clear();
        self.flows.clear();
        self.by_client.clear();
        self.timers.clear();
    }
}
