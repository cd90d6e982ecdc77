//! The *simulated* end-to-end latency of every variant of every reference scenario
//! (`scenarios/reference/*.yaml`), as criterion benchmarks.
//!
//! Criterion normally times code on the wall clock; here `iter_custom` reports simulated time
//! instead (`iters × p50` or `iters × p99` of the variant's run), so the usual baseline workflow
//! guards the *design*, not the simulator:
//!
//! ```text
//! cargo bench -p azsim-benches --bench scenarios -- --save-baseline main
//! # change a scenario or a fake ...
//! cargo bench -p azsim-benches --bench scenarios -- --baseline main   # "regressed" = slower design
//! ```
//!
//! Runs are deterministic, so each variant runs once up front and its record is reused by both
//! of its benchmarks; criterion's iterations then only add up a cached figure. Being exact, the
//! figures have no noise: any change, however small, is reported as a change.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use azsim::{RunOptions, RunRecord};
use criterion::{BenchmarkId, Criterion};

/// Where the reference scenarios live, relative to the workspace root.
const REFERENCE_DIR: &str = "scenarios/reference";

/// One reference scenario and the record of each of its variants (baseline first).
struct ScenarioRuns {
    name: String,
    variants: Vec<(String, RunRecord)>,
}

fn main() {
    let runs: Vec<ScenarioRuns> = reference_files().iter().map(|path| run_scenario(path)).collect();
    print_table(&runs);

    // Criterion picks iteration counts from *wall* time (its warm-up doubles the count until
    // the wall clock passes `warm_up_time`), while the figures it analyses are the simulated
    // durations returned below. Each iteration only adds a cached figure, so a 1 ns warm-up (one
    // call) and a 1 ms measurement keep the counts in the thousands and the bench instant.
    // Runs are deterministic, so any change is real: no noise threshold.
    // Flags given after `--` (e.g. `--baseline`) still apply: `configure_from_args` comes last.
    let mut c = Criterion::default()
        .sample_size(10)
        .noise_threshold(0.0)
        .warm_up_time(Duration::from_nanos(1))
        .measurement_time(Duration::from_millis(1))
        .configure_from_args();
    for s in &runs {
        bench_scenario(&mut c, s);
    }
    c.final_summary();
}

/// The workspace root: benches run with the package directory (`benches/`) as cwd.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `*.yaml` under the reference directory, in name order (stable output).
fn reference_files() -> Vec<PathBuf> {
    let dir = workspace_root().join(REFERENCE_DIR);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap_or_else(|err| panic!("cannot read an entry of {}: {err}", dir.display())).path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        panic!("no reference scenario (*.yaml) in {}", dir.display());
    }
    files
}

/// Loads one scenario and runs each of its variants once.
fn run_scenario(path: &Path) -> ScenarioRuns {
    let text = path.to_str().unwrap_or_else(|| panic!("scenario path is not UTF-8: {}", path.display()));
    let scenario = azsim_scenario::load(text).unwrap_or_else(|e| panic!("{e}"));
    let variants = scenario
        .variant_names()
        .into_iter()
        .map(|variant| {
            let record = azsim::run_variant(&scenario, &variant, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            (variant, record)
        })
        .collect();
    ScenarioRuns { name: scenario.file.name.clone(), variants }
}

/// The figures in plain text, so `cargo bench` shows them even without criterion's analysis.
fn print_table(runs: &[ScenarioRuns]) {
    for s in runs {
        println!();
        println!("simulated latency: {}", s.name);
        println!("{:<28} {:>12} {:>12} {:>12} {:>16} {:>14}", "variant", "p50", "p99", "worst-path AZ", "worst-path p50", "ok/sent");
        for (variant, r) in &s.variants {
            println!(
                "{:<28} {:>12} {:>12} {:>12} {:>16} {:>14}",
                variant,
                ms(r.latency_us.p50),
                ms(r.latency_us.p99),
                r.worst_path.az_crossings,
                ms(r.worst_path.latency_us.p50),
                format!("{}/{}", r.requests.ok, r.requests.sent),
            );
        }
    }
    println!();
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

/// One group per scenario; `<variant>/p50` and `<variant>/p99` per variant.
fn bench_scenario(c: &mut Criterion, s: &ScenarioRuns) {
    let mut group = c.benchmark_group(&s.name);
    for (variant, r) in &s.variants {
        for (stat, us) in [("p50", r.latency_us.p50), ("p99", r.latency_us.p99)] {
            let Some(per_iter) = simulated(us) else {
                // No successful request, so no latency: zero is no figure to compare against (a
                // relative change from it divides by zero). The table above shows the variant.
                println!("{}/{variant}/{stat}: skipped, no successful request", s.name);
                continue;
            };
            group.bench_function(BenchmarkId::new(variant, stat), |b| b.iter_custom(|iters| times(per_iter, iters)));
        }
    }
    group.finish();
}

/// A percentile in microseconds (nanosecond precision) as a duration; `None` when zero.
fn simulated(us: f64) -> Option<Duration> {
    let ns = (us * 1000.0).round();
    (ns >= 1.0).then(|| Duration::from_nanos(ns as u64))
}

/// What `iters` runs of a variant take in simulated time. Summed one iteration at a time on
/// purpose: the wall time of a batch then grows with `iters`, which is what criterion's warm-up
/// needs to stop doubling the count (a constant-time batch overflows it, whatever
/// `--warm-up-time` says).
fn times(per_iter: Duration, iters: u64) -> Duration {
    (0..iters).fold(Duration::ZERO, |total, _| total.saturating_add(black_box(per_iter)))
}
