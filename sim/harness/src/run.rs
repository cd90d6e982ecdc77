//! Runs one variant of a scenario: builds its world, drives the simulation to the end of the
//! run and its drain, and hands the history to `collect.rs` for the record.

use std::time::Duration;

use azsim_scenario::Scenario;

use crate::collect::record;
use crate::record::RunRecord;
use crate::world::{World, build};

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Keep every hop of every request (default): the per-hop table needs them. About 64 bytes
    /// per hop; turn off for long drills.
    pub record_hops: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { seed: None, record_hops: true, progress: false }
    }
}

/// Runs `variant` (or `baseline`) of `scenario`.
pub fn run_variant(scenario: &Scenario, variant: &str, opts: &RunOptions) -> Result<RunRecord, String> {
    let f =
        scenario.resolve(variant).ok_or_else(|| format!("{}: no variant named `{variant}`; it has: {}", scenario.path, scenario.variant_names().join(", ")))?;
    let seed = opts.seed.unwrap_or(f.seed);
    let mut world = build(&f, seed, opts.record_hops).map_err(|e| format!("{}: variant `{variant}`: {e}", scenario.path))?;
    let end = Duration::from_nanos(f.duration.nanos().saturating_add(f.drain.nanos()));
    drive(&mut world, end, opts.progress);
    Ok(record(&f, &scenario.file.name, variant, seed, &world))
}

fn drive(world: &mut World, end: Duration, progress: bool) {
    use std::io::IsTerminal;
    if progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(end.as_secs().max(1));
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} simulated {pos}s / {len}s [{bar:40}] {elapsed}").expect("template"));
        world.sim.run_until_with_progress(end, &|t| bar.set_position(t / 1_000_000_000));
        bar.finish_and_clear();
    } else {
        world.sim.run_until(end);
    }
}
