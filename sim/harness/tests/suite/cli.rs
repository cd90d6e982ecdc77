//! The `azsim` binary: exit codes, the JSON record, replay lines.

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
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
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
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_broken_budget_exits_1_with_a_replay_line() {
    let dir = std::env::temp_dir().join(format!("azsim-cli-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/reference/az-affinity.yaml"))
        .unwrap()
        .replace("worst_path_latency: { p50: { equals: 20ms, tolerance: 1us } }", "worst_path_latency: { p50: 19ms }");
    let file = dir.join("tight.yaml");
    std::fs::write(&file, text).unwrap();
    let junit = dir.join("junit.xml");
    let out = azsim(&["run", file.to_str().unwrap(), "--variant", "baseline", "--out", dir.to_str().unwrap(), "-q", "--junit", junit.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testcase classname="az-affinity" name="baseline""#) && xml.contains("<failure message=\"worst-path p50 is the article"), "{xml}");
    assert!(xml.contains("p50 &lt;= 19ms"), "expected values are escaped: {xml}");
    assert!(stderr.contains(&format!("replay: azsim run {} --seed 42 --variant baseline", file.display())), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_unknown_variant_is_bad_input() {
    let out = azsim(&["run", "scenarios/reference/az-affinity.yaml", "--variant", "nlb-afinity", "--out", std::env::temp_dir().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no variant named `nlb-afinity`"));
}

#[test]
fn schema_subcommand_prints_the_schema() {
    let out = azsim(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), azsim_scenario::schema_json());
}
