//! The `remote_write` section: one destination or a list, each with its URL, headers, limits,
//! authentication and TLS; the labels added to every sample; and secrets, read from files and
//! never shown.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::raw::{RawAuth, RawDestinations, RawRemoteWrite};
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
    "destination",
    "basis",
    "by",
    "label",
];

/// Headers costpush or its HTTP client set themselves, and hop-by-hop headers (lower case);
/// `headers` may not give them.
const OWN_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "x-prometheus-remote-write-version",
    "user-agent",
    "host",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Most headers one destination may add.
const MAX_HEADERS: usize = 32;

/// The destinations (`remote_write`, one mapping or a list) and the labels added to every sample
/// (`extra_labels` at the top level, or inside a single `remote_write` mapping).
///
/// `--remote-write-url` replaces the list with one destination: that URL, with the first entry's
/// other settings (name, auth, TLS, headers, limits).
pub(super) fn validate_destinations(
    raw: Option<RawDestinations>,
    top_labels: Option<BTreeMap<String, String>>,
    base: &Path,
    ov: &Overrides,
    p: &mut Vec<String>,
) -> (Vec<RemoteWrite>, BTreeMap<String, String>) {
    let (mut entries, list) = match raw {
        None => (vec![RawRemoteWrite::default()], false),
        Some(RawDestinations::One(e)) => (vec![*e], false),
        // The flag replaces the list, empty or not.
        Some(RawDestinations::List(l)) if l.is_empty() && ov.remote_write_url.is_some() => {
            (vec![RawRemoteWrite::default()], false)
        }
        Some(RawDestinations::List(l)) if l.is_empty() => {
            p.push("remote_write: the list is empty; give at least one destination".into());
            // Checked as a placeholder: nothing to add to the problem above.
            (
                vec![RawRemoteWrite { url: Some("http://127.0.0.1/".into()), ..RawRemoteWrite::default() }],
                true,
            )
        }
        Some(RawDestinations::List(l)) => (l, true),
    };
    let mut labels = top_labels;
    let mut labels_field = "extra_labels";
    if let Some(url) = &ov.remote_write_url {
        entries.truncate(1);
        entries[0].url = Some(url.clone());
    }
    let mut out: Vec<RemoteWrite> = Vec::with_capacity(entries.len());
    for (i, mut e) in entries.into_iter().enumerate() {
        let field = if list { format!("remote_write[{i}]") } else { "remote_write".to_string() };
        if let Some(l) = e.extra_labels.take() {
            if list {
                p.push(format!(
                    "{field}.extra_labels: the samples are built once for every destination; set extra_labels at the top level"
                ));
            } else if labels.is_some() {
                p.push(format!("{field}.extra_labels: also given at the top level; keep one"));
            } else {
                labels = Some(l);
                labels_field = "remote_write.extra_labels";
            }
        }
        let given = e.name.is_some();
        let name = e.name.take().unwrap_or_else(|| (i + 1).to_string());
        if !is_destination_name(&name) {
            p.push(format!(
                "{field}.name: {name:?} must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit"
            ));
        } else if out.iter().any(|d| d.name.eq_ignore_ascii_case(&name)) {
            // Names are directories: two that differ only in case are one on some file systems.
            if given {
                p.push(format!("{field}.name: {name:?} is already the name of another destination"));
            } else {
                p.push(format!(
                    "{field}: its default name {name:?} (its position) is another destination's name; give it a name"
                ));
            }
        }
        let url_field = if ov.remote_write_url.is_some() { "--remote-write-url" } else { "" };
        out.push(validate_remote_write(e, name, &field, url_field, base, p));
    }
    let labels = labels.unwrap_or_default();
    let field = labels_field;
    for (k, v) in &labels {
        if !is_label_name(k) || k.starts_with("__") {
            p.push(format!("{field}.{k}: not a valid label name"));
        } else if RESERVED_LABELS.contains(&k.as_str()) {
            p.push(format!("{field}.{k}: costpush sets this label itself"));
        }
        if v.is_empty() {
            p.push(format!("{field}.{k}: value must not be empty"));
        }
    }
    (out, labels)
}

