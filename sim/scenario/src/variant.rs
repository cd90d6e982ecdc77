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
    v.apply_to(&mut f);
    f
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Sections of the file that every variant shares: what the scenario is (`version`,
    /// `name`), where it runs (`regions`), how its run ends (`drain`), and the variants.
    const FIXED: [&str; 5] = ["version", "name", "regions", "drain", "variants"];

    #[test]
    fn a_variant_can_override_every_section_but_the_fixed_ones() {
        let schema: serde_json::Value = serde_json::from_str(&crate::schema_json()).expect("the schema is JSON");
        let keys = |v: &serde_json::Value| -> BTreeSet<String> { v.as_object().expect("properties").keys().cloned().collect() };
        let file = keys(&schema["properties"]);
        let variant = keys(&schema["$defs"]["VariantSpec"]["properties"]);
        let overridable: BTreeSet<String> = file.iter().filter(|k| !FIXED.contains(&k.as_str())).cloned().collect();
        assert_eq!(variant, overridable, "add the section to `variant_sections!` in model.rs, or to FIXED here with the reason");
    }
}
