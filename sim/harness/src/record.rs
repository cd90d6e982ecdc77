//! The run record: everything a run measured, as serialisable data. Field names are the JSON
//! contract of `azsim run --json`.

use serde::Serialize;

/// Requests by outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
}

/// Latency percentiles in microseconds (nanosecond precision, as decimals).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p0: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (nanoseconds); all zero when empty. Exact, so a
    /// fixed-latency design reads 15.200 ms, not a histogram bucket near it.
    pub fn of(values: &mut [u64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        // Nearest rank in integer arithmetic (per mille), so 1,000 samples give p99.9 = the
        // 999th value, not a float rounding up to the maximum.
        let rank = |per_mille: usize| {
            let n = values.len();
            values[(per_mille * n).div_ceil(1000).clamp(1, n) - 1]
        };
        let us = |ns: u64| ns as f64 / 1000.0;
        Percentiles { p0: us(values[0]), p50: us(rank(500)), p90: us(rank(900)), p99: us(rank(990)), p999: us(rank(999)), max: us(values[values.len() - 1]) }
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "p0" => self.p0,
            "p50" => self.p50,
            "p90" => self.p90,
            "p99" => self.p99,
            "p999" => self.p999,
            "max" => self.max,
            _ => return None,
        })
    }
}

/// Boundary crossings per request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CrossingStats {
    pub max: u32,
    pub mean: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Crossings {
    pub az: CrossingStats,
    /// Hops between two AWS Regions.
    pub region: CrossingStats,
    /// Hops into or out of a place outside AWS (the internet, an on-premises site).
    pub internet: CrossingStats,
    /// How many requests took each number of AZ crossings.
    pub az_histogram: Vec<(u32, u64)>,
}

/// The requests that took the most AZ crossings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WorstPath {
    pub az_crossings: u32,
    pub requests: u64,
    pub latency_us: Percentiles,
}

/// The worst-case path on paper.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Analytic {
    pub max_az_crossings: u32,
    /// Sum of per-hop p0 (network and processing) along the worst path.
    pub p0_us: f64,
    /// Sum of per-hop p50 along the worst path.
    pub p50_us: f64,
    /// The path, hop by hop (`client@use1-az1 -> foo-alb@use1-az2 ...`).
    pub path: Vec<String>,
    /// Why there is no path on paper (the figures above are then zero and the path empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_computed: Option<String>,
}

/// What the run cost, by component, from the traffic it carried.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostRecord {
    pub total_usd: f64,
    /// The total over the requests the clients sent, per million (`None`: none were sent).
    pub per_million_requests_usd: Option<f64>,
    /// Each component's lines (`api_gateways.public`: requests), then data transfer.
    pub lines: Vec<CostLine>,
    /// Cross-AZ transfer by (from AZ, to AZ), both ends' charges.
    pub by_az_pair: Vec<AzPairCost>,
    /// The `prices:` keys that took AWS's us-east-1 price (the file set none).
    pub defaults: Vec<String>,
    /// How the figures were reckoned where AWS's bill would differ.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostLine {
    pub component: String,
    pub item: String,
    pub quantity: f64,
    pub unit: String,
    pub unit_usd: f64,
    pub usd: f64,
    /// The `prices:` key priced it.
    pub price: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AzPairCost {
    pub from: String,
    pub to: String,
    pub bytes: u64,
    pub usd: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PairBytes {
    pub from: String,
    pub to: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bytes {
    /// Every byte between hosts on the wire: what the applications wrote (requests and
    /// answers with their HTTP heads, health checks) in TCP segments with their TCP/IP headers
    /// and ACKs, and handshakes and closes. Cost is computed from wire bytes.
    pub total: u64,
    /// Of `total`, what the applications wrote (HTTP heads and bodies, no TCP/IP).
    pub payload_total: u64,
    pub cross_az: u64,
    /// Of `cross_az`, what the applications wrote.
    pub payload_cross_az: u64,
    /// Between two AWS Regions.
    pub cross_region: u64,
    /// From places outside AWS into AWS (internet ingress).
    pub internet_in: u64,
    /// From AWS (Regions and edge locations) to places outside it (internet egress).
    pub internet_out: u64,
    /// Cross-AZ bytes carried for requests (health checks excluded), per request.
    pub cross_az_per_request: f64,
    /// Dropped by faults.
    pub dropped: u64,
    pub by_az_pair: Vec<PairBytes>,
}

/// One client's view.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClientRecord {
    pub client: String,
    pub requests: Counts,
    pub latency_us: Percentiles,
    /// Through the client library: attempts sent and retries among them (retry amplification
    /// is attempts / requests).
    pub attempts: Option<u64>,
    pub retries: Option<u64>,
    /// Requests that waited for a new connection on their way, beside those that went on
    /// open ones (`None`: none waited: messages, or every connection was open before).
    pub handshakes: Option<Handshakes>,
    /// Its failed requests by how the client saw each end (its own timeout, a status, a
    /// refused or reset connection, no address), most frequent first, with how long they
    /// took: what the client experienced, whatever a component logged on its side.
    pub failures: Vec<FailureCause>,
}

/// One way a client's requests failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FailureCause {
    /// As the client saw it: `timeout`, `status 503`, `connection refused`, `connection reset`, ...
    pub cause: String,
    pub requests: u64,
    /// How long those requests took to fail (from sending to the client's verdict).
    pub latency_us: Percentiles,
}

