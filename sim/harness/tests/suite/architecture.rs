//! The dependency rules of `sim/ARCHITECTURE.md`, read from `cargo metadata`.

use std::collections::BTreeMap;
use std::process::Command;

use crate::root;

/// Workspace package -> (its manifest directory relative to the root, its workspace deps).
fn workspace_graph() -> BTreeMap<String, (String, Vec<(String, String)>)> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let root = root().to_string_lossy().to_string();
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<String> = packages.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    packages
        .iter()
        .map(|p| {
            let dir = p["manifest_path"].as_str().unwrap().trim_start_matches(&root).trim_start_matches('/').trim_end_matches("/Cargo.toml").to_string();
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| names.iter().any(|n| n == d["name"].as_str().unwrap()))
                .map(|d| (d["name"].as_str().unwrap().to_string(), d["kind"].as_str().unwrap_or("normal").to_string()))
                .collect();
            (p["name"].as_str().unwrap().to_string(), (dir, deps))
        })
        .collect()
}

#[test]
fn dependency_rules_hold() {
    let g = workspace_graph();
    let dir_of = |name: &str| g[name].0.clone();
    let is_real = |name: &str| dir_of(name).starts_with("sim/real/");
    for (name, (dir, deps)) in &g {
        let normal: Vec<&String> = deps.iter().filter(|(_, k)| k == "normal").map(|(n, _)| n).collect();
        if dir.starts_with("sim/real/") {
            // 1. Real code depends on no simulation crate.
            for d in &normal {
                assert!(is_real(d), "{name} (real code) depends on simulation crate {d}");
            }
        }
        if name == "azsim-net" {
            // 2. The seam depends on nothing in the workspace.
            assert!(deps.is_empty(), "azsim-net depends on {deps:?}");
        }
        if name == "azsim-fakes" {
            // 3. Fakes never depend on the system under test; the seam is the world's
            //    interface, not the system under test, so a fake's endpoint may accept through it.
            for d in &normal {
                assert!(!is_real(d) || *d == "azsim-net", "azsim-fakes depends on real code {d}");
            }
        }
        if name == "azsim-kernel" {
            // 4. The kernel knows nothing of AWS.
            for d in &normal {
                assert!(*d == "azsim-net", "azsim-kernel depends on {d}");
            }
        }
        if name == "azsim-scenario" {
            assert!(normal.is_empty(), "azsim-scenario depends on {normal:?}");
        }
        // 5. Only the harness (and the benches, which drive it) sees everything.
        if name != "azsim" && name != "azsim-benches" {
            assert!(!normal.iter().any(|d| *d == "azsim"), "{name} depends on the harness");
        }
    }
    assert!(g.contains_key("azsim-kernel") && g.contains_key("azsim-net"), "the workspace has its crates: {:?}", g.keys());
}

#[test]
fn scenario_crate_knows_nothing_of_tokio_and_kernel_nothing_of_aws() {
    let manifest = std::fs::read_to_string(root().join("sim/scenario/Cargo.toml")).unwrap();
    assert!(!manifest.contains("tokio"), "the scenario crate must not use tokio");
    for entry in std::fs::read_dir(root().join("sim/kernel/src")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for word in ["ALB", "NLB", "Cloud Map", "API Gateway", "Route 53", "Lambda"] {
            assert!(!text.contains(word), "{} mentions {word}: the kernel must know nothing of AWS", path.display());
        }
    }
}

#[test]
fn top_level_holds_only_what_the_layout_allows() {
    let allowed = ["Cargo.toml", "Cargo.lock", "sim", "scenarios", "fixtures", "benches", "reports", "README.md", "target"];
    for entry in std::fs::read_dir(root()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(name.starts_with('.') || allowed.contains(&name.as_str()), "unexpected top-level entry `{name}`");
    }
}
