//! Durations and distributions as they are written in scenario files.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A duration written as a number and a unit: `250ns`, `300us`, `1.5ms`, `30s`, `2m`, `1h`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub u64);

impl Dur {
    pub fn nanos(self) -> u64 {
        self.0
    }
    pub fn parse(text: &str) -> Result<Dur, String> {
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let scale: f64 = match unit.trim() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            "" if num == "0" => 1.0,
            "" => return Err(format!("`{text}` needs a unit, e.g. `{text}s` or `{text}ms` (ns, us, ms, s, m, h)")),
            other => return Err(format!("`{text}` is not a duration: unknown unit `{other}` (use ns, us, ms, s, m or h, e.g. `1.5ms`)")),
        };
        let value: f64 = num.parse().map_err(|_| format!("`{text}` is not a duration (write a number and a unit, e.g. `300us`, `1.5ms`, `30s`)"))?;
        let ns = value * scale;
        if !ns.is_finite() || !(0.0..=1e19).contains(&ns) {
            return Err(format!("`{text}` is out of range"));
        }
        Ok(Dur(ns.round() as u64))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            write!(f, "0s")
        } else if ns.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns.is_multiple_of(1_000_000) {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) && ns < 1_000_000 {
            write!(f, "{}us", ns / 1_000)
        } else if ns >= 1_000_000 {
            write!(f, "{}ms", ns as f64 / 1e6)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|min|h)$|^0$",
            "description": "A duration: a number and a unit (ns, us, ms, s, m, h), e.g. `300us`, `1.5ms`, `30s`."
        })
    }
}

/// A distribution of durations. Exactly one key:
/// `{ fixed: 1ms }`, `{ uniform: { min: 100us, max: 300us } }`,
/// `{ normal: { p50: 1ms, p99: 2ms } }`, `{ lognormal: { min: 1ms, p50: 1.5ms, p99: 4ms } }`,
/// `{ empirical: [[0.0, 1ms], [0.5, 1.5ms], [1.0, 9ms]] }`, or `{ profile: name }` for a named
/// profile of the `profiles` section.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DistSpec {
    /// Always this value.
    Fixed(Dur),
    /// Uniform between `min` and `max`.
    Uniform { min: Dur, max: Dur },
    /// Normal with this median and 99th percentile, never below `min` (default 0).
    Normal {
        p50: Dur,
        p99: Dur,
        #[serde(default)]
        min: Dur,
    },
    /// `min` plus a log-normal with this median and 99th percentile: a heavy right tail.
    Lognormal {
        #[serde(default)]
        min: Dur,
        p50: Dur,
        p99: Dur,
    },
    /// Points of the inverse CDF, `[quantile, value]`, from quantile 0 to 1, interpolated.
    Empirical(Vec<(f64, Dur)>),
    /// A named profile from `profiles`.
    Profile(String),
}

impl Default for DistSpec {
    fn default() -> Self {
        DistSpec::Fixed(Dur(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(Dur::parse("300us"), Ok(Dur(300_000)));
        assert_eq!(Dur::parse("1.5ms"), Ok(Dur(1_500_000)));
        assert_eq!(Dur::parse("30s"), Ok(Dur(30_000_000_000)));
        assert_eq!(Dur::parse("2m"), Ok(Dur(120_000_000_000)));
        assert_eq!(Dur::parse("0"), Ok(Dur(0)));
        assert!(Dur::parse("12").unwrap_err().contains("needs a unit"));
        assert!(Dur::parse("12 parsecs").unwrap_err().contains("unknown unit"));
        assert!(Dur::parse("fast").is_err());
        assert_eq!(Dur(1_500_000).to_string(), "1.5ms");
        assert_eq!(Dur(300_000).to_string(), "300us");
    }
}
