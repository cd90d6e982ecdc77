//! azsim's composition root: scenario in, simulated run, checks, reports out.
//!
//! - `world.rs`: builds the kernel's world and the fakes from a resolved scenario;
//! - `tunnel.rs`: the real inverting proxy and forwarding agent on simulated hosts (`tunnel:`);
//! - `run.rs`: runs one variant and turns the history into a [`RunRecord`] (`record.rs`);
//! - `analytic.rs`: the worst-case path on paper (max AZ crossings, sum of per-hop percentiles);
//! - `checks.rs`: evaluates the scenario's expectations against the record;
//! - `report.rs`: Markdown summary, JSON, and the side-by-side comparison of variants;
//! - `main.rs`: the `azsim` CLI.

mod analytic;
mod checks;
mod library_client;
mod record;
mod report;
mod run;
mod tunnel;
mod world;

pub use analytic::{AnalyticPath, worst_case_path};
pub use record::{
    Analytic, ApiGatewayRecord, Bytes, ClientRecord, Counts, CrossingStats, Crossings, EdgeRecord, ExpectationResult, FaultRecord, HealthChangeRecord,
    HopStats, PairBytes, Percentiles, Received, RunRecord, ServiceRecord, TimelinePoint, TunnelRecord, WorstPath,
};
pub use report::{comparison_markdown, junit_xml, summary_markdown, to_json, write_reports};
pub use run::{RunOptions, run_variant};
pub use world::dist;
