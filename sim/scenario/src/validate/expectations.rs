//! Checks of `expectations:`: each check's bounds and what it needs from the rest of the file.

use super::Checker;
use crate::model::{ExpectationCheck, ExpectationSpec, Limits};

impl Checker<'_> {
    /// Long on purpose: one check per rule of the `expectations` section, in the order of its keys, so
    /// the list reads against the section's documentation.
    pub(super) fn check_expectations(&mut self) {
        let clients: Vec<String> = self.f.clients.keys().cloned().collect();
        for (i, e) in self.f.expectations.iter().enumerate() {
            let path = format!("expectations[{i}]");
            let loc = e.client.as_ref().map(|c| c.referenced).or(e.window.as_ref().map(|w| w.referenced));
            if let Some(c) = &e.client {
                self.check_ref(c, &clients, &format!("{path}.client"), "client");
            }
            self.check_window(e, &path);
            if e.allow_empty && !of_requests(&e.check) {
                self.push(
                    loc,
                    format!("{path}.allow_empty"),
                    "`allow_empty` is for checks of selected requests (latency, crossings, success ratio, failures, unanswered)".into(),
                    None,
                );
            }
            match &e.check {
                ExpectationCheck::ExecutedTwice(_) if self.f.tunnel.is_none() => {
                    self.push(
                        loc,
                        format!("{path}.executed_twice"),
                        "`executed_twice` counts what a tunnel's backend executed: this scenario has no `tunnel`".into(),
                        None,
                    );
                }
                ExpectationCheck::Recovery(r) if self.f.faults.is_empty() => {
                    self.push(Some(r.within.referenced), format!("{path}.recovery"), "a recovery budget needs faults on the timeline".into(), None);
                }
                ExpectationCheck::RetryAmplification(r) => {
                    if r.is_empty() {
                        self.push(loc, format!("{path}.retry_amplification"), "give `min` or `max` (attempts per request)".into(), None);
                    }
                    if e.az.is_some() || e.window.is_some() {
                        self.push(
                            loc,
                            format!("{path}.retry_amplification"),
                            "retry amplification is per client over the whole run: `az` and `window` do not apply".into(),
                            None,
                        );
                    }
                    if self.f.clients.values().all(|c| c.library.is_none()) {
                        self.push(loc, format!("{path}.retry_amplification"), "retry amplification needs a client using the library (`library:`)".into(), None);
                    }
                }
                ExpectationCheck::DiscoveryStaleness(r) => {
                    if self.f.faults.is_empty() || self.f.services.values().all(|s| s.cloud_map.is_none()) {
                        self.push(
                            Some(r.max.referenced),
                            format!("{path}.discovery_staleness"),
                            "a discovery staleness budget needs faults and a service registered in Cloud Map".into(),
                            None,
                        );
                    }
                    if scoped_any(e) {
                        self.push(
                            Some(r.max.referenced),
                            format!("{path}.discovery_staleness"),
                            "`client`, `az` and `window` do not apply to discovery staleness".into(),
                            None,
                        );
                    }
                }
                ExpectationCheck::Latency(b) | ExpectationCheck::WorstPathLatency(b)
                    if b.at_least.is_none() && b.percentiles().iter().all(|(_, l)| none_or_empty(l)) =>
                {
                    self.push(loc, path.clone(), "a budget needs at least one bound (e.g. `p99: 40ms`, `max: 4`)".into(), None);
                }
                ExpectationCheck::AzCrossings(b) | ExpectationCheck::RegionCrossings(b) if none_or_empty(&b.max) && none_or_empty(&b.mean) => {
                    self.push(loc, path.clone(), "a budget needs at least one bound (e.g. `p99: 40ms`, `max: 4`)".into(), None);
                }
                ExpectationCheck::Failures(b) | ExpectationCheck::Unanswered(b) | ExpectationCheck::ExecutedTwice(b) if b.is_empty() => {
                    self.push(loc, path.clone(), "a budget needs at least one bound (e.g. `max: 0`)".into(), None);
                }
                ExpectationCheck::CostUsd(b) | ExpectationCheck::CostPerMillionRequests(b) | ExpectationCheck::CrossAzBytes(b) if b.is_empty() => {
                    self.push(loc, path.clone(), "a budget needs at least one bound (e.g. `max: 0.01`)".into(), None);
                }
                ExpectationCheck::CostUsd(_) | ExpectationCheck::CostPerMillionRequests(_) | ExpectationCheck::CrossAzBytes(_) if scoped_any(e) => {
                    self.push(
                        loc,
                        path.clone(),
                        "`cost_usd`, `cost_per_million_requests` and `cross_az_bytes` are whole-run figures: `client`, `az` and `window` do not apply".into(),
                        None,
                    );
                }
                ExpectationCheck::SuccessRatio(r) => {
                    let stated = match *r {
                        Limits::Range { min, max } => vec![min, max],
                        Limits::Equals { value, .. } => vec![Some(value)],
                    };
                    if stated.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                        self.push(loc, format!("{path}.success_ratio"), "a ratio is between 0 and 1".into(), None);
                    }
                    if r.is_empty() {
                        self.push(loc, format!("{path}.success_ratio"), "give `min` (a budget) or `max` (an expected loss)".into(), None);
                    }
                }
                _ => {}
            }
            if let Some(az) = &e.az {
                let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
                self.check_ref(az, &azs, &format!("{path}.az"), "AZ");
            }
        }
    }
}

impl Checker<'_> {
    /// A window must select some of the run: one that ends before it starts, or starts when the
    /// run is over, selects nothing, and would make a budget over it pass vacuously.
    fn check_window(&mut self, e: &ExpectationSpec, path: &str) {
        let Some(w) = &e.window else { return };
        let at = Some(w.referenced);
        if let Some(to) = w.value.to
            && w.value.from >= to
        {
            let message = format!("the window's `from` ({}) is not before its `to` ({to}): it selects no requests", w.value.from);
            self.push(at, format!("{path}.window"), message, Some("a window is `{ from: 20s, to: 50s }`, from before to".into()));
        } else if w.value.from >= self.f.duration {
            let message = format!("the window starts at {}, when the run (`duration: {}`) is over: it selects no requests", w.value.from, self.f.duration);
            self.push(at, format!("{path}.window"), message, None);
        }
    }
}

fn none_or_empty<T: crate::model::Figure>(limits: &Option<Limits<T>>) -> bool {
    limits.as_ref().is_none_or(Limits::is_empty)
}

/// Whether a check reads the selected requests (rather than a whole-run figure).
fn of_requests(check: &ExpectationCheck) -> bool {
    use ExpectationCheck as C;
    matches!(check, C::Latency(_) | C::WorstPathLatency(_) | C::AzCrossings(_) | C::RegionCrossings(_) | C::SuccessRatio(_) | C::Failures(_) | C::Unanswered(_))
}

fn scoped_any(e: &ExpectationSpec) -> bool {
    e.client.is_some() || e.az.is_some() || e.window.is_some()
}
