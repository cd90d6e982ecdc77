//! Cloud Map on the typed message path: the same registry as the HTTP endpoint, answering
//! `DiscoverInstances` from fakes (clients doing client-side discovery). Each call costs a round
//! trip and bytes, like the real API call.

use std::any::Any;
use std::sync::{Arc, Mutex};

use azsim_kernel::{Cx, HostId, Message, Process};

use super::ops::{CloudMapError, Discover, Found};
use super::state::Registry;
use crate::rpc::Body;

/// A `DiscoverInstances` call on the message path.
#[derive(Clone, Debug)]
pub struct DiscoverCall {
    pub call_id: u64,
    pub request: Discover,
}

/// Its answer.
#[derive(Clone, Debug)]
pub struct DiscoverAnswer {
    pub call_id: u64,
    pub result: Result<Vec<Found>, CloudMapError>,
}

/// Bytes of a `DiscoverInstances` request, and of each instance in the answer (JSON with its
/// attributes), roughly as on the wire.
pub const DISCOVER_REQUEST_BYTES: u64 = 400;
pub const DISCOVER_BYTES_PER_INSTANCE: u64 = 250;

/// The Cloud Map endpoint as a process.
pub struct CloudMapNode {
    registry: Arc<Mutex<Registry>>,
}

impl CloudMapNode {
    pub fn new(registry: Arc<Mutex<Registry>>) -> Self {
        CloudMapNode { registry }
    }
}

impl Process for CloudMapNode {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let Body::DiscoverCall(call) = Body::of(msg) else { return };
        let now = cx.now();
        let result = self.registry.lock().expect("registry lock").discover(now, cx.rng(), &call.request).map(|d| d.instances);
        let n = result.as_ref().map_or(0, Vec::len) as u64;
        let answer = DiscoverAnswer { call_id: call.call_id, result };
        cx.send(from, Body::DiscoverAnswer(answer).message(None, 100 + n * DISCOVER_BYTES_PER_INSTANCE));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
