//! Sends request bodies to the remote-write endpoint.
//!
//! Retry is decided by [`classify`], a pure function of the response: 2xx is done; 5xx, 429,
//! timeouts and connection errors are retried with exponential backoff (honouring a
//! `Retry-After` given in seconds); every other status fails at once, because re-sending the same
//! body cannot change the answer. The receiver's error body is logged as received.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use crate::config::{Auth, RemoteWrite};

/// Header names and values the remote-write 1.0 spec requires; users cannot override them.
mod headers {
    pub const CONTENT_ENCODING: &str = "snappy";
    pub const CONTENT_TYPE: &str = "application/x-protobuf";
    pub const VERSION_NAME: &str = "x-prometheus-remote-write-version";
    pub const VERSION: &str = "0.1.0";
}

/// `User-Agent: costpush/<version>`.
pub const USER_AGENT: &str = concat!("costpush/", env!("CARGO_PKG_VERSION"));

/// First retry delay; doubled per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What to do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Done,
    Retry,
    Fail,
}

/// The retry decision for an HTTP status.
pub fn classify(status: u16) -> Action {
    match status {
        200..=299 => Action::Done,
        429 | 500..=599 => Action::Retry,
        _ => Action::Fail,
    }
}

/// Delay before retry number `attempt` (1-based): 0.5 s, 1 s, 2 s, … capped at 10 s, or the
/// receiver's `Retry-After` seconds when given (capped the same way).
pub fn backoff(attempt: u32, retry_after_s: Option<u64>) -> Duration {
    match retry_after_s {
        Some(s) => Duration::from_secs(s).min(MAX_BACKOFF),
        None => FIRST_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("receiver refused the request with HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("gave up after {attempts} attempts; last: {last}")]
    Exhausted { attempts: u32, last: String },
}

pub struct Client {
    http: reqwest::Client,
    url: String,
    max_attempts: u32,
}

impl Client {
    pub fn new(cfg: &RemoteWrite) -> Result<Client, reqwest::Error> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(headers::CONTENT_ENCODING));
        h.insert(CONTENT_TYPE, HeaderValue::from_static(headers::CONTENT_TYPE));
        h.insert(headers::VERSION_NAME, HeaderValue::from_static(headers::VERSION));
        match &cfg.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
                    v.set_sensitive(true);
                    h.insert(AUTHORIZATION, v);
                }
            }
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                if let Ok(mut v) = HeaderValue::from_str(&format!("Basic {}", base64(raw.as_bytes()))) {
                    v.set_sensitive(true);
                    h.insert(AUTHORIZATION, v);
                }
            }
        }
        let mut b = reqwest::Client::builder().default_headers(h).user_agent(USER_AGENT).timeout(cfg.timeout);
        if let Some(pem) = &cfg.tls.ca_pem {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        if let Some(pem) = &cfg.tls.identity_pem {
            b = b.identity(reqwest::Identity::from_pem(pem)?);
        }
        Ok(Client { http: b.build()?, url: cfg.url.clone(), max_attempts: cfg.max_attempts })
    }

    /// Sends one body, retrying as [`classify`] says. Returns the number of attempts it took.
    pub async fn send(&self, body: Vec<u8>) -> Result<u32, SendError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (action, retry_after, last) = match self.http.post(&self.url).body(body.clone()).send().await
            {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let action = classify(status);
                    if action == Action::Done {
                        return Ok(attempt);
                    }
                    // At most 4 KiB of the receiver's explanation.
                    let text = resp.text().await.unwrap_or_default();
                    let text: String = text.chars().take(4096).collect();
                    if action == Action::Fail {
                        return Err(SendError::Refused { status, body: text });
                    }
                    (action, retry_after, format!("HTTP {status}: {text}"))
                }
                Err(e) => (Action::Retry, None, crate::error_chain(&e)),
            };
            debug_assert_eq!(action, Action::Retry);
            if attempt >= self.max_attempts {
                return Err(SendError::Exhausted { attempts: attempt, last });
            }
            let wait = backoff(attempt, retry_after);
            tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %last, "remote write failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Standard base64 with padding (for the basic-auth header).
fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_every_status() {
        for s in 100..=999u16 {
            let want = match s {
                200..=299 => Action::Done,
                429 | 500..=599 => Action::Retry,
                _ => Action::Fail,
            };
            assert_eq!(classify(s), want, "status {s}");
        }
        assert_eq!(classify(204), Action::Done);
        assert_eq!(classify(400), Action::Fail);
        assert_eq!(classify(503), Action::Retry);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let ms: Vec<u128> = (1..=7).map(|a| backoff(a, None).as_millis()).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 8000, 10000, 10000]);
        assert_eq!(backoff(1, Some(3)), Duration::from_secs(3));
        assert_eq!(backoff(1, Some(3600)), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX, None), MAX_BACKOFF);
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 test vectors
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