/// A name that is safe as a directory name beside the queue's files (which all have a '.') and
/// readable as a label value.
fn is_destination_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// One destination; `field` names it in problems (`remote_write` or `remote_write[i]`), and
/// `url_field` its URL when that came from elsewhere (the flag), else `{field}.url`.
fn validate_remote_write(
    raw: RawRemoteWrite,
    name: String,
    field: &str,
    url_field: &str,
    base: &Path,
    p: &mut Vec<String>,
) -> RemoteWrite {
    let url_field = if url_field.is_empty() { format!("{field}.url") } else { url_field.to_string() };
    let url = raw.url.unwrap_or_default();
    if url.is_empty() {
        p.push(format!("{url_field}: required (or pass --remote-write-url)"));
    } else {
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if !u.username().is_empty() || u.password().is_some() {
                    p.push(format!("{url_field}: put credentials in {field}.auth, not in the URL"));
                }
            }
            Ok(u) => p.push(format!("{url_field}: scheme must be http or https, got {}", u.scheme())),
            Err(e) => p.push(format!("{url_field}: {url:?} is not a URL ({e})")),
        }
    }
    let timeout_s = raw.timeout_seconds.unwrap_or(10.0);
    if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 3600.0) {
        p.push(format!("{field}.timeout_seconds: must be in (0, 3600], got {timeout_s}"));
    }
    let max_samples = raw.max_samples_per_request.unwrap_or(10_000);
    if max_samples == 0 {
        p.push(format!("{field}.max_samples_per_request: must be at least 1"));
    }
    let max_attempts = raw.max_attempts.unwrap_or(4);
    if max_attempts == 0 {
        p.push(format!("{field}.max_attempts: must be at least 1"));
    }
    let min_backoff_s = raw.min_backoff_seconds.unwrap_or(0.5);
    let max_backoff_s = raw.max_backoff_seconds.unwrap_or(60.0);
    if !(min_backoff_s.is_finite() && min_backoff_s > 0.0) {
        p.push(format!("{field}.min_backoff_seconds: must be a positive number, got {min_backoff_s}"));
    }
    if !(max_backoff_s.is_finite() && max_backoff_s >= min_backoff_s && max_backoff_s <= 3600.0) {
        p.push(format!(
            "{field}.max_backoff_seconds: must be between min_backoff_seconds and 3600, got {max_backoff_s}"
        ));
    }
    let queue_max_bytes = raw.queue_max_bytes.unwrap_or(256 << 20);
    if queue_max_bytes < 4096 {
        p.push(format!("{field}.queue_max_bytes: must be at least 4096, got {queue_max_bytes}"));
    }
    let headers = validate_headers(raw.headers.unwrap_or_default(), field, p);
    let auth = match raw.auth {
        None => Auth::None,
        Some(RawAuth { bearer_token_file: Some(_), basic: Some(_) }) => {
            p.push(format!("{field}.auth: give bearer_token_file or basic, not both"));
            Auth::None
        }
        Some(RawAuth { bearer_token_file: Some(f), basic: None }) => {
            Auth::Bearer(read_secret(base, &format!("{field}.auth.bearer_token_file"), &f, p))
        }
        Some(RawAuth { bearer_token_file: None, basic: Some(b) }) => {
            if b.username.is_empty() || b.username.contains(':') {
                p.push(format!("{field}.auth.basic.username: must be non-empty and contain no ':'"));
            }
            Auth::Basic {
                username: b.username,
                password: read_secret(
                    base,
                    &format!("{field}.auth.basic.password_file"),
                    &b.password_file,
                    p,
                ),
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
            tls.ca_pem = read(&format!("{field}.tls.ca_file"), ca, p);
            if let Some(pem) = &tls.ca_pem {
                if let Err(e) = reqwest::Certificate::from_pem(pem) {
                    p.push(format!("{field}.tls.ca_file: not a PEM certificate ({e})"));
                }
            }
        }
        match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => {
                if let (Some(mut cert), Some(key)) = (
                    read(&format!("{field}.tls.cert_file"), c, p),
                    read(&format!("{field}.tls.key_file"), k, p),
                ) {
                    cert.push(b'\n');
                    cert.extend_from_slice(&key);
                    // Parsing alone accepts some bad keys; building a client checks them.
                    let checked = reqwest::Identity::from_pem(&cert)
                        .and_then(|id| reqwest::Client::builder().identity(id).build());
                    if let Err(e) = checked {
                        p.push(format!(
                            "{field}.tls.cert_file: certificate and key_file do not form a usable identity ({})",
                            crate::util::error_chain(&e)
                        ));
                    }
                    tls.identity_pem = Some(cert);
                }
            }
            (Some(_), None) => p.push(format!("{field}.tls.key_file: required with cert_file")),
            (None, Some(_)) => p.push(format!("{field}.tls.cert_file: required with key_file")),
            (None, None) => {}
        }
    }
    RemoteWrite {
        name,
        url,
        headers,
        timeout: std::time::Duration::from_secs_f64(if timeout_s.is_finite() && timeout_s > 0.0 {
            timeout_s.min(3600.0)
        } else {
            10.0
        }),
        max_samples_per_request: max_samples.max(1),
        max_attempts: max_attempts.max(1),
        // A bad value was reported above; these only keep the conversion from panicking on it.
        min_backoff: std::time::Duration::from_secs_f64(finite_or(min_backoff_s, 0.5).clamp(0.001, 3600.0)),
        max_backoff: std::time::Duration::from_secs_f64(finite_or(max_backoff_s, 60.0).clamp(0.001, 3600.0)),
        queue_max_bytes,
        send_metadata: raw.send_metadata.unwrap_or(true),
        auth,
        tls,
    }
}

