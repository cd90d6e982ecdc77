//! The async half of a library client host: one life of the client process at a time (a
//! crash ends it, a restart begins another), owning the real [`AffinityClient`] and running
//! each call the process hands over.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use affinity_client::{AffinityClient, Config, Endpoint, HttpPolicy, InvalidConfig};
use azsim_fakes::HttpRequest;
use azsim_kernel::{Failure, HostId, Outcome, RequestId, Seed, SimClock, SimNet, SimRng};
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::outcome;
use super::transport::{CallTag, Counters, SharedPending, Transport, http_request};

/// What the process hands the task.
pub(crate) enum Command {
    /// Discovery's answer: the endpoints and the host behind each.
    Endpoints(Vec<(Endpoint, HostId)>),
    /// A new request of the workload.
    Call { id: RequestId, http: Arc<HttpRequest> },
}

/// What a host's task is made of; [`run`] runs it.
pub(crate) struct LibraryTask {
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) library: Config,
    pub(crate) pending: SharedPending,
    pub(crate) counters: Arc<Counters>,
    pub(crate) request_bytes: u64,
    pub(crate) response_bytes: u64,
}

type Client = AffinityClient<Transport, SimClock, HttpPolicy>;

/// Runs a life of the client whenever the host is up. Each life draws from its own stream,
/// `library/<host>/<life>`.
pub(crate) async fn run(net: SimNet, mut task: LibraryTask, seed: Seed, host_name: String) {
    for life in 0u32.. {
        net.until_up(true).await;
        // Calls handed over before the host went down died with it.
        while task.commands.try_recv().is_ok() {}
        let rng = seed.stream(&format!("library/{host_name}/{life}"));
        tokio::select! {
            biased;
            _ = net.until_up(false) => {}
            _ = one_life(&net, &mut task, rng) => {}
        }
        // A life that ended on its own (the process is gone) is not restarted in a tight loop.
        if net.is_up() {
            net.until_up(false).await;
        }
    }
}

/// One life: a new client (empty balancer, full budget) until the host goes down.
async fn one_life(net: &SimNet, task: &mut LibraryTask, rng: SimRng) {
    let hosts: Arc<Mutex<BTreeMap<_, _>>> = Arc::default();
    let transport = Transport {
        net: net.clone(),
        hosts: hosts.clone(),
        pending: task.pending.clone(),
        counters: task.counters.clone(),
        request_bytes: task.request_bytes,
        response_bytes: task.response_bytes,
    };
    // The production builder, with the host's clock and its own stream of randomness.
    let built = AffinityClient::builder(None).config(task.library.clone()).transport(transport).clock(net.clock()).rng(rng).build();
    let client: Client = match built {
        Ok(client) => client,
        Err(invalid) => return refuse_every_call(net, task, &invalid).await,
    };
    // Dropping the set (the host goes down) drops every call in flight.
    let mut calls = tokio::task::JoinSet::new();
    while let Some(command) = task.commands.recv().await {
        match command {
            Command::Endpoints(found) => {
                hosts.lock().expect("hosts").extend(found.iter().map(|(e, h)| (e.addr, *h)));
                client.set_endpoints(found.into_iter().map(|(e, _)| e).collect());
            }
            Command::Call { id, http } => {
                calls.spawn(one_call(net.clone(), client.clone(), CallTag::new(id, http)));
            }
        }
        while calls.try_join_next().is_some() {}
    }
}

/// A life whose settings the library refuses (a scenario value the scenario's checks let
/// through): each call fails at once, saying why, rather than the run stopping.
async fn refuse_every_call(net: &SimNet, task: &mut LibraryTask, invalid: &InvalidConfig) {
    tracing::error!(%invalid, "the library refuses these settings: every call fails");
    while let Some(command) = task.commands.recv().await {
        if let Command::Call { id, .. } = command {
            net.finish_request(id, Outcome::Failed(Failure::Other(format!("invalid library settings: {invalid}"))));
        }
    }
}

/// One request of the workload through the library, ended in the history when the library
/// answers or gives up.
async fn one_call(net: SimNet, client: Client, tag: CallTag) {
    let result = client.oneshot(http_request(tag.clone())).await;
    let outcome = outcome::of(result);
    net.finish_request(tag.id, outcome);
}
