//! azsim's composition root: scenario in, simulated run, checks, reports out.
//!
//! - `world.rs` (and `world/`, a builder per fake): the kernel's world and the fakes from a
//!   resolved scenario and its placement plan;
//! - `tunnel.rs`: the real inverting proxy and forwarding agent on simulated hosts (`tunnel:`);
//! - `library_client.rs` (and `library_client/`): the AZ-affinity library's real
//!   `AffinityClient` on simulated client hosts (`library:`);
//! - `run.rs`: runs one variant; `collect.rs` reads the history into a [`RunRecord`]
//!   (`record.rs`), through one `RequestView` per request (`view.rs`);
//! - `analytic.rs`: the worst-case path on paper (max AZ crossings, sum of per-hop percentiles);
//! - `checks.rs`: evaluates the scenario's expectations against the record and the views;
//! - `report.rs`: Markdown summary, JSON, and the side-by-side comparison of variants;
//! - `junit.rs`: JUnit XML (a test case per variant, simulated seconds as a property);
//! - `main.rs`: the `azsim` CLI.

mod analytic;
mod checks;
mod collect;
mod cost;
mod junit;
mod library_client;
mod record;
mod report;
mod run;
mod tunnel;
mod view;
mod world;

pub use analytic::{AnalyticPath, not_on_paper, worst_case_path};
pub use junit::junit_xml;
pub use record::{
    Analytic, ApiGatewayRecord, AzPairCost, Bytes, ClientRecord, ConnectionsRecord, CostLine, CostRecord, Counts, CrossingStats, Crossings, EdgeRecord,
    ExpectationResult, FaultRecord, HealthChangeRecord, HopStats, NlbFlowsRecord, PairBytes, Percentiles, Received, RunRecord, ServiceRecord, TimelinePoint,
    TunnelRecord, WorstPath,
};
pub use report::{comparison_markdown, summary_markdown, to_json, write_reports};
pub use run::{RunOptions, run_variant};
pub use world::dist;
