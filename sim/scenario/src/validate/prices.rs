//! Checks of `prices:`: prices are amounts (finite, not negative), and per-Region prices name
//! a Region of the scenario.

use super::Checker;
use crate::model::Prices;

impl Checker<'_> {
    pub(super) fn check_prices(&mut self) {
        let regions: Vec<String> = self.f.regions.value.keys().cloned().collect();
        // The file's prices, then each Region's where it sets its own (a value it inherits is
        // reported once, where it is written).
        let file = self.f.prices.table("");
        let mut bad = Vec::new();
        for region in std::iter::once("").chain(self.f.prices.regions.keys().map(String::as_str)) {
            let t = self.f.prices.table(region);
            for (key, _, _) in Prices::DEFAULTS {
                let v = t.get(key).expect("every key of DEFAULTS is in the table");
                let own = region.is_empty() || v.to_bits() != file.get(key).expect("the same keys").to_bits();
                if own && (!v.is_finite() || v < 0.0) {
                    let at = if region.is_empty() { format!("prices.{key}") } else { format!("prices.regions.{region}.{key}") };
                    bad.push((at, format!("a price must be a finite amount, not negative; `{key}` is {v}")));
                }
            }
        }
        for name in self.f.prices.regions.keys() {
            if !regions.contains(name) {
                let hint = super::did_you_mean(name, regions.iter().map(String::as_str));
                self.push(None, format!("prices.regions.{name}"), format!("unknown Region `{name}` (a name in `regions:`)"), hint);
            }
        }
        for (at, message) in bad {
            self.push(None, at, message, None);
        }
    }
}
