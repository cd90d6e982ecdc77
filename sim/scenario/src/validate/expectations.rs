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
            self.check_request_filters(e, &path);
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
                        "`cost_usd`, `cost_per_million_requests` and `cross_az_bytes` are whole-run figures: `client`, `az`, `window`, `method`, `path` and `status` do not apply".into(),
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

impl Checker<'_> {
    /// `status` is a set of codes and ranges; `method` and `path` name what some client (the
    /// expectation's, if it names one) sends, or the filter would select nothing by mistake.
    fn check_request_filters(&mut self, e: &ExpectationSpec, path: &str) {
        if let Some(text) = &e.status {
            match crate::parse_matcher(&text.value) {
                Err(why) => self.push(Some(text.referenced), format!("{path}.status"), why, Some("write codes and ranges such as `500-599,429`".into())),
                Ok(ranges) if ranges.iter().any(|(low, high)| *low < 200 || *high > 599) => {
                    self.push(Some(text.referenced), format!("{path}.status"), "statuses are from 200 to 599".into(), None)
                }
                Ok(_) => {}
            }
            let library = e.client.as_ref().and_then(|c| self.f.clients.get(&c.value)).is_some_and(|c| c.library.is_some());
            if library {
                // Not done yet: the library's tasks report outcomes, not each answer's status.
                self.push(Some(text.referenced), format!("{path}.status"), "a `library:` client's answers are not recorded by status yet".into(), None);
            }
        }
        if e.method.is_none() && e.path.is_none() {
            return;
        }
        let clients = self.f.clients.iter().filter(|(name, _)| e.client.as_ref().is_none_or(|c| c.value == **name));
        let sent: Vec<(String, String)> = clients.flat_map(|(_, c)| c.http.iter().map(|h| (h.method.to_ascii_uppercase(), h.path.clone()))).collect();
        if !sent.iter().any(|(m, p)| e.selects_http(m, p)) {
            let wanted =
                format!("{} {}", e.method.as_ref().map_or("any method", |m| m.value.as_str()), e.path.as_ref().map_or("any path", |p| p.value.as_str()));
            let whose = e.client.as_ref().map_or("no client".to_string(), |c| format!("client `{}`", c.value));
            let known: Vec<String> = sent.iter().map(|(m, p)| format!("{m} {p}")).collect();
            let hint = if known.is_empty() { "give the client `http:` entries to filter on".to_string() } else { format!("it sends: {}", known.join(", ")) };
            let at = e.method.as_ref().or(e.path.as_ref()).map(|s| s.referenced);
            self.push(at, format!("{path}.method"), format!("{whose} sends {wanted} (of its `http` entries): the filter would select nothing"), Some(hint));
        }
    }
}

fn scoped_any(e: &ExpectationSpec) -> bool {
    e.client.is_some() || e.az.is_some() || e.window.is_some() || e.method.is_some() || e.path.is_some() || e.status.is_some()
}
