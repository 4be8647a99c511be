//! A set kept as a sorted list: 8 bytes an element for a `u64` (a `BTreeSet` takes about twice
//! that, and twice over during a cycle), looked up by binary search, added to in bulk, and
//! stored as a JSON array.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SortedSet<T>(Vec<T>);

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet(Vec::new())
    }
}

impl<T: Ord> SortedSet<T> {
    pub(crate) fn contains(&self, x: &T) -> bool {
        self.0.binary_search(x).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The elements not in `before`, in order; `None` when `before` has one this set lacks.
    pub(crate) fn added_since(&self, before: &SortedSet<T>) -> Option<Vec<T>>
    where
        T: Clone,
    {
        let mut added = Vec::with_capacity(self.len().saturating_sub(before.len()));
        let mut old = before.0.iter().peekable();
        for x in &self.0 {
            match old.peek() {
                Some(&o) if o == x => {
                    old.next();
                }
                Some(&o) if o < x => return None,
                _ => added.push(x.clone()),
            }
        }
        old.next().is_none().then_some(added)
    }

    #[cfg(test)]
    pub(crate) fn insert(&mut self, x: T) {
        if let Err(at) = self.0.binary_search(&x) {
            self.0.insert(at, x);
        }
    }
}

/// Adds many at once: one merge of two sorted runs (the stable sort finds them).
impl<T: Ord> Extend<T> for SortedSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, xs: I) {
        self.0.extend(xs);
        self.0.sort();
        self.0.dedup();
    }
}

/// A stored list is sorted again as it is read: an edited or older file may not be.
impl<'de, T: Ord + Deserialize<'de>> Deserialize<'de> for SortedSet<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut set = SortedSet::default();
        set.extend(Vec::<T>::deserialize(d)?);
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_stays_sorted_and_round_trips_through_json() {
        let mut set = SortedSet::default();
        set.extend([9u32, 3, 7, 3]);
        assert_eq!(serde_json::to_string(&set).unwrap(), "[3,7,9]");
        assert_eq!(serde_json::from_str::<SortedSet<u32>>("[9,3,7]").unwrap(), set);
        set.insert(5);
        assert_eq!(serde_json::to_string(&set).unwrap(), "[3,5,7,9]");
        assert_eq!(serde_json::from_str::<SortedSet<u32>>("[9,3,7,5,5]").unwrap(), set);
        assert!(set.contains(&7) && !set.contains(&4));
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn what_was_added_since_an_earlier_set() {
        let set = |xs: &[u32]| serde_json::from_str::<SortedSet<u32>>(&format!("{xs:?}")).unwrap();
        assert_eq!(set(&[1, 3, 5, 7]).added_since(&set(&[3, 7])), Some(vec![1, 5]));
        assert_eq!(set(&[1, 3]).added_since(&set(&[1, 3])), Some(vec![]));
        assert_eq!(set(&[1, 3]).added_since(&set(&[])), Some(vec![1, 3]));
        assert_eq!(set(&[1, 3]).added_since(&set(&[2])), None, "2 went");
        assert_eq!(set(&[1, 3]).added_since(&set(&[3, 4])), None, "4 went");
    }
}
