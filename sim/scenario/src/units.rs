//! Durations and distributions as they are written in scenario files.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A duration as Go's `time.ParseDuration` and k6 write it: one or more numbers, each with a
/// unit, with no spaces and no sign: `250ns`, `300us` (or `µs`), `1.5ms`, `30s`, `2m`, `3m30s`,
/// `1h2m`. Zero is `0s` (a bare `0` is refused: every duration names its unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub u64);

/// The JSON Schema pattern of a duration; [`Dur::parse`] accepts exactly the strings it matches
/// (a suite test holds them to it).
pub const DURATION_PATTERN: &str = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+$";

/// What a duration looks like, for error messages.
const DURATION_FORM: &str = "a number and a unit, or several as in Go and k6 (`300us`, `1.5ms`, `30s`, `3m30s`, `1h2m`; units ns, us or µs, ms, s, m, h; no spaces, no sign; zero is `0s`)";

impl Dur {
    pub fn nanos(self) -> u64 {
        self.0
    }

    /// Parses a duration; the error names what was expected.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let bad = |why: &str| format!("`{text}` {why}: expected {DURATION_FORM}");
        if text.chars().any(|c| c.is_ascii_digit()) && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(bad("needs a unit"));
        }
        if text.contains(char::is_whitespace) {
            return Err(bad("is not a duration (it has a space)"));
        }
        if text.starts_with(['-', '+']) {
            return Err(bad("is not a duration (durations have no sign)"));
        }
        let mut rest = text;
        let mut total: u128 = 0;
        loop {
            let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if int_len == 0 {
                return Err(bad("is not a duration"));
            }
            let (int, after) = rest.split_at(int_len);
            let (frac, after) = match after.strip_prefix('.') {
                Some(f) => {
                    let len = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                    if len == 0 {
                        return Err(bad("is not a duration"));
                    }
                    f.split_at(len)
                }
                None => ("", after),
            };
            let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            let scale: u128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "" => return Err(bad("needs a unit")),
                _ => return Err(bad(&format!("is not a duration (unknown unit `{unit}`)"))),
            };
            let out_of_range = || format!("`{text}` is out of range (at most about 584 years)");
            // More than 30 digits cannot be a duration that fits; refuse rather than overflow.
            if int.len() > 30 {
                return Err(out_of_range());
            }
            let whole: u128 = int.parse().map_err(|_| out_of_range())?;
            let mut part = whole.checked_mul(scale).ok_or_else(out_of_range)?;
            // The fraction, exactly, rounded to the nearest nanosecond (digits past the 20th
            // are below a ten-millionth of one).
            let digits = &frac[..frac.len().min(20)];
            if !digits.is_empty() {
                let num: u128 = digits.parse().map_err(|_| out_of_range())?;
                let den = 10u128.pow(digits.len() as u32);
                let scaled = num.checked_mul(scale).ok_or_else(out_of_range)?;
                part += (scaled + den / 2) / den;
            }
            total = total.checked_add(part).ok_or_else(out_of_range)?;
            if after.is_empty() {
                break;
            }
            rest = after;
        }
        u64::try_from(total).map(Dur).map_err(|_| format!("`{text}` is out of range (at most about 584 years)"))
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
            "pattern": DURATION_PATTERN,
            "description": "A duration as Go and k6 write it: a number and a unit, or several (ns, us or µs, ms, s, m, h), e.g. `300us`, `1.5ms`, `30s`, `3m30s`, `1h2m`; zero is `0s`."
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
        assert_eq!(Dur::parse("300µs"), Ok(Dur(300_000)));
        assert_eq!(Dur::parse("1.5ms"), Ok(Dur(1_500_000)));
        assert_eq!(Dur::parse("30s"), Ok(Dur(30_000_000_000)));
        assert_eq!(Dur::parse("2m"), Ok(Dur(120_000_000_000)));
        assert_eq!(Dur::parse("0s"), Ok(Dur(0)));
        assert_eq!(Dur::parse("250ns"), Ok(Dur(250)));
        assert_eq!(Dur::parse("1.5s"), Ok(Dur(1_500_000_000)));
        assert_eq!(Dur::parse("1.1ms"), Ok(Dur(1_100_000)));
        assert_eq!(Dur::parse("3m30s"), Ok(Dur(210_000_000_000)));
        assert_eq!(Dur::parse("1h2m"), Ok(Dur(3_720_000_000_000)));
        assert_eq!(Dur::parse("1h2m3.5s4ms"), Ok(Dur(3_723_504_000_000)));
        assert_eq!(Dur::parse("0.0000000004s"), Ok(Dur(0)));
        assert_eq!(Dur::parse("0.0000000005s"), Ok(Dur(1)));
        assert!(Dur::parse("12").unwrap_err().contains("`12` needs a unit"));
        assert!(Dur::parse("0").unwrap_err().contains("zero is `0s`"));
        assert!(Dur::parse("12parsecs").unwrap_err().contains("unknown unit `parsecs`"));
        assert!(Dur::parse("3 min").unwrap_err().contains("`3 min` is not a duration (it has a space)"));
        assert!(Dur::parse("-3m").unwrap_err().contains("`-3m` is not a duration (durations have no sign)"));
        assert!(Dur::parse("99999999999999999999h").unwrap_err().contains("out of range"));
        assert!(Dur::parse("9999999999999999999999999999999999s").unwrap_err().contains("out of range"));
        for bad in ["3 min", "3 m", "-3m", "+3m", "3min", "fast", "", ".5s", "1.s", "1..5s", "3m 30s", " 3s", "3s ", "1e3s"] {
            let err = Dur::parse(bad).expect_err(bad);
            assert!(err.contains("expected a number and a unit, or several as in Go and k6"), "{bad}: {err}");
        }
        assert_eq!(Dur(1_500_000).to_string(), "1.5ms");
        assert_eq!(Dur(300_000).to_string(), "300us");
    }

    /// Every string of every scenario and bad-scenario file (keys and values): the schema's
    /// pattern and the parser give the same verdict on each.
    #[test]
    fn the_schema_and_the_parser_agree_on_every_fixture() {
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files(&path, out);
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    out.push(path);
                }
            }
        }
        fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| {
                    out.push(k.clone());
                    strings(v, out)
                }),
                _ => {}
            }
        }
        let schema: serde_json::Value = serde_json::from_str(&crate::schema_json()).unwrap();
        let pattern = regex::Regex::new(schema["$defs"]["Duration"]["pattern"].as_str().unwrap()).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut paths = Vec::new();
        files(&root.join("scenarios"), &mut paths);
        files(&root.join("fixtures/bad-scenarios"), &mut paths);
        let (mut checked, mut durations) = (0, 0);
        for path in paths {
            let doc = match serde_saphyr::from_str::<serde_json::Value>(&std::fs::read_to_string(&path).unwrap()) {
                Ok(doc) => doc,
                // Not YAML on purpose.
                Err(_) if path.ends_with("malformed.yaml") => continue,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            let mut all = Vec::new();
            strings(&doc, &mut all);
            for s in all {
                let parsed = Dur::parse(&s).is_ok();
                assert_eq!(pattern.is_match(&s), parsed, "{}: `{s}`: the schema says {}, the parser {parsed}", path.display(), pattern.is_match(&s));
                checked += 1;
                durations += usize::from(parsed);
            }
        }
        assert!(checked > 5000 && durations > 500, "the corpus shrank: {checked} strings, {durations} durations");
    }

    /// The schema's pattern and the parser agree on every string here (editors validate with
    /// the one, `azsim check` with the other).
    #[test]
    fn the_schema_and_the_parser_agree() {
        let schema: serde_json::Value = serde_json::from_str(&crate::schema_json()).unwrap();
        let defs = &schema["$defs"];
        let pattern = defs["Duration"]["pattern"].as_str().expect("the schema has a Duration pattern");
        let keep_alive = defs["KeepAlive"]["pattern"].as_str().expect("the schema has a KeepAlive pattern");
        let (pattern, keep_alive) = (regex::Regex::new(pattern).unwrap(), regex::Regex::new(keep_alive).unwrap());
        let samples = [
            "0s", "0ns", "1ns", "250ns", "300us", "300µs", "300μs", "1.5ms", "30s", "2m", "1h", "3m30s", "1h2m", "1h2m3s", "1.5h", "2s500ms", "1s1h", "0.5s",
            "10.25ms", "007s", "0", "10", "1.5", "3 min", "3 m", "3min", "-3m", "+3m", "-0s", "3m30", "3m 30s", " 3s", "3s ", ".5s", "1.s", "1..5s", "1e3s",
            "s", "ms", "", "fast", "3d", "3M", "3S", "3H", "1.5.5s", "3s-", "1_000ms", "３s", "1sec", "2mins", "off",
        ];
        for s in samples {
            let parsed = Dur::parse(s).is_ok();
            assert_eq!(pattern.is_match(s), parsed, "`{s}`: the schema says {}, the parser {parsed}", pattern.is_match(s));
            let alive = s == "off" || parsed;
            assert_eq!(keep_alive.is_match(s), alive, "keep-alive `{s}`: the schema says {}, the parser {alive}", keep_alive.is_match(s));
        }
    }
}