/// A client's requests split by whether a connection was opened for them on their way (by
/// the client, or by a hop with no idle connection to its next one): each such connection
/// cost a handshake's round trip before the request could go on.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Handshakes {
    /// Requests that waited for at least one handshake (answered or not).
    pub paid: u64,
    /// Their share of the client's requests.
    pub share: f64,
    /// Latency of the answered requests that paid one or more handshakes.
    pub paid_latency_us: Percentiles,
    /// Latency of the answered requests that went on open connections all the way.
    pub open_latency_us: Percentiles,
}

/// Requests started in one window of the timeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub start_s: f64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub success_ratio: f64,
    pub p50_us: f64,
}

/// What a service's instances did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceRecord {
    pub service: String,
    /// Hosts (for an ECS service, every host that can run a task).
    pub instances: u32,
    /// An ECS service's tasks at the start (`instances` then counts the hosts it may place
    /// them on).
    pub tasks_at_start: Option<u32>,
    /// Requests answered or forwarded.
    pub served: u64,
    /// Requests answered or forwarded by each host that served any, in host order: how
    /// evenly the load spread (an NLB pins connections; a scale-out's new tasks may get none).
    pub served_by_host: Vec<(String, u64)>,
    /// Turned away with 503: the queue was full.
    pub rejected: u64,
    /// Requests that paid a cold start.
    pub cold_starts: u64,
    /// Refused with 403 by the source allow-list.
    pub forbidden: u64,
    /// What arrived, by method, `Host` and path (the first 64 kinds per instance; the rest
    /// as `*`).
    pub received: Vec<Received>,
}

/// Requests of one kind a service received.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Received {
    pub method: String,
    pub host: String,
    pub path: String,
    pub count: u64,
}

/// One kind of hop (from one group of hosts to another), over every request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HopStats {
    /// A client, load balancer or service name.
    pub from: String,
    pub to: String,
    /// Messages sent on this hop.
    pub hops: u64,
    /// Share of them that crossed an AZ boundary.
    pub cross_az_share: f64,
    pub bytes: u64,
    /// Lost to faults.
    pub dropped: u64,
    /// One-way network latency of those that arrived, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
}

