//! Latency and processing-time distributions.

use crate::rng::SimRng;
use crate::time::Nanos;

/// A distribution of durations (nanoseconds). Every variant can be sampled and asked for a
/// quantile, which the analytic worst-case path uses.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Always the same value.
    Fixed(Nanos),
    /// Uniform between `lo` and `hi` inclusive.
    Uniform { lo: Nanos, hi: Nanos },
    /// Normal, truncated below at `min`.
    Normal { mean: f64, sd: f64, min: Nanos },
    /// `min + X` where `ln X` is normal with parameters `mu`, `sigma` (a heavy right tail).
    LogNormal { min: Nanos, mu: f64, sigma: f64 },
    /// An empirical inverse CDF: `(quantile, value)` points sorted by quantile, from 0 to 1,
    /// interpolated linearly.
    Empirical(Vec<(f64, Nanos)>),
}

/// The z-score of the 99th percentile of the standard normal distribution.
pub const Z99: f64 = 2.326_347_874_040_841;

impl Dist {
    /// A log-normal shifted by `min` whose median is `p50` and 99th percentile `p99`.
    /// Requires `min < p50 < p99`.
    pub fn lognormal_from_percentiles(min: Nanos, p50: Nanos, p99: Nanos) -> Dist {
        let m = (p50 - min) as f64;
        let t = (p99 - min) as f64;
        Dist::LogNormal { min, mu: m.ln(), sigma: (t.ln() - m.ln()) / Z99 }
    }

    /// A normal distribution whose median is `p50` and 99th percentile `p99`, truncated at `min`.
    pub fn normal_from_percentiles(min: Nanos, p50: Nanos, p99: Nanos) -> Dist {
        Dist::Normal { mean: p50 as f64, sd: (p99 as f64 - p50 as f64) / Z99, min }
    }

    /// Draws one value.
    pub fn sample(&self, rng: &mut SimRng) -> Nanos {
        match self {
            Dist::Fixed(v) => *v,
            Dist::Uniform { lo, hi } => lo + rng.below((hi - lo).saturating_add(1)),
            Dist::Normal { mean, sd, min } => clamp(mean + sd * standard_normal(rng), *min),
            Dist::LogNormal { min, mu, sigma } => min.saturating_add(to_nanos((mu + sigma * standard_normal(rng)).exp())),
            Dist::Empirical(points) => interpolate(points, rng.next_f64()),
        }
    }

    /// The value at quantile `q` in `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Nanos {
        let q = q.clamp(0.0, 1.0);
        match self {
            Dist::Fixed(v) => *v,
            Dist::Uniform { lo, hi } => lo + to_nanos((hi - lo) as f64 * q),
            Dist::Normal { mean, sd, min } => clamp(mean + sd * inverse_normal_cdf(q), *min),
            Dist::LogNormal { min, mu, sigma } => {
                if q <= 0.0 {
                    *min
                } else {
                    min.saturating_add(to_nanos((mu + sigma * inverse_normal_cdf(q)).exp()))
                }
            }
            Dist::Empirical(points) => interpolate(points, q),
        }
    }

    /// The smallest value the distribution can produce.
    pub fn min(&self) -> Nanos {
        self.quantile(0.0)
    }
}

fn to_nanos(v: f64) -> Nanos {
    if v.is_finite() && v > 0.0 { v.round() as Nanos } else { 0 }
}

fn clamp(v: f64, min: Nanos) -> Nanos {
    to_nanos(v).max(min)
}

fn interpolate(points: &[(f64, Nanos)], q: f64) -> Nanos {
    let Some(first) = points.first() else { return 0 };
    if q <= first.0 {
        return first.1;
    }
    for w in points.windows(2) {
        let ((q0, v0), (q1, v1)) = (w[0], w[1]);
        if q <= q1 {
            let f = if q1 > q0 { (q - q0) / (q1 - q0) } else { 1.0 };
            return to_nanos(v0 as f64 + f * (v1 as f64 - v0 as f64));
        }
    }
    points[points.len() - 1].1
}

/// A standard normal draw (Box-Muller; one of the pair is discarded to keep streams simple).
fn standard_normal(rng: &mut SimRng) -> f64 {
    let u1 = 1.0 - rng.next_f64(); // (0, 1]
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] =
        [-39.696_830_286_653_76, 220.946_098_424_520_5, -275.928_510_446_968_7, 138.357_751_867_269, -30.664_798_066_147_16, 2.506_628_277_459_239];
    const B: [f64; 5] = [-54.476_098_798_224_06, 161.585_836_858_040_9, -155.698_979_859_886_6, 66.801_311_887_719_72, -13.280_681_552_885_72];
    const C: [f64; 6] =
        [-0.007_784_894_002_430_293, -0.322_396_458_041_136_5, -2.400_758_277_161_838, -2.549_732_539_343_734, 4.374_664_141_464_968, 2.938_163_982_698_783];
    const D: [f64; 4] = [0.007_784_695_709_041_462, 0.322_467_129_070_039_8, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let low = 0.024_25;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inverse_normal_cdf(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_percentiles_round_trip() {
        let d = Dist::lognormal_from_percentiles(1_000_000, 1_500_000, 4_000_000);
        assert_eq!(d.quantile(0.0), 1_000_000);
        assert!((d.quantile(0.5) as i64 - 1_500_000).abs() <= 1);
        assert!((d.quantile(0.99) as i64 - 4_000_000).abs() <= 2);
        let mut rng = SimRng::from_seed(1);
        let mut samples: Vec<Nanos> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        samples.sort_unstable();
        let median = samples[10_000] as f64;
        assert!((median / 1.5e6 - 1.0).abs() < 0.02, "median {median}");
        assert!(samples[0] >= 1_000_000);
    }

    #[test]
    fn empirical_interpolates() {
        let d = Dist::Empirical(vec![(0.0, 100), (0.5, 200), (1.0, 1000)]);
        assert_eq!(d.quantile(0.25), 150);
        assert_eq!(d.quantile(0.75), 600);
        assert_eq!(d.quantile(1.0), 1000);
    }

    #[test]
    fn uniform_stays_in_range() {
        let d = Dist::Uniform { lo: 100, hi: 300 };
        let mut rng = SimRng::from_seed(3);
        for _ in 0..1000 {
            let v = d.sample(&mut rng);
            assert!((100..=300).contains(&v));
        }
    }
}
