//! Randomness: the [`Rng`] trait real code draws from, and the one generator of the workspace,
//! [`Xoshiro256StarStar`], with [`SplitMix64`] to expand a 64-bit seed into its state. The
//! simulation forks its streams from the run's seed with them (`sim/kernel/src/rng.rs`); production
//! seeds them from the operating system ([`crate::tokio_impl::OsSeededRng`]). Both are our own code,
//! so a recorded run replays the same on every platform and with every version of a dependency.

/// A source of random numbers. In the simulation every stream is forked from the run's seed.
pub trait Rng: Send + 'static {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// A float uniformly distributed in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// An integer uniformly distributed in `[0, bound)`; `bound` must not be zero.
    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "Rng::below(0)");
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }
}

// === impl SplitMix64 ===

/// SplitMix64 (Steele, Lea and Flood; the reference C code is Vigna's `splitmix64.c`): the
/// generator its authors recommend for expanding one 64-bit seed into a xoshiro state.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A SplitMix64 whose state is `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

// === impl Xoshiro256StarStar ===

/// xoshiro256** (Blackman and Vigna): small, fast, not cryptographic, and the same on every
/// platform.
#[derive(Clone, Debug)]
pub struct Xoshiro256StarStar {
    s: [u64; 4],
}

impl Xoshiro256StarStar {
    /// A generator with exactly this state, which must not be all zeros (the generator would
    /// then return zeros forever).
    pub fn from_state(s: [u64; 4]) -> Self {
        assert!(s != [0; 4], "xoshiro256** cannot start from an all-zero state");
        Xoshiro256StarStar { s }
    }

    /// A generator whose state is the next four outputs of `seeder` (never all zeros: SplitMix64
    /// returns zero at most once in 2^64 outputs).
    pub fn from_splitmix64(seeder: &mut SplitMix64) -> Self {
        Self::from_state([seeder.next_u64(), seeder.next_u64(), seeder.next_u64(), seeder.next_u64()])
    }
}

impl Rng for Xoshiro256StarStar {
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers. They come from the reference C code (`xoshiro256starstar.c`,
    // `splitmix64.c`), not from this file: the same outputs are published by the `rand_xoshiro`
    // crate's `reference` test (xoshiro256** from the state {1, 2, 3, 4}) and by Rosetta Code's
    // "Pseudo-random numbers/Splitmix64" (seed 1234567), and were recomputed with a Python
    // transliteration of the two C files.

    #[test]
    fn xoshiro256starstar_matches_the_reference_outputs() {
        let mut rng = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
        let expected: [u64; 10] = [
            11520,
            0,
            1509978240,
            1215971899390074240,
            1216172134540287360,
            607988272756665600,
            16172922978634559625,
            8476171486693032832,
            10595114339597558777,
            2904607092377533576,
        ];
        let drawn: Vec<u64> = (0..10).map(|_| rng.next_u64()).collect();
        assert_eq!(drawn, expected);
    }

    #[test]
    fn splitmix64_matches_the_reference_outputs() {
        let mut seeder = SplitMix64::new(1234567);
        let drawn: Vec<u64> = (0..5).map(|_| seeder.next_u64()).collect();
        assert_eq!(drawn, [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821]);
        let mut from_zero = SplitMix64::new(0);
        assert_eq!(from_zero.next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn xoshiro256starstar_seeded_by_splitmix64_matches_the_reference() {
        // The reference xoshiro256** whose state is the first four outputs of the reference
        // SplitMix64 seeded with 42 (Python transliteration of the C code).
        let mut rng = Xoshiro256StarStar::from_splitmix64(&mut SplitMix64::new(42));
        let drawn: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(drawn, [0x1578_0b2e_0c2e_c716, 0x6104_d986_6d11_3a7e, 0xae17_5332_39e4_99a1, 0xecb8_ad47_03b3_60a1]);
    }

    #[test]
    #[should_panic(expected = "all-zero state")]
    fn an_all_zero_state_is_refused() {
        let _ = Xoshiro256StarStar::from_state([0; 4]);
    }

    #[test]
    fn floats_stay_in_the_unit_interval_and_bounded_draws_below_their_bound() {
        let mut rng = Xoshiro256StarStar::from_splitmix64(&mut SplitMix64::new(7));
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
        for bound in [1u64, 2, 3, 1000] {
            for _ in 0..1000 {
                assert!(rng.below(bound) < bound);
            }
        }
    }
}
