//! Equality of short byte slices without a call: series keys are label names and values of a few
//! bytes, compared for every sample, and libc's `memcmp` costs a call for each comparison.

/// Whether `a` and `b` hold the same bytes. Up to 16 bytes are compared as two (overlapping)
/// machine words; longer slices as `==` compares them.
#[inline(always)]
pub(crate) fn eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        9..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

/// `bytes` after `prefix`, if it starts with it ([`eq`] on the prefix).
#[inline(always)]
pub(crate) fn strip_prefix<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = bytes.split_at_checked(prefix.len())?;
    eq(head, prefix).then_some(rest)
}

#[inline(always)]
fn word4(s: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(s[at..at + 4].try_into().expect("four bytes"))
}

#[inline(always)]
fn word8(s: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(s[at..at + 8].try_into().expect("eight bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_exactly_when_every_byte_is() {
        for n in 0..80usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(eq(&a, &a.clone()), "length {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!eq(&a, &b), "length {n}, byte {at} differs");
            }
            assert!(!eq(&a, &a[..n.saturating_sub(1)]) || n == 0, "length {n} against one shorter");
            let mut longer = a.clone();
            longer.push(0);
            assert!(!eq(&a, &longer));
            assert_eq!(strip_prefix(&longer, &a), Some(&[0u8][..]));
            assert_eq!(strip_prefix(&a, &longer), None);
        }
    }
}
