//! Variants: the baseline with a variant merged into it.
//!
//! A variant is merged into the baseline as YAML, before either is read as a scenario: a map
//! (a section, an entry, a setting) merges key by key, a list or a scalar replaces the
//! baseline's, and `null` deletes the key (an entry, or a setting back to its default). Where
//! exactly one of several keys is given (a distribution's `fixed` or `lognormal`, a client's
//! `rate` or `concurrency`, a record's policy), the variant's key replaces the baseline's. The
//! merged tree is read as a file of its own; every value keeps where it was written (the
//! variant's lines for what the variant wrote, the baseline's for the rest), so an error
//! points there.
//!
//! Here: the merge, and [`Scenario::resolve`]. What the schema says about each place
//! (`shape.rs`) decides what is a choice; `partial.rs` writes the schema of a variant's
//! sections.

use crate::model::{Scenario, ScenarioFile};
use crate::tree::{Entry, Node, Value};

pub(crate) mod partial;
pub(crate) mod shape;

use shape::Shape;

/// The name of the scenario without any variant.
pub const BASELINE: &str = "baseline";

impl Scenario {
    /// `baseline` followed by the variants in file order (alphabetical: they are a map).
    pub fn variant_names(&self) -> Vec<String> {
        let mut names = vec![BASELINE.to_string()];
        names.extend(self.variants.keys().cloned());
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
        self.variants.get(name).cloned()
    }
}

/// The tree of variant `variant` (its value under `variants:`): the baseline's tree without its
/// variants, with the variant's merged in.
pub(crate) fn merged(baseline: &Node, variant: &Node) -> Node {
    let mut file = baseline.clone();
    file.remove("variants");
    merge(&mut file, variant, Shape::file());
    file
}

/// Merges `over` into `base`, whose place in the file `shape` describes.
fn merge(base: &mut Node, over: &Node, shape: Shape) {
    let (Value::Map(entries), Value::Map(overrides)) = (&mut base.value, &over.value) else {
        *base = without_nulls(over.clone());
        return;
    };
    for group in shape.choices() {
        if let Some(chosen) = overrides.iter().find(|o| group.contains(&o.key.text) && o.value.value != Value::Null) {
            entries.retain(|e| e.key.text == chosen.key.text || !group.contains(&e.key.text));
        }
    }
    // What the variant wrote comes first: the map is then placed where the variant wrote it.
    let mut written: Vec<Entry> = Vec::new();
    for o in overrides {
        let old = entries.iter().position(|e| e.key.text == o.key.text).map(|i| entries.remove(i));
        if o.value.value == Value::Null {
            continue;
        }
        match old {
            Some(mut e) => {
                merge(&mut e.value, &o.value, shape.child(&o.key.text));
                e.key = o.key.clone();
                written.push(e);
            }
            None => written.push(Entry { key: o.key.clone(), value: without_nulls(o.value.clone()) }),
        }
    }
    written.append(entries);
    *entries = written;
    base.at = over.at;
}

/// `node` with the keys whose value is `null` left out, in every map reached through maps (a
/// list is a value: it is kept as written).
fn without_nulls(mut node: Node) -> Node {
    if let Value::Map(entries) = &mut node.value {
        entries.retain(|e| e.value.value != Value::Null);
        for e in entries.iter_mut() {
            let at = e.value.at;
            e.value = without_nulls(std::mem::replace(&mut e.value, Node { at, value: Value::Null }));
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::tree;

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
        assert_eq!(variant, overridable, "add the section to `VariantSpec` in model.rs, or to FIXED here with the reason");
    }

    /// The baseline's tree with variant `v` merged, written back as YAML in block style (for
    /// comparing with an expected text).
    fn merge(text: &str) -> serde_json::Value {
        let root = tree::parse(text).expect("YAML");
        let variant = root.get("variants").and_then(|v| v.get("v")).expect("variant v");
        let merged = super::merged(&root, variant);
        let emitted = tree::emit(&merged);
        let value: serde_json::Value = serde_saphyr::from_str(&emitted.text).expect("emitted YAML");
        value
    }

    fn yaml(text: &str) -> serde_json::Value {
        serde_saphyr::from_str(text).expect("YAML")
    }

    #[test]
    fn maps_merge_key_by_key() {
        let merged = merge(
            "services:\n  web: { instances: { a: 1 }, processing: { fixed: 1ms }, queue: 5 }\nvariants:\n  v:\n    services:\n      web: { queue: 10 }\n      db: { instances: { a: 1 } }\n",
        );
        assert_eq!(merged, yaml("services:\n  web: { instances: { a: 1 }, processing: { fixed: 1ms }, queue: 10 }\n  db: { instances: { a: 1 } }\n"));
    }

    #[test]
    fn lists_and_scalars_replace() {
        let merged = merge(
            "faults: [ { at: 1s, crash: a }, { at: 2s, crash: b } ]\nlb: { azs: [a, b, c], kind: alb }\nvariants:\n  v:\n    faults: [ { at: 3s, crash: c } ]\n    lb: { azs: [a], kind: nlb }\n",
        );
        assert_eq!(merged, yaml("faults: [ { at: 3s, crash: c } ]\nlb: { azs: [a], kind: nlb }\n"));
    }

    #[test]
    fn null_deletes_a_key_or_an_entry() {
        let merged = merge(
            "clients:\n  app: { target: lb, rate: 5, resolve: own_az, connections: {} }\n  probe: { target: lb, rate: 1 }\ntunnel: { proxies: p }\nvariants:\n  v:\n    clients:\n      app: { resolve: null, connections: ~, timeout: null }\n      probe: null\n      new: { target: lb, rate: 1, library: null }\n    tunnel: null\n",
        );
        assert_eq!(merged, yaml("clients:\n  app: { target: lb, rate: 5 }\n  new: { target: lb, rate: 1 }\n"));
    }

    /// A choice (exactly one of several keys) made by the variant replaces the baseline's; the
    /// same choice merges.
    #[test]
    fn a_choice_replaces_the_baselines() {
        let merged = merge(
            "profiles:\n  lb: { lognormal: { min: 1ms, p50: 2ms, p99: 9ms } }\n  db: { lognormal: { min: 1ms, p50: 2ms, p99: 9ms } }\nclients:\n  app: { target: lb, rate: 5 }\nvariants:\n  v:\n    profiles:\n      lb: { fixed: 1ms }\n      db: { lognormal: { p99: 20ms } }\n    clients:\n      app: { concurrency: 4 }\n",
        );
        assert_eq!(
            merged,
            yaml("profiles:\n  lb: { fixed: 1ms }\n  db: { lognormal: { min: 1ms, p50: 2ms, p99: 20ms } }\nclients:\n  app: { target: lb, concurrency: 4 }\n")
        );
    }

    /// YAML merge keys work in a variant as anywhere: `<<: *anchor` copies the anchored map,
    /// the keys beside it win.
    #[test]
    fn merge_keys_work_in_variants() {
        let merged =
            merge("clients:\n  app: &app { target: lb, rate: 5, timeout: 1s }\nvariants:\n  v:\n    clients:\n      app:\n        <<: *app\n        rate: 9\n");
        assert_eq!(merged, yaml("clients:\n  app: { target: lb, rate: 9, timeout: 1s }\n"));
    }
}
