//! Timer tokens: what a process gets back in [`crate::Process::on_timer`].
//!
//! The kernel carries a timer's token as a `u64` and never looks inside. A process names its
//! timers with an enum that implements [`TimerToken`], packing each variant's fields with
//! [`Packer`] and reading them back with [`Unpacker`]; the packer checks every field's width,
//! so a value too large for its field panics (in debug builds) instead of silently aliasing
//! another timer.

/// A process's timer, as the kernel carries it: a `u64`.
pub trait TimerToken: Sized {
    fn into_token(self) -> u64;
    /// The inverse of [`TimerToken::into_token`].
    fn from_token(token: u64) -> Self;
}

/// A bare number is its own token (simple processes, tests).
impl TimerToken for u64 {
    fn into_token(self) -> u64 {
        self
    }
    fn from_token(token: u64) -> Self {
        token
    }
}

/// Packs fields into one `u64`, the first in the lowest bits: `Packer::new().put(b, 20).put(a,
/// 44).finish()` is `a << 20 | b`.
#[derive(Clone, Copy, Debug, Default)]
#[must_use]
pub struct Packer {
    word: u64,
    used: u32,
}

impl Packer {
    pub const fn new() -> Packer {
        Packer { word: 0, used: 0 }
    }

    /// Appends `value` in the next `bits` bits. Panics if the fields take more than 64 bits,
    /// and in debug builds if `value` does not fit in `bits`.
    pub fn put(self, value: u64, bits: u32) -> Packer {
        assert!(bits > 0 && self.used + bits <= 64, "fields of {} + {bits} bits do not fit in a u64", self.used);
        debug_assert!(bits == 64 || value >> bits == 0, "{value} does not fit in {bits} bits");
        Packer { word: self.word | value << self.used, used: self.used + bits }
    }

    pub fn finish(self) -> u64 {
        self.word
    }
}

/// Reads back what a [`Packer`] packed, field by field from the lowest bits.
#[derive(Clone, Copy, Debug)]
pub struct Unpacker {
    word: u64,
}

impl Unpacker {
    pub fn new(word: u64) -> Unpacker {
        Unpacker { word }
    }

    /// The next field, `bits` wide.
    pub fn take(&mut self, bits: u32) -> u64 {
        assert!(bits > 0 && bits <= 64, "a field is 1 to 64 bits wide");
        if bits == 64 {
            return std::mem::take(&mut self.word);
        }
        let value = self.word & ((1 << bits) - 1);
        self.word >>= bits;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_lowest_first() {
        let word = Packer::new().put(5, 3).put(0xf_ffff, 20).put(1 << 40, 41).finish();
        assert_eq!(word, (1 << 40) << 23 | 0xf_ffff << 3 | 5);
        let mut u = Unpacker::new(word);
        assert_eq!([u.take(3), u.take(20), u.take(41)], [5, 0xf_ffff, 1 << 40]);
        assert_eq!(Unpacker::new(u64::MAX).take(64), u64::MAX);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "does not fit in 4 bits")]
    fn a_field_that_overflows_its_width_panics() {
        let _ = Packer::new().put(16, 4);
    }

    #[test]
    #[should_panic(expected = "do not fit in a u64")]
    fn fields_wider_than_a_word_panic() {
        let _ = Packer::new().put(1, 60).put(1, 5);
    }
}
