//! Positions in a list, found by a hash of each element's key: the lookup shared by series,
//! groups, counters and stamps.

/// The keys are hashed already: the index uses the hash as is.
#[derive(Debug, Default, Clone, Copy)]
struct BuildIdentity;

impl std::hash::BuildHasher for BuildIdentity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

#[derive(Debug, Default)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; this keeps the trait complete.
        for b in bytes {
            self.0 = (self.0.rotate_left(8)) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Positions in a list by the hash of each element's key (more than one position per hash only
/// on a collision): the lookup shared by series, groups and counters.
#[derive(Debug, Default, Clone)]
pub(super) struct HashIndex(std::collections::HashMap<u64, Vec<u32>, BuildIdentity>);

impl HashIndex {
    /// The position of the element with key hash `hash` for which `is` holds; else `next` is
    /// recorded for the hash and returned with `true`, and the caller appends the element there.
    pub(super) fn find_or_insert(
        &mut self,
        hash: u64,
        is: impl Fn(usize) -> bool,
        next: usize,
    ) -> (usize, bool) {
        let slot = self.0.entry(hash).or_default();
        match slot.iter().find(|&&i| is(i as usize)) {
            Some(&i) => (i as usize, false),
            None => {
                slot.push(next as u32);
                (next, true)
            }
        }
    }
}
