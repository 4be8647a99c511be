//! Configuration: the YAML file as written (`RawConfig`) and the checked form the agent runs on
//! (`Config`).
//!
//! Loading is two-stage, as in ripgrep's low-level/high-level args: serde reads the YAML with
//! `deny_unknown_fields`, then [`RawConfig::validate`] checks every field and collects *every*
//! problem (each naming its field path) instead of stopping at the first. Nothing outside this
//! module sees a raw string where a parsed value belongs.
//!
//! The region pricing table and the exchange rates default to the ones in
//! `config/costpush.example.yml`, which is compiled into the binary so the shipped defaults and the
//! documented example can never drift apart. Regions given in a user's file are added to (or
//! replace same-named) defaults.

#[cfg(test)]
mod properties;
mod raw;
mod remote_write;
mod sections;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::domain::{Currency, Embodied, EnergyMethod, Rates, RegionPricing};

use raw::parse_sections;
pub use raw::{parse, RawConfig};
pub(crate) use remote_write::Secret;

/// The example configuration, embedded: its `regions` and `currencies` are the defaults.
pub(crate) const EXAMPLE_CONFIG: &str = include_str!("../../config/costpush.example.yml");

/// Default cron schedule: every 30 seconds (six fields, the first is seconds).
pub(crate) const DEFAULT_SCHEDULE: &str = "*/30 * * * * *";
/// Default results-file pattern.
pub(crate) const DEFAULT_PATTERN: &str = "test_results_*.json";

/// Default cap on one results file's size: far above any real one (a 20,000-job file is about
/// 30 MB), and what a cycle may hold in memory for one file.
pub(crate) const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Default cap on the distinct values of each label taken from the files: far above what the
/// seed files hold (54 scenario names), far below what would hurt a time-series database.
pub(crate) const DEFAULT_MAX_LABEL_VALUES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Tls {
    /// PEM bytes of an extra trusted CA.
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// PEM bytes of the client certificate chain followed by its private key.
    pub(crate) identity_pem: Option<Vec<u8>>,
}

/// One remote-write destination: where to send, how, and the cap on its own queue.
#[derive(Debug, Clone)]
pub struct RemoteWrite {
    /// Unique among the destinations: the name of its queue directory and the value of the
    /// `destination` label. Default: its position, from 1.
    pub(crate) name: String,
    pub(crate) url: String,
    /// Sent on every request, beside the ones costpush sets itself.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: std::time::Duration,
    pub(crate) max_samples_per_request: usize,
    /// Attempts per batch in `once` (the daemon retries until delivered).
    pub(crate) max_attempts: u32,
    pub(crate) min_backoff: std::time::Duration,
    pub(crate) max_backoff: std::time::Duration,
    /// Cap on the queue's files; past it the oldest batches are dropped.
    pub(crate) queue_max_bytes: u64,
    /// Whether its sender sends the metric metadata (type, help, unit) when it starts.
    pub(crate) send_metadata: bool,
    pub(crate) auth: Auth,
    pub(crate) tls: Tls,
}

/// The checked configuration the agent runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub region: String,
    pub cores_without_cpu_samples: f64,
    pub(crate) results_dirs: Vec<PathBuf>,
    pub(crate) pattern: glob::Pattern,
    /// Results files larger than this are refused, not read.
    pub(crate) max_file_bytes: u64,
    /// Distinct values kept per label taken from the files (`scenario`, `encoder`, …); past
    /// it a new value is pushed as the overflow value.
    pub(crate) max_label_values: usize,
    pub(crate) schedule: String,
    pub(crate) state_dir: PathBuf,
    pub(crate) target_retention: std::time::Duration,
    /// How long shutdown may take: a running cycle and a request on the wire get this long.
    pub(crate) shutdown_grace: std::time::Duration,
    /// Every destination gets every batch, through a queue of its own. Never empty.
    pub(crate) destinations: Vec<RemoteWrite>,
    /// Labels added to every sample (the samples are built once, for every destination).
    pub(crate) extra_labels: BTreeMap<String, String>,
    /// Most samples in one request body: the smallest of the destinations' limits, as the
    /// bodies are written once for all of them.
    pub max_samples_per_request: usize,
    pub(crate) reporting: Vec<Currency>,
    pub(crate) rates: Rates,
    pub regions: BTreeMap<String, RegionPricing>,
    pub(crate) forecast: ForecastConfig,
    pub(crate) predictions: PredictionConfig,
    pub(crate) energy: EnergyConfig,
    pub(crate) ecb: Option<EcbConfig>,
    pub(crate) carbon: CarbonConfig,
}

