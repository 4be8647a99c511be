//! The deployment files against real tools and a real VictoriaMetrics:
//!
//! - `rules/*.yml` pass `vmalert -dryRun` and `promtool check rules`; their unit tests in
//!   `rules/tests/` pass `promtool test rules` and show every alert firing and staying silent;
//! - every metric and label a rule or a dashboard names is in docs/metrics.md (or is a recording
//!   rule of rules/), and money is always selected in one currency;
//! - every dashboard target, with its variables resolved against the data, returns data from
//!   what `costpush once` pushed into a real VictoriaMetrics: the fixtures, and for the forecast
//!   and prediction dashboards three days of hourly history, over a time range that reaches
//!   into the future where the forecast is stamped;
//! - the prediction rules count, on real data, exactly the jobs inside and outside their bands;
//! - the systemd unit passes `systemd-analyze verify` and rates 1.5 or lower in
//!   `systemd-analyze security --offline=yes`;
//! - `docker-compose config` accepts the compose file, and the compose stack, the Alertmanager
//!   config, the Grafana provisioning, the costpush config and the Dockerfile fit together.
//!
//! No test is skipped: a missing tool fails with the Debian package that scripts/test installs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// Dashboard panels meant to show nothing on the fixtures, with the reason:
/// (dashboard file, panel title, reason). The test checks they really are empty.
const MEANT_TO_BE_EMPTY: &[(&str, &str, &str)] = &[];

/// Dashboards checked on the history (`pushed_fixtures_and_history`) over their own time range
/// around now: forecasts, projections and the power model need more than the fixtures' few
/// jobs of January 2026. The others are checked over the fixtures' time range.
const ON_HISTORY: &[&str] = &["dashboards/forecasts.json", "dashboards/ml-predictions.json"];

/// The agent that pushes the fixtures plus three days of hourly jobs ending before now.
const HISTORY_HOST: &str = "enc-history";

/// Series stamped in the future (docs/metrics.md: the per-bucket forecast for the next 47 h).
const FUTURE_STAMPED: &[&str] =
    &["costpush_forecast_cost", "costpush_forecast_energy_joules", "costpush_forecast_co2_grams"];

/// The agent's default `shutdown_grace_seconds` (README, config reference).
const DEFAULT_SHUTDOWN_GRACE_S: f64 = 10.0;

// ---------------------------------------------------------------------------------------------
// Files and tools

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no *.{ext} in {dir}");
    out
}

fn rule_files() -> Vec<PathBuf> {
    files("rules", "yml")
}

fn dashboard_files() -> Vec<PathBuf> {
    files("dashboards", "json")
}

