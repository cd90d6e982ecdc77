//! Every `scenarios/**/*.yaml`, every variant, is a test. Each runs twice with the same seed and
//! must produce the same record, byte for byte; a broken expectation fails with the verdicts
//! and the one-line command that replays it.

use std::path::{Path, PathBuf};

use azsim::{RunOptions, run_variant, to_json};
use libtest_mimic::{Arguments, Failed, Trial};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            scenario_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

fn run_twice(file: &str, variant: &str) -> Result<(), Failed> {
    let scenario = azsim_scenario::load(file).map_err(|e| e.to_string())?;
    let opts = RunOptions::default();
    let first = run_variant(&scenario, variant, &opts)?;
    let second = run_variant(&scenario, variant, &opts)?;
    let (a, b) = (to_json(&first), to_json(&second));
    if a != b {
        let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
        return Err(format!(
            "not deterministic: two runs with seed {} differ (first at line {} of the record)\nreplay: azsim run {file} --seed {} --variant {variant}",
            first.seed,
            line + 1,
            first.seed
        )
        .into());
    }
    if !first.passed {
        let mut msg = format!("expectations failed in {file} / {variant} (seed {}):\n", first.seed);
        for e in &first.expectations {
            let mark = if e.passed { "  ok  " } else { "  FAIL" };
            msg.push_str(&format!("{mark} {}\n         expected: {}\n         actual:   {}\n", e.name, e.expected, e.actual));
        }
        msg.push_str(&format!("replay: azsim run {file} --seed {} --variant {variant}", first.seed));
        return Err(msg.into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let root = workspace_root();
    std::env::set_current_dir(&root).expect("cd to the workspace root");
    let mut files = Vec::new();
    scenario_files(Path::new("scenarios"), &mut files);
    let mut trials = Vec::new();
    for path in files {
        let file = path.to_string_lossy().replace('\\', "/");
        let name = file.trim_start_matches("scenarios/").trim_end_matches(".yaml").to_string();
        match azsim_scenario::load(&file) {
            Err(e) => {
                let msg = e.to_string();
                trials.push(Trial::test(format!("{name}::load"), move || Err(msg.into())));
            }
            Ok(s) => {
                for variant in s.variant_names() {
                    let file = file.clone();
                    trials.push(Trial::test(format!("{name}::{variant}"), move || run_twice(&file, &variant)));
                }
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
