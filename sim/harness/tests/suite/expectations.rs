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

/// `method`, `path` and `status` select requests as a client sent them and as they were
/// answered: an ALB answers `/gone` 410 itself and forwards the rest (0.4 ms a hop, four hops
/// and 8 ms of work: 9.6 ms).
#[test]
fn filters_by_method_path_and_status_select_what_they_name() {
    let text = "version: 1
name: filters
duration: 10s
regions:
  us-east-1: { azs: [use1-az1, use1-az2] }
network:
  intra_az: { fixed: 400us }
  inter_az: { fixed: 400us }
services:
  web: { instances: { use1-az1: 1 }, processing: { fixed: 8ms } }
load_balancers:
  lb:
    kind: alb
    azs: [use1-az1, use1-az2]
    targets: web
    processing: { fixed: 0us }
    rules:
      - { priority: 1, path: [/gone], fixed_response: { status: 410 } }
clients:
  c:
    azs: { use1-az1: 1 }
    target: lb
    rate: 20
    http:
      - { method: GET, path: /items, weight: 1 }
      - { method: POST, path: /items, weight: 1 }
      - { method: GET, path: /gone, weight: 1 }
expectations:
  - { name: gets of /items succeed, method: GET, path: /items, success_ratio: { min: 1.0 } }
  - { name: every get fails (it does not), method: get, success_ratio: { max: 0.0 } }
  - { name: /gone is all 410, path: /gone, status: '410', success_ratio: { max: 0.0 } }
  - { name: no 5xx, status: '500-599', success_ratio: { min: 1.0 } }
  - { name: post latency is 8.8 ms through the ALB, method: POST, latency: { p50: { equals: 9.6ms, tolerance: 1us } } }
";
    let s = load_str(Source { name: "filters.yaml".into(), text: text.into() }).unwrap_or_else(|e| panic!("{e}"));
    let r = run_variant(&s, "baseline", &RunOptions::default()).unwrap();
    let v = verdicts(&r);
    assert!(v[0].0, "{:?}", v[0]);
    assert!(!v[1].0, "GET includes the successful /items: {:?}", v[1]);
    assert!(v[2].0, "{:?}", v[2]);
    assert!(!v[3].0 && v[3].1.contains("no requests"), "nothing was answered 5xx, and a check over nothing fails: {:?}", v[3]);
    assert!(v[4].0, "{:?}", v[4]);
    let unknown = text.replace("method: POST, latency", "method: DELETE, latency");
    let e = load_str(Source { name: "filters.yaml".into(), text: unknown }).expect_err("no client sends DELETE");
    assert!(e.to_string().contains("sends DELETE any path") && e.to_string().contains("it sends: GET /items, POST /items, GET /gone"), "{e}");
}
