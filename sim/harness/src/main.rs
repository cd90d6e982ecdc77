//! `azsim`: run scenarios, check them, print the schema.
//!
//! Exit codes: 0 every expectation held; 1 an expectation failed; 2 bad input (a malformed
//! scenario, an unknown variant, an unwritable output).

use std::path::PathBuf;
use std::process::ExitCode;

use azsim::{RunOptions, RunRecord, comparison_markdown, junit_xml, run_variant, summary_markdown, write_reports};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "azsim",
    version,
    about = "Deterministic simulation of AWS API-connectivity topologies: latency, AZ crossings, cost and failover, from a YAML scenario."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a scenario (every variant, or the ones named) and write reports.
    Run {
        /// The scenario file.
        file: String,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run only these variants (`baseline` is the scenario without overrides): repeat the
        /// flag or separate names with commas.
        #[arg(long, value_delimiter = ',')]
        variant: Vec<String>,
        /// Where reports go: <out>/<scenario>/<variant>/{summary.md,record.json}.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Also write the run records here: a JSON array, one record per variant run, however many.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write JUnit XML here for CI dashboards: a test case per variant, `time="0"` (same
        /// seed, same bytes) with the simulated seconds and the seed as properties, and one
        /// failure listing every broken expectation.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Do not keep each hop of each request (saves memory on long drills; no per-hop table).
        #[arg(long)]
        no_hops: bool,
        /// Print only the verdicts (each variant's, with every failed expectation) and the
        /// comparison, not each variant's summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Parse and validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Schema => {
            print!("{}", azsim_scenario::schema_json());
            ExitCode::SUCCESS
        }
        Command::Check { files } => {
            let mut bad = false;
            for file in files {
                match azsim_scenario::load(&file) {
                    Ok(s) => println!("ok: {file} ({}: {})", count(s.variant_names().len(), "variant"), s.variant_names().join(", ")),
                    Err(e) => {
                        eprint!("{e}");
                        bad = true;
                    }
                }
            }
            if bad { ExitCode::from(2) } else { ExitCode::SUCCESS }
        }
        Command::Run { file, seed, variant, out, json, junit, no_hops, quiet } => run(&file, seed, variant, &out, (json, junit), !no_hops, quiet),
    }
}

/// Runs the variants, prints and writes reports; `outputs` are the optional JSON and JUnit paths.
fn run(
    file: &str,
    seed: Option<u64>,
    variant: Vec<String>,
    out: &std::path::Path,
    outputs: (Option<PathBuf>, Option<PathBuf>),
    record_hops: bool,
    quiet: bool,
) -> ExitCode {
    let (json, junit) = outputs;
    let scenario = match azsim_scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    let known = scenario.variant_names();
    let mut variants: Vec<String> = Vec::new();
    for v in variant.iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        if !known.contains(&v) {
            let hint = azsim_scenario::closest(&v, known.iter().map(String::as_str)).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
            eprintln!("error: {file}: no variant named `{v}`{hint}; it has: {}", known.join(", "));
            return ExitCode::from(2);
        }
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    if variants.is_empty() {
        variants = known;
    }
    let opts = RunOptions { seed, record_hops, progress: true };
    let mut records: Vec<RunRecord> = Vec::new();
    for v in &variants {
        match run_variant(&scenario, v, &opts) {
            Ok(r) => records.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if quiet {
        print!("{}", verdicts(&records));
    } else {
        for r in &records {
            println!("{}", summary_markdown(r));
        }
    }
    if records.len() > 1 {
        println!("{}", comparison_markdown(&records));
    }
    match write_reports(out, &records) {
        Ok(_) => println!("reports: {}", out.join(&scenario.file.name).display()),
        Err(e) => {
            eprintln!("error: cannot write reports to {}: {e}", out.display());
            return ExitCode::from(2);
        }
    };
    if let Some(path) = json {
        let mut text = serde_json::to_string_pretty(&records).expect("records serialise");
        text.push('\n');
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if let Some(path) = junit
        && let Err(e) = std::fs::write(&path, junit_xml(&records, file))
    {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    let failed: Vec<&RunRecord> = records.iter().filter(|r| !r.passed).collect();
    for r in &failed {
        eprintln!("FAILED: {} / {}; replay: azsim run {file} --seed {} --variant {}", r.scenario, r.variant, r.seed, r.variant);
    }
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `1 variant`, `2 variants`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Each variant's verdict, and every expectation it broke with what was expected and measured.
fn verdicts(records: &[RunRecord]) -> String {
    let mut s = String::new();
    for r in records {
        let failed: Vec<_> = r.expectations.iter().filter(|e| !e.passed).collect();
        let all = count(r.expectations.len(), "expectation");
        if r.passed {
            s.push_str(&format!("passed: {} / {} ({all} held)\n", r.scenario, r.variant));
        } else {
            s.push_str(&format!("FAILED: {} / {} ({} of {all} broken)\n", r.scenario, r.variant, failed.len()));
            for e in failed {
                s.push_str(&format!("  - {}: expected {}, got {}\n", e.name, e.expected, e.actual));
            }
        }
    }
    s
}
