//! Every `scenarios/**/*.yaml`, every variant, is a test. Each runs twice with the same seed and
//! must produce the same record, byte for byte; a broken expectation fails with the verdicts
//! and the one-line command that replays it.
//!
//! Each record is also compared with the one committed in `fixtures/records/<scenario>/<variant>.json`
//! (the golden record): a change that moves any figure of any variant shows here, with the first
//! line that differs. When a change of output is intended, rewrite the golden records with
//! `AZSIM_BLESS=1 cargo test --test scenarios` and let the diff of `fixtures/records` say what moved.

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

/// Where the golden record of a variant lives: `fixtures/records/<file stem>/<variant>.json`.
fn golden_path(file: &str, variant: &str) -> PathBuf {
    let stem = Path::new(file).file_stem().expect("a scenario file has a name").to_string_lossy().into_owned();
    Path::new("fixtures/records").join(stem).join(format!("{variant}.json"))
}

/// Compares a record with its golden copy, or writes the copy when `AZSIM_BLESS` is set.
fn compare_with_golden(file: &str, variant: &str, json: &str) -> Result<(), Failed> {
    let path = golden_path(file, variant);
    if std::env::var_os("AZSIM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let golden = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}\nno golden record: write it with AZSIM_BLESS=1 cargo test --test scenarios", path.display()))?;
    if golden != json {
        let line = golden.lines().zip(json.lines()).position(|(x, y)| x != y).unwrap_or_else(|| golden.lines().count().min(json.lines().count()));
        let shown = |text: &str| text.lines().nth(line).unwrap_or("(end of record)").trim().to_string();
        return Err(format!(
            "the record differs from {} at line {}:\n  golden: {}\n  now:    {}\nif the change is intended: AZSIM_BLESS=1 cargo test --test scenarios, and review the diff",
            path.display(),
            line + 1,
            shown(&golden),
            shown(json)
        )
        .into());
    }
    Ok(())
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
    compare_with_golden(file, variant, &a)?;
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
