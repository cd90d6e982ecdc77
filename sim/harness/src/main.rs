//! `azsim`: run scenarios, check them, print the schema.
//!
//! Exit codes: 0 every expectation held; 1 an expectation failed; 2 bad input (a malformed
//! scenario, an unknown variant, an unwritable output).

use std::path::PathBuf;
use std::process::ExitCode;

use azsim::{RunOptions, RunRecord, comparison_markdown, junit_xml, run_variant, summary_markdown, to_json, write_reports};
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
    /// Simulate a scenario (every variant, or one) and write reports.
    Run {
        /// The scenario file.
        file: String,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run only this variant (`baseline` is the scenario without overrides).
        #[arg(long)]
        variant: Option<String>,
        /// Where reports go: <out>/<scenario>/<variant>/{summary.md,record.json}.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Also write the run record here (one record for one variant, an array for several).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write JUnit XML here (a test case per variant) for CI dashboards.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Do not keep each hop of each request (saves memory on long drills; no per-hop table).
        #[arg(long)]
        no_hops: bool,
        /// Print only the comparison and verdicts, not each variant's summary.
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
                    Ok(s) => println!("ok: {file} ({} variants: {})", s.variant_names().len(), s.variant_names().join(", ")),
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
    variant: Option<String>,
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
    let variants = match variant {
        Some(v) => vec![v],
        None => scenario.variant_names(),
    };
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
    if !quiet {
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
        let text = if records.len() == 1 {
            to_json(&records[0])
        } else {
            let mut s = serde_json::to_string_pretty(&records).expect("records serialise");
            s.push('\n');
            s
        };
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
