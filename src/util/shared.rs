//! [`Shared`]: a value that a cycle's new state shares with the state it started from until it
//! changes it, so that copying the state costs what changed, not what it holds.

use std::sync::Arc;

/// A value behind an [`Arc`]: cloning it shares it, and [`Shared::make_mut`] copies it first if
/// it is shared. Mutation is explicit (no `DerefMut`), so a reader sees where a copy may be made.
///
/// Two `Shared` that point to the same value are equal without comparing it: the state's commit
/// compares a cycle's parts with the last commit's, and an idle cycle's are the same values.
#[derive(Debug, Default, Clone)]
pub(crate) struct Shared<T>(Arc<T>);

impl<T> Shared<T> {
    pub(crate) fn new(value: T) -> Shared<T> {
        Shared(Arc::new(value))
    }

    /// Whether both point to the one value (not merely equal ones).
    pub(crate) fn same(&self, other: &Shared<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T: Clone> Shared<T> {
    /// The value, to change: copied first if anything else shares it.
    pub(crate) fn make_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }

    /// The value, copied if anything else shares it.
    pub(crate) fn into_inner(self) -> T {
        Arc::unwrap_or_clone(self.0)
    }

    /// A copy of the value that shares nothing with this one (allocated by the calling thread).
    pub(crate) fn copied(&self) -> Shared<T> {
        Shared::new(T::clone(&self.0))
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Shared<T> {
    fn from(value: T) -> Shared<T> {
        Shared::new(value)
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Shared<T>) -> bool {
        self.same(other) || *self.0 == *other.0
    }
}

impl<T: serde::Serialize> serde::Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Shared<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shared<T>, D::Error> {
        T::deserialize(d).map(Shared::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_shares_until_one_side_changes() {
        let a = Shared::new(vec![1, 2, 3]);
        let mut b = a.clone();
        assert!(a.same(&b) && a == b);
        b.make_mut().push(4);
        assert!(!a.same(&b) && a != b);
        assert_eq!((a.as_slice(), b.as_slice()), (&[1, 2, 3][..], &[1, 2, 3, 4][..]));
        // Not shared any more: changed in place.
        let before = Arc::as_ptr(&b.0);
        b.make_mut().push(5);
        assert_eq!(Arc::as_ptr(&b.0), before);
        let c = b.copied();
        assert!(!c.same(&b) && c == b);
    }

    #[test]
    fn a_shared_value_is_equal_to_itself_even_when_its_contents_are_not() {
        let a = Shared::new(f64::NAN);
        assert!(a == a.clone());
        assert!(a != Shared::new(f64::NAN));
    }

    #[test]
    fn it_is_stored_as_its_value() {
        let a = Shared::new(vec![1u64, 2]);
        assert_eq!(serde_json::to_string(&a).unwrap(), "[1,2]");
        assert_eq!(serde_json::from_str::<Shared<Vec<u64>>>("[1,2]").unwrap(), a);
    }
}
