//! The `remote_write` section: the receiver's URL, limits, labels, authentication and TLS; and
//! secrets, read from files and never shown.

use std::fmt;
use std::path::Path;

use super::raw::{RawAuth, RawRemoteWrite};
use super::validate::{is_label_name, resolve};
use super::{Auth, Overrides, RemoteWrite, Tls};
use crate::util::bounded;

/// A secret read from a file. Its `Debug` never shows the value, so configs can be logged.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    #[cfg(test)]
    pub(super) fn new(s: &str) -> Secret {
        Secret(s.to_string())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Labels that costpush sets itself; `extra_labels` may not reuse them.
pub(crate) const RESERVED_LABELS: &[&str] = &[
    "host",
    "region",
    "scenario",
    "encoder",
    "preset",
    "bitrate",
    "resolution",
    "streams",
    "currency",
    "compute_basis",
    "target_region",
    "actual",
    "reason",
    "version",
    "base",
    "quote",
    "intensity_year",
    "bound",
    "quantity",
    "horizon",
    "model",
    "parameter",
    "level",
    "encode",
    "status",
    "fallback",
    "rank_deficient",
    "ill_conditioned",
    "sigma2",
    "method",
    "baseline",
    "intensity_source",
    "source",
];

pub(super) fn validate_remote_write(
    raw: RawRemoteWrite,
    base: &Path,
    ov: &Overrides,
    p: &mut Vec<String>,
) -> RemoteWrite {
    let url = ov.remote_write_url.clone().or(raw.url).unwrap_or_default();
    if url.is_empty() {
        p.push("remote_write.url: required (or pass --remote-write-url)".into());
    } else {
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if !u.username().is_empty() || u.password().is_some() {
                    p.push("remote_write.url: put credentials in remote_write.auth, not in the URL".into());
                }
            }
            Ok(u) => p.push(format!("remote_write.url: scheme must be http or https, got {}", u.scheme())),
            Err(e) => p.push(format!("remote_write.url: {url:?} is not a URL ({e})")),
        }
    }
    let timeout_s = raw.timeout_seconds.unwrap_or(10.0);
    if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 3600.0) {
        p.push(format!("remote_write.timeout_seconds: must be in (0, 3600], got {timeout_s}"));
    }
    let max_samples = raw.max_samples_per_request.unwrap_or(10_000);
    if max_samples == 0 {
        p.push("remote_write.max_samples_per_request: must be at least 1".into());
    }
    let max_attempts = raw.max_attempts.unwrap_or(4);
    if max_attempts == 0 {
        p.push("remote_write.max_attempts: must be at least 1".into());
    }
    let min_backoff_s = raw.min_backoff_seconds.unwrap_or(0.5);
    let max_backoff_s = raw.max_backoff_seconds.unwrap_or(60.0);
    if !(min_backoff_s.is_finite() && min_backoff_s > 0.0) {
        p.push(format!("remote_write.min_backoff_seconds: must be a positive number, got {min_backoff_s}"));
    }
    if !(max_backoff_s.is_finite() && max_backoff_s >= min_backoff_s && max_backoff_s <= 3600.0) {
        p.push(format!(
            "remote_write.max_backoff_seconds: must be between min_backoff_seconds and 3600, got {max_backoff_s}"
        ));
    }
    let queue_max_bytes = raw.queue_max_bytes.unwrap_or(256 << 20);
    if queue_max_bytes < 4096 {
        p.push(format!("remote_write.queue_max_bytes: must be at least 4096, got {queue_max_bytes}"));
    }
    let extra_labels = raw.extra_labels.unwrap_or_default();
    for (k, v) in &extra_labels {
        if !is_label_name(k) || k.starts_with("__") {
            p.push(format!("remote_write.extra_labels.{k}: not a valid label name"));
        } else if RESERVED_LABELS.contains(&k.as_str()) {
            p.push(format!("remote_write.extra_labels.{k}: costpush sets this label itself"));
        }
        if v.is_empty() {
            p.push(format!("remote_write.extra_labels.{k}: value must not be empty"));
        }
    }
    let auth = match raw.auth {
        None => Auth::None,
        Some(RawAuth { bearer_token_file: Some(_), basic: Some(_) }) => {
            p.push("remote_write.auth: give bearer_token_file or basic, not both".into());
            Auth::None
        }
        Some(RawAuth { bearer_token_file: Some(f), basic: None }) => {
            Auth::Bearer(read_secret(base, "remote_write.auth.bearer_token_file", &f, p))
        }
        Some(RawAuth { bearer_token_file: None, basic: Some(b) }) => {
            if b.username.is_empty() || b.username.contains(':') {
                p.push("remote_write.auth.basic.username: must be non-empty and contain no ':'".into());
            }
            Auth::Basic {
                username: b.username,
                password: read_secret(base, "remote_write.auth.basic.password_file", &b.password_file, p),
            }
        }
        Some(RawAuth { bearer_token_file: None, basic: None }) => Auth::None,
    };
    let mut tls = Tls::default();
    if let Some(t) = raw.tls {
        let read = |field: &str, path: &Path, p: &mut Vec<String>| -> Option<Vec<u8>> {
            let path = resolve(base, path);
            match bounded::read_file(&path, bounded::caps::PEM) {
                Ok(b) => Some(b),
                Err(e) => {
                    p.push(format!("{field}: cannot read {}: {e}", path.display()));
                    None
                }
            }
        };
        if let Some(ca) = &t.ca_file {
            tls.ca_pem = read("remote_write.tls.ca_file", ca, p);
            if let Some(pem) = &tls.ca_pem {
                if let Err(e) = reqwest::Certificate::from_pem(pem) {
                    p.push(format!("remote_write.tls.ca_file: not a PEM certificate ({e})"));
                }
            }
        }
        match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => {
                if let (Some(mut cert), Some(key)) =
                    (read("remote_write.tls.cert_file", c, p), read("remote_write.tls.key_file", k, p))
                {
                    cert.push(b'\n');
                    cert.extend_from_slice(&key);
                    // Parsing alone accepts some bad keys; building a client checks them.
                    let checked = reqwest::Identity::from_pem(&cert)
                        .and_then(|id| reqwest::Client::builder().identity(id).build());
                    if let Err(e) = checked {
                        p.push(format!(
                            "remote_write.tls.cert_file: certificate and key_file do not form a usable identity ({})",
                            crate::util::error_chain(&e)
                        ));
                    }
                    tls.identity_pem = Some(cert);
                }
            }
            (Some(_), None) => p.push("remote_write.tls.key_file: required with cert_file".into()),
            (None, Some(_)) => p.push("remote_write.tls.cert_file: required with key_file".into()),
            (None, None) => {}
        }
    }
    RemoteWrite {
        url,
        timeout: std::time::Duration::from_secs_f64(if timeout_s.is_finite() && timeout_s > 0.0 {
            timeout_s.min(3600.0)
        } else {
            10.0
        }),
        max_samples_per_request: max_samples.max(1),
        max_attempts: max_attempts.max(1),
        min_backoff: std::time::Duration::from_secs_f64(min_backoff_s.clamp(0.001, 3600.0)),
        max_backoff: std::time::Duration::from_secs_f64(max_backoff_s.clamp(0.001, 3600.0)),
        queue_max_bytes,
        extra_labels,
        auth,
        tls,
    }
}

/// Reads a secret (a token or password) from a file, for an HTTP header.
pub(super) fn read_secret(base: &Path, field: &str, path: &Path, p: &mut Vec<String>) -> Secret {
    let path = resolve(base, path);
    match bounded::read_file_to_string(&path, bounded::caps::SECRET) {
        Ok(s) if s.trim().is_empty() => {
            p.push(format!("{field}: {} is empty", path.display()));
            Secret(String::new())
        }
        // It goes into a header: only visible ASCII and spaces can.
        Ok(s) if !s.trim().bytes().all(|b| b == b' ' || b.is_ascii_graphic()) => {
            p.push(format!(
                "{field}: {} holds characters an HTTP header cannot carry (only printable ASCII)",
                path.display()
            ));
            Secret(String::new())
        }
        Ok(s) => Secret(s.trim().to_string()),
        Err(e) => {
            p.push(format!("{field}: cannot read {}: {e}", path.display()));
            Secret(String::new())
        }
    }
}