/// What one kind of caller's TCP connections did, summed over its hosts: a load balancer's
/// nodes to their targets (ALBs keep keep-alive connections), an API's VPC link to an NLB (one
/// connection per request).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionsRecord {
    /// Who connects: `client <name>`, `<load balancer> -> targets`, `<api> VPC link`.
    pub caller: String,
    /// New connections: each paid a handshake (one round trip) before its first request.
    pub opened: u64,
    /// Requests sent on an idle pooled connection.
    pub reused: u64,
    /// Closed by the caller after its idle timeout.
    pub closed_idle_by_caller: u64,
    /// Closed by the server after its keep-alive timeout.
    pub closed_idle_by_server: u64,
    /// Closed after an answer: by the server (keep-alive `off`), or by a caller that sends one
    /// request per connection (a VPC link).
    pub closed_after_response: u64,
    /// Reset under a request (the server had closed the connection, or an NLB forgot the
    /// flow).
    pub reset: u64,
    /// Closed by the caller after its last allowed request (a client's `max_requests`).
    pub recycled: u64,
    /// SYNs sent again: no SYN-ACK came within the retransmission timeout (1 s, doubling).
    pub syn_retransmits: u64,
    /// Connection attempts given up: no SYN-ACK by the caller's connect timeout.
    pub connect_timeouts: u64,
}

/// What TCP slow start cost a service's answers on connections, summed over its instances: an
/// answer larger than the congestion window (10 segments on a new connection or one idle past
/// its RTO, doubling per round trip) waits a round trip per extra flight.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlowStartRecord {
    /// The service, or `LB (to callers)`: an ALB node's answers on its callers' connections.
    pub service: String,
    /// Answers sent on connections.
    pub answers: u64,
    /// Answers that needed more than one flight.
    pub multi_flight: u64,
    /// The round trips those answers waited, in all.
    pub extra_wait_ms: f64,
}

/// What an NLB's nodes did with connecting callers' flows, summed over its nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NlbFlowsRecord {
    pub load_balancer: String,
    /// Connections given a target (each keeps it for its life).
    pub flows: u64,
    /// SYNs that found no target (cross-zone off, none in the node's AZ): dropped.
    pub syns_dropped: u64,
    /// Flows forgotten after the idle timeout (350 s by default).
    pub idle_expired: u64,
    /// Packets on flows the node did not know (forgotten): answered with RST.
    pub resets: u64,
}

/// What one fault of the timeline did to the requests started while it was the latest fault.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultRecord {
    /// e.g. `az_outage use1-az3`.
    pub fault: String,
    pub at_s: f64,
    /// When it ended (`None`: it lasted to the end).
    pub until_s: Option<f64>,
    /// Requests that failed or were never answered.
    pub failed: u64,
    /// From the fault's start to the start of the last such request.
    pub last_failure_after_s: Option<f64>,
    /// A successful request started after the last failure.
    pub recovered: bool,
    /// For a fault that takes down hosts registered in Cloud Map: from its start to the last
    /// time `DiscoverInstances` returned one of them (0 if none was returned after it began).
    pub discovery_stale_s: Option<f64>,
    /// What happened between the fault's start and its last failure, in order, and the first
    /// event after it: why failures ended when they did (empty when none failed).
    pub recovery_chain: Vec<ChainEvent>,
}

/// One step of a recovery: seconds after the fault began, and what happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChainEvent {
    pub after_s: f64,
    pub what: String,
}

/// A Route 53 health check's change: when the checkers' aggregate changed, and when name
/// servers began answering with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthChangeRecord {
    pub check: String,
    pub healthy: bool,
    pub at_s: f64,
    pub published_s: f64,
}

/// What a NAT gateway carried.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NatRecord {
    /// The gateway's host (`<name>-<az>`), whose address is its Elastic IP.
    pub nat: String,
    pub elastic_ip: String,
    /// Bytes processed, both directions.
    pub bytes: u64,
    /// Connections refused: no port left for the destination.
    pub port_exhausted: u64,
    /// Packets on connections idle past 350 s, answered with RST.
    pub idle_resets: u64,
}

/// What an egress proxy fleet did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EgressRecord {
    pub service: String,
    pub forwarded: u64,
    /// 403: no valid secret.
    pub rejected: u64,
    /// No answer from the destination in time (504).
    pub timeouts: u64,
    /// A pooled connection met the NAT's RST (503).
    pub resets: u64,
}

