//! The committed JSON Schema matches the types.

use crate::root;

#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string(root().join("scenarios/schema.json")).unwrap();
    let current = azsim_scenario::schema_json();
    assert!(committed == current, "scenarios/schema.json is stale: regenerate it with `cargo run -p azsim -- schema > scenarios/schema.json`");
}

#[test]
fn schema_describes_the_top_level_and_rejects_unknown_fields() {
    let schema: serde_json::Value = serde_json::from_str(&azsim_scenario::schema_json()).unwrap();
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    for field in ["version", "regions", "clients", "services", "load_balancers", "faults", "expectations", "variants"] {
        assert!(schema["properties"].get(field).is_some(), "schema lacks `{field}`");
    }
}
