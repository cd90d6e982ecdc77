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
        }
    }
}
