//! docs/metrics.md is the contract: every series pushed for the example results is documented
//! with exactly its labels, every documented metric is pushed, and names follow the unit rules.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

const JOB: &[&str] = &["host", "region", "scenario", "encoder", "preset", "bitrate", "resolution", "streams"];
const BASE: &[&str] = &["host", "region"];
const DEST: &[&str] = &["host", "region", "destination"];
/// Labels left out when the results file does not give a value (or, for the model, when it is
/// not fitted).
const OPTIONAL: &[&str] =
    &["preset", "resolution", "encoder", "bitrate", "rank_deficient", "ill_conditioned"];

struct Doc {
    kind: String,
    labels: BTreeSet<String>,
}

fn documented() -> BTreeMap<String, Doc> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `costpush_")) {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cols[1].trim_matches('`').to_string();
        let mut labels = BTreeSet::new();
        for tok in cols[4].split(',').map(|t| t.trim().trim_matches('`')) {
            match tok {
                "{job}" => labels.extend(JOB.iter().map(|s| s.to_string())),
                "{base}" => labels.extend(BASE.iter().map(|s| s.to_string())),
                "{dest}" => labels.extend(DEST.iter().map(|s| s.to_string())),
                "" => {}
                t => {
                    labels.insert(t.to_string());
                }
            }
        }
        let prev = out.insert(name.clone(), Doc { kind: cols[2].to_string(), labels });
        assert!(prev.is_none(), "{name} documented twice");
    }
    out
}

/// Configuration that turns every optional source on: the RAPL ring (a fake powercap tree),
/// the query API, an idle baseline, hourly intensity, embodied emissions and ECB rates.
fn every_source(dir: &std::path::Path) -> String {
    let powercap = dir.join("powercap");
    for (id, name) in [("intel-rapl:0", "package-0"), ("intel-rapl:0:2", "dram")] {
        std::fs::create_dir_all(powercap.join(id)).unwrap();
        std::fs::write(powercap.join(id).join("name"), name).unwrap();
        std::fs::write(powercap.join(id).join("max_energy_range_uj"), "1000000000").unwrap();
        std::fs::write(powercap.join(id).join("energy_uj"), "0").unwrap();
    }
    let intensity = dir.join("intensity.csv");
    std::fs::write(&intensity, "datetime,zone,carbon_intensity\n2026-01-15T10:00:00Z,T-N,40\n").unwrap();
    let ecb = dir.join("eurofxref-hist.csv");
    std::fs::write(&ecb, "Date,USD,SEK,\n2026-01-02,1.2,10.5,\n").unwrap();
    format!(
        "energy:\n  sources: [file, rapl, query]\n  rapl: {{root: \"{}\"}}\n  query: {{url: \"http://127.0.0.1:9\", expr: \"sum(p)\"}}\n  idle_baseline: {{watts: 10}}\ncarbon: {{intensity_file: \"{}\", embodied: {{kg_co2e: 1000, lifespan_years: 4}}}}\n#ecb {}\n",
        powercap.display(),
        intensity.display(),
        ecb.display()
    )
}

/// name → label-name sets of every series pushed, from dry runs over the example results (with
/// the default configuration, and with every optional source on) and over three days of hourly
/// jobs, half of them without power (enough for forecasts, the power model and estimates).
fn pushed() -> BTreeMap<String, Vec<BTreeSet<String>>> {
    let mut m: BTreeMap<String, Vec<BTreeSet<String>>> = BTreeMap::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    write_history_results(&history, now, 3);
    write_benchmark_results(&history, now, 3);
    for (results, all_sources) in [(fixtures(), false), (history, false), (fixtures(), true)] {
        let dir = tempfile::tempdir().unwrap();
        let extra = if all_sources { every_source(dir.path()) } else { String::new() };
        let cfg = write_config(
            dir.path(),
            &results,
            "http://127.0.0.1:9/api/v1/write",
            "test_results_*.json",
            &extra,
        );
        if all_sources {
            let text = std::fs::read_to_string(&cfg).unwrap();
            let ecb = text.lines().find_map(|l| l.strip_prefix("#ecb ")).unwrap().to_string();
            let text = text
                .replace(
                    "  reporting: [SEK, EUR, USD]\n",
                    &format!("  reporting: [SEK, EUR, USD]\n  ecb: {{file: \"{ecb}\"}}\n"),
                )
                .replacen("grid_intensity_year: 2025}", "grid_intensity_year: 2025, intensity_zone: T-N}", 1);
            std::fs::write(&cfg, text).unwrap();
        }
        // As after one successful push, so the last-success gauge exists too.
        std::fs::create_dir_all(dir.path().join("state/queue/1")).unwrap();
        std::fs::write(
            dir.path().join("state/queue/1/stats.json"),
            r#"{"sent_samples": 10, "sent_requests": 1, "retried_samples": 0, "dropped": {}, "last_success_ms": 1767614520000}"#,
        )
        .unwrap();
        let out = run(&["once", "--config", cfg.to_str().unwrap(), "--dry-run"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The samples; the HELP and TYPE lines come from this file (`build.rs`).
        for line in String::from_utf8(out.stdout).unwrap().lines().filter(|l| !l.starts_with('#')) {
            let (name, rest) = line.split_once('{').unwrap_or((line.split(' ').next().unwrap(), ""));
            let labels: BTreeSet<String> = rest
                .split("\",")
                .filter_map(|kv| kv.split_once("=\"").map(|(k, _)| k.trim_start_matches(',').to_string()))
                .collect();
            m.entry(name.to_string()).or_default().push(labels);
        }
    }
    m
}

#[test]
fn docs_and_pushed_series_agree() {
    let doc = documented();
    let got = pushed();
    let doc_names: BTreeSet<&String> = doc.keys().collect();
    let got_names: BTreeSet<&String> = got.keys().collect();
    assert_eq!(
        got_names.difference(&doc_names).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "pushed but not in docs/metrics.md"
    );
    assert_eq!(
        doc_names.difference(&got_names).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "documented but never pushed for the example results"
    );
    for (name, sets) in &got {
        let d = &doc[name];
        let mut union = BTreeSet::new();
        for s in sets {
            assert!(s.is_subset(&d.labels), "{name}: labels {s:?} not all documented ({:?})", d.labels);
            assert!(s.contains("host") && s.contains("region"), "{name}: {s:?}");
            union.extend(s.iter().cloned());
        }
        let required: BTreeSet<String> =
            d.labels.iter().filter(|l| !OPTIONAL.contains(&l.as_str())).cloned().collect();
        assert!(
            required.is_subset(&union),
            "{name}: documented labels never pushed: {:?}",
            required.difference(&union)
        );
    }
}

#[test]
fn names_follow_the_unit_rules() {
    for (name, d) in documented() {
        assert!(name.starts_with("costpush_"));
        match d.kind.as_str() {
            "counter" => assert!(name.ends_with("_total"), "{name}: a counter ends in _total"),
            "gauge" => assert!(!name.ends_with("_total"), "{name}: a gauge does not end in _total"),
            k => panic!("{name}: unknown type {k}"),
        }
        for bad in ["_kg", "_ms", "_kwh", "_percent", "_watt_hours", "_milli"] {
            assert!(!name.contains(bad), "{name}: not a base unit ({bad})");
        }
    }
}
