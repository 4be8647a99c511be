//! What an attempt's answer means ([`decide`]), and how long to wait before the next attempt
//! ([`Backoff`]). Pure: no I/O, and the clock only as an argument.
//!
//!
//! | answer | decision |
//! |---|---|
//! | 2xx | delivered |
//! | 5xx, 429, 408, timeout, connection error | retry with capped exponential backoff and full jitter, never sooner than `Retry-After` (seconds or HTTP-date) |
//! | 400, 409, 422 | the receiver refuses data: halve the batch until the refused samples are alone; drop those, count them, log the receiver's answer |
//! | 413 | too large: halve the batch until each part fits; drop a single sample still too large |
//! | anything else (401, 403, 404, 405, 415, 1xx, 3xx, …) | configuration: keep the data, retry at the maximum backoff, log loudly |
//!
//! Redirects are not followed: a redirected POST would turn into a GET without the body, and a
//! 2xx to that would look like delivery.

use std::time::{Duration, SystemTime};

use super::client::{Response, TransportError};

/// Longest `Retry-After` honoured; a receiver asking for more is waited on for this long.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A receiver's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    Seconds(u64),
    Date(SystemTime),
}

impl RetryAfter {
    /// Parses `120` or an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub(crate) fn parse(v: &str) -> Option<RetryAfter> {
        let v = v.trim();
        v.parse::<u64>()
            .ok()
            .map(RetryAfter::Seconds)
            .or_else(|| httpdate::parse_http_date(v).ok().map(RetryAfter::Date))
    }

    /// How long to wait from `now`.
    pub(crate) fn delay(self, now: SystemTime) -> Duration {
        let d = match self {
            RetryAfter::Seconds(s) => Duration::from_secs(s),
            RetryAfter::Date(t) => t.duration_since(now).unwrap_or_default(),
        };
        d.min(MAX_RETRY_AFTER)
    }
}

/// What to do with a batch after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Delivered,
    /// Try again after at least `min_wait` (from `Retry-After`), and after the backoff.
    Retry {
        min_wait: Option<Duration>,
    },
    /// Data is refused: halve it to find the refused samples, drop those (retrying cannot help).
    Reject,
    /// Too large: halve it and send the halves.
    Split,
    /// A configuration problem: keep the data, retry at the maximum backoff.
    Misconfigured,
}

/// The decision for an attempt's outcome. Pure: `now` only converts an HTTP-date.
pub(crate) fn decide(outcome: &Result<Response, TransportError>, now: SystemTime) -> Decision {
    let r = match outcome {
        Err(_) => return Decision::Retry { min_wait: None },
        Ok(r) => r,
    };
    match r.status {
        200..=299 => Decision::Delivered,
        400 | 409 | 422 => Decision::Reject,
        413 => Decision::Split,
        408 | 429 | 500..=599 => Decision::Retry { min_wait: r.retry_after.map(|ra| ra.delay(now)) },
        _ => Decision::Misconfigured,
    }
}

/// Backoff bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// Wait before retry number `attempt` (1-based): full jitter over the capped exponential
    /// `min · 2^(attempt−1)`, i.e. `jitter ×` that, with `jitter` drawn from [0, 1) by the caller.
    /// Never shorter than the receiver's `Retry-After`.
    pub(crate) fn delay(&self, attempt: u32, jitter: f64, min_wait: Option<Duration>) -> Duration {
        let exp = self.min.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.max);
        exp.mul_f64(jitter.clamp(0.0, 1.0)).max(min_wait.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Result<Response, TransportError> {
        Ok(Response { status: s, retry_after: None, body: String::new() })
    }

    #[test]
    fn every_status_has_one_decision() {
        let now = SystemTime::UNIX_EPOCH;
        for s in 100..=999u16 {
            let want = match s {
                200..=299 => Decision::Delivered,
                400 | 409 | 422 => Decision::Reject,
                413 => Decision::Split,
                408 | 429 | 500..=599 => Decision::Retry { min_wait: None },
                _ => Decision::Misconfigured,
            };
            assert_eq!(decide(&status(s), now), want, "status {s}");
        }
        for s in [301, 302, 307, 401, 403, 404, 405, 415] {
            assert_eq!(decide(&status(s), now), Decision::Misconfigured, "{s}: keep the data");
        }
        assert_eq!(decide(&Err(TransportError("timeout".into())), now), Decision::Retry { min_wait: None });
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(RetryAfter::parse(" 120 "), Some(RetryAfter::Seconds(120)));
        let date = RetryAfter::parse("Sun, 06 Nov 1994 08:50:07 GMT").unwrap();
        assert_eq!(date.delay(now), Duration::from_secs(30));
        // a date in the past means "now"
        assert_eq!(RetryAfter::parse("Sun, 06 Nov 1994 08:00:00 GMT").unwrap().delay(now), Duration::ZERO);
        assert_eq!(RetryAfter::parse("soon"), None);
        assert_eq!(RetryAfter::Seconds(1 << 40).delay(now), MAX_RETRY_AFTER);
        let r = Ok(Response { status: 429, retry_after: Some(date), body: String::new() });
        assert_eq!(decide(&r, now), Decision::Retry { min_wait: Some(Duration::from_secs(30)) });
        // Retry-After on a 503 counts too; on a 400 it does not make the data acceptable
        let r = Ok(Response { status: 400, retry_after: Some(date), body: String::new() });
        assert_eq!(decide(&r, now), Decision::Reject);
    }

    #[test]
    fn backoff_is_capped_exponential_with_full_jitter() {
        let b = Backoff { min: Duration::from_millis(500), max: Duration::from_secs(60) };
        let top: Vec<u128> = (1..=9).map(|a| b.delay(a, 1.0, None).as_millis()).collect();
        assert_eq!(top, vec![500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
        assert_eq!(b.delay(3, 0.0, None), Duration::ZERO);
        assert_eq!(b.delay(3, 0.5, None), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX, 1.0, None), b.max);
        // never sooner than Retry-After, even when jitter draws low
        assert_eq!(b.delay(1, 0.0, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(b.delay(9, 1.0, Some(Duration::from_secs(7))), Duration::from_secs(60));
    }
}