fn read_yaml(p: &Path) -> Yaml {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read_json(p: &Path) -> Json {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn name_of(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

/// A command from PATH, or a failure naming the Debian package that scripts/test installs.
fn tool(name: &str, package: &str) -> Command {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .any(|p| p.is_file());
    assert!(
        found,
        "{name} not found: scripts/test installs it (Debian package `{package}`); run scripts/test or \
         `apt-get install {package}`"
    );
    let mut c = Command::new(name);
    c.current_dir(repo());
    c
}

fn output(mut c: Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

#[track_caller]
fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn str_at<'a>(v: &'a Yaml, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Yaml::as_str)
}

// ---------------------------------------------------------------------------------------------
// The metric contract (docs/metrics.md)

#[derive(Debug, Clone)]
struct DocMetric {
    labels: BTreeSet<String>,
    /// The unit column (`quantity` where the unit follows the `quantity` label).
    unit: String,
    /// Stamped with the cycle's time ("The agent itself"), not a job's end.
    cycle_stamped: bool,
}

/// Every metric in the tables of docs/metrics.md with its label names (`{base}`, `{dest}` and `{job}`
/// expanded) and whether it is stamped per cycle or per job.
fn contract() -> BTreeMap<String, DocMetric> {
    let text = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    // `env`: the extra label the dashboards filter on (the test agents set `extra_labels: {env: ci}`).
    let base = ["host", "region", "env"];
    let job = ["scenario", "encoder", "preset", "bitrate", "resolution", "streams"];
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | type | unit | labels | meaning |
        if cells.len() < 6 || !cells[1].starts_with("`costpush_") {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        let mut labels = BTreeSet::new();
        for part in cells[4].split(',') {
            match part.trim().trim_matches('`') {
                "{base}" => labels.extend(base.iter().map(|s| s.to_string())),
                "{dest}" => labels.extend(base.iter().chain(&["destination"]).map(|s| s.to_string())),
                "{job}" => labels.extend(base.iter().chain(&job).map(|s| s.to_string())),
                "" => {}
                other => {
                    labels.insert(other.to_string());
                }
            }
        }
        // Counters are stamped at cycle time too (docs/metrics.md, "Cumulative counters").
        let cycle_stamped = section == "The agent itself" || section == "Cumulative counters";
        out.insert(name, DocMetric { labels, unit: cells[3].to_string(), cycle_stamped });
    }
    assert!(out.len() > 40, "docs/metrics.md: only {} metrics parsed", out.len());
    out
}

// ---------------------------------------------------------------------------------------------
// A small PromQL scanner: the metric selectors of an expression (with their label matchers)
// and the labels of its grouping clauses. Enough for the checks below, not a parser.

#[derive(Debug, Clone, PartialEq)]
struct Selector {
    name: String,
    /// (label, value) of each matcher.
    matchers: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Scan {
    selectors: Vec<Selector>,
    grouping: BTreeSet<String>,
}

const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN"];
const GROUPING: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];
const AGGREGATORS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn skip_string(c: &[char], mut i: usize) -> usize {
    let q = c[i];
    i += 1;
    while i < c.len() && c[i] != q {
        if c[i] == '\\' && q != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

fn read_string(c: &[char], i: usize) -> (String, usize) {
    let end = skip_string(c, i);
    (c[i + 1..end - 1].iter().collect(), end)
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

fn read_ident(c: &[char], mut i: usize) -> (String, usize) {
    let start = i;
    while i < c.len() && is_ident(c[i]) {
        i += 1;
    }
    (c[start..i].iter().collect(), i)
}

fn scan(expr: &str) -> Scan {
    let c: Vec<char> = expr.chars().collect();
    let mut out = Scan::default();
    // The selector an immediately following `{...}` belongs to.
    let mut pending: Option<usize> = None;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '"' || ch == '\'' || ch == '`' {
            i = skip_string(&c, i);
            pending = None;
        } else if ch == '$' {
            // A Grafana variable.
            i += 1;
            if i < c.len() && c[i] == '{' {
                while i < c.len() && c[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                i = read_ident(&c, i).1;
            }
            pending = None;
        } else if ch == '[' {
            while i < c.len() && c[i] != ']' {
                i += 1;
            }
            i += 1;
            pending = None;
        } else if ch == '{' {
            let mut matchers = Vec::new();
            i += 1;
            loop {
                i = skip_ws(&c, i);
                assert!(i < c.len(), "unclosed {{ in {expr}");
                if c[i] == '}' {
                    i += 1;
                    break;
                }
                if c[i] == ',' {
                    i += 1;
                    continue;
                }
                let (label, j) = read_ident(&c, i);
                assert!(!label.is_empty(), "bad matcher at {i} in {expr}");
                i = skip_ws(&c, j);
                while i < c.len() && "=!~".contains(c[i]) {
                    i += 1;
                }
                i = skip_ws(&c, i);
                let (value, j) = read_string(&c, i);
                i = j;
                matchers.push((label, value));
            }
            match pending.take() {
                Some(k) => out.selectors[k].matchers.extend(matchers),
                None => {
                    let name = matchers.iter().find(|m| m.0 == "__name__").map(|m| m.1.clone());
                    out.selectors.push(Selector { name: name.unwrap_or_default(), matchers });
                }
            }
        } else if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                if (c[i] == 'e' || c[i] == 'E') && c.get(i + 1).is_some_and(|n| *n == '-' || *n == '+') {
                    i += 1;
                }
                i += 1;
            }
            pending = None;
        } else if is_ident_start(ch) {
            let (word, j) = read_ident(&c, i);
            let next = skip_ws(&c, j);
            let paren = c.get(next) == Some(&'(');
            i = j;
            pending = None;
            if GROUPING.contains(&word.as_str()) {
                if paren {
                    let mut k = next + 1;
                    while k < c.len() && c[k] != ')' {
                        if is_ident_start(c[k]) {
                            let (label, e) = read_ident(&c, k);
                            out.grouping.insert(label);
                            k = e;
                        } else {
                            k += 1;
                        }
                    }
                    i = k + 1;
                }
            } else if paren || KEYWORDS.contains(&word.as_str()) || AGGREGATORS.contains(&word.as_str()) {
                // A function, an aggregation or an operator.
            } else {
                out.selectors.push(Selector { name: word, matchers: Vec::new() });
                pending = Some(out.selectors.len() - 1);
            }
        } else {
            i += 1;
            pending = None;
        }
    }
    out
}

#[test]
fn the_scanner_finds_selectors_matchers_and_grouping() {
    let s = scan(
        r#"sum by (host, currency) (increase(costpush_cost_total{currency="EUR", host=~"$host"}[1h]))
           / on(host) group_left max without (x) (costpush_up) > 0.5e-3 and foo:bar:baz {a!="}"}"#,
    );
    let names: Vec<&str> = s.selectors.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["costpush_cost_total", "costpush_up", "foo:bar:baz"]);
    assert_eq!(s.selectors[0].matchers, [("currency".into(), "EUR".into()), ("host".into(), "$host".into())]);
    assert_eq!(s.selectors[2].matchers, [("a".into(), "}".into())]);
    let g: Vec<&str> = s.grouping.iter().map(String::as_str).collect();
    assert_eq!(g, ["currency", "host", "x"]);
}

// ---------------------------------------------------------------------------------------------
// Rules

struct Rule {
    file: String,
    group: String,
    body: Yaml,
}

impl Rule {
    fn expr(&self) -> String {
        str_at(&self.body, "expr").unwrap_or_else(|| panic!("{}: rule without expr", self.file)).to_string()
    }
    fn alert(&self) -> Option<&str> {
        str_at(&self.body, "alert")
    }
    fn record(&self) -> Option<&str> {
        str_at(&self.body, "record")
    }
}

fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    for f in rule_files() {
        let doc = read_yaml(&f);
        let groups = doc["groups"].as_sequence().unwrap_or_else(|| panic!("{}: no groups", name_of(&f)));
        for g in groups {
            let group = str_at(g, "name").unwrap().to_string();
            for r in g["rules"].as_sequence().unwrap() {
                out.push(Rule { file: name_of(&f), group: group.clone(), body: r.clone() });
            }
        }
    }
    out
}

/// Recording rule name → the label names its series can carry (those of the documented metrics
/// it reads, or of the recording rules it reads).
fn recorded(rules: &[Rule], doc: &BTreeMap<String, DocMetric>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rules {
        if let Some(name) = r.record() {
            let mut labels = BTreeSet::new();
            for s in scan(&r.expr()).selectors {
                if let Some(m) = doc.get(&s.name) {
                    labels.extend(m.labels.iter().cloned());
                } else if let Some(l) = out.get(&s.name) {
                    labels.extend(l.iter().cloned());
                }
            }
            out.insert(name.to_string(), labels);
        }
    }
    out
}

#[test]
fn rule_files_pass_vmalert_dry_run() {
    for f in rule_files() {
        let mut c = tool("vmalert", "victoria-metrics");
        c.args(["-dryRun", &format!("-rule={}", f.display()), "-loggerLevel=ERROR"]);
        assert_ok(&format!("vmalert -dryRun -rule={}", name_of(&f)), &output(c));
    }
}

#[test]
fn rule_files_pass_promtool_check_rules() {
    let mut c = tool("promtool", "prometheus");
    c.args(["check", "rules"]).args(rule_files());
    let out = output(c);
    assert_ok("promtool check rules", &out);
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn rule_unit_tests_pass_promtool_test_rules() {
    let tests = files("rules/tests", "yml");
    let mut c = tool("promtool", "prometheus");
    c.args(["test", "rules"]).args(&tests);
    let out = output(c);
    assert_ok("promtool test rules", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("SUCCESS").count(), tests.len(), "{text}");
    // Between them, the test files load every rule file.
    let mut loaded = BTreeSet::new();
    for t in &tests {
        for f in read_yaml(t)["rule_files"].as_sequence().unwrap() {
            let p = t.parent().unwrap().join(f.as_str().unwrap());
            loaded.insert(p.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", p.display())));
        }
    }
    for f in rule_files() {
        assert!(loaded.contains(&f.canonicalize().unwrap()), "no unit test loads {}", name_of(&f));
    }
}

/// Each alert has `for`, a known severity, a summary and a description that shows the value, and
/// unit tests in which it fires and in which it stays silent.
#[test]
fn every_alert_is_complete_and_tested_firing_and_silent() {
    let rules = rules();
    let mut alerts = BTreeSet::new();
    for r in &rules {
        let Some(name) = r.alert() else {
            let name = r.record().unwrap();
            // level:metric:operations, as Prometheus names recording rules.
            assert_eq!(
                name.split(':').count(),
                3,
                "{}: recording rule {name} is not level:metric:operations",
                r.file
            );
            continue;
        };
        assert!(alerts.insert(name.to_string()), "alert {name} defined twice");
        assert!(name.starts_with("Costpush"), "{}: {name} should start with Costpush", r.file);
        let ctx = format!("{} / {} / {name}", r.file, r.group);
        assert!(str_at(&r.body, "for").is_some(), "{ctx}: no `for`");
        let severity = r.body["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{ctx}: severity {severity:?} (critical, warning or info)"
        );
        let summary =
            r.body["annotations"]["summary"].as_str().unwrap_or_else(|| panic!("{ctx}: no summary"));
        assert!(!summary.trim().is_empty(), "{ctx}: empty summary");
        let description =
            r.body["annotations"]["description"].as_str().unwrap_or_else(|| panic!("{ctx}: no description"));
        assert!(description.contains("$value"), "{ctx}: the description does not show {{{{ $value }}}}");
    }
    assert!(alerts.len() >= 12, "only {} alerts", alerts.len());

    let mut fires = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for t in files("rules/tests", "yml") {
        for test in read_yaml(&t)["tests"].as_sequence().unwrap() {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                assert!(alerts.contains(&name), "{}: tests unknown alert {name}", name_of(&t));
                let exp = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
                if exp == 0 {
                    silent.insert(name);
                } else {
                    for a in case["exp_alerts"].as_sequence().unwrap() {
                        let ann = &a["exp_annotations"];
                        assert!(
                            ann["summary"].as_str().is_some() && ann["description"].as_str().is_some(),
                            "{}: {name} is expected without its rendered summary and description",
                            name_of(&t)
                        );
                    }
                    fires.insert(name);
                }
            }
        }
    }
    let never_fires: Vec<&String> = alerts.difference(&fires).collect();
    let never_silent: Vec<&String> = alerts.difference(&silent).collect();
    assert!(never_fires.is_empty(), "no unit test makes these fire: {never_fires:?}");
    assert!(never_silent.is_empty(), "no unit test shows these silent: {never_silent:?}");
    println!("{} alerts, each tested firing and silent", alerts.len());
}

// ---------------------------------------------------------------------------------------------
// Dashboards

struct Target {
    file: String,
    panel: String,
    expr: String,
}

fn panels(d: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p);
        // Panels inside collapsed rows.
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

fn targets() -> Vec<Target> {
    let mut out = Vec::new();
    for f in dashboard_files() {
        let d = read_json(&f);
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(Target {
                    file: name_of(&f),
                    panel: p["title"].as_str().unwrap_or_default().to_string(),
                    expr: t["expr"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    out
}

/// A query variable's `label_values(selector, label)`.
fn label_values(def: &str) -> (String, String) {
    let inner = def
        .trim()
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("variable query {def:?} is not label_values(selector, label)"));
    let (sel, label) =
        inner.rsplit_once(',').unwrap_or_else(|| panic!("{def:?}: label_values needs a selector"));
    (sel.trim().to_string(), label.trim().to_string())
}

fn variables(d: &Json) -> Vec<&Json> {
    d["templating"]["list"].as_array().map(|v| v.iter().collect()).unwrap_or_default()
}

#[test]
fn dashboards_are_well_formed() {
    let mut uids = BTreeSet::new();
    for f in dashboard_files() {
        let name = name_of(&f);
        let d = read_json(&f);
        let uid = d["uid"].as_str().unwrap_or_else(|| panic!("{name}: no uid"));
        assert!(uids.insert(uid.to_string()), "{name}: uid {uid} used twice");
        assert!(d["title"].as_str().is_some_and(|t| t.starts_with("costpush")), "{name}: title");
        let schema = d["schemaVersion"].as_i64().unwrap_or(0);
        assert!((36..=41).contains(&schema), "{name}: schemaVersion {schema}");
        let vars = variables(&d);
        assert!(
            vars.iter().any(|v| v["type"] == "datasource"
                && v["query"] == "prometheus"
                && v["name"] == "datasource"),
            "{name}: no `datasource` variable of type prometheus"
        );
        for v in &vars {
            if v["type"] == "query" {
                assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}: variable {}", v["name"]);
                label_values(v["definition"].as_str().unwrap());
            }
        }
        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or_default();
            let ctx = format!("{name} / {title}");
            assert!(!title.is_empty(), "{name}: a panel without a title");
            let id = p["id"].as_i64().unwrap_or_else(|| panic!("{ctx}: no id"));
            assert!(ids.insert(id), "{ctx}: panel id {id} used twice");
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{ctx}: datasource");
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or_default();
            assert!(!unit.is_empty(), "{ctx}: no unit");
            let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{ctx}: no targets"));
            assert!(!targets.is_empty(), "{ctx}: no targets");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert!(refs.insert(t["refId"].as_str().unwrap().to_string()), "{ctx}: refId twice");
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{ctx}: target datasource");
                assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{ctx}: empty expr");
            }
            for o in p["fieldConfig"]["overrides"].as_array().into_iter().flatten() {
                for prop in o["properties"].as_array().unwrap() {
                    if prop["id"] == "unit" {
                        assert!(
                            prop["value"].as_str().is_some_and(|u| !u.is_empty()),
                            "{ctx}: override unit"
                        );
                    }
                }
            }
            // The quality bands: VMAF below 75 poor, 80 good, 93 premium.
            let exprs: String = targets.iter().filter_map(|t| t["expr"].as_str()).collect();
            if exprs.contains("costpush_job_vmaf_score") && p["type"] != "table" {
                let steps: Vec<Option<f64>> = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["value"].as_f64())
                    .collect();
                assert_eq!(steps, [None, Some(75.0), Some(80.0), Some(93.0)], "{ctx}: VMAF bands");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Metric names and labels against the contract

/// How an expression is used, for the currency rule.
enum Use {
    /// An alert, a dashboard target or a variable: must select one currency.
    Query,
    /// May keep every currency if it keeps the `currency` label.
    Recording,
    /// A variable listing the currencies.
    ListsCurrencies,
    /// Another variable: selects like a query, but adds nothing up.
    Variable,
}

#[test]
fn rules_and_dashboards_name_only_documented_metrics_and_labels() {
    let doc = contract();
    let rules = rules();
    let recorded = recorded(&rules, &doc);
    // (where, expression, what it is)
    let mut exprs: Vec<(String, String, Use)> = Vec::new();
    for r in &rules {
        let what = format!("{} / {}", r.file, r.alert().or(r.record()).unwrap());
        exprs.push((what, r.expr(), if r.record().is_some() { Use::Recording } else { Use::Query }));
    }
    for t in targets() {
        exprs.push((format!("{} / {}", t.file, t.panel), t.expr, Use::Query));
    }
    for f in dashboard_files() {
        let d = read_json(&f);
        for v in variables(&d).into_iter().filter(|v| v["type"] == "query") {
            let (sel, label) = label_values(v["definition"].as_str().unwrap());
            let kind = if label == "currency" { Use::ListsCurrencies } else { Use::Variable };
            exprs.push((format!("{} / variable {}", name_of(&f), v["name"]), sel, kind));
        }
    }

    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (what, expr, kind) in &exprs {
        let s = scan(expr);
        if s.selectors.is_empty() {
            problems.push(format!("{what}: no metric in {expr:?}"));
        }
        let mut universe = BTreeSet::new();
        for sel in &s.selectors {
            let labels = match (doc.get(&sel.name), recorded.get(&sel.name)) {
                (Some(m), _) => &m.labels,
                (None, Some(l)) => l,
                (None, None) => {
                    problems.push(format!(
                        "{what}: {:?} is neither in docs/metrics.md nor a recording rule",
                        sel.name
                    ));
                    continue;
                }
            };
            used.insert(sel.name.clone());
            universe.extend(labels.iter().cloned());
            for (label, _) in &sel.matchers {
                if label != "__name__" && !labels.contains(label) {
                    problems.push(format!("{what}: {} has no label {label:?}", sel.name));
                }
            }
            // Money: one currency at a time (summing currencies is meaningless). A recording
            // rule may keep every currency, as long as it keeps the label.
            let selected = sel.matchers.iter().any(|m| m.0 == "currency");
            let allowed = match kind {
                Use::Query | Use::Variable => selected,
                Use::Recording => selected || s.grouping.contains("currency"),
                Use::ListsCurrencies => true,
            };
            if labels.contains("currency") && !allowed {
                problems.push(format!("{what}: {} is money and is not selected by currency", sel.name));
            }
            // A band's bounds and a quantity's units are never added up either (a recorded
            // series was checked where it is recorded; a variable lists values only).
            let adds_up =
                !matches!(kind, Use::Variable | Use::ListsCurrencies) && doc.contains_key(&sel.name);
            for (label, why) in
                [("bound", "its bounds must not be summed"), ("quantity", "its unit is the quantity's")]
            {
                let unit_follows =
                    label == "bound" || doc.get(&sel.name).is_some_and(|m| m.unit == "quantity");
                let selected =
                    sel.matchers.iter().any(|m| m.0 == label && !m.1.contains('|') && !m.1.contains(".*"));
                let kept = matches!(kind, Use::Recording) && s.grouping.contains(label);
                if adds_up && labels.contains(label) && unit_follows && !selected && !kept {
                    problems.push(format!("{what}: {} is not selected by one {label} ({why})", sel.name));
                }
            }
        }
        for label in &s.grouping {
            if !universe.contains(label) {
                problems.push(format!("{what}: groups by {label:?}, which none of its metrics has"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    println!("{} expressions use {} metrics, all in the contract or recorded", exprs.len(), used.len());
}

// ---------------------------------------------------------------------------------------------
// Every dashboard target against the fixtures in a real VictoriaMetrics

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn duration_s(d: &str) -> i64 {
    let (n, unit) = d.split_at(d.len() - 1);
    let n: i64 = n.parse().unwrap_or_else(|_| panic!("duration {d:?}"));
    n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => panic!("duration {d:?}"),
    }
}

struct Window {
    start: i64,
    end: i64,
    /// Grafana's `$__interval` for a panel without its own: about 700 points over the range,
    /// never below the data source's 30 s.
    step: i64,
}

fn get_json(http: &reqwest::blocking::Client, url: &str, params: &[(&str, String)]) -> Json {
    let r = http.get(url).query(params).send().unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status();
    let body = r.text().unwrap();
    assert!(status.is_success(), "{url} {params:?}: {status}: {body}");
    let v: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{url} {params:?}: {body}");
    v
}

/// The extra label of the test agents, for the dashboards' `env` variable.
const ENV_LABEL: &str = "extra_labels: {env: ci}\n";

/// A VictoriaMetrics holding the fixtures as `costpush once` pushed them, twice, as the daemon's
/// cycles would: the second run reports the first's delivery (last success, samples sent).
/// Returns it with the time just before the first push.
fn pushed_fixtures() -> (Vm, tempfile::TempDir, i64) {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &fixtures(), &vm.write_url(), "test_results_*.json", ENV_LABEL);
    let cfg = cfg.to_str().unwrap();
    let pushed_from = now_s();
    assert_ok("costpush once", &run(&["once", "--config", cfg]));
    std::thread::sleep(Duration::from_millis(1100));
    assert_ok("costpush once (second)", &run(&["once", "--config", cfg]));
    vm.flush();
    (vm, tmp, pushed_from)
}

/// `pushed_fixtures()`, and beside `enc-test` a second agent, [`HISTORY_HOST`], from a fresh
/// state, reading the fixtures plus three days of hourly jobs ending before now
/// (`write_history_results`). Its one cycle fits the forecasts and the power model, pushes the
/// complete hourly buckets, the 47 h forecast (stamped in the future), the projections, a
/// prediction for every history job and the what-if encodes; the fixtures give it skipped
/// predictions (features missing, an encoder the model has not seen). `enc-test`, with only the
/// fixtures, has no model and no forecast: it counts its forecasts as unavailable. (One agent
/// cannot show both: jobs taken in after a bucket has passed are not pushed as buckets, and the
/// forecast is refitted only when the next bucket starts.)
/// Returns the VictoriaMetrics, the directories to keep, and the time just before the first push.
fn pushed_fixtures_and_history() -> (Vm, [tempfile::TempDir; 2], i64) {
    let (vm, tmp, pushed_from) = pushed_fixtures();
    let hist = tempfile::tempdir().unwrap();
    let results = hist.path().join("results");
    copy_dir(&fixtures(), &results);
    write_history_results(&results, now_s() as f64, 3);
    let cfg = write_config(hist.path(), &results, &vm.write_url(), "test_results_*.json", ENV_LABEL);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let renamed = text.replacen("name: enc-test,", &format!("name: {HISTORY_HOST},"), 1);
    assert_ne!(renamed, text, "write_config no longer names the host enc-test");
    std::fs::write(&cfg, renamed).unwrap();
    assert_ok("costpush once (history)", &run(&["once", "--config", cfg.to_str().unwrap()]));
    vm.flush();
    (vm, [tmp, hist], pushed_from)
}

/// Grafana's `$__interval` for a time range: the range over about 700 points, rounded as
/// Grafana rounds intervals, never below the data source's 30 s.
fn grafana_interval(range_s: i64) -> i64 {
    let raw = range_s as f64 / 700.0;
    // (below this many seconds, Grafana uses this interval)
    const ROUNDED: &[(f64, i64)] = &[
        (45.0, 30),
        (90.0, 60),
        (150.0, 120),
        (450.0, 300),
        (750.0, 600),
        (1050.0, 900),
        (1500.0, 1200),
        (2700.0, 1800),
        (5400.0, 3600),
        (9000.0, 7200),
        (16200.0, 10800),
        (32400.0, 21600),
        (86400.0, 43200),
    ];
    ROUNDED.iter().find(|(below, _)| raw < *below).map_or(86400, |r| r.1)
}

/// A time of a dashboard's range (`now`, `now-2d`, `now+2d`) in Unix seconds.
fn relative_to(now: i64, at: &str) -> i64 {
    match at.strip_prefix("now") {
        Some("") => now,
        Some(rest) => match rest.strip_prefix('+') {
            Some(d) => now + duration_s(d),
            None => now - duration_s(rest.strip_prefix('-').unwrap_or_else(|| panic!("time {at:?}"))),
        },
        None => panic!("time {at:?} is not relative to now"),
    }
}

/// The window a dashboard on the history shows: its own time range, or the panel's relative
/// time (`timeFrom`, the last so long up to now), with Grafana's interval.
fn history_window(d: &Json, panel: &Json, now: i64) -> Window {
    let (start, end) = match panel["timeFrom"].as_str().filter(|s| !s.is_empty()) {
        Some(last) => (now - duration_s(last), now),
        None => (
            relative_to(now, d["time"]["from"].as_str().unwrap()),
            relative_to(now, d["time"]["to"].as_str().unwrap()),
        ),
    };
    Window { start, end, step: grafana_interval(end - start) }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// (labels, value) of an instant query.
fn instant(http: &reqwest::blocking::Client, vm: &Vm, query: &str, time: i64) -> Vec<(Json, f64)> {
    let r = get_json(
        http,
        &format!("{}/api/v1/query", vm.base),
        &[("query", query.to_string()), ("time", time.to_string())],
    );
    r["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metric"].clone(), s["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
        .collect()
}

/// Every rule runs on VictoriaMetrics (vmalert's -dryRun only parses), and the values behind the
/// alerts that read the agent's own series, and two recording rules, are right on real data.
#[test]
fn rules_evaluate_on_victoriametrics_with_the_expected_values() {
    let (vm, _tmp, pushed_from) = pushed_fixtures();
    let http = http();
    let now = now_s();
    let last_job = 1_767_686_410; // the fixtures' last job end, 2026-01-06T08:00:10Z
    let rules = rules();
    for r in &rules {
        for t in [now, last_job + 60] {
            instant(&http, &vm, &r.expr(), t);
        }
    }
    let lhs = |alert: &str| -> String {
        let r = rules.iter().find(|r| r.alert() == Some(alert)).unwrap_or_else(|| panic!("no alert {alert}"));
        r.expr().rsplit_once(" > ").unwrap_or_else(|| panic!("{alert}: no `> threshold`")).0.to_string()
    };
    let one = |q: &str, t: i64| -> f64 {
        let v = instant(&http, &vm, q, t);
        assert_eq!(v.len(), 1, "{q} at {t}: {v:?}");
        v[0].1
    };
    // Seconds since the last cycle arrived: the second push. The subquery's points sit on whole
    // minutes, so it is asked a minute on, as vmalert would next evaluate it.
    let later = now + 60;
    let silent = one(&lhs("CostpushAgentSilent"), later);
    assert!((0.0..=(later - pushed_from + 5) as f64).contains(&silent), "silent for {silent} s");
    // The second cycle found the first one's delivery about a second old.
    let gap = one(&lhs("CostpushDeliveryGap"), later);
    assert!((0.0..=60.0).contains(&gap), "delivery gap {gap} s");
    // The test config's rates are of 2026-01-02 (1767312000).
    let age = one(&lhs("CostpushExchangeRatesStale"), now);
    let want = (now - 1_767_312_000) as f64 / 86400.0;
    assert!((age - want).abs() < 0.01, "rates {age} days old, want {want}");
    // Recording rules on the fixtures: the last hour held the 4K60-h264 job (0.00025 EUR), the
    // last day every job with energy (0.288 g CO2e).
    let rec = |name: &str| rules.iter().find(|r| r.record() == Some(name)).unwrap().expr();
    let hourly = instant(&http, &vm, &rec("host:costpush_job_cost:sum1h"), last_job);
    assert_eq!(hourly.len(), 3, "one series per currency: {hourly:?}");
    let eur: Vec<f64> = hourly.iter().filter(|(l, _)| l["currency"] == "EUR").map(|(_, v)| *v).collect();
    assert_eq!(eur.len(), 1, "{hourly:?}");
    assert!((eur[0] - 0.00025).abs() < 1e-12, "hourly cost {} EUR", eur[0]);
    let co2 = one(&rec("host:costpush_job_co2_grams:sum1d"), last_job);
    assert!((co2 - 0.288).abs() < 1e-12, "daily CO2 {co2} g");
}

/// The two ways to get money per hour, and what each attributes: `increase()` of the counters
/// (pushed every cycle, stamped at the cycle) gives the cost of the jobs *taken in* during the
/// window, here every fixture job, taken in by one cycle just now (0.0043 EUR); summing the
/// per-job gauges (stamped at the jobs' ends) gives the cost of the jobs that *ended* in it:
/// the hour after the last fixture job holds only that job (0.00025 EUR).
#[test]
fn increase_counts_jobs_taken_in_and_job_sums_count_jobs_ended() {
    let (vm, _tmp, _) = pushed_fixtures();
    let http = http();
    let last_job = 1_767_686_410;
    let by_jobs =
        instant(&http, &vm, r#"sum(sum_over_time(costpush_job_cost{currency="EUR"}[1h]))"#, last_job)[0].1;
    assert!((by_jobs - 0.00025).abs() < 1e-12, "{by_jobs}");
    let now = now_s();
    let by_increase =
        instant(&http, &vm, r#"sum(increase(costpush_cost_total{currency="EUR"}[1h]))"#, now)[0].1;
    println!(
        "jobs ended in the hour after the last one: {by_jobs} EUR; taken in this hour: {by_increase} EUR"
    );
    assert!((by_increase - 0.0043).abs() < 1e-12, "increase() over the hour of the push: {by_increase}");
}

/// An expression with the recording rules it reads written out, so that it runs on a
/// VictoriaMetrics without vmalert.
fn inlined(expr: &str, rules: &[Rule]) -> String {
    let mut out = expr.to_string();
    for _ in 0..4 {
        for r in rules {
            if let Some(name) = r.record() {
                out = out.replace(name, &format!("({})", r.expr()));
            }
        }
    }
    out
}

/// A job's labels without `__name__` and `bound`, and its timestamp: what its measured and
/// predicted power share.
fn job_key(s: &Exported, t: i64) -> (BTreeMap<String, String>, i64) {
    let mut l = s.labels.clone();
    l.remove("__name__");
    l.remove("bound");
    // Measured power says where it came from; predictions have no such label.
    l.remove("method");
    (l, t)
}

/// The prediction rules on real data: the recording rules count exactly the jobs of the last
/// day that have a 95 % prediction band and those whose measured power lies outside it, as
/// worked out here from the exported samples, so each job is seen once. The same rules with
/// the confidence interval of the mean in place of the prediction interval count the many jobs
/// outside that narrow band just as exactly. The alert on the share agrees with the count; on
/// the history's healthy model and small costs, the model, budget and availability alerts stay
/// silent. Every rule evaluates on VictoriaMetrics holding the history.
#[test]
fn prediction_rules_count_each_job_once_on_victoriametrics() {
    let (vm, _tmp, _) = pushed_fixtures_and_history();
    let http = http();
    // A query that ends at the present leaves out its last seconds on VictoriaMetrics.
    std::thread::sleep(Duration::from_secs(3));
    let now = now_s();
    let rules = rules();
    for r in &rules {
        instant(&http, &vm, &r.expr(), now);
    }
    let sel = |name: &str, extra: &str| format!(r#"{name}{{host="{HISTORY_HOST}"{extra}}}"#);
    let measured = vm.export(&sel("costpush_job_power_watts", ""));
    // A quarter of an hour after the last history job: the day before holds 24 hourly jobs,
    // none near the window's edge.
    let last_end_ms = measured.iter().flat_map(|s| s.timestamps.clone()).max().unwrap();
    let at = last_end_ms / 1000 + 900;
    let band = |b: &str| -> BTreeMap<(BTreeMap<String, String>, i64), f64> {
        let mut out = BTreeMap::new();
        for s in vm.export(&sel("costpush_job_predicted_power_watts", &format!(r#", bound="{b}""#))) {
            for (t, v) in s.timestamps.iter().zip(&s.values) {
                out.insert(job_key(&s, *t), *v);
            }
        }
        out
    };
    // Jobs of the day before `at` with a band, and those outside it.
    let count = |interval: &str| -> (usize, usize) {
        let (lower, upper) = (band(&format!("{interval}_lower_95")), band(&format!("{interval}_upper_95")));
        let (mut with_band, mut outside) = (0, 0);
        for s in &measured {
            for (t, v) in s.timestamps.iter().zip(&s.values) {
                if *t <= (at - 86_400) * 1000 || *t > at * 1000 {
                    continue;
                }
                if let (Some(lo), Some(hi)) = (lower.get(&job_key(s, *t)), upper.get(&job_key(s, *t))) {
                    with_band += 1;
                    outside += usize::from(v < lo || v > hi);
                }
            }
        }
        (with_band, outside)
    };
    let recorded = |name: &str, interval: &str| -> Vec<(Json, f64)> {
        let r = rules.iter().find(|r| r.record() == Some(name)).unwrap_or_else(|| panic!("no rule {name}"));
        let expr = r.expr().replace("\"pi_", &format!("\"{interval}_"));
        instant(&http, &vm, &expr, at)
    };
    let alert = |name: &str, t: i64| -> Vec<(Json, f64)> {
        let r = rules.iter().find(|r| r.alert() == Some(name)).unwrap_or_else(|| panic!("no alert {name}"));
        instant(&http, &vm, &inlined(&r.expr(), &rules), t)
    };
    // The rules as written (the prediction interval), and with the narrow confidence interval
    // of the mean in its place, outside which many jobs lie.
    for interval in ["pi", "ci"] {
        let (with_band, outside) = count(interval);
        assert_eq!(with_band, 24, "hourly history jobs with a {interval} band in the day before {at}");
        let with = recorded("host:costpush_job_power_with_pi95:count1d", interval);
        assert_eq!(with.len(), 1, "only {HISTORY_HOST} has predictions: {with:?}");
        assert_eq!(with[0].0["host"], HISTORY_HOST);
        assert_eq!(with[0].1, with_band as f64, "jobs with a {interval} band, as recorded");
        let out = recorded("host:costpush_job_power_outside_pi95:count1d", interval);
        // A host with none outside has no series.
        assert_eq!(
            out.first().map_or(0.0, |x| x.1),
            outside as f64,
            "jobs outside the {interval} band: {out:?}"
        );
        println!("{outside} of {with_band} history jobs of the last day outside their 95 % {interval} band");
        if interval == "ci" {
            assert!(outside > 0, "no job outside the confidence interval of its mean");
        } else {
            let firing = alert("CostpushPowerOutsidePredictionInterval", at);
            assert_eq!(!firing.is_empty(), outside * 5 > with_band, "{outside} of {with_band}: {firing:?}");
        }
    }

    // What the silent alerts read is there.
    let one = |q: &str| -> f64 {
        let v = instant(&http, &vm, q, now);
        assert_eq!(v.len(), 1, "{q}: {v:?}");
        v[0].1
    };
    let r2 = one(&sel("costpush_model_r2", ""));
    let loo = one(&sel("costpush_model_loo_coverage_ratio", ""));
    let cost30 = one(&sel(
        "costpush_projection_cost",
        r#", basis="measured", horizon="30d", bound="upper_95", currency="EUR""#,
    ));
    let unavailable =
        one(r#"max by (host) (increase(costpush_forecasts_unavailable_total{host="enc-test"}[12h]))"#);
    println!(
        "R² {r2}, leave-one-out coverage {loo}, 30-day cost at the upper 95 % bound {cost30} EUR, \
         enc-test's bucket starts without a projection {unavailable}"
    );
    // Its two cycles fell in one bucket, or (rarely) straddled two bucket starts.
    assert!((1.0..=2.0).contains(&unavailable), "enc-test had no projection at {unavailable} bucket starts");
    for name in [
        "CostpushPowerModelLowR2",
        "CostpushPowerModelLOOCoverageLow",
        "CostpushProjectedMonthlyCostOverBudget",
        "CostpushProjectedMonthlyCO2OverBudget",
        "CostpushProjectionUnavailable",
    ] {
        let got = alert(name, now);
        assert!(got.is_empty(), "{name} on the healthy history: {got:?}");
    }
}

/// Every target of every dashboard, with its variables resolved against the data and Grafana's
/// interval and range, returns data. The fixture dashboards are asked over the fixtures' time
/// range (the agent's own series over the time of the push); the forecast and prediction
/// dashboards ([`ON_HISTORY`]) over their own time range around now, which for the forecasts
/// runs into the future: there every forecast target must reach at least 45 hours ahead.
#[test]
fn every_dashboard_target_returns_data_from_the_pushed_fixtures_and_history() {
    let doc = contract();
    let (vm, _tmp, pushed_from) = pushed_fixtures_and_history();

    // Job series are stamped at the jobs' ends (January 2026 for the fixtures), the agent's own
    // at push time.
    let stamps: Vec<i64> = vm
        .export(r#"costpush_job_run_seconds{host="enc-test"}"#)
        .iter()
        .flat_map(|s| s.timestamps.clone())
        .collect();
    let (first, last) = (stamps.iter().min().unwrap() / 1000, stamps.iter().max().unwrap() / 1000);
    let job_window = Window { start: first - 3600, end: last + 3600, step: 120 };
    let agent_window = Window { start: pushed_from - 60, end: now_s() + 60, step: 30 };
    // Grafana's "now", when the dashboard is opened a moment after the last push: a query that
    // ends at the present leaves out the samples of its last seconds on VictoriaMetrics.
    std::thread::sleep(Duration::from_secs(3));
    let now = now_s();
    println!(
        "job window {}..{} ({} h), agent window {}..{}, now {now}",
        job_window.start,
        job_window.end,
        (job_window.end - job_window.start) / 3600,
        agent_window.start,
        agent_window.end
    );

    let http = http();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut on_history = 0;
    for f in dashboard_files() {
        let file = name_of(&f);
        let d = read_json(&f);
        let history = ON_HISTORY.contains(&file.as_str());
        // Variables, in order (later ones may use earlier ones), resolved against the data of
        // the dashboard's time range.
        let (var_start, var_end) = if history {
            let w = history_window(&d, &Json::Null, now);
            (w.start, w.end)
        } else {
            (job_window.start, agent_window.end)
        };
        let mut vars: Vec<(String, String)> = Vec::new();
        for v in variables(&d).into_iter().filter(|v| v["type"] == "query") {
            let name = v["name"].as_str().unwrap().to_string();
            let (mut sel, label) = label_values(v["definition"].as_str().unwrap());
            for (k, val) in &vars {
                sel = sel.replace(&format!("${k}"), val);
            }
            let r = get_json(
                &http,
                &format!("{}/api/v1/label/{label}/values", vm.base),
                &[("match[]", sel.clone()), ("start", var_start.to_string()), ("end", var_end.to_string())],
            );
            let values: Vec<String> =
                r["data"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
            assert!(!values.is_empty(), "{file}: variable {name} ({sel}, {label}) has no values");
            let current = &v["current"]["value"];
            let value = if *current == serde_json::json!(["$__all"]) {
                v["allValue"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: {name} needs an allValue"))
                    .to_string()
            } else if let Some(c) = current.as_str() {
                assert!(values.iter().any(|x| x == c), "{file}: {name} defaults to {c}, not in {values:?}");
                c.to_string()
            } else {
                values[0].clone()
            };
            println!("{file}: ${name} = {value} (of {values:?})");
            vars.push((name, value));
        }
        if history {
            let host = vars.iter().find(|(k, _)| k == "host").map(|(_, v)| v.as_str());
            assert_eq!(host, Some(HISTORY_HOST), "{file}: the host picker should pick the host with a model");
        }
        // Longest names first, so `$host` never eats the start of `$hostname`.
        vars.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));

        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or_default();
            let empty_ok = MEANT_TO_BE_EMPTY.iter().find(|(fl, t, _)| *fl == file && *t == title);
            let mut panel_has_data = false;
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap();
                let names: Vec<String> = scan(expr).selectors.into_iter().map(|s| s.name).collect();
                let cycle = names.iter().filter(|n| doc.get(*n).is_some_and(|m| m.cycle_stamped)).count();
                assert!(
                    cycle == 0 || cycle == names.len(),
                    "{file} / {title}: mixes job series with the agent's own, which are stamped at other times"
                );
                let hw;
                let w = if history {
                    hw = history_window(&d, p, now);
                    &hw
                } else if cycle > 0 {
                    &agent_window
                } else {
                    &job_window
                };
                let interval = p["interval"].as_str().filter(|s| !s.is_empty()).map_or(w.step, duration_s);
                let step = interval.max(w.step);
                // Grafana: $__rate_interval = max($__interval + scrape interval, 4 x scrape
                // interval), with the data source's 30 s as the scrape interval.
                let rate_interval = (step + 30).max(120);
                let mut q = expr
                    .replace("$__rate_interval", &format!("{rate_interval}s"))
                    .replace("$__interval", &format!("{step}s"))
                    .replace("$__range", &format!("{}s", w.end - w.start));
                for (k, val) in &vars {
                    q = q.replace(&format!("${{{k}}}"), val).replace(&format!("${k}"), val);
                }
                assert!(!q.contains('$'), "{file} / {title}: unresolved variable in {q}");
                // As Grafana asks: an instant target at the end of the range, a range target
                // over it.
                let is_instant = t["instant"].as_bool().unwrap_or(false);
                let r = if is_instant {
                    get_json(
                        &http,
                        &format!("{}/api/v1/query", vm.base),
                        &[("query", q.clone()), ("time", w.end.to_string())],
                    )
                } else {
                    get_json(
                        &http,
                        &format!("{}/api/v1/query_range", vm.base),
                        &[
                            ("query", q.clone()),
                            ("start", w.start.to_string()),
                            ("end", w.end.to_string()),
                            ("step", step.to_string()),
                        ],
                    )
                };
                let result = r["data"]["result"].as_array().unwrap();
                let points: Vec<&Json> = if is_instant {
                    result.iter().map(|s| &s["value"]).collect()
                } else {
                    result.iter().flat_map(|s| s["values"].as_array().unwrap()).collect()
                };
                let times: Vec<i64> = points
                    .into_iter()
                    .filter(|v| v[1].as_str().and_then(|x| x.parse::<f64>().ok()).is_some_and(f64::is_finite))
                    .map(|v| v[0].as_f64().unwrap() as i64)
                    .collect();
                checked += 1;
                on_history += usize::from(history);
                if !times.is_empty() {
                    panel_has_data = true;
                } else if empty_ok.is_none() {
                    failures.push(format!(
                        "{file} / {title} / {}: no data for {q} from {} to {} at {step} s",
                        t["refId"], w.start, w.end
                    ));
                }
                // The forecast is drawn where it is stamped: up to 47 hours ahead.
                if names.iter().any(|n| FUTURE_STAMPED.contains(&n.as_str())) {
                    let ahead = (times.iter().max().copied().unwrap_or(0) - now) / 3600;
                    if ahead < 45 {
                        failures.push(format!(
                            "{file} / {title} / {}: the forecast reaches {ahead} h ahead, not 45 h: {q}",
                            t["refId"]
                        ));
                    }
                }
            }
            if let Some((_, _, why)) = empty_ok {
                assert!(!panel_has_data, "{file} / {title} is listed as empty ({why}) but has data");
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} targets failed:\n{}", failures.len(), failures.join("\n"));
    for f in ON_HISTORY {
        assert!(repo().join(f).exists(), "ON_HISTORY names {f}, which does not exist");
    }
    println!("{checked} dashboard targets returned data, {on_history} of them on the history");
}

// ---------------------------------------------------------------------------------------------
// systemd

fn unit_text() -> String {
    std::fs::read_to_string(repo().join("systemd/costpush.service")).unwrap()
}

/// Values of `Key=` in the unit, in order.
fn unit_values(key: &str) -> Vec<String> {
    unit_text()
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")).map(|v| v.trim().to_string()))
        .collect()
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    // verify also checks that ExecStart's binary exists, so the test points the unit at the
    // binary cargo built, in a copy; the unit itself is verified unchanged otherwise.
    let tmp = tempfile::tempdir().unwrap();
    let text = unit_text();
    assert!(text.contains("/usr/local/bin/costpush "), "the unit runs /usr/local/bin/costpush");
    let copy = tmp.path().join("costpush.service");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/costpush ", &format!("{} ", env!("CARGO_BIN_EXE_costpush"))),
    )
    .unwrap();
    let mut c = tool("systemd-analyze", "systemd");
    c.arg("verify").arg(&copy);
    let out = output(c);
    assert_ok("systemd-analyze verify", &out);
    // verify exits 0 on unknown keys and bad values, and only warns: any output is a failure.
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.trim().is_empty(), "systemd-analyze verify warns:\n{said}");
}

#[test]
fn systemd_unit_security_exposure_is_at_most_1_5() {
    let mut c = tool("systemd-analyze", "systemd");
    c.args(["security", "--offline=yes", "systemd/costpush.service"]);
    let out = output(c);
    assert_ok("systemd-analyze security --offline=yes", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line:?}"));
    println!("systemd-analyze security --offline=yes systemd/costpush.service: {score}");
    for l in text.lines().filter(|l| l.starts_with('✗')) {
        println!("  {}", l.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    assert!(score <= 1.5, "exposure {score} above 1.5:\n{text}");
}

#[test]
fn systemd_unit_runs_the_agent_as_the_issue_asks() {
    let exec = unit_values("ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].contains(" run --config /etc/costpush/costpush.yml --state-dir %S/costpush"), "{exec:?}");
    let pre = unit_values("ExecStartPre");
    assert!(pre.iter().any(|p| p.contains(" validate --config /etc/costpush/costpush.yml")), "{pre:?}");
    // `systemctl reload` sends what the daemon reloads on (tests/cli.rs: SIGHUP).
    assert_eq!(unit_values("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "costpush"),
        ("ConfigurationDirectory", "costpush"),
        ("Restart", "on-failure"),
        ("ProtectSystem", "strict"),
    ] {
        assert_eq!(unit_values(key), [want], "{key}=");
    }
    assert!(!unit_values("LoadCredential").is_empty(), "secrets come through LoadCredential=");
    // Every credential the unit loads is documented with the path the config must name.
    let text = unit_text();
    assert!(text.contains("/run/credentials/costpush.service/"), "the unit says where credentials appear");
    let stop = unit_values("TimeoutStopSec");
    assert_eq!(stop.len(), 1);
    let stop_s = duration_s(&stop[0]) as f64;
    assert!(stop_s > DEFAULT_SHUTDOWN_GRACE_S, "TimeoutStopSec {stop_s} s is not above the agent's grace");
}

// ---------------------------------------------------------------------------------------------
// Compose stack, Alertmanager, Grafana provisioning, the sidecar's config and the Dockerfile

fn compose_config() -> Yaml {
    let mut c = tool("docker-compose", "docker-compose");
    c.args(["--file", "docker-compose.yml", "config"]).env_remove("COSTPUSH_RESULTS_DIR");
    let out = output(c);
    assert_ok("docker-compose config", &out);
    serde_yaml::from_slice(&out.stdout).unwrap()
}

fn shutdown_grace_of(config: &Path) -> f64 {
    read_yaml(config)["shutdown_grace_seconds"].as_f64().unwrap_or(DEFAULT_SHUTDOWN_GRACE_S)
}

/// `source:target[:mode]` mounts of a service, from `docker-compose config` output.
fn mounts(service: &Yaml) -> Vec<(String, String, String)> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|v| {
            let s = v.as_str().unwrap_or_else(|| panic!("volume {v:?}"));
            let parts: Vec<&str> = s.split(':').collect();
            (parts[0].to_string(), parts[1].to_string(), parts.get(2).unwrap_or(&"rw").to_string())
        })
        .collect()
}

#[test]
fn compose_file_passes_docker_compose_config_quietly() {
    let mut c = tool("docker-compose", "docker-compose");
    c.args(["--file", "docker-compose.yml", "config", "-q"]);
    let out = output(c);
    assert_ok("docker-compose config -q", &out);
    assert!(out.stderr.is_empty(), "docker-compose warns: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn compose_stack_is_wired_together() {
    let cfg = compose_config();
    let services = &cfg["services"];
    for name in ["victoriametrics", "vmalert", "alertmanager", "grafana", "costpush"] {
        let s = &services[name];
        assert!(s.is_mapping(), "service {name} missing");
        assert!(s["healthcheck"]["test"].is_sequence(), "{name}: no health check");
        for p in s["ports"].as_sequence().into_iter().flatten() {
            let p = p.as_str().unwrap();
            assert!(p.starts_with("127.0.0.1:"), "{name}: port {p} is not bound to 127.0.0.1");
        }
        // Every file mounted from the repository exists.
        for (src, _, _) in mounts(s) {
            if src.starts_with('/') {
                assert!(Path::new(&src).exists(), "{name}: mounts {src}, which does not exist");
            }
        }
    }

    // costpush: results read-only, state in a named volume, a grace period above its own.
    let cp = &services["costpush"];
    let m = mounts(cp);
    let results = m.iter().find(|(_, t, _)| t == "/results").expect("costpush mounts /results");
    assert_eq!(results.2, "ro", "the results directory is mounted read-only");
    assert_eq!(results.0, fixtures().display().to_string(), "without COSTPUSH_RESULTS_DIR, the examples");
    let state = m.iter().find(|(_, t, _)| t == "/var/lib/costpush").expect("costpush mounts its state dir");
    assert!(cfg["volumes"].get(state.0.as_str()).is_some(), "the state is a named volume, not {}", state.0);
    let config =
        m.iter().find(|(_, t, _)| t == "/etc/costpush/costpush.yml").expect("costpush config mounted");
    let grace = shutdown_grace_of(Path::new(&config.0));
    let stop = duration_s(cp["stop_grace_period"].as_str().expect("costpush stop_grace_period")) as f64;
    assert!(stop > grace, "stop_grace_period {stop} s is not above shutdown_grace_seconds {grace}");
    let agent_cfg = read_yaml(Path::new(&config.0));
    assert_eq!(str_at(&agent_cfg, "state_dir"), Some("/var/lib/costpush"));
    assert_eq!(agent_cfg["results"]["dirs"][0].as_str(), Some("/results"));
    assert!(str_at(&agent_cfg["remote_write"], "url").unwrap().starts_with("http://victoriametrics:8428/"));
    assert_eq!(cp["user"].as_str(), None, "the image's non-root user is kept");

    // vmalert: the rules, VictoriaMetrics for data and state, Alertmanager for notifications.
    let va = &services["vmalert"];
    let args: Vec<&str> = va["command"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    for want in [
        "-datasource.url=http://victoriametrics:8428",
        "-remoteWrite.url=http://victoriametrics:8428",
        "-remoteRead.url=http://victoriametrics:8428",
        "-notifier.url=http://alertmanager:9093",
    ] {
        assert!(args.contains(&want), "vmalert lacks {want}: {args:?}");
    }
    let rule_arg = args.iter().find_map(|a| a.strip_prefix("-rule=")).expect("vmalert -rule=");
    let rules_mount =
        mounts(va).into_iter().find(|(_, t, _)| rule_arg.starts_with(&format!("{t}/"))).unwrap();
    assert_eq!(Path::new(&rules_mount.0), repo().join("rules"), "vmalert reads rules/");

    // VictoriaMetrics keeps as long as costpush is told it does.
    let vm_args: Vec<&str> = services["victoriametrics"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let retention = vm_args.iter().find_map(|a| a.strip_prefix("-retentionPeriod=")).unwrap();
    let days = match retention.strip_suffix('y') {
        Some(y) => y.parse::<f64>().unwrap() * 365.0,
        None => duration_s(retention) as f64 / 86400.0,
    };
    assert_eq!(
        agent_cfg["target_retention_days"].as_f64(),
        Some(days),
        "target_retention_days = -retentionPeriod"
    );

    // Grafana: provisioning mounted, and the dashboard provider reads where dashboards/ is mounted.
    let g = mounts(&services["grafana"]);
    let prov = g.iter().find(|(_, t, _)| t == "/etc/grafana/provisioning").expect("provisioning mounted");
    assert_eq!(Path::new(&prov.0), repo().join("deploy/grafana/provisioning"));
    let dash =
        g.iter().find(|(s, _, _)| Path::new(s) == repo().join("dashboards")).expect("dashboards mounted");
    let provider = read_yaml(&repo().join("deploy/grafana/provisioning/dashboards/costpush.yml"));
    assert_eq!(provider["providers"][0]["options"]["path"].as_str(), Some(dash.1.as_str()));
    let ds = read_yaml(&repo().join("deploy/grafana/provisioning/datasources/victoriametrics.yml"));
    assert_eq!(
        ds["datasources"][0]["type"].as_str(),
        Some("prometheus"),
        "the dashboards' variable wants prometheus"
    );
    assert_eq!(ds["datasources"][0]["url"].as_str(), Some("http://victoriametrics:8428"));
}

#[test]
fn compose_costpush_config_is_valid() {
    let tmp = tempfile::tempdir().unwrap();
    // Inside the container /results and /var/lib/costpush exist; here they stand in.
    let out = run(&[
        "validate",
        "--config",
        repo().join("deploy/costpush.yml").to_str().unwrap(),
        "--results-dir",
        fixtures().to_str().unwrap(),
        "--state-dir",
        tmp.path().to_str().unwrap(),
    ]);
    assert_ok("costpush validate --config deploy/costpush.yml", &out);
}

#[test]
fn alertmanager_config_passes_amtool() {
    let mut c = tool("amtool", "prometheus-alertmanager");
    c.args(["check-config", "deploy/alertmanager.yml"]);
    assert_ok("amtool check-config deploy/alertmanager.yml", &output(c));
}

/// `.dockerignore` patterns, as Docker reads them: `dir/` (or `dir`) is that path at the root and
/// everything under it, `*.ext` matches files at the root only, other lines are root paths.
fn docker_ignored(patterns: &[String], rel: &str, is_dir: bool) -> bool {
    let matches = |pat: &str| {
        let pat = pat.trim_end_matches('/');
        match pat.strip_prefix("*.") {
            Some(ext) => !rel.contains('/') && rel.ends_with(&format!(".{ext}")),
            None => rel == pat || rel.starts_with(&format!("{pat}/")),
        }
    };
    // The last pattern that matches decides; `!` takes a path back in.
    let mut ignored = false;
    for pat in patterns {
        match pat.strip_prefix('!') {
            Some(p) if matches(p) => ignored = false,
            None if matches(pat) => ignored = true,
            _ => {}
        }
    }
    // A directory left out is still walked for the paths taken back in under it.
    let taken_back = |p: &String| p.strip_prefix('!').is_some_and(|q| q.starts_with(&format!("{rel}/")));
    ignored && !(is_dir && patterns.iter().any(taken_back))
}

/// The Dockerfile cannot be built here (no Docker engine). This checks what can be checked
/// without one: two stages, a Rust image at least the crate's rust-version, a non-root user, CA
/// certificates, and a build context from which cargo loads the crate (`cargo metadata --no-deps`
/// parses the manifest and every target it declares, with no dependency, so no cache is needed)
/// and that holds every file src/ includes at compile time.
#[test]
fn dockerfile_builds_from_the_repository_and_runs_as_non_root() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage: {froms:?}");
    let rust = froms[0].split_whitespace().nth(1).unwrap();
    let tag =
        rust.strip_prefix("rust:").unwrap_or_else(|| panic!("build stage from {rust}, not a rust image"));
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap();
    let version = |s: &str| -> Vec<u32> { s.split('.').map(|x| x.parse().unwrap()).collect() };
    assert!(
        version(tag.split('-').next().unwrap()) >= version(&msrv),
        "rust:{tag} is older than rust-version {msrv}"
    );
    assert!(froms[1].contains("debian") && froms[1].contains("slim"), "a slim runtime stage: {}", froms[1]);
    assert!(text.contains("ca-certificates"), "CA certificates in the runtime stage");
    let user =
        text.lines().filter_map(|l| l.strip_prefix("USER ")).next_back().expect("USER in the runtime stage");
    assert!(!user.starts_with("root") && !user.starts_with('0'), "runs as {user}");
    assert!(text.contains("cargo build --release --locked"));
    assert!(text.lines().any(|l| l.trim() == "COPY . ."), "the build stage copies the context");

    // The build context: the repository less .dockerignore.
    let patterns: Vec<String> = std::fs::read_to_string(repo().join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let ctx = tempfile::tempdir().unwrap();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(repo().join(&rel)).unwrap() {
            let e = e.unwrap();
            let child = if rel.is_empty() {
                e.file_name().to_string_lossy().to_string()
            } else {
                format!("{rel}/{}", e.file_name().to_string_lossy())
            };
            if docker_ignored(&patterns, &child, e.file_type().unwrap().is_dir()) {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(ctx.path().join(&child)).unwrap();
                stack.push(child);
            } else {
                std::fs::copy(e.path(), ctx.path().join(&child)).unwrap();
            }
        }
    }
    for must in ["Cargo.toml", "Cargo.lock", "build.rs", "src/main.rs", "src/lib.rs"] {
        assert!(ctx.path().join(must).exists(), ".dockerignore leaves out {must}");
    }
    // Cargo loads the manifest and every target it declares (a missing [[bench]] file fails).
    // `--no-deps` reads no dependency, so the check needs neither the network nor a warm cache.
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(ctx.path())
        .output()
        .unwrap();
    assert_ok("cargo metadata --no-deps in the Docker build context", &out);
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets = meta["packages"][0]["targets"].as_array().expect("the package's targets");
    assert!(targets.len() >= 3, "lib, bin and benches: {targets:?}");
    for t in targets {
        let src = std::path::Path::new(t["src_path"].as_str().unwrap());
        assert!(src.starts_with(ctx.path().canonicalize().unwrap()) || src.starts_with(ctx.path()));
        assert!(src.exists(), "target {} reads {}, not in the build context", t["name"], src.display());
    }

    // Files pulled in at compile time: include_str!/include_bytes! in src/, protos in build.rs.
    let mut needed = Vec::new();
    let mut dirs = vec![repo().join("src")];
    let root = repo().canonicalize().unwrap();
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let src = std::fs::read_to_string(&p).unwrap_or_default();
            for mac in ["include_str!(\"", "include_bytes!(\""] {
                for part in src.split(mac).skip(1) {
                    let rel = part.split('"').next().unwrap();
                    let abs = p.parent().unwrap().join(rel).canonicalize().unwrap();
                    needed.push(abs.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
    }
    let build_rs = std::fs::read_to_string(repo().join("build.rs")).unwrap();
    needed.extend(
        build_rs
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| (s.ends_with(".proto") || s.ends_with(".md")) && !s.contains(':'))
            .map(String::from),
    );
    assert!(!needed.is_empty());
    for rel in &needed {
        assert!(
            ctx.path().join(rel).exists(),
            "the build reads {rel}, which is not in the Docker build context"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The dashboards for the VictoriaMetrics Grafana plugin

/// The plugin's data-source type (`victoriametrics-datasource` before its rename).
const VM_PLUGIN: &str = "victoriametrics-metrics-datasource";

/// A dashboard for the VictoriaMetrics plugin: every `prometheus` data-source type, and the
/// data-source variable's, replaced by the plugin's; its own uid and title. The queries are
/// the same (the plugin speaks MetricsQL, a superset of PromQL), so the VictoriaMetrics test of
/// the originals covers them.
fn for_vm_plugin(d: &Json) -> Json {
    fn walk(v: &mut Json) {
        match v {
            Json::Object(m) => {
                let is_ds_variable = m.get("type").is_some_and(|t| t == "datasource");
                for (k, x) in m.iter_mut() {
                    if (k == "type" || (k == "query" && is_ds_variable)) && *x == "prometheus" {
                        *x = Json::String(VM_PLUGIN.into());
                    } else {
                        walk(x);
                    }
                }
            }
            Json::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut d = d.clone();
    walk(&mut d);
    d["uid"] = Json::String(format!("{}-vm", d["uid"].as_str().unwrap()));
    d["title"] = Json::String(format!("{} (VictoriaMetrics plugin)", d["title"].as_str().unwrap()));
    d
}

/// `deploy/grafana/victoriametrics-plugin/` holds each dashboard for the plugin, in step with the
/// original. `COSTPUSH_UPDATE_DASHBOARDS=1 cargo test --test deploy plugin` writes them.
#[test]
fn the_vm_plugin_dashboards_are_the_originals_with_the_plugin_type() {
    let dir = repo().join("deploy/grafana/victoriametrics-plugin");
    let update = std::env::var_os("COSTPUSH_UPDATE_DASHBOARDS").is_some();
    for f in dashboard_files() {
        let want = serde_json::to_string_pretty(&for_vm_plugin(&read_json(&f))).unwrap() + "\n";
        assert!(!want.contains("\"prometheus\""), "{}: a prometheus type left", name_of(&f));
        let copy = dir.join(f.file_name().unwrap());
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&copy, &want).unwrap();
        }
        let got = std::fs::read_to_string(&copy).unwrap_or_default();
        assert!(
            got == want,
            "{} is not the plugin version of {}: run COSTPUSH_UPDATE_DASHBOARDS=1 cargo test --test deploy plugin",
            copy.display(),
            name_of(&f)
        );
    }
    assert_eq!(files("deploy/grafana/victoriametrics-plugin", "json").len(), dashboard_files().len());
}
