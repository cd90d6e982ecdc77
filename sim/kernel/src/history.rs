//! The recorded history of every request, read by the checks after the run.

use crate::failure::Failure;
use crate::time::Nanos;
use crate::topology::{AzId, HostId, RegionId};

/// A request's identity, assigned by the client that starts it and carried end to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Still in flight when the run stopped: nobody knows whether it succeeded.
    Unknown,
    /// Answered successfully.
    Ok,
    /// Answered with an error, or given up on; the failure says which.
    Failed(Failure),
}

/// One message or segment of a request between two hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub from: HostId,
    pub to: HostId,
    pub from_az: AzId,
    pub to_az: AzId,
    pub from_region: RegionId,
    pub to_region: RegionId,
    pub bytes: u64,
    pub sent_at: Nanos,
    /// When it arrived; `None` if a fault dropped it.
    pub arrived_at: Option<Nanos>,
}

/// Everything recorded about one request.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub id: RequestId,
    pub client: HostId,
    /// A label the client gives (which workload or route it belongs to).
    pub label: u32,
    pub started: Nanos,
    pub finished: Option<Nanos>,
    pub outcome: Outcome,
    pub az_crossings: u32,
    /// Hops between two cloud Regions.
    pub region_crossings: u32,
    /// Hops into or out of a place outside the cloud (the internet, an on-premises site).
    pub outside_crossings: u32,
    pub bytes: u64,
    pub bytes_cross_az: u64,
    pub bytes_cross_region: u64,
    /// Which of its client's kinds of request it is (an index the client gives: the entry of
    /// its request mix it picked), once the client picked one.
    pub kind: Option<u32>,
    /// The status of the answer it got, if one came (HTTP-like).
    pub status: Option<u16>,
    /// Connections opened for it on its way (by its client or by a hop that had no idle one):
    /// each cost it a handshake. Zero: it went on connections already open, or as messages.
    pub handshakes: u32,
    /// Each hop, in order of sending (kept only when the run records hops).
    pub hops: Vec<Hop>,
}

impl RequestRecord {
    pub(crate) fn new(id: RequestId, client: HostId, label: u32, started: Nanos) -> Self {
        RequestRecord {
            id,
            client,
            label,
            started,
            finished: None,
            outcome: Outcome::Unknown,
            az_crossings: 0,
            region_crossings: 0,
            outside_crossings: 0,
            bytes: 0,
            bytes_cross_az: 0,
            bytes_cross_region: 0,
            kind: None,
            status: None,
            handshakes: 0,
            hops: Vec::new(),
        }
    }

    /// End-to-end latency, if the request finished.
    pub fn latency(&self) -> Option<Nanos> {
        self.finished.map(|f| f - self.started)
    }
}
