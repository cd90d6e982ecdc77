//! Checks of `regions:`.

use std::collections::BTreeSet;

use super::Checker;

impl Checker<'_> {
    pub(super) fn check_regions(&mut self) {
        let loc = Some(self.f.regions.referenced);
        if self.f.regions.value.is_empty() {
            self.push(loc, "regions".into(), "at least one Region is needed".into(), None);
        }
        let mut seen = BTreeSet::new();
        for (region, spec) in &self.f.regions.value {
            if spec.azs.is_empty() {
                self.push(loc, format!("regions.{region}"), "a Region needs at least one AZ".into(), None);
            }
            for az in &spec.azs {
                if !seen.insert(az.clone()) {
                    self.push(loc, format!("regions.{region}"), format!("AZ `{az}` is defined twice"), None);
                }
            }
            if let Some(d) = &spec.latency {
                self.check_dist(d, loc, &format!("regions.{region}.latency"));
            }
        }
        self.check_outside_latency();
    }

    /// A place outside AWS has no latency AWS could default: every other place must be
    /// reachable from it by its own `latency` or by `network.region_pairs` in both directions.
    fn check_outside_latency(&mut self) {
        let loc = Some(self.f.regions.referenced);
        let places = &self.f.regions.value;
        let pairs = &self.f.network.region_pairs;
        let named = |from: &str, to: &str| {
            pairs.iter().any(|p| (p.from.value == from && p.to.value == to) || (p.symmetric && p.from.value == to && p.to.value == from))
        };
        let mut missing = Vec::new();
        for (outside, spec) in places.iter().filter(|(_, s)| s.kind.outside_aws() && s.latency.is_none()) {
            for (other, other_spec) in places.iter().filter(|(n, _)| *n != outside) {
                // Another place with a `latency` of its own covers the pair.
                if other_spec.latency.is_some() {
                    continue;
                }
                let which = match (named(outside, other), named(other, outside)) {
                    (true, true) => continue,
                    (false, false) => format!("between `{outside}` and `{other}`"),
                    (false, true) => format!("from `{outside}` to `{other}`"),
                    (true, false) => format!("from `{other}` to `{outside}`"),
                };
                missing.push((outside.clone(), spec.kind, which));
            }
        }
        for (outside, kind, which) in missing {
            let kind = if kind == crate::PlaceKind::Internet { "internet" } else { "on_premises" };
            self.push(
                loc,
                format!("regions.{outside}"),
                format!("no latency {which}: `{outside}` is outside AWS (`kind: {kind}`), and such a place takes no default latency"),
                Some(format!(
                    "give `{outside}` a `latency:` (one way, to every place `network.region_pairs` does not name), or add a `network.region_pairs` entry"
                )),
            );
        }
    }
}
