//! One HTTP request per attempt ([`HttpTransport`]), with the headers remote write 1.0 requires,
//! the destination's own headers (a tenant's `X-Scope-OrgID`, say), authentication and TLS. What an answer means is decided in [`super::retry`].
//!
//! Redirects are not followed: a redirected POST would turn into a GET without the body, and a
//! 2xx to that would look like delivery.

use std::future::Future;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use super::retry::RetryAfter;
use crate::config::{Auth, RemoteWrite};
use crate::util::bounded;

/// Header names and values the remote-write 1.0 spec requires; users cannot override them.
mod headers {
    pub(crate) const CONTENT_ENCODING: &str = "snappy";
    pub(crate) const CONTENT_TYPE: &str = "application/x-protobuf";
    pub(crate) const VERSION_NAME: &str = "x-prometheus-remote-write-version";
    pub(crate) const VERSION: &str = "0.1.0";
}

/// `User-Agent: costpush/<version>`.
pub(crate) const USER_AGENT: &str = concat!("costpush/", env!("CARGO_PKG_VERSION"));

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<RetryAfter>,
    /// At most 4 KiB of the receiver's explanation (lossy UTF-8).
    pub(crate) body: String,
}

/// A request that got no HTTP answer (connection refused, reset, timeout, TLS failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransportError(pub String);

/// Sends one request body. The production implementation is [`HttpTransport`]; tests use
/// scripted ones.
pub(crate) trait Transport: Send + Sync {
    fn send(&self, body: Vec<u8>) -> impl Future<Output = Result<Response, TransportError>> + Send;
}

/// Remote write over HTTP(S) with the spec's headers, auth and TLS from the config.
pub(crate) struct HttpTransport {
    http: reqwest::Client,
    url: String,
}

impl HttpTransport {
    pub(crate) fn new(cfg: &RemoteWrite) -> Result<HttpTransport, reqwest::Error> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(headers::CONTENT_ENCODING));
        h.insert(CONTENT_TYPE, HeaderValue::from_static(headers::CONTENT_TYPE));
        h.insert(headers::VERSION_NAME, HeaderValue::from_static(headers::VERSION));
        let auth = match &cfg.auth {
            Auth::None => None,
            Auth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
            Auth::Basic { username, password } => {
                Some(format!("Basic {}", base64(format!("{username}:{}", password.expose()).as_bytes())))
            }
        };
        // The config check guarantees valid header names and values, and none of the above.
        for (name, value) in &cfg.headers {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                h.insert(n, v);
            }
        }
        if let Some(Ok(mut v)) = auth.map(|a| HeaderValue::from_str(&a)) {
            v.set_sensitive(true);
            h.insert(AUTHORIZATION, v);
        }
        let mut b = reqwest::Client::builder()
            .default_headers(h)
            .user_agent(USER_AGENT)
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &cfg.tls.ca_pem {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        if let Some(pem) = &cfg.tls.identity_pem {
            b = b.identity(reqwest::Identity::from_pem(pem)?);
        }
        Ok(HttpTransport { http: b.build()?, url: cfg.url.clone() })
    }
}

impl Transport for HttpTransport {
    async fn send(&self, body: Vec<u8>) -> Result<Response, TransportError> {
        let resp = self
            .http
            .post(&self.url)
            .body(body)
            .send()
            .await
            .map_err(|e| TransportError(crate::util::error_chain(&e.without_url())))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(RetryAfter::parse);
        let body = if (200..300).contains(&status) {
            String::new()
        } else {
            // Only the start of a refusal is read: a peer may answer with any length.
            bounded::read_body(resp, bounded::caps::ERROR_BODY)
                .await
                .map(|b| b.lossy_text())
                .unwrap_or_default()
        };
        Ok(Response { status, retry_after, body })
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
