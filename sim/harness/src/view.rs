//! What the record and the checks read of the history: one [`RequestView`] per request, and
//! the figures over a set of them (counts, the success-ratio timeline, what each fault cost).

use azsim_kernel::{Outcome, RequestRecord};
use azsim_scenario::{FaultKind, ScenarioFile};

use crate::record::{Counts, FaultRecord, Percentiles, TimelinePoint};

/// What the checks need of one request.
#[derive(Clone, Debug)]
pub(crate) struct RequestView {
    pub(crate) client: usize,
    pub(crate) client_az: azsim_kernel::AzId,
    pub(crate) started: u64,
    pub(crate) latency: Option<u64>,
    pub(crate) ok: bool,
    pub(crate) done: bool,
    /// Nobody answered: the client timed out, or it was in flight at the end.
    pub(crate) unanswered: bool,
    pub(crate) az_crossings: u32,
    pub(crate) region_crossings: u32,
    pub(crate) internet_crossings: u32,
    /// Which entry of its client's `http` mix it was, once picked.
    pub(crate) kind: Option<u32>,
    /// The status of its answer, if one came.
    pub(crate) status: Option<u16>,
    /// Connections opened for it on its way (each a handshake it waited for).
    pub(crate) handshakes: u32,
    /// How it failed, as its client saw it (`None`: answered, or still unanswered at the end).
    pub(crate) failure: Option<String>,
}

impl RequestView {
    pub(crate) fn new(r: &RequestRecord, topo: &azsim_kernel::Topology) -> Self {
        RequestView {
            client: r.label as usize,
            client_az: topo.host(r.client).az,
            started: r.started,
            latency: r.latency(),
            ok: r.outcome == Outcome::Ok,
            done: r.outcome != Outcome::Unknown,
            unanswered: match &r.outcome {
                Outcome::Unknown => true,
                Outcome::Failed(failure) => failure.is_timeout(),
                Outcome::Ok => false,
            },
            az_crossings: r.az_crossings,
            region_crossings: r.region_crossings,
            internet_crossings: r.outside_crossings,
            kind: r.kind,
            status: r.status,
            handshakes: r.handshakes,
            failure: match &r.outcome {
                Outcome::Failed(f) => Some(f.to_string()),
                _ => None,
            },
        }
    }
}

pub(crate) fn counts(views: &[RequestView]) -> Counts {
    let ok = views.iter().filter(|v| v.ok).count() as u64;
    let done = views.iter().filter(|v| v.done).count() as u64;
    Counts { sent: views.len() as u64, ok, failed: done - ok, unknown: views.len() as u64 - done }
}

pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The timeline's window: the shortest round one (1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15,
/// 30 min, 1 h ...) that cuts the run into at most 60, so that windows start where a person
/// would put them (`100s`, not `99.99999999s`).
pub(crate) fn timeline_window(duration_ns: u64) -> u64 {
    const ROUND_S: [u64; 13] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    let round = ROUND_S.iter().map(|s| s * 1_000_000_000).find(|w| duration_ns.div_ceil(*w) <= 60);
    // Beyond 60 h: whole hours.
    round.unwrap_or_else(|| duration_ns.div_ceil(60).div_ceil(3_600_000_000_000) * 3_600_000_000_000)
}

pub(crate) fn timeline(f: &ScenarioFile, views: &[RequestView]) -> Vec<TimelinePoint> {
    let duration = f.duration.nanos().max(1);
    let window = timeline_window(duration);
    let n = duration.div_ceil(window);
    (0..n)
        .map(|i| {
            let (lo, hi) = (i * window, (i + 1) * window);
            let mine: Vec<&RequestView> = views.iter().filter(|v| v.started >= lo && v.started < hi).collect();
            let ok = mine.iter().filter(|v| v.ok).count() as u64;
            let failed = mine.iter().filter(|v| v.done && !v.ok).count() as u64;
            let mut lat: Vec<u64> = mine.iter().filter(|v| v.ok).filter_map(|v| v.latency).collect();
            TimelinePoint {
                start_s: lo as f64 / 1e9,
                sent: mine.len() as u64,
                ok,
                failed,
                success_ratio: if mine.is_empty() { 1.0 } else { round3(ok as f64 / mine.len() as f64) },
                p50_us: Percentiles::of(&mut lat).p50,
            }
        })
        .collect()
}

/// A fault as a short label: its kind and target.
fn fault_label(fault: &azsim_scenario::FaultSpec) -> String {
    let pair = |k: &str, from: &str, to: &str| format!("{k} {from} -> {to}");
    match &fault.kind {
        FaultKind::AzOutage(r) => format!("az_outage {}", r.value),
        FaultKind::RegionOutage(r) => format!("region_outage {}", r.value),
        FaultKind::Crash(r) => format!("crash {}", r.value),
        FaultKind::PowerOff(r) => format!("power_off {}", r.value),
        FaultKind::Latency(l) => pair("latency", &l.from.value, &l.to.value),
        FaultKind::Partition(p) => pair("partition", &p.from.value, &p.to.value),
        FaultKind::Loss(p) => pair("loss", &p.from.value, &p.to.value),
    }
}

/// Attributes each request to the latest fault started before it, and measures how long
/// failures went on after each fault began.
pub(crate) fn fault_records(f: &ScenarioFile, views: &[&RequestView]) -> Vec<FaultRecord> {
    let mut order: Vec<usize> = (0..f.faults.len()).collect();
    order.sort_by_key(|i| (f.faults[*i].at.nanos(), *i));
    let mut out = vec![None; f.faults.len()];
    for (k, i) in order.iter().enumerate() {
        let fault = &f.faults[*i];
        let start = fault.at.nanos();
        let next = order.get(k + 1).map_or(u64::MAX, |j| f.faults[*j].at.nanos());
        let mine: Vec<&&RequestView> = views.iter().filter(|v| v.started >= start && v.started < next).collect();
        let last_failure = mine.iter().filter(|v| !v.ok).map(|v| v.started).max();
        let recovered = match last_failure {
            Some(t) => mine.iter().any(|v| v.ok && v.started > t),
            None => true,
        };
        out[*i] = Some(FaultRecord {
            fault: fault_label(fault),
            at_s: start as f64 / 1e9,
            until_s: fault.duration.map(|d| start.saturating_add(d.nanos()) as f64 / 1e9),
            failed: mine.iter().filter(|v| !v.ok).count() as u64,
            last_failure_after_s: last_failure.map(|t| (t - start) as f64 / 1e9),
            recovered,
            discovery_stale_s: None,
            recovery_chain: Vec::new(),
        });
    }
    out.into_iter().map(|r| r.expect("every fault recorded")).collect()
}

#[cfg(test)]
mod tests {
    use super::timeline_window;

    #[test]
    fn timeline_windows_are_round_and_at_most_60() {
        let s = 1_000_000_000;
        for (duration, window) in [
            (10 * s, s),
            (60 * s, s),
            (61 * s, 2 * s),
            (100 * s, 2 * s),
            (150 * s, 5 * s),
            (320 * s, 10 * s),
            (3600 * s, 60 * s),
            (100 * 3600 * s, 2 * 3600 * s),
        ] {
            assert_eq!(timeline_window(duration), window, "duration {duration}");
            assert!(duration.div_ceil(window) <= 60);
        }
    }
}
