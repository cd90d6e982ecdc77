//! What the proxy's and the agent's config files share: one error type that names the field at
//! fault, and the checks every file runs at load. Unknown keys are refused when the file is
//! parsed (`deny_unknown_fields`): a misspelt `"tsl"` must not run in plaintext.

use std::fmt;

/// A config file that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Not JSON of the expected shape (serde's message names an unknown or missing field).
    Syntax(String),
    /// A field's value is refused: `field` is its path in the file (`agents.a1.token`).
    Invalid { field: String, problem: String },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid { field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Syntax(e) => write!(f, "{e}"),
            ConfigError::Invalid { field, problem } => write!(f, "`{field}`: {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses `text` as a config of type `T` (its checks run after, by the caller).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    serde_json::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))
}

/// An id or a token: it travels in the greeting, where spaces and commas separate words.
pub(crate) fn word(field: impl Into<String>, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::invalid(field, "must not be empty"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
        return Err(ConfigError::invalid(field, "must not hold whitespace, control characters or commas"));
    }
    Ok(())
}

/// The longest duration a `*_ms` setting may hold (a day): larger ones are typos, and would
/// overflow the clock's instants.
pub(crate) const MAX_MS: u64 = 24 * 60 * 60 * 1000;

/// A duration in milliseconds, more than zero and at most a day.
pub(crate) fn millis(field: &str, value: u64) -> Result<(), ConfigError> {
    match value {
        0 => Err(ConfigError::invalid(field, "must be more than 0")),
        v if v > MAX_MS => Err(ConfigError::invalid(field, format!("must be at most {MAX_MS} (a day)"))),
        _ => Ok(()),
    }
}

/// A count or size that must be more than zero.
pub(crate) fn positive(field: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 { Err(ConfigError::invalid(field, "must be more than 0")) } else { Ok(()) }
}

/// The tokens of a token file: one a line, surrounding whitespace trimmed, blank lines and
/// lines starting with `#` skipped. Each is checked as a word by the config's validation.
pub(crate) fn read_tokens(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect())
}
