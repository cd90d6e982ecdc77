//! The harness's own tests, one binary: architecture rules, the scenario language's errors, the
//! schema, the CLI, what expectations mean, and the article's figures.

mod architecture;
mod bad_scenarios;
mod cli;
mod cost;
mod expectations;
mod fidelity;
mod figures;
mod schema;
mod stories;
mod topology_defaults;

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}
