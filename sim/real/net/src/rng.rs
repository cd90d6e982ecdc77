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
