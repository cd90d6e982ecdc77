//! The `azsim` binary: exit codes, the JSON records, JUnit, verdicts under `-q`, replay lines.

use std::process::Command;

use crate::root;

fn azsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_azsim")).args(args).current_dir(root()).output().unwrap()
}

#[test]
fn run_writes_the_json_record_with_the_contracted_fields() {
    let dir = std::env::temp_dir().join(format!("azsim-cli-{}", std::process::id()));
    let json = dir.join("out.json");
    let out = azsim(&[
        "run",
        "scenarios/reference/az-affinity.yaml",
        "--variant",
        "nlb-affinity",
        "--seed",
        "7",
        "--out",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let records: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let records = records.as_array().expect("an array, even for one variant");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["scenario"], "az-affinity");
    assert_eq!(r["variant"], "nlb-affinity");
    assert_eq!(r["seed"], 7);
    for k in ["sent", "ok", "failed", "unknown"] {
        assert!(r["requests"][k].is_u64(), "requests.{k}");
    }
    for k in ["p0", "p50", "p90", "p99", "max"] {
        assert!(r["latency_us"][k].is_number(), "latency_us.{k}");
    }
    for k in ["az", "region"] {
        assert!(r["crossings"][k]["max"].is_u64() && r["crossings"][k]["mean"].is_number(), "crossings.{k}");
    }
    assert!(r["bytes"]["cross_az"].is_u64() && r["bytes"]["cross_region"].is_u64());
    assert!(r["cost_usd"].is_number());
    assert!(r["expectations"].as_array().unwrap().iter().all(|e| e["name"].is_string() && e["passed"].is_boolean()));
    assert_eq!(r["passed"], true);
    assert!(dir.join("az-affinity/nlb-affinity/summary.md").exists());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("passed: az-affinity / nlb-affinity ("), "-q prints the verdict: {stdout}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_broken_budget_exits_1_with_its_verdicts_one_junit_failure_and_a_replay_line() {
    let dir = std::env::temp_dir().join(format!("azsim-cli-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/reference/az-affinity.yaml"))
        .unwrap()
        .replace("worst_path_latency: { p50: { equals: 20ms, tolerance: 1us } }", "worst_path_latency: { p50: 19ms }")
        .replacen("az_crossings: { max: { equals: 8 } }", "az_crossings: { max: 7 }", 1);
    let file = dir.join("tight.yaml");
    std::fs::write(&file, text).unwrap();
    let junit = dir.join("junit.xml");
    let args = ["run", file.to_str().unwrap(), "--variant", "baseline", "--out", dir.to_str().unwrap(), "-q", "--junit", junit.to_str().unwrap()];
    let out = azsim(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("FAILED: az-affinity / baseline (2 of "), "-q prints the failed verdict: {stdout}");
    assert!(stdout.contains("  - worst-path p50 is the article's 20 ms: expected p50 <= 19ms, got "), "{stdout}");
    assert!(stdout.contains("  - worst case crosses the article's 8 AZ boundaries: expected "), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testcase classname="az-affinity" name="baseline" time="0">"#), "{xml}");
    assert!(xml.contains(r#"<property name="simulated_seconds" value="#), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "one failure element listing every broken expectation: {xml}");
    let failure = &xml[xml.find("<failure ").unwrap()..];
    assert!(failure.contains("worst-path p50 is the article") && failure.contains("worst case crosses the article"), "{xml}");
    assert!(xml.contains("p50 &lt;= 19ms"), "expected values are escaped: {xml}");
    assert!(failure.contains(&format!("replay: azsim run {} --seed 42 --variant baseline", file.display())), "{xml}");
    assert!(stderr.contains(&format!("replay: azsim run {} --seed 42 --variant baseline", file.display())), "{stderr}");
    // Same seed, same bytes: no wall-clock time in the JUnit file.
    let again = azsim(&args);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&junit).unwrap(), xml);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn several_variants_by_comma_or_repetition_in_one_json_array() {
    let dir = std::env::temp_dir().join(format!("azsim-cli-several-{}", std::process::id()));
    let json = dir.join("out.json");
    let out = azsim(&[
        "run",
        "scenarios/reference/az-affinity.yaml",
        "--variant",
        "nlb-affinity,baseline",
        "--variant",
        "nlb-affinity",
        "--out",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "-q",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let records: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = records.as_array().unwrap().iter().map(|r| r["variant"].as_str().unwrap()).collect();
    assert_eq!(names, ["nlb-affinity", "baseline"], "in the order named, each once");
    assert!(stdout.contains("passed: az-affinity / nlb-affinity (") && stdout.contains("passed: az-affinity / baseline ("), "{stdout}");
    assert!(dir.join("az-affinity/comparison.md").exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn check_counts_variants_in_the_singular_too() {
    let out = azsim(&["check", "scenarios/faults/az-outage.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(1 variant: baseline)"), "{stdout}");
    let out = azsim(&["check", "scenarios/reference/az-affinity.yaml"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" variants: baseline, "));
}

#[test]
fn an_unknown_variant_is_bad_input() {
    let dir = std::env::temp_dir().join(format!("azsim-cli-unknown-{}", std::process::id()));
    let out = azsim(&["run", "scenarios/reference/az-affinity.yaml", "--variant", "baseline,nlb-afinity", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no variant named `nlb-afinity` (did you mean `nlb-affinity`?); it has: baseline, "), "{stderr}");
    assert!(!dir.exists(), "nothing ran");
}

#[test]
fn schema_subcommand_prints_the_schema() {
    let out = azsim(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), azsim_scenario::schema_json());
}
