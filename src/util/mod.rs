//! Small helpers shared by every stage: bounded reads, short byte comparisons, atomic and
//! in-place file writes, hashing, a sorted-list set, time and calendar, the allocator's tuning, a
//! copy-on-write value, and error rendering (with URLs redacted). Each has one home here so that
//! no stage writes its own copy.

pub(crate) mod bounded;
pub(crate) mod bytes;
pub(crate) mod fs;
pub(crate) mod hash;
pub mod memory;
pub(crate) mod shared;
pub(crate) mod sorted;
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

/// `url` for a log line: a password in it, and the value of every query parameter, are replaced
/// by `<redacted>` (a token may ride in either). Text that is not a URL comes back unchanged.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else { return url.to_string() };
    if u.password().is_some() {
        let _ = u.set_password(Some("<redacted>"));
    }
    if u.query().is_some() {
        let names: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
        u.query_pairs_mut().clear().extend_pairs(names.iter().map(|k| (k.as_str(), "<redacted>")));
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_in_a_url_are_redacted() {
        assert_eq!(
            super::redact_url("https://u:s3cret@vm:8428/api/v1/write?token=abc&tenant=1"),
            "https://u:%3Credacted%3E@vm:8428/api/v1/write?token=%3Credacted%3E&tenant=%3Credacted%3E"
        );
        assert_eq!(super::redact_url("http://vm:8428/api/v1/write"), "http://vm:8428/api/v1/write");
        assert_eq!(super::redact_url("not a url"), "not a url");
    }
}