/// The `headers` map: valid HTTP header names and values, none that costpush sets itself.
fn validate_headers(
    raw: BTreeMap<String, String>,
    field: &str,
    p: &mut Vec<String>,
) -> Vec<(String, String)> {
    if raw.len() > MAX_HEADERS {
        p.push(format!("{field}.headers: at most {MAX_HEADERS} headers, got {}", raw.len()));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        let lower = k.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            p.push(format!("{field}.headers.{k}: not a valid HTTP header name"));
        } else if lower == "authorization" {
            p.push(format!(
                "{field}.headers.{k}: set credentials in {field}.auth (read from a file, never logged)"
            ));
        } else if lower == "proxy-authorization" {
            p.push(format!("{field}.headers.{k}: credentials do not belong in the configuration file"));
        } else if let Some((other, _)) = out.iter().find(|(o, _)| o.eq_ignore_ascii_case(&k)) {
            p.push(format!("{field}.headers.{k}: the same header as {other} (names ignore case)"));
        } else if OWN_HEADERS.contains(&lower.as_str()) {
            p.push(format!("{field}.headers.{k}: costpush sets this header itself"));
        }
        if v.len() > 4096
            || reqwest::header::HeaderValue::from_str(&v).is_err()
            || v.bytes().any(|b| b.is_ascii_control())
        {
            p.push(format!("{field}.headers.{k}: the value must be printable ASCII, at most 4096 bytes"));
        }
        out.push((k, v));
    }
    out
}