/// What a CloudFront edge did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EdgeRecord {
    pub distribution: String,
    /// 403 from the WAF allow-list.
    pub blocked: u64,
    /// Attempts whose answer did not come within the response timeout.
    pub timeouts: u64,
    /// Attempts that could not connect (no SYN-ACK within the connection timeout, or refused).
    pub connect_failures: u64,
    /// Attempts after the first on the same origin (`connection_attempts`).
    pub retries: u64,
    /// Sent to the origin group's secondary.
    pub failed_over: u64,
    /// The origin's name resolved to nothing.
    pub no_origin: u64,
}

/// What an API's gateway did over a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiGatewayRecord {
    pub api: String,
    /// Answers to clients by status (the integration's, or the gateway's own).
    pub statuses: Vec<(u16, u64)>,
    /// 429: a route's, the stage's or the account's bucket was empty.
    pub throttled: u64,
    /// 401: no valid token.
    pub unauthorized: u64,
    /// 403: a valid token without the route's scope.
    pub forbidden: u64,
    /// CORS preflights answered by the gateway.
    pub preflights: u64,
    /// Integrations that did not answer within the timeout.
    pub timeouts: u64,
    /// The 401 answers by their `www-authenticate` header.
    pub challenges: Vec<(String, u64)>,
}

/// What a tunnel's proxies, agents and backend did over a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TunnelRecord {
    /// Distinct requests the backend executed.
    pub executed: u64,
    /// Of those, executed more than once.
    pub executed_twice: u64,
    /// Requests a proxy answered 503 because it had no agent for the backend.
    pub sent_to_proxy_without_agent: u64,
    /// Requests nobody answered (client timeout, or in flight at the end).
    pub unanswered: u64,
    /// Connections from outside that a closed site's firewall dropped.
    pub firewall_drops: u64,
}

/// One event of an ECS task's life.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskEventRecord {
    pub at_s: f64,
    pub service: String,
    pub task: u32,
    pub host: String,
    pub event: String,
}

/// One expectation's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectationResult {
    pub name: String,
    pub passed: bool,
    /// What was required, e.g. `p50 <= 20ms`.
    pub expected: String,
    /// What the run measured.
    pub actual: String,
}

/// Everything one run of one variant measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRecord {
    pub scenario: String,
    pub variant: String,
    pub seed: u64,
    pub description: String,
    pub duration_s: f64,
    pub requests: Counts,
    pub latency_us: Percentiles,
    pub crossings: Crossings,
    pub worst_path: WorstPath,
    pub analytic: Analytic,
    pub bytes: Bytes,
    /// The run's cost in all (`cost.total_usd`).
    pub cost_usd: f64,
    pub cost: CostRecord,
    pub clients: Vec<ClientRecord>,
    pub services: Vec<ServiceRecord>,
    pub timeline: Vec<TimelinePoint>,
    /// Per hop, when hops were recorded (empty otherwise).
    pub hops: Vec<HopStats>,
    /// Per caller that opens TCP connections (load balancer nodes to targets, VPC links).
    pub connections: Vec<ConnectionsRecord>,
    /// Per NLB whose nodes routed connecting callers' flows.
    pub nlb_flows: Vec<NlbFlowsRecord>,
    /// Per service that answered on connections: what slow start cost its answers.
    pub slow_start: Vec<SlowStartRecord>,
    pub faults: Vec<FaultRecord>,
    /// What ECS did to tasks (empty without ECS services).
    pub task_events: Vec<TaskEventRecord>,
    /// What the tunnel's real code did (scenarios with `tunnel:`).
    pub tunnel: Option<TunnelRecord>,
    /// What each API Gateway API answered itself and passed on.
    pub api_gateways: Vec<ApiGatewayRecord>,
    /// Route 53 health checks' status changes.
    pub health_changes: Vec<HealthChangeRecord>,
    /// What each CloudFront edge did itself.
    pub edges: Vec<EdgeRecord>,
    /// What each NAT gateway carried.
    pub nat_gateways: Vec<NatRecord>,
    /// What each egress proxy fleet did.
    pub egress: Vec<EgressRecord>,
    pub expectations: Vec<ExpectationResult>,
    pub passed: bool,
    /// Kernel events handled (the simulator's work, not a wall-clock figure).
    pub events: u64,
}