#[derive(Debug, Clone)]
pub(crate) struct QueryConfig {
    /// Base URL of the API; `/api/v1/query_range` is appended.
    pub(crate) url: String,
    /// A PromQL expression giving watts.
    pub(crate) expr: String,
    pub(crate) step_seconds: f64,
    pub(crate) timeout: std::time::Duration,
    /// How long after a job's end its window is first queried (scrape and ingestion lag).
    pub(crate) settle: std::time::Duration,
    pub(crate) bearer: Option<Secret>,
}

#[derive(Debug, Clone)]
pub(crate) struct RaplConfig {
    pub(crate) root: PathBuf,
    pub(crate) interval: std::time::Duration,
    /// Readings further apart than this do not cover the time between them.
    pub(crate) max_gap: std::time::Duration,
    pub(crate) ring_readings: usize,
}

/// Idle power to subtract for net energy.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BaselineConfig {
    /// Measure it from jobs whose scenario name contains "baseline" (any case).
    pub(crate) from_scenarios: bool,
    /// Configured watts, used until (or instead of) a measured baseline.
    pub(crate) watts: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct EnergyConfig {
    /// Tried in this order; the first that covers a job wins.
    pub(crate) sources: Vec<EnergyMethod>,
    /// `energy.sources` was not given: the daemon adds `rapl` after the others when this host's
    /// RAPL counters are readable (it samples them).
    pub(crate) rapl_by_default: bool,
    /// How long a job may wait for a source that may still cover it.
    pub(crate) wait: std::time::Duration,
    pub(crate) query: Option<QueryConfig>,
    pub(crate) rapl: Option<RaplConfig>,
    pub(crate) baseline: BaselineConfig,
}

/// ECB reference rates, from a file and/or fetched.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EcbConfig {
    pub(crate) file: Option<PathBuf>,
    pub(crate) url: Option<String>,
    pub(crate) fetch_every: std::time::Duration,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CarbonConfig {
    /// Hourly intensity per zone (CSV or JSON); regions name their zone.
    pub(crate) intensity_file: Option<PathBuf>,
    pub(crate) embodied: Option<Embodied>,
}

/// Projections of the host's cost, energy and CO2 per time bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForecastConfig {
    pub(crate) enabled: bool,
    pub(crate) bucket_seconds: u64,
    /// Seasonal period in buckets (24 for hourly buckets and a daily cycle).
    pub(crate) period: usize,
    /// The long seasonal period in buckets (a week), if any.
    pub(crate) long_period: Option<usize>,
    /// Buckets kept in the state.
    pub(crate) history_buckets: usize,
    /// The most recent buckets used to fit.
    pub(crate) fit_buckets: usize,
    pub(crate) sigma2: crate::stats::forecast::Sigma2,
}

/// One hypothetical encode whose power, energy, cost and CO2 are predicted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Encode {
    pub(crate) name: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: f64,
    pub(crate) bitrate_kbps: f64,
    pub(crate) streams: u32,
    /// `None`: the encoder seen most often in the training jobs.
    pub(crate) encoder: Option<String>,
    pub(crate) preset: Option<String>,
    pub(crate) duration_seconds: f64,
}

/// The regression of job power on job features.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PredictionConfig {
    pub(crate) enabled: bool,
    /// Jobs with power needed before a model is fitted.
    pub(crate) min_jobs: usize,
    /// Most recent jobs kept for training.
    pub(crate) max_jobs: usize,
    /// Estimate the energy of jobs no source measured from the model (a basis of its own).
    pub(crate) estimate_energy: bool,
    pub(crate) whatif: Vec<Encode>,
}