/// `x`, or `default` for NaN and infinities (already reported as problems).
pub(super) fn finite_or(x: f64, default: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        default
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{parse, Config, ConfigErrors, Overrides};

    const REST: &str = "host: {name: h1, region: eu-north-1}\nresults: {dirs: [r]}\nstate_dir: /tmp/s\n";

    fn load(rw: &str, ov: &Overrides) -> Result<Config, ConfigErrors> {
        super::super::from_str(&format!("{REST}{rw}"), Path::new("/etc/costpush"), ov)
    }

    fn problems(rw: &str) -> Vec<String> {
        load(rw, &Overrides::default()).expect_err("refused").problems
    }

    #[test]
    fn a_list_of_destinations_each_with_its_own_settings() {
        let cfg = load(
            "remote_write:\n  - url: http://a:8428/api/v1/write\n    max_samples_per_request: 500\n  - name: mimir\n    url: http://m/api/v1/push\n    headers: {X-Scope-OrgID: team-a}\n    queue_max_bytes: 8192\n    max_backoff_seconds: 5\nextra_labels: {env: prod}\n",
            &Overrides::default(),
        )
        .unwrap();
        let names: Vec<&str> = cfg.destinations.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["1", "mimir"], "unnamed entries are named by position, from 1");
        assert_eq!(cfg.destinations[1].headers, [("X-Scope-OrgID".to_string(), "team-a".to_string())]);
        assert_eq!(cfg.destinations[1].queue_max_bytes, 8192);
        assert_eq!(cfg.destinations[0].queue_max_bytes, 256 << 20);
        assert_eq!(cfg.destinations[1].max_backoff.as_secs(), 5);
        assert_eq!(cfg.max_samples_per_request, 500, "bodies are written once: the smallest limit");
        assert_eq!(cfg.extra_labels["env"], "prod");
    }

    #[test]
    fn a_single_mapping_works_as_it_always_did() {
        let cfg = load(
            "remote_write: {url: 'http://a/api/v1/write', extra_labels: {env: prod}}\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(cfg.destinations.len(), 1);
        assert_eq!((cfg.destinations[0].name.as_str(), cfg.extra_labels["env"].as_str()), ("1", "prod"));
    }

    #[test]
    fn every_entry_is_checked_and_named_by_its_index() {
        let p = problems(
            "remote_write:\n  - {url: 'ftp://x', name: a}\n  - {name: a, url: 'http://b', headers: {Content-Type: x, authorization: y, 'bad name': z, X-Ok: \"v\\n\"}}\n  - {url: 'http://c', retries: 3}\n  - {name: '../up', url: 'http://d', extra_labels: {env: x}}\n  - {name: A, url: 'http://e'}\n  - {name: '7', url: 'http://h'}\n  - {url: 'http://f'}\n  - {name: stats.json, url: 'http://g', headers: {X-Tenant: a, x-tenant: b, Upgrade: h2c, Proxy-Authorization: x}}\n",
        );
        for want in [
            "remote_write[0].url: scheme must be http or https, got ftp",
            "remote_write[1].name: \"a\" is already the name of another destination",
            "remote_write[1].headers.Content-Type: costpush sets this header itself",
            "remote_write[1].headers.authorization: set credentials in remote_write[1].auth",
            "remote_write[1].headers.bad name: not a valid HTTP header name",
            "remote_write[1].headers.X-Ok: the value must be printable ASCII",
            "remote_write[2]: unknown field `retries`",
            "remote_write[3].name: \"../up\" must be 1 to 64 letters",
            "remote_write[4].name: \"A\" is already the name of another destination",
            "remote_write[6]: its default name \"7\" (its position) is another destination's name",
            "remote_write[7].name: \"stats.json\" must be 1 to 64 letters",
            "remote_write[7].headers.x-tenant: the same header as X-Tenant",
            "remote_write[7].headers.Upgrade: costpush sets this header itself",
            "remote_write[7].headers.Proxy-Authorization: credentials do not belong",
            "remote_write[3].extra_labels: the samples are built once for every destination",
        ] {
            assert!(p.iter().any(|x| x.starts_with(want)), "missing {want:?} in {p:#?}");
        }
        // An entry that does not read has that one problem, not a "required" after it.
        assert!(!p.iter().any(|x| x.starts_with("remote_write[2].url")), "{p:#?}");
        assert_eq!(
            problems("remote_write: []\n"),
            ["remote_write: the list is empty; give at least one destination"]
        );
        assert!(problems("remote_write: {url: 'http://a', extra_labels: {a: b}}\nextra_labels: {c: d}\n")
            .iter()
            .any(|x| x.starts_with("remote_write.extra_labels: also given at the top level")));
        assert!(problems("remote_write: {url: 'http://a'}\nextra_labels: {destination: d}\n")
            .contains(&"extra_labels.destination: costpush sets this label itself".to_string()));
    }

    #[test]
    fn not_a_number_is_a_problem_not_a_panic() {
        let p = problems(
            "remote_write: [{url: 'http://a', min_backoff_seconds: .nan, max_backoff_seconds: .inf}]\nshutdown_grace_seconds: .nan\n",
        );
        assert!(p.iter().any(|x| x.starts_with("remote_write[0].min_backoff_seconds")), "{p:#?}");
        assert!(p.iter().any(|x| x.starts_with("shutdown_grace_seconds")), "{p:#?}");
    }

    #[test]
    fn the_url_flag_replaces_the_list_with_one_destination() {
        let ov =
            Overrides { remote_write_url: Some("http://flag/api/v1/write".into()), ..Overrides::default() };
        let cfg = load(
            "remote_write:\n  - {name: main, url: 'http://a', headers: {X-Scope-OrgID: t}}\n  - {url: 'http://b'}\n",
            &ov,
        )
        .unwrap();
        assert_eq!(cfg.destinations.len(), 1);
        let d = &cfg.destinations[0];
        assert_eq!((d.name.as_str(), d.url.as_str()), ("main", "http://flag/api/v1/write"));
        assert_eq!(d.headers.len(), 1, "the first entry's other settings stay");
        // Without any remote_write section, or with an empty list, the flag alone is enough.
        assert_eq!(load("", &ov).unwrap().destinations[0].url, "http://flag/api/v1/write");
        assert_eq!(load("remote_write: []\n", &ov).unwrap().destinations[0].url, "http://flag/api/v1/write");
        // A bad URL from the flag is named as the flag.
        let ov = Overrides { remote_write_url: Some("ftp://x".into()), ..Overrides::default() };
        let e = load("remote_write: [{url: 'http://a'}]\n", &ov).unwrap_err();
        assert_eq!(e.problems, ["--remote-write-url: scheme must be http or https, got ftp"]);
    }

    #[test]
    fn tenant_urls_of_victoriametrics_cluster_and_mimir_are_accepted() {
        for url in [
            "http://vminsert:8480/insert/0/prometheus/api/v1/write",
            "http://vminsert:8480/insert/42:7/prometheus/api/v1/write",
            "https://mimir.example/api/v1/push",
        ] {
            let cfg = load(&format!("remote_write: [{{url: '{url}'}}]\n"), &Overrides::default()).unwrap();
            assert_eq!(cfg.destinations[0].url, url);
        }
        let _ = parse("remote_write: [{url: 'http://a'}]\n").expect("the list form also parses whole");
    }

    #[test]
    fn every_label_the_contract_lists_is_reserved() {
        use super::RESERVED_LABELS;
        let doc = include_str!("../../docs/metrics.md");
        let mut missing = std::collections::BTreeSet::new();
        for line in doc.lines().filter(|l| l.starts_with("| `costpush_")) {
            let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
            for label in cells[3].split(',').map(|l| l.trim().trim_matches('`')) {
                if !label.starts_with('{') && !label.is_empty() && !RESERVED_LABELS.contains(&label) {
                    missing.insert(label.to_string());
                }
            }
        }
        assert!(missing.is_empty(), "labels costpush sets that extra_labels could take: {missing:?}");
    }
}
