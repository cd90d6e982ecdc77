//! The schema of a variant's sections: each section's own schema with nothing required and
//! `null` allowed for every key (a variant writes only what it changes, and `null` deletes),
//! lists as in the baseline (a list replaces the baseline's whole).
//!
//! [`crate::model::Overlay`] marks where a section's schema is wanted partial; [`apply`] turns
//! each mark into a reference to a `<Type>Override` definition, written once per type.

use serde_json::{Map, Value, json};

/// The key [`crate::model::Overlay`] writes its section's schema under.
pub(crate) const MARK: &str = "x-azsim-override-of";

/// Replaces every mark in `schema` with the partial schema it names.
pub(crate) fn apply(schema: &mut Value) {
    let defs = schema.get("$defs").cloned().unwrap_or_else(|| json!({}));
    let mut partial = Partial { defs: &defs, out: Map::new(), same: Vec::new() };
    partial.replace_marks(schema);
    if let Some(Value::Object(all)) = schema.get_mut("$defs") {
        all.extend(partial.out);
    }
}

struct Partial<'a> {
    defs: &'a Value,
    /// The `<Type>Override` definitions written so far.
    out: Map<String, Value>,
    /// The types whose schema is already partial.
    same: Vec<String>,
}

impl Partial<'_> {
    fn replace_marks(&mut self, v: &mut Value) {
        match v {
            Value::Object(obj) => {
                if let Some(inner) = obj.remove(MARK) {
                    let p = nullable(self.partial(&inner));
                    if let Value::Object(p) = p {
                        for (k, x) in p {
                            obj.entry(k).or_insert(x);
                        }
                    }
                }
                obj.values_mut().for_each(|x| self.replace_marks(x));
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.replace_marks(x)),
            _ => {}
        }
    }

    fn partial(&mut self, s: &Value) -> Value {
        let Value::Object(obj) = s else { return s.clone() };
        if obj.get("type") == Some(&json!("array")) {
            return s.clone();
        }
        let mut out = Map::new();
        for (k, v) in obj {
            match k.as_str() {
                "required" => {}
                "$ref" => {
                    let name = v.as_str().and_then(|r| r.strip_prefix("#/$defs/")).unwrap_or_default().to_string();
                    let Some(def) = self.defs.get(&name) else {
                        out.insert(k.clone(), v.clone());
                        continue;
                    };
                    let partial_name = format!("{name}Override");
                    if !self.out.contains_key(&partial_name) && !self.same.contains(&name) {
                        self.out.insert(partial_name.clone(), Value::Null);
                        let p = self.partial(def);
                        if &p == def {
                            // Nothing in it is required or a map (a name, a duration): as it is.
                            self.out.remove(&partial_name);
                            self.same.push(name.clone());
                        } else {
                            self.out.insert(partial_name.clone(), p);
                        }
                    }
                    let target = if self.same.contains(&name) { name } else { partial_name };
                    out.insert(k.clone(), json!(format!("#/$defs/{target}")));
                }
                // Several alternatives may match a part of a value: any of them will do.
                "oneOf" | "anyOf" | "allOf" => {
                    let objects = v.as_array().into_iter().flatten().any(|m| m.get("required").is_some());
                    let key = if k == "oneOf" && objects { "anyOf" } else { k.as_str() };
                    let members: Vec<Value> = v.as_array().into_iter().flatten().map(|m| self.partial(m)).collect();
                    out.insert(key.to_string(), Value::Array(members));
                }
                "properties" => {
                    let props = v.as_object().into_iter().flatten().map(|(name, p)| (name.clone(), nullable(self.partial(p)))).collect();
                    out.insert(k.clone(), Value::Object(props));
                }
                "additionalProperties" if v.is_object() => {
                    out.insert(k.clone(), nullable(self.partial(v)));
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Value::Object(out)
    }
}

/// `s` or `null`, with `s`'s description kept outside.
fn nullable(s: Value) -> Value {
    let null_type = json!({ "type": "null" });
    if s.get("anyOf").and_then(Value::as_array).is_some_and(|m| m.contains(&null_type)) {
        return s;
    }
    let mut s = s;
    let description = s.as_object_mut().and_then(|o| o.remove("description"));
    let mut out = json!({ "anyOf": [s, null_type] });
    if let Some(d) = description {
        out["description"] = d;
    }
    out
}
