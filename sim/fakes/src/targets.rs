//! Target groups as the ELB control plane holds them: which targets are registered in each
//! group, and which are deregistering (draining). Whoever registers targets (the scenario at
//! build time, the ECS fake as tasks start and stop) writes here; every load-balancer node reads
//! it, and re-reads it only when its version changed, so routing a request costs one atomic load.
//!
//! It also holds each node's latest verdict on each target (`report_health`), which is what
//! ELB's `DescribeTargetHealth` answers and what ECS reads to replace a task the load balancer
//! reports unhealthy (`reported_unhealthy`). Verdicts do not change the version: nodes need
//! not re-read the targets when a health changes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use azsim_kernel::{HostId, Nanos};

use crate::pick::Endpoint;

/// A target in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registration {
    pub endpoint: Endpoint,
    /// When `DeregisterTargets` was called: from then on the target gets no new requests, and
    /// once the group's deregistration delay has passed the node drops it (answering 502 to
    /// requests still in flight to it).
    pub deregistered_at: Option<Nanos>,
}

#[derive(Debug, Default)]
struct Inner {
    groups: BTreeMap<String, Vec<Registration>>,
    /// Per group, per target: each node's latest verdict (true: healthy).
    health: BTreeMap<String, BTreeMap<HostId, BTreeMap<HostId, bool>>>,
}

/// Every target group of a run, by name (the service whose tasks it holds).
#[derive(Clone, Debug, Default)]
pub struct TargetRegistry {
    inner: Arc<Mutex<Inner>>,
    version: Arc<AtomicU64>,
}

impl TargetRegistry {
    /// `RegisterTargets`: adds `endpoint` to `group`, or takes it out of draining.
    pub fn register(&self, group: &str, endpoint: Endpoint) {
        let mut inner = self.inner.lock().expect("target registry lock");
        let targets = inner.groups.entry(group.to_string()).or_default();
        match targets.iter_mut().find(|r| r.endpoint.host == endpoint.host) {
            Some(r) => r.deregistered_at = None,
            None => {
                targets.push(Registration { endpoint, deregistered_at: None });
                // A new registration starts without verdicts (a new task on a reused host).
                if let Some(h) = inner.health.get_mut(group) {
                    h.remove(&endpoint.host);
                }
            }
        }
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// `DeregisterTargets`: the target starts draining at `now`.
    pub fn deregister(&self, group: &str, host: HostId, now: Nanos) {
        let mut inner = self.inner.lock().expect("target registry lock");
        if let Some(r) = inner.groups.get_mut(group).and_then(|t| t.iter_mut().find(|r| r.endpoint.host == host && r.deregistered_at.is_none())) {
            r.deregistered_at = Some(now);
            self.version.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets a target whose draining is over everywhere.
    pub fn remove(&self, group: &str, host: HostId) {
        let mut inner = self.inner.lock().expect("target registry lock");
        if let Some(t) = inner.groups.get_mut(group) {
            t.retain(|r| r.endpoint.host != host);
            self.version.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = inner.health.get_mut(group) {
            h.remove(&host);
        }
    }

    /// A load-balancer `node`'s verdict on `target` of `group` after a health check:
    /// `Some(healthy)`, or `None` while it has none yet (a new target before its first check).
    pub fn report_health(&self, group: &str, target: HostId, node: HostId, verdict: Option<bool>) {
        let mut inner = self.inner.lock().expect("target registry lock");
        if !inner.health.contains_key(group) {
            inner.health.insert(group.to_string(), BTreeMap::new());
        }
        let verdicts = inner.health.get_mut(group).expect("inserted above").entry(target).or_default();
        match verdict {
            Some(healthy) => verdicts.insert(node, healthy),
            None => verdicts.remove(&node),
        };
    }

    /// Whether the load balancer reports `target` of `group` unhealthy: at least one live node
    /// (`node_is_up`) has a verdict and every live node that has one says unhealthy. A target
    /// any live node still finds healthy counts healthy, as Route 53's evaluate-target-health
    /// reads a group (`LbDirectory::targets_healthy`); AWS does not document how the nodes'
    /// checks combine into the one state `DescribeTargetHealth` answers.
    pub fn reported_unhealthy(&self, group: &str, target: HostId, node_is_up: impl Fn(HostId) -> bool) -> bool {
        let inner = self.inner.lock().expect("target registry lock");
        let Some(verdicts) = inner.health.get(group).and_then(|h| h.get(&target)) else { return false };
        let mut live = verdicts.iter().filter(|(node, _)| node_is_up(**node)).peekable();
        live.peek().is_some() && live.all(|(_, healthy)| !healthy)
    }

    /// Changes with every registration change.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    /// The targets of `group`, in registration order.
    pub fn targets(&self, group: &str) -> Vec<Registration> {
        self.inner.lock().expect("target registry lock").groups.get(group).cloned().unwrap_or_default()
    }
}
