//! The azsim scenario language: YAML in, a validated and typed [`Scenario`] out. No runtime.
//!
//! - `model.rs`: the types, which are also the JSON Schema (`azsim schema`): the file's top level,
//!   variants and host names there, each section's types in `model/<section>.rs` (`regions`,
//!   `network`, `services`, `load_balancers`, `clients`, `faults`, `expectations`, `prices`,
//!   `cloud_map`, `tunnel`, `api_gateways`, `route53`, `cloudfront`, `nat`);
//! - `one_of.rs`: how an "exactly one of these keys" type (a fault's kind, a rule's action, ...)
//!   is read, with its error at the key;
//! - `units.rs`: durations (`300us`, `1.5ms`, `30s`) and distributions;
//! - `load.rs`: the one entry point, [`load()`] (parse, merge variants, validate), and [`ScenarioError`]
//!   with file, line, column, a snippet and a hint;
//! - `validate.rs`: references and consistency, with "did you mean": the shared helpers there,
//!   each section's checks in `validate/<section>.rs`, under the same name as its types;
//! - `mapping.rs`: API Gateway request parameter mappings;
//! - `variant.rs`: merging a variant into the baseline (maps key by key, lists replace, `null`
//!   deletes), with what the schema says of each place (`variant/shape.rs`) and the schema of a
//!   variant's sections (`variant/partial.rs`);
//! - `tree.rs`: the file as a YAML tree that keeps each value's position, and written back as
//!   text whose positions map back: how variants and files with errors are read;
//! - `recover.rs`: every structural error of a file, not only the first;
//! - `plan.rs`: where every host runs ([`plan::Plan`]), computed once from a checked file.

mod load;
pub mod mapping;
mod model;
mod one_of;
mod openapi;
pub mod plan;
mod recover;
mod tree;
mod units;
mod validate;
mod variant;

pub use load::{Issue, ScenarioError, Source, load, load_str};
pub use model::*;
pub use units::{DURATION_PATTERN, DistSpec, Dur};
pub use validate::{closest, parse_cidr, parse_matcher};
pub use variant::BASELINE;

/// The JSON Schema of scenario files, pretty-printed. A variant's sections are the sections'
/// own schemas with nothing required (`<Type>Override` definitions).
pub fn schema_json() -> String {
    let mut schema = serde_json::to_value(schemars::schema_for!(model::ScenarioFile)).expect("schema serialises");
    variant::partial::apply(&mut schema);
    // schemars writes its keywords in their usual order (`$schema`, `title`, ... first).
    let schema = schemars::Schema::try_from(schema).expect("a schema is an object");
    let mut s = serde_json::to_string_pretty(&schema).expect("schema serialises");
    s.push('\n');
    s
}
