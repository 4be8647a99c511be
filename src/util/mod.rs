//! Small helpers shared by every stage: bounded reads, atomic file writes, hashing, time and
//! calendar, the allocator's tuning, and error rendering. Each has one home here so that no stage
//! writes its own copy.

pub(crate) mod bounded;
pub(crate) mod fs;
pub(crate) mod hash;
pub mod memory;
pub(crate) mod time;

/// An error and all its sources on one line (`outer: inner: root`), for logs and messages.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
