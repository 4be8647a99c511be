//! Hashes: a fast 64-bit hash of short bytes for in-memory indexes, a finaliser that spreads
//! every input bit, file fingerprints (XXH3), and FNV-1a for identities that must stay stable
//! across versions.

/// One step of [`words`]: the running hash and the next word (FxHash's mixing step).
#[inline]
fn step(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// A 64-bit hash of bytes, eight at a time (FxHash's mixing step). Fast, and every step is a
/// bijection of the running hash and of the word; not meant to resist a forger.
pub(crate) fn words(bytes: &[u8]) -> u64 {
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = step(h, w);
    }
    let mut tail = [0u8; 8];
    let rest = chunks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    step(h, u64::from_le_bytes(tail))
}

/// MurmurHash3's finaliser: every input bit reaches every output bit.
pub(crate) fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A 64-bit fingerprint of a file's content, to tell a touched file from a changed one: XXH3,
/// which hashes at memory speed (every changed file is hashed twice a cycle, see
/// `agent::scan`); two different contents share a fingerprint with odds of about 2^-64.
pub(crate) fn content_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// [`content_hash`] of a file read a block at a time, whose length is known before it is read.
pub(crate) struct ContentHasher {
    state: xxhash_rust::xxh3::Xxh3Default,
    /// Bytes hashed, and how many the length said there would be.
    seen: u64,
    len: u64,
}

impl ContentHasher {
    pub(crate) fn new(len: u64) -> Self {
        ContentHasher { state: xxhash_rust::xxh3::Xxh3Default::new(), seen: 0, len }
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        self.state.update(bytes);
    }

    /// The hash, or `None` when the bytes hashed were not as many as the length said (the file
    /// changed while it was read).
    pub(crate) fn finish(self) -> Option<u64> {
        (self.seen == self.len).then(|| self.state.digest())
    }
}

/// FNV-1a, 64 bit: small, stable across versions and platforms (job identities, problem keys).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_hashed_a_block_at_a_time_hashes_as_a_whole() {
        let mut rng = fastrand::Rng::with_seed(3);
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 240, 241, 1000, 5000] {
            let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            for _ in 0..20 {
                let mut h = ContentHasher::new(len as u64);
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = rng.usize(1..=rest.len().min(20));
                    h.write(&rest[..n]);
                    rest = &rest[n..];
                }
                assert_eq!(h.finish(), Some(content_hash(&bytes)), "{len} bytes");
            }
            let mut short = ContentHasher::new(len as u64 + 1);
            short.write(&bytes);
            assert_eq!(short.finish(), None);
        }
    }

    #[test]
    fn content_hashes_tell_files_apart() {
        let base = br#"{"scenarios": [{"name": "a", "duration": 10, "end_time": 100}]}"#.to_vec();
        let mut seen = std::collections::BTreeSet::from([content_hash(&base)]);
        assert_eq!(content_hash(&base), content_hash(&base.clone()));
        // Every one-byte change, an appended byte, a dropped one, a trailing zero byte.
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] ^= 1;
            assert!(seen.insert(content_hash(&b)), "byte {i}");
        }
        for b in [
            [base.as_slice(), b"\n"].concat(),
            base[..base.len() - 1].to_vec(),
            [base.as_slice(), &[0]].concat(),
        ] {
            assert!(seen.insert(content_hash(&b)));
        }
        assert_ne!(content_hash(b""), content_hash(&[0]));
    }

    #[test]
    fn fnv1a_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }
}
