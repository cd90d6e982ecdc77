//! Expectations mean what they say: an exact figure fails when the run is off it either way,
//! and a check over no requests fails unless it says that is fine.

use azsim::{RunOptions, RunRecord, run_variant};
use azsim_scenario::{Source, load_str};

/// A client in use1-az1 calling one instance in its AZ: 400 us each way and 8 ms of work, so
/// every request takes 8.8 ms. Nobody sends from use1-az2.
fn run(expectations: &str) -> RunRecord {
    let text = format!(
        "version: 1
name: exact
duration: 10s
regions:
  us-east-1:
    azs: [use1-az1, use1-az2]
network:
  intra_az: {{ fixed: 400us }}
services:
  web:
    instances: {{ use1-az1: 1 }}
    processing: {{ fixed: 8ms }}
clients:
  c:
    azs: {{ use1-az1: 1 }}
    target: web
    rate: 10
expectations:
{expectations}"
    );
    let s = load_str(Source { name: "exact.yaml".into(), text }).unwrap_or_else(|e| panic!("{e}"));
    run_variant(&s, "baseline", &RunOptions::default()).unwrap()
}

fn verdicts(r: &RunRecord) -> Vec<(bool, &str)> {
    r.expectations.iter().map(|e| (e.passed, e.actual.as_str())).collect()
}

#[test]
fn an_exact_figure_fails_when_the_run_is_faster() {
    let r = run("  - name: worst-path p50 is 15.200 ms
    worst_path_latency: { p50: { equals: 15.2ms, tolerance: 1us } }
  - name: the bare form is an upper bound, which 8.8 ms meets
    worst_path_latency: { p50: 15.2ms }
  - name: worst-path p50 is 8.8 ms
    worst_path_latency: { p50: { equals: 8.8ms, tolerance: 1us } }
  - name: p50 between 8 and 9 ms
    latency: { p50: { between: [8ms, 9ms] } }
  - name: p50 between 9 and 10 ms
    latency: { p50: { between: [9ms, 10ms] } }
");
    let v = verdicts(&r);
    assert!(!v[0].0, "{:?}", r.expectations[0]);
    assert_eq!(r.expectations[0].expected, "p50 = 15.2ms ± 1us");
    assert!(v[0].1.starts_with("p50 = 8.800ms"), "{}", v[0].1);
    assert!(v[1].0 && v[2].0 && v[3].0, "{v:?}");
    assert!(!v[4].0, "{v:?}");
    assert!(!r.passed);
}

#[test]
fn counts_and_ratios_bound_from_both_sides() {
    let r = run("  - failures: { equals: 0 }
  - success_ratio: { equals: 1.0, tolerance: 0.001 }
  - success_ratio: { min: 0.2, max: 0.5 }
  - az_crossings: { max: { equals: 0 }, mean: { between: [0.0, 0.1] } }
  - cross_az_bytes: { min: 1 }
");
    let v: Vec<bool> = r.expectations.iter().map(|e| e.passed).collect();
    assert_eq!(v, [true, true, false, true, false], "{:?}", r.expectations);
    assert_eq!(r.expectations[2].expected, ">= 0.2, <= 0.5");
}

#[test]
fn a_check_over_no_requests_fails_unless_allowed() {
    let r = run("  - az: use1-az2
    window: { from: 1s, to: 5s }
    failures: { max: 0 }
  - az: use1-az2
    success_ratio: { min: 0.999 }
  - az: use1-az2
    window: { from: 1s, to: 5s }
    allow_empty: true
    failures: { max: 0 }
");
    let v = verdicts(&r);
    assert_eq!(v[0], (false, "no requests in the window"));
    assert!(!v[1].0, "{v:?}");
    assert!(v[2].0, "{v:?}");
}
