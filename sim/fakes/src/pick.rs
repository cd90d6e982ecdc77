//! How a caller picks one instance of a service.

use azsim_kernel::{AzId, HostId, SimRng};

/// An index into `weights`, drawn with probability proportional to its weight; `None` when
/// every weight is zero (or there is none).
pub fn weighted_index(rng: &mut SimRng, weights: impl Iterator<Item = u32> + Clone) -> Option<usize> {
    let total: u64 = weights.clone().map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let mut x = rng.below(total);
    for (i, w) in weights.enumerate() {
        if x < u64::from(w) {
            return Some(i);
        }
        x -= u64::from(w);
    }
    unreachable!("x < total")
}

/// An instance a caller can send to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: HostId,
    pub az: AzId,
}

/// The policy (see the scenario language's `pick`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickPolicy {
    Any,
    RoundRobin,
    Local,
    PreferLocal,
    Spread,
}

/// Picks instances; keeps the round-robin position.
#[derive(Clone, Debug)]
pub struct Picker {
    pub policy: PickPolicy,
    pub endpoints: Vec<Endpoint>,
    next: usize,
}

impl Picker {
    pub fn new(policy: PickPolicy, endpoints: Vec<Endpoint>) -> Self {
        Picker { policy, endpoints, next: 0 }
    }

    /// An instance for a caller in `caller_az` whose chain has visited `visited`; `None` when
    /// the policy leaves no candidate. Allocation-free: it runs once per hop.
    pub fn pick(&mut self, rng: &mut SimRng, caller_az: AzId, visited: &[AzId]) -> Option<Endpoint> {
        let has_local = self.endpoints.iter().any(|e| e.az == caller_az);
        let has_fresh = self.endpoints.iter().any(|e| !visited.contains(&e.az));
        let policy = self.policy;
        let eligible = |e: &Endpoint| match policy {
            PickPolicy::Any | PickPolicy::RoundRobin => true,
            PickPolicy::Local => e.az == caller_az,
            PickPolicy::PreferLocal => !has_local || e.az == caller_az,
            PickPolicy::Spread => !has_fresh || !visited.contains(&e.az),
        };
        let count = self.endpoints.iter().filter(|e| eligible(e)).count();
        if count == 0 {
            return None;
        }
        let i = if policy == PickPolicy::RoundRobin {
            self.next = self.next.wrapping_add(1);
            (self.next - 1) % count
        } else {
            rng.below(count as u64) as usize
        };
        self.endpoints.iter().filter(|e| eligible(e)).nth(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps() -> Vec<Endpoint> {
        (0..3).map(|i| Endpoint { host: HostId(i), az: AzId(i as u16) }).collect()
    }

    #[test]
    fn policies() {
        let mut rng = SimRng::from_seed(1);
        let mut local = Picker::new(PickPolicy::Local, eps());
        assert_eq!(local.pick(&mut rng, AzId(1), &[]).unwrap().host, HostId(1));
        assert_eq!(local.pick(&mut rng, AzId(7), &[]), None);
        let mut prefer = Picker::new(PickPolicy::PreferLocal, eps());
        assert!(prefer.pick(&mut rng, AzId(7), &[]).is_some());
        let mut spread = Picker::new(PickPolicy::Spread, eps());
        for _ in 0..20 {
            assert_eq!(spread.pick(&mut rng, AzId(0), &[AzId(0), AzId(2)]).unwrap().az, AzId(1));
        }
        let mut rr = Picker::new(PickPolicy::RoundRobin, eps());
        let seq: Vec<u32> = (0..4).map(|_| rr.pick(&mut rng, AzId(0), &[]).unwrap().host.0).collect();
        assert_eq!(seq, vec![0, 1, 2, 0]);
    }
}
