//! Variants: the baseline with a variant's overrides applied.

use crate::model::{Scenario, ScenarioFile, VariantSpec};

/// The name of the scenario without any variant.
pub const BASELINE: &str = "baseline";

impl Scenario {
    /// `baseline` followed by the variants in file order (alphabetical: they are a map).
    pub fn variant_names(&self) -> Vec<String> {
        let mut names = vec![BASELINE.to_string()];
        names.extend(self.file.variants.keys().cloned());
        names
    }

    /// The scenario as variant `name` (or the baseline) describes it. `None` if there is no
    /// such variant.
    pub fn resolve(&self, name: &str) -> Option<ScenarioFile> {
        if name == BASELINE {
            let mut f = self.file.clone();
            f.variants.clear();
            return Some(f);
        }
        let v = self.file.variants.get(name)?;
        Some(apply(&self.file, v))
    }
}

pub(crate) fn apply(base: &ScenarioFile, v: &VariantSpec) -> ScenarioFile {
    let mut f = base.clone();
    f.variants.clear();
    if !v.description.is_empty() {
        f.description = v.description.clone();
    }
    if let Some(seed) = v.seed {
        f.seed = seed;
    }
    if let Some(d) = v.duration {
        f.duration = d;
    }
    f.profiles.extend(v.profiles.clone());
    if let Some(n) = &v.network {
        f.network = n.clone();
    }
    f.services.extend(v.services.clone());
    f.load_balancers.extend(v.load_balancers.clone());
    f.clients.extend(v.clients.clone());
    f.api_gateways.extend(v.api_gateways.clone());
    f.cloudfront.extend(v.cloudfront.clone());
    f.nat_gateways.extend(v.nat_gateways.clone());
    if let Some(r) = &v.route53 {
        f.route53 = Some(r.clone());
    }
    if let Some(x) = &v.faults {
        f.faults = x.clone();
    }
    if let Some(x) = &v.expectations {
        f.expectations = x.clone();
    }
    if let Some(x) = &v.prices {
        f.prices = x.clone();
    }
    if let Some(x) = &v.cloud_map {
        f.cloud_map = x.clone();
    }
    if let Some(x) = &v.tunnel {
        f.tunnel = Some(x.clone());
    }
    f
}