/// The default what-if encodes: 720p30 at 2 Mbps, 1080p30 at 4 Mbps, 1080p60 at 6 Mbps, 2160p30 at 15 Mbps.
pub(crate) fn default_encodes() -> Vec<Encode> {
    [
        ("720p30_2mbps", 1280, 720, 30.0, 2000.0),
        ("1080p30_4mbps", 1920, 1080, 30.0, 4000.0),
        ("1080p60_6mbps", 1920, 1080, 60.0, 6000.0),
        ("2160p30_15mbps", 3840, 2160, 30.0, 15000.0),
    ]
    .into_iter()
    .map(|(name, width, height, fps, bitrate_kbps)| Encode {
        name: name.to_string(),
        width,
        height,
        fps,
        bitrate_kbps,
        streams: 1,
        encoder: None,
        preset: None,
        duration_seconds: 3600.0,
    })
    .collect()
}

/// Command-line values that replace what the file says, for every subcommand.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub results_dirs: Vec<PathBuf>,
    pub remote_write_url: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub schedule: Option<String>,
}

/// Every problem found in a configuration, each naming its field.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigErrors {
    pub problems: Vec<String>,
}

/// Reads, parses and validates a configuration file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
    let text = crate::util::bounded::read_file_to_string(path, crate::util::bounded::caps::CONFIG)
        .map_err(|e| ConfigErrors { problems: vec![format!("{}: cannot read: {e}", path.display())] })?;
    let base = path.parent().unwrap_or(Path::new("."));
    from_str(&text, base, overrides).map_err(|mut e| {
        for p in &mut e.problems {
            *p = format!("{}: {p}", path.display());
        }
        e
    })
}

