//! A health check's success codes (`Matcher.HttpCode` of a target group): which HTTP statuses
//! of a probe's answer count as a pass.
//!
//! AWS takes a code (`200`), a list (`200,202`) or a range (`200-299`), or a mix of them;
//! ALB: codes 200 to 499, default `200`; NLB HTTP checks: 200 to 599, default `200-399`
//! (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>,
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html>).
//! The scenario language parses the text (`azsim_scenario::parse_matcher`); this is the set.

/// The lowest and highest status a matcher can hold.
const LOWEST: u16 = 200;
const HIGHEST: u16 = 599;
const WORDS: usize = (HIGHEST - LOWEST) as usize / 64 + 1;

/// A set of HTTP statuses from 200 to 599, as bits: `Copy` and buildable in a `const`, so
/// health-check defaults stay constants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Matcher {
    bits: [u64; WORDS],
}

impl Matcher {
    /// The statuses `low..=high`, clamped to 200..=599.
    pub const fn range(low: u16, high: u16) -> Matcher {
        Matcher { bits: [0; WORDS] }.with_range(low, high)
    }

    /// This set and the statuses `low..=high` (clamped to 200..=599).
    pub const fn with_range(mut self, low: u16, high: u16) -> Matcher {
        let mut status = if low < LOWEST { LOWEST } else { low };
        while status <= high && status <= HIGHEST {
            let bit = (status - LOWEST) as usize;
            self.bits[bit / 64] |= 1 << (bit % 64);
            status += 1;
        }
        self
    }

    /// The union of `ranges` (each inclusive), as the scenario language parses `HttpCode`.
    pub fn of_ranges(ranges: &[(u16, u16)]) -> Matcher {
        ranges.iter().fold(Matcher { bits: [0; WORDS] }, |m, (low, high)| m.with_range(*low, *high))
    }

    /// Whether a probe answered with `status` passes.
    pub fn matches(&self, status: u16) -> bool {
        if !(LOWEST..=HIGHEST).contains(&status) {
            return false;
        }
        let bit = (status - LOWEST) as usize;
        self.bits[bit / 64] & (1 << (bit % 64)) != 0
    }
}

impl std::fmt::Debug for Matcher {
    /// As AWS writes it: `200`, `200-399`, `200,202`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let mut status = LOWEST;
        while status <= HIGHEST {
            if self.matches(status) {
                let start = status;
                while status < HIGHEST && self.matches(status + 1) {
                    status += 1;
                }
                parts.push(if start == status { start.to_string() } else { format!("{start}-{status}") });
            }
            status += 1;
        }
        write!(f, "Matcher({})", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matcher_holds_exactly_its_codes_and_ranges() {
        let m = Matcher::of_ranges(&[(200, 200), (202, 202), (300, 399)]);
        for (status, want) in [(199, false), (200, true), (201, false), (202, true), (299, false), (300, true), (399, true), (400, false), (600, false)] {
            assert_eq!(m.matches(status), want, "{status}");
        }
        assert_eq!(format!("{m:?}"), "Matcher(200,202,300-399)");
        assert_eq!(Matcher::range(200, 599), Matcher::range(0, 1000));
    }
}
