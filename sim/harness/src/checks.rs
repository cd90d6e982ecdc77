//! Evaluates a scenario's expectations against what the run recorded.

use azsim_kernel::fmt_duration;
use azsim_scenario::{CountBudget, ExpectationCheck as Check, ExpectationSpec, LatencyBudget, ScenarioFile};

use crate::record::{ExpectationResult, Percentiles, RunRecord};
use crate::view::RequestView;

pub(crate) fn evaluate(f: &ScenarioFile, rec: &RunRecord, views: &[RequestView], clients: &[String], topo: &azsim_kernel::Topology) -> Vec<ExpectationResult> {
    f.expectations.iter().map(|e| evaluate_one(f, e, rec, views, (clients, topo))).collect()
}

/// Long on purpose: one arm per kind of check (thirteen), each a few lines, read as a table.
fn evaluate_one(
    f: &ScenarioFile,
    e: &ExpectationSpec,
    rec: &RunRecord,
    views: &[RequestView],
    (clients, topo): (&[String], &azsim_kernel::Topology),
) -> ExpectationResult {
    let client = e.client.as_ref().and_then(|c| clients.iter().position(|n| *n == c.value));
    let window = e.window.as_ref().map(|w| &w.value);
    let (from, to) = window.map(|w| (w.from.nanos(), w.to.map_or(u64::MAX, |t| t.nanos()))).unwrap_or((0, u64::MAX));
    let az = e.az.as_ref().map(|a| a.value.as_str());
    let az_id = az.map(|a| topo.az_by_name(a));
    let statuses = e.status.as_ref().map(|s| azsim_fakes::Matcher::of_ranges(&azsim_scenario::parse_matcher(&s.value).expect("validated statuses")));
    // The `method` and `path` filters look at the entry of the client's `http` mix it sent.
    let http = |v: &RequestView| {
        let spec = clients.get(v.client).and_then(|name| f.clients.get(name));
        v.kind.and_then(|k| spec.and_then(|c| c.http.get(k as usize)))
    };
    let selected: Vec<&RequestView> = views
        .iter()
        .filter(|v| client.is_none_or(|c| v.client == c) && az_id.is_none_or(|id| id == Some(v.client_az)) && v.started >= from && v.started < to)
        .filter(|v| (e.method.is_none() && e.path.is_none()) || http(v).is_some_and(|h| e.selects_http(&h.method, &h.path)))
        .filter(|v| statuses.is_none_or(|m| v.status.is_some_and(|s| m.matches(s))))
        .collect();
    let mut scope = String::new();
    if let Some(c) = &e.client {
        scope.push_str(&format!(" [client {}]", c.value));
    }
    if let Some(a) = az {
        scope.push_str(&format!(" [clients in {a}]"));
    }
    if let Some(w) = window {
        scope.push_str(&format!(" [started {}..{}]", w.from, w.to.map_or("end".to_string(), |t| t.to_string())));
    }
    if e.method.is_some() || e.path.is_some() {
        let (m, p) = (e.method.as_ref().map_or("*", |m| m.value.as_str()), e.path.as_ref().map_or("*", |p| p.value.as_str()));
        scope.push_str(&format!(" [{m} {p}]"));
    }
    if let Some(s) = &e.status {
        scope.push_str(&format!(" [answered {}]", s.value));
    }
    let (kind, passed, expected, actual) = match &e.check {
        Check::Latency(b) => {
            let mut lat: Vec<u64> = selected.iter().filter(|v| v.ok).filter_map(|v| v.latency).collect();
            let (p, x, a) = latency(b, &mut lat);
            ("latency", p, x, a)
        }
        Check::WorstPathLatency(b) => {
            let max = selected.iter().map(|v| v.az_crossings).max().unwrap_or(0);
            let mut lat: Vec<u64> = selected.iter().filter(|v| v.ok && v.az_crossings == max).filter_map(|v| v.latency).collect();
            let (p, x, a) = latency(b, &mut lat);
            ("worst-path latency", p, x, format!("{a} over {} requests with {max} AZ crossings", lat.len()))
        }
        Check::AzCrossings(b) => {
            let (p, x, a) = counts(b, selected.iter().map(|v| v.az_crossings));
            ("AZ crossings", p, x, a)
        }
        Check::RegionCrossings(b) => {
            let (p, x, a) = counts(b, selected.iter().map(|v| v.region_crossings));
            ("Region crossings", p, x, a)
        }
        Check::SuccessRatio(b) => {
            let ok = selected.iter().filter(|v| v.ok).count();
            let ratio = if selected.is_empty() { 0.0 } else { ok as f64 / selected.len() as f64 };
            ("success ratio", b.admits(ratio), b.to_string(), format!("{ratio:.4} ({ok} of {})", selected.len()))
        }
        Check::CostUsd(b) => ("cost", b.admits(rec.cost_usd), b.describe(|v| format!("${v}")), format!("${:.6}", rec.cost_usd)),
        Check::CostPerMillionRequests(b) => match rec.cost.per_million_requests_usd {
            Some(v) => ("cost per million requests", b.admits(v), b.describe(|v| format!("${v}")), format!("${v:.4}")),
            None => ("cost per million requests", false, b.describe(|v| format!("${v}")), "no requests were sent".to_string()),
        },
        Check::Recovery(b) => {
            let records = crate::view::fault_records(f, &selected);
            let within = b.within.value.nanos() as f64 / 1e9;
            let passed = records.iter().all(|r| r.recovered && r.last_failure_after_s.is_none_or(|t| t <= within));
            let actual = records
                .iter()
                .map(|r| match (r.recovered, r.last_failure_after_s) {
                    (_, None) => format!("{}: no failures", r.fault),
                    (true, Some(t)) => format!("{}: last failure {t:.3}s after, {} failed", r.fault, r.failed),
                    (false, Some(t)) => format!("{}: still failing {t:.3}s after, {} failed", r.fault, r.failed),
                })
                .collect::<Vec<_>>()
                .join("; ");
            ("recovery", passed, format!("failures stop within {}", b.within.value), actual)
        }
        Check::Failures(b) => {
            let failed = selected.iter().filter(|v| !v.ok).count() as u64;
            ("failures", b.admits(failed as f64), b.to_string(), format!("{failed} of {}", selected.len()))
        }
        Check::RetryAmplification(b) => {
            let chosen: Vec<&crate::record::ClientRecord> =
                rec.clients.iter().filter(|c| c.attempts.is_some() && e.client.as_ref().is_none_or(|n| n.value == c.client)).collect();
            let attempts: u64 = chosen.iter().filter_map(|c| c.attempts).sum();
            let requests: u64 = chosen.iter().map(|c| c.requests.sent).sum();
            let ratio = if requests == 0 { 0.0 } else { attempts as f64 / requests as f64 };
            ("retry amplification", requests > 0 && b.admits(ratio), b.to_string(), format!("{ratio:.3} ({attempts} attempts for {requests} requests)"))
        }
        Check::DiscoveryStaleness(b) => {
            let max = b.max.value.nanos() as f64 / 1e9;
            let stale: Vec<(String, f64)> = rec.faults.iter().filter_map(|r| Some((r.fault.clone(), r.discovery_stale_s?))).collect();
            let passed = !stale.is_empty() && stale.iter().all(|(_, s)| *s <= max);
            let actual = if stale.is_empty() {
                "no fault took down a host registered in Cloud Map".to_string()
            } else {
                stale.iter().map(|(f, s)| format!("{f}: returned until {s:.3}s after")).collect::<Vec<_>>().join("; ")
            };
            ("discovery staleness", passed, format!("<= {}", b.max.value), actual)
        }
        Check::Unanswered(b) => {
            let n = selected.iter().filter(|v| v.unanswered).count() as u64;
            ("unanswered", b.admits(n as f64), b.to_string(), format!("{n} of {}", selected.len()))
        }
        Check::ExecutedTwice(b) => {
            let n = rec.tunnel.as_ref().map_or(0, |t| t.executed_twice);
            let of = rec.tunnel.as_ref().map_or(0, |t| t.executed);
            ("executed twice", b.admits(n as f64), b.to_string(), format!("{n} of {of} executed"))
        }
        Check::CrossAzBytes(b) => ("cross-AZ bytes", b.admits(rec.bytes.cross_az as f64), b.to_string(), rec.bytes.cross_az.to_string()),
    };
    // A check of requests over none proves nothing: it fails unless the expectation allows it.
    let (passed, actual) = match (selected.is_empty() && of_requests(&e.check), e.allow_empty) {
        (false, _) => (passed, actual),
        (true, false) if window.is_some() => (false, "no requests in the window".to_string()),
        (true, false) if scope.is_empty() => (false, "no requests".to_string()),
        (true, false) => (false, format!("no requests{scope}")),
        (true, true) => (true, "no requests (allowed)".to_string()),
    };
    let name = e.name.clone().unwrap_or_else(|| format!("{kind} {expected}{scope}"));
    ExpectationResult { name, passed, expected, actual }
}