/// Parses and validates a configuration, reporting every problem: a section that does not
/// deserialise is reported (with serde's reason) and the others are still checked.
pub fn from_str(text: &str, base: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
    // A document that does not read at all has that one problem, not the "required" of
    // every section it would have held.
    let (raw, mut problems, failed) = parse_sections(text).map_err(|p| ConfigErrors { problems: vec![p] })?;
    match raw.validate(base, overrides) {
        Ok(cfg) if problems.is_empty() => Ok(cfg),
        Ok(_) => Err(ConfigErrors { problems }),
        Err(e) => {
            // Leave out what only follows from a section that could not be read.
            let derived = |p: &String| {
                failed.iter().any(|f| {
                    p.starts_with(&format!("{f}."))
                        || p.starts_with(&format!("{f}:"))
                        // A region that could not be read is not "unknown" where it is named.
                        || f.strip_prefix("regions.").is_some_and(|r| p.contains(&format!("unknown region {r:?}")))
                })
            };
            problems.extend(e.problems.into_iter().filter(|p| !derived(p)));
            Err(ConfigErrors { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate::{check_schedule, normalize_schedule};
    use super::*;

    fn validate(yaml: &str) -> Result<Config, ConfigErrors> {
        parse(yaml).expect("parses").validate(Path::new("/etc/costpush"), &Overrides::default())
    }

    const MINIMAL: &str = "host: {name: h1, region: eu-north-1}\nresults: {dirs: [r]}\nstate_dir: /tmp/s\nremote_write: {url: 'http://127.0.0.1:8428/api/v1/write'}\n";

    #[test]
    fn example_config_is_valid() {
        let raw = parse(EXAMPLE_CONFIG).expect("example parses");
        let cfg = raw.validate(Path::new("/etc/costpush"), &Overrides::default()).expect("example validates");
        for r in ["us-east-1", "us-west-2", "eu-west-1", "eu-north-1", "eu-central-1", "eu-south-1"] {
            assert!(cfg.regions.contains_key(r), "default region {r} missing");
        }
        assert_eq!(cfg.regions["eu-west-1"].currency, Currency::EUR);
        assert_eq!(cfg.regions["eu-north-1"].currency, Currency::parse("SEK").unwrap());
        assert_eq!(cfg.schedule, DEFAULT_SCHEDULE);
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let cfg = validate(MINIMAL).unwrap();
        assert_eq!(cfg.results_dirs, vec![PathBuf::from("/etc/costpush/r")]);
        assert_eq!(cfg.pattern.as_str(), DEFAULT_PATTERN);
        assert_eq!(cfg.max_file_bytes, DEFAULT_MAX_FILE_BYTES);
        assert_eq!(cfg.target_retention.as_secs(), 31 * 86_400);
        assert_eq!(cfg.reporting.len(), 3);
        assert_eq!(cfg.max_samples_per_request, 10_000);
        assert_eq!(cfg.destinations[0].name, "1");
    }

    #[test]
    fn unknown_field_is_named() {
        let e = parse("host: {name: h, regoin: x}\n").unwrap_err().to_string();
        assert!(e.contains("host: unknown field `regoin`"), "{e}");
    }

    #[test]
    fn every_wrong_field_of_a_section_is_named_and_a_failed_region_is_not_called_unknown() {
        let yaml = "host: {name: h1, region: r, cores_without_cpu_samples: lots, regoin: x}\nschedule: '61 * * * *'\nstate_dir: /s\nresults: {dirs: [/r]}\nremote_write: {url: 'http://127.0.0.1:1/w', timeout_seconds: soon, max_attempts: -1}\nregions:\n  r: {currency: EUR, electricity_price_per_kwh: x, compute_price_per_core_hour: y, grid_intensity_g_per_kwh: 10, grid_intensity_source: me, grid_intensity_year: 2024}\n";
        let e = from_str(yaml, Path::new("/"), &Overrides::default()).unwrap_err();
        assert_eq!(
            e.problems,
            [
                "host.cores_without_cpu_samples: invalid type: string \"lots\", expected f64",
                "host: unknown field `regoin`, expected one of `name`, `region`, `cores_without_cpu_samples`",
                "remote_write.timeout_seconds: invalid type: string \"soon\", expected f64",
                "remote_write.max_attempts: invalid value: integer `-1`, expected u32",
                "regions.r.electricity_price_per_kwh: invalid type: string \"x\", expected f64",
                "regions.r.compute_price_per_core_hour: invalid type: string \"y\", expected f64",
                "schedule: \"61 * * * *\" is not a cron expression: a field is out of range or not understood (each field is *, a number, a range a-b, a list a,b or a step */n; names such as MON or JAN also work)",
            ]
        );
        let e = validate(&MINIMAL.replace("results:", "schedule: every minute\nresults:")).unwrap_err();
        assert!(
            e.problems[0]
                .starts_with("schedule: \"every minute\" is not a cron expression: 2 fields, expected 5"),
            "{e}"
        );
        // A missing field is still reported, once; one taken out for being wrong is not.
        let text = format!(
            "{MINIMAL}regions:\n  a: {{currency: EUR}}\n  b: {{currency: 7, electricity_price_per_kwh: 1}}\n"
        );
        let e = from_str(&text, Path::new("/"), &Overrides::default()).unwrap_err();
        let e = e.problems.join("\n");
        assert_eq!(e.matches("regions.a: missing field `electricity_price_per_kwh`").count(), 1, "{e}");
        assert!(e.contains("regions.b.currency: "), "{e}");
        assert!(!e.contains("regions.b: missing field `currency`"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let yaml = "host: {name: h1, region: mars-1}\nschedule: 'not cron'\nremote_write: {url: 'ftp://x', extra_labels: {region: x, 'bad-name': y}}\ncurrencies: {reporting: [SEK, XYZ, usd]}\nregions:\n  cheap:\n    currency: EUR\n    electricity_price_per_kwh: -0.1\n    compute_price_per_core_hour: 0.01\n    grid_intensity_g_per_kwh: 10\n    grid_intensity_source: me\n    grid_intensity_year: 2024\n";
        let e = validate(yaml).unwrap_err();
        let all = e.problems.join("\n");
        for needle in [
            "host.region: unknown region \"mars-1\"",
            "schedule:",
            "remote_write.url: scheme must be http or https",
            "remote_write.extra_labels.region: costpush sets this label itself",
            "remote_write.extra_labels.bad-name: not a valid label name",
            "currencies.reporting[1]: no exchange rate for XYZ",
            "currencies.reporting[2]:",
            "regions.cheap.electricity_price_per_kwh: must be a number >= 0, got -0.1",
            "results.dirs:",
            "state_dir: required",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn the_long_period_is_a_week_of_a_daily_period_unless_set() {
        let cfg = validate(MINIMAL).unwrap();
        assert_eq!(
            (cfg.forecast.period, cfg.forecast.long_period, cfg.forecast.fit_buckets),
            (24, Some(168), 56 * 24)
        );
        // half-hour buckets: a day is 48 of them
        let half = validate(&format!("{MINIMAL}forecast: {{bucket_seconds: 1800, period: 48}}\n")).unwrap();
        assert_eq!(half.forecast.long_period, Some(336));
        // a period that is not a day has no weekly default; 0 turns it off
        let odd = validate(&format!("{MINIMAL}forecast: {{period: 12}}\n")).unwrap();
        assert_eq!(odd.forecast.long_period, None);
        let off = validate(&format!("{MINIMAL}forecast: {{long_period: 0}}\n")).unwrap();
        assert_eq!(off.forecast.long_period, None);
        let e = validate(&format!("{MINIMAL}forecast: {{long_period: 24}}\n")).unwrap_err();
        assert!(
            e.to_string().contains("forecast.long_period: must be longer than period (24), got 24"),
            "{e}"
        );
    }

    #[test]
    fn without_a_source_list_every_source_that_can_measure_is_used() {
        let cfg = validate(MINIMAL).unwrap();
        assert_eq!(cfg.energy.sources, vec![EnergyMethod::File]);
        assert!(cfg.energy.rapl_by_default, "RAPL joins in the daemon when readable");
        let root = cfg.energy.rapl.expect("the default root is probed").root;
        assert_eq!(root, PathBuf::from("/sys/class/powercap"));
        let with_query = format!("{MINIMAL}energy: {{query: {{url: 'http://127.0.0.1:9', expr: p}}}}\n");
        let cfg = validate(&with_query).unwrap();
        assert_eq!(cfg.energy.sources, vec![EnergyMethod::File, EnergyMethod::Query]);
        // A list given is the list.
        let listed = format!("{MINIMAL}energy: {{sources: [file]}}\n");
        let cfg = validate(&listed).unwrap();
        assert_eq!((cfg.energy.sources, cfg.energy.rapl_by_default), (vec![EnergyMethod::File], false));
        assert!(cfg.energy.rapl.is_none());
    }

    #[test]
    fn source_sections_are_checked_field_by_field() {
        let yaml = format!(
            "{MINIMAL}energy:\n  sources: [file, quary, rapl, file]\n  wait_seconds: -1\n  rapl: {{interval_seconds: 10, max_gap_seconds: 5, ring_readings: 1}}\n  idle_baseline: {{watts: -3}}\ncarbon: {{intensity_file: /nonexistent/i.csv, embodied: {{kg_co2e: -1, lifespan_years: 0}}}}\n"
        );
        let all = validate(&yaml).unwrap_err().problems.join("\n");
        for needle in [
            "energy.sources[1]: unknown source \"quary\"",
            "energy.sources[3]: file is listed twice",
            "energy.wait_seconds: must be in [0, 604800], got -1",
            "energy.rapl.max_gap_seconds: must be at least interval_seconds (10), got 5",
            "energy.rapl.ring_readings: must be in [2, 10000000], got 1",
            "energy.idle_baseline.watts: must be in [0, 1000000], got -3",
            "carbon.intensity_file: /nonexistent/i.csv does not exist",
            "carbon.embodied.kg_co2e: must be a number >= 0, got -1",
            "carbon.embodied.lifespan_years: must be in (0, 100], got 0",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        let q = format!("{MINIMAL}energy: {{sources: [query]}}\n");
        let all = validate(&q).unwrap_err().problems.join("\n");
        assert!(all.contains("energy.sources: lists query, but energy.query is not configured"), "{all}");
        let q = format!(
            "{MINIMAL}energy: {{sources: [query], query: {{url: 'ftp://x', expr: ' ', step_seconds: 0}}}}\n"
        );
        let all = validate(&q).unwrap_err().problems.join("\n");
        for needle in [
            "energy.query.url: scheme must be http or https",
            "energy.query.expr: must not be empty",
            "energy.query.step_seconds: must be in (0, 3600], got 0",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        let e = format!("{MINIMAL}currencies: {{ecb: {{}}}}\n");
        let all = validate(&e).unwrap_err().problems.join("\n");
        assert!(all.contains("currencies.ecb: give a file, a url, or both"), "{all}");

        let ok = format!(
            "{MINIMAL}energy: {{sources: [rapl, query, file], query: {{url: 'http://vm:8428/', expr: 'sum(p)'}}, idle_baseline: {{from_scenarios: true}}}}\ncarbon: {{embodied: {{kg_co2e: 1000, lifespan_years: 4}}}}\n"
        );
        let cfg = validate(&ok).unwrap();
        assert_eq!(cfg.energy.sources, vec![EnergyMethod::Rapl, EnergyMethod::Query, EnergyMethod::File]);
        let q = cfg.energy.query.unwrap();
        assert_eq!((q.url.as_str(), q.step_seconds, q.settle.as_secs()), ("http://vm:8428", 5.0, 60));
        let r = cfg.energy.rapl.unwrap();
        assert_eq!(
            (r.root, r.interval.as_secs(), r.max_gap.as_secs(), r.ring_readings),
            ("/sys/class/powercap".into(), 5, 15, 17_280)
        );
        assert_eq!(cfg.energy.baseline, BaselineConfig { from_scenarios: true, watts: None });
        assert_eq!(
            cfg.carbon.embodied,
            Some(Embodied { grams: 1e6, lifespan_seconds: 4.0 * 365.25 * 86_400.0 })
        );
        assert_eq!(cfg.regions["eu-north-1"].intensity_zone.as_deref(), Some("SE-SE3"));
    }

    #[test]
    fn every_bad_section_is_reported_not_only_the_first() {
        let yaml = "host: {name: h, regoin: x}\nresults: {dirs: 7}\nremote_write: {url: 'http://x', retries: 3}\nextra: 1\nregions:\n  a: {currency: EUR}\n  b: {currency: EUR, electricity_price_per_kwh: -1, compute_price_per_core_hour: 0, grid_intensity_g_per_kwh: 1, grid_intensity_source: s, grid_intensity_year: 2024}\nstate_dir: /s\n";
        let e = from_str(yaml, Path::new("/"), &Overrides::default()).unwrap_err();
        let all = e.problems.join("\n");
        for needle in [
            "host: unknown field `regoin`",
            "results.dirs: invalid type: integer `7`, expected a sequence",
            "remote_write: unknown field `retries`",
            "extra: unknown field",
            "regions.a: missing field",
            "regions.b.electricity_price_per_kwh: must be a number >= 0",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        // nothing derived from the sections that could not be read
        assert!(!all.contains("host.region: required"), "{all}");
        assert!(!all.contains("results.dirs: list at least"), "{all}");
    }

    #[test]
    fn the_results_pattern_and_file_cap_are_checked() {
        let with = |results: &str| MINIMAL.replace("results: {dirs: [r]}", results);
        let e = validate(&with("results: {dirs: [/r], pattern: \"\"}")).unwrap_err().to_string();
        assert!(e.contains("results.pattern: is empty"), "{e}");
        let e = validate(&with("results: {dirs: [/r], max_file_bytes: 10}")).unwrap_err().to_string();
        assert!(e.contains("results.max_file_bytes: must be in [1024, 4294967296], got 10"), "{e}");
        let cfg = validate(&with("results: {dirs: [/r], max_file_bytes: 2048}")).unwrap();
        assert_eq!(cfg.max_file_bytes, 2048);
    }

    #[test]
    fn a_document_that_does_not_read_has_that_one_problem() {
        let load = |t: &str| from_str(t, Path::new("/"), &Overrides::default()).unwrap_err();
        let e = load("host: {name: h1, region: eu-north-1\nresults: {dirs: [r]}\n");
        assert_eq!(e.problems.len(), 1, "{e}");
        assert!(e.problems[0].starts_with("not valid YAML: "), "{e}");
        let e = load("- a list\n");
        assert_eq!(e.problems, ["top level: expected a mapping of sections"]);
    }

    #[test]
    fn a_config_that_is_a_device_is_refused_not_read() {
        let e = load(Path::new("/dev/zero"), &Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("/dev/zero: cannot read: not a regular file (a character device)"), "{e}");
    }

    #[test]
    fn default_regions_can_be_left_out() {
        let yaml = format!("{MINIMAL}use_default_regions: false\nregions:\n  mine: {{currency: EUR, electricity_price_per_kwh: 0.1, compute_price_per_core_hour: 0.01, grid_intensity_g_per_kwh: 100, grid_intensity_source: s, grid_intensity_year: 2024}}\n").replace("eu-north-1", "mine");
        let cfg = validate(&yaml).unwrap();
        assert_eq!(cfg.regions.keys().collect::<Vec<_>>(), ["mine"]);
        assert!(validate(&MINIMAL.replace("state_dir", "target_retention_days: 1e15\nstate_dir")).is_err());
    }

    #[test]
    fn overrides_replace_the_file() {
        let ov = Overrides {
            results_dirs: vec!["/a".into(), "/b".into()],
            remote_write_url: Some("https://vm.example:8428/api/v1/write".into()),
            state_dir: Some("/var/x".into()),
            schedule: Some("0 * * * * *".into()),
        };
        let cfg = parse(MINIMAL).unwrap().validate(Path::new("/"), &ov).unwrap();
        assert_eq!(cfg.results_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(cfg.destinations[0].url, "https://vm.example:8428/api/v1/write");
        assert_eq!(cfg.state_dir, PathBuf::from("/var/x"));
        assert_eq!(cfg.schedule, "0 * * * * *");
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
        let yaml = MINIMAL.to_string();
        let yaml = yaml.replace(
            "remote_write: {url: 'http://127.0.0.1:8428/api/v1/write'}",
            "remote_write: {url: 'http://127.0.0.1:8428/api/v1/write', auth: {bearer_token_file: token}}",
        );
        let cfg = parse(&yaml).unwrap().validate(dir.path(), &Overrides::default()).unwrap();
        assert_eq!(cfg.destinations[0].auth, Auth::Bearer(Secret::new("s3cret-token")));
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let missing = yaml.replace("token}", "nope}");
        let e = parse(&missing).unwrap().validate(dir.path(), &Overrides::default()).unwrap_err();
        assert!(e.problems[0].starts_with("remote_write.auth.bearer_token_file: cannot read"), "{e}");
        // A device or an oversized file is refused before it is read.
        let zero = yaml.replace("token}", "/dev/zero}");
        let e = parse(&zero).unwrap().validate(dir.path(), &Overrides::default()).unwrap_err();
        assert!(e.problems[0].contains("/dev/zero: not a regular file (a character device)"), "{e}");
        std::fs::write(dir.path().join("token"), "a".repeat(10 << 20)).unwrap();
        let e = parse(&yaml).unwrap().validate(dir.path(), &Overrides::default()).unwrap_err();
        assert!(e.problems[0].ends_with("token: larger than the cap of 16384 bytes"), "{e}");
    }

    #[test]
    fn schedules() {
        assert_eq!(normalize_schedule("*/5 * * * *"), "0 */5 * * * *");
        assert_eq!(normalize_schedule(" */30 * * * * * "), "*/30 * * * * *");
        for ok in ["*/30 * * * * *", "*/5 * * * *", "0 0 * * * *", "@hourly"] {
            assert!(check_schedule(&normalize_schedule(ok)).is_ok(), "{ok}");
        }
        for bad in ["every minute", "* * *", "61 * * * * *"] {
            assert!(check_schedule(&normalize_schedule(bad)).is_err(), "{bad}");
        }
    }
}
