//! Checks of `expectations:`: each check's bounds and what it needs from the rest of the file.

use super::Checker;
use crate::model::{ExpectationCheck, ExpectationSpec};

impl Checker<'_> {
    /// Long on purpose: one check per rule of the `expectations` section, in the order of its keys, so
    /// the list reads against the section's documentation.
    pub(super) fn check_expectations(&mut self) {
        let clients: Vec<String> = self.f.clients.keys().cloned().collect();
        for (i, e) in self.f.expectations.iter().enumerate() {
            let path = format!("expectations[{i}]");
            let loc = e.client.as_ref().map(|c| c.referenced);
            if let Some(c) = &e.client {
                self.check_ref(c, &clients, &format!("{path}.client"), "client");
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
                    if r.min.is_none() && r.max.is_none() {
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
                    if [b.at_least, b.p0, b.p50, b.p90, b.p99, b.p999, b.max].iter().all(Option::is_none) =>
                {
                    self.push(loc, path.clone(), "a budget needs at least one bound (e.g. `p99: 40ms`, `max: 4`)".into(), None);
                }
                ExpectationCheck::AzCrossings(b) | ExpectationCheck::RegionCrossings(b) if b.max.is_none() && b.mean.is_none() => {
                    self.push(loc, path.clone(), "a budget needs at least one bound (e.g. `p99: 40ms`, `max: 4`)".into(), None);
                }
                ExpectationCheck::CostUsd(_) | ExpectationCheck::CrossAzBytes(_) if scoped_any(e) => {
                    self.push(
                        loc,
                        path.clone(),
                        "`cost_usd` and `cross_az_bytes` are whole-run figures: `client`, `az` and `window` do not apply".into(),
                        None,
                    );
                }
                ExpectationCheck::SuccessRatio(r) => {
                    let bounds = [r.min, r.max];
                    if bounds.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                        self.push(loc, format!("{path}.success_ratio"), "a ratio is between 0 and 1".into(), None);
                    }
                    if bounds.iter().all(Option::is_none) {
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

fn scoped_any(e: &ExpectationSpec) -> bool {
    e.client.is_some() || e.az.is_some() || e.window.is_some()
}