/// Whether a check reads the selected requests (rather than a whole-run figure).
fn of_requests(check: &Check) -> bool {
    matches!(
        check,
        Check::Latency(_)
            | Check::WorstPathLatency(_)
            | Check::AzCrossings(_)
            | Check::RegionCrossings(_)
            | Check::SuccessRatio(_)
            | Check::Failures(_)
            | Check::Unanswered(_)
    )
}

fn latency(b: &LatencyBudget, values: &mut [u64]) -> (bool, String, String) {
    let p = Percentiles::of(values);
    let mut passed = !values.is_empty();
    let (mut expected, mut actual) = (Vec::new(), Vec::new());
    for (name, budget) in b.percentiles() {
        let Some(budget) = budget else { continue };
        let got_ns = (p.get(name).expect("known percentile") * 1000.0).round() as u64;
        passed &= budget.admits(got_ns as f64);
        expected.push(format!("{name} {budget}"));
        actual.push(format!("{name} = {}", fmt_duration(got_ns)));
    }
    if let Some(floor) = b.at_least {
        let got_ns = (p.p0 * 1000.0).round() as u64;
        passed &= got_ns >= floor.nanos();
        expected.push(format!("every request >= {floor}"));
        actual.push(format!("fastest = {}", fmt_duration(got_ns)));
    }
    if values.is_empty() {
        actual = vec!["no answered requests".to_string()];
    }
    (passed, expected.join(", "), actual.join(", "))
}

fn counts(b: &CountBudget, values: impl Iterator<Item = u32>) -> (bool, String, String) {
    let v: Vec<u32> = values.collect();
    let max = v.iter().copied().max().unwrap_or(0);
    let mean = if v.is_empty() { 0.0 } else { v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64 };
    let mut passed = true;
    let mut expected = Vec::new();
    if let Some(m) = b.max {
        passed &= m.admits(max as f64);
        expected.push(format!("max {m}"));
    }
    if let Some(m) = b.mean {
        passed &= m.admits(mean);
        expected.push(format!("mean {m}"));
    }
    (passed, expected.join(", "), format!("max = {max}, mean = {mean:.3}"))
}
