//! What the schema says about a place in a scenario file, for merging a variant into it: the
//! schema of a key's value, and the keys of which exactly one may be given (a distribution's
//! `fixed`, `lognormal`, ...; a client's `rate` and `concurrency`; a record's policy).

use std::sync::OnceLock;

use serde_json::Value;

/// The schema of the types, before variants' sections are made partial (see `partial.rs`).
fn file_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::to_value(schemars::schema_for!(crate::model::ScenarioFile)).expect("the schema is JSON"))
}

/// A place in the file, as the schema describes it (`None`: the schema says nothing).
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    schema: Option<&'static Value>,
}

impl Shape {
    /// The whole file.
    pub(crate) fn file() -> Shape {
        Shape { schema: Some(file_schema()) }
    }

    /// The keys the file must have.
    pub(crate) fn required(&self) -> Vec<String> {
        self.alternatives().iter().filter_map(|s| s.get("required").and_then(Value::as_array)).flatten().filter_map(|k| k.as_str().map(String::from)).collect()
    }

    /// The value under `key`: a property of the type, or an entry of a map.
    pub(crate) fn child(&self, key: &str) -> Shape {
        let alternatives = self.alternatives();
        let property = alternatives.iter().find_map(|s| s.get("properties").and_then(|p| p.get(key)));
        let entry = || alternatives.iter().find_map(|s| s.get("additionalProperties").filter(|a| a.is_object()));
        Shape { schema: property.or_else(entry) }
    }

    /// Whether this is a collection of entries (a map or a list), not a type with fields.
    pub(crate) fn is_collection(&self) -> bool {
        self.alternatives().iter().any(|s| s.get("additionalProperties").is_some_and(Value::is_object) || s.get("type") == Some(&Value::from("array")))
    }

    /// The groups of keys of which exactly one is given.
    pub(crate) fn choices(&self) -> Vec<Vec<String>> {
        let mut groups = Vec::new();
        for s in self.alternatives() {
            let Some(members) = s.get("oneOf").and_then(Value::as_array) else { continue };
            let keys: Vec<String> = members
                .iter()
                .filter_map(|m| {
                    let required = deref(m).get("required")?.as_array()?;
                    (required.len() == 1).then(|| required[0].as_str().map(String::from)).flatten()
                })
                .collect();
            if keys.len() >= 2 {
                groups.push(keys);
            }
        }
        groups
    }

    /// This schema and every schema it may be (through `$ref`, `anyOf`, `oneOf`, `allOf`).
    fn alternatives(&self) -> Vec<&'static Value> {
        let mut out = Vec::new();
        if let Some(s) = self.schema {
            collect(s, &mut out, 0);
        }
        out
    }
}

fn deref(s: &'static Value) -> &'static Value {
    match s.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => file_schema()["$defs"].get(name).unwrap_or(s),
        None => s,
    }
}

fn collect(s: &'static Value, out: &mut Vec<&'static Value>, depth: usize) {
    let s = deref(s);
    if depth > 8 || out.iter().any(|o| std::ptr::eq(*o, s)) {
        return;
    }
    out.push(s);
    for key in ["anyOf", "oneOf", "allOf"] {
        for member in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            collect(member, out, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shape;

    #[test]
    fn the_schema_names_choices_and_collections() {
        let file = Shape::file();
        let client = file.child("clients").child("app");
        assert_eq!(client.choices(), vec![vec!["rate".to_string(), "concurrency".to_string()]]);
        let processing = file.child("services").child("web").child("processing");
        assert!(processing.choices()[0].contains(&"lognormal".to_string()));
        assert!(file.child("services").is_collection() && file.child("faults").is_collection());
        assert!(!file.child("network").is_collection() && !client.is_collection());
        // Through `Option` (anyOf with null) and a `$ref`.
        let health = file.child("load_balancers").child("lb").child("health_check");
        assert!(health.child("interval").schema.is_some() && health.child("no_such_key").schema.is_none());
        assert!(file.required().contains(&"clients".to_string()));
    }
}
