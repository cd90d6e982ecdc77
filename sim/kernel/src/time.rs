use std::time::Duration;

/// Virtual time and durations, in nanoseconds since the start of the run.
pub type Nanos = u64;

/// A [`Duration`] as [`Nanos`] (saturating at about 584 years).
pub fn nanos(duration: Duration) -> Nanos {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats nanoseconds the way reports show them: `12.000ms`, `300us`, `1.5s`.
pub fn fmt_duration(ns: Nanos) -> String {
    if ns >= 1_000_000_000 && ns.is_multiple_of(1_000_000) {
        format!("{}s", trim(ns as f64 / 1e9))
    } else if ns >= 1_000_000 {
        format!("{:.3}ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{}us", trim(ns as f64 / 1e3))
    } else {
        format!("{ns}ns")
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_duration(12_000_000), "12.000ms");
        assert_eq!(fmt_duration(300_000), "300us");
        assert_eq!(fmt_duration(1_500), "1.5us");
        assert_eq!(fmt_duration(2_000_000_000), "2s");
        assert_eq!(fmt_duration(999), "999ns");
    }
}
