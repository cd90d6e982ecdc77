//! Comparing secrets (agent tokens) in time that does not depend on where they differ.

/// `a == b`, looking at every byte of the longer one whatever the contents, so that the time
/// taken tells an attacker nothing about how much of a guess was right (only the longer length
/// shows). `black_box` keeps the compiler from turning the fold into an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        diff |= usize::from(std::hint::black_box(x ^ y));
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_every_byte_and_the_length_agree() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"s3cret", b"s3cret", true),
            (b"", b"", true),
            (b"s3cret", b"x3cret", false),
            (b"s3cret", b"s3crex", false),
            (b"s3cret", b"s3cre", false),
            (b"s3cret", b"s3cret\0", false),
            (b"", b"s3cret", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(constant_time_eq(a, b), *want, "{a:?} vs {b:?}");
            assert_eq!(constant_time_eq(b, a), *want, "{b:?} vs {a:?}");
        }
    }
}
