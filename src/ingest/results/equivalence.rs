//! The borrowed-tree reader against a plain reading: the same bytes read into a
//! `serde_json::Value`, then through the same schema rules, give the same jobs, the same problems
//! and the same file errors. The inputs are the example results, the original project's files
//! (when `../shared/original-results` is there), a generated corpus in the three schemas, and
//! seeded mutations of all of them (cut short, bytes flipped, values swapped for ones each reader
//! must refuse or report).

use std::borrow::Cow;

use serde_json::Value;

use super::json::{replace_non_finite, Json, Shape};
use super::schema::{same_job, Scenario, Scenarios, SCENARIO_KEYS};
use super::{file_error, parse, FileError, Parsed};

#[allow(dead_code)]
#[path = "../../../examples/gen_corpus.rs"]
mod gen_corpus;

/// A tree of `v` (strings owned, lists in the general form).
fn tree_of(v: &Value) -> Json<'static> {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.clone()),
        Value::String(s) => Json::Str(Cow::Owned(s.clone())),
        // Always the general list, never the packed numbers the borrowed reader makes: the rules
        // must read both alike.
        Value::Array(a) => Json::Array(a.iter().map(tree_of).collect()),
        Value::Object(m) => {
            Json::Object(m.iter().map(|(k, v)| (Cow::Owned(k.clone()), tree_of(v))).collect())
        }
    }
}

/// What a scenario's reader would make of `v`.
fn scenario_of(v: &Value) -> Shape<Scenario<'static>> {
    match v {
        Value::Object(m) => {
            let mut s = Scenario::default();
            for (i, key) in SCENARIO_KEYS.iter().enumerate() {
                s.values[i] = m.get(*key).map(tree_of);
            }
            Shape::Wanted(s)
        }
        other => Shape::Other(super::json::kind(&tree_of(other))),
    }
}

/// [`parse`], reading the whole file into a `serde_json::Value` first.
fn parse_by_value(bytes: &[u8]) -> Result<Parsed, FileError> {
    let root: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let Cow::Owned(replaced) = replace_non_finite(bytes) else { return Err(file_error(&e)) };
            serde_json::from_slice(&replaced).map_err(|e| file_error(&e))?
        }
    };
    let Value::Object(root) = root else {
        let kind = super::json::kind(&tree_of(&root));
        return Err(FileError::Malformed(format!("top level: expected an object, got {kind}")));
    };
    let scheduler = root
        .get("test_metadata")
        .and_then(|m| m.get("source"))
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("scheduler"));
    let list = match root.get("scenarios") {
        Some(Value::Array(a)) => a,
        Some(other) => {
            let kind = super::json::kind(&tree_of(other));
            return Err(FileError::Malformed(format!("scenarios: expected a list, got {kind}")));
        }
        None => return Err(FileError::Malformed("scenarios: missing".into())),
    };
    let mut scenarios = Scenarios::default();
    for s in list {
        scenarios.push(scenario_of(s));
    }
    let (jobs, problems) = scenarios.finish(scheduler, same_job);
    Ok(Parsed { jobs, problems })
}

/// [`parse`] as a file too large to hold is read: [`super::index`] over a reader that hands out a
/// few bytes at a time, then each job read again from its span.
fn parse_streamed(bytes: &[u8]) -> Result<Parsed, FileError> {
    /// Hands out at most 7 bytes a read, so that blocks end anywhere.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let span = |r: std::ops::Range<u64>| Ok(bytes[r.start as usize..r.end as usize].to_vec());
    let index = super::index(Trickle(bytes), span)?;
    let jobs = index
        .entries
        .iter()
        .map(|e| index.job(e, &span(e.span()).unwrap()).expect("an entry's span holds its job"))
        .collect();
    Ok(Parsed { jobs, problems: index.problems })
}

fn same(what: &str, bytes: &[u8]) {
    match (parse(bytes), parse_streamed(bytes)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.jobs, b.jobs, "{what}: streamed jobs");
            assert_eq!(a.problems, b.problems, "{what}: streamed problems");
        }
        (Err(a), Err(b)) => assert!(same_error(&a, &b), "{what}: streamed file error: {a:?} against {b:?}"),
        (a, b) => panic!("{what}: the streamed reading disagrees: {a:?} against {b:?}"),
    }
    match (parse(bytes), parse_by_value(bytes)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.jobs, b.jobs, "{what}: jobs");
            // A `serde_json::Value` keeps only a repeated key's last value and cannot tell that
            // it was repeated: those notices are the streaming reader's alone.
            let seen: Vec<_> =
                a.problems.into_iter().filter(|p| !p.message.starts_with("the key appears")).collect();
            assert_eq!(seen, b.problems, "{what}: problems");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "{what}: file error"),
        (a, b) => panic!("{what}: the readers disagree: {a:?} against {b:?}"),
    }
}

/// The same error, but for the column: serde_json's reader of a stream counts the character it
/// looked ahead at, and its reader of a slice may not (`1e400-` is one column apart).
fn same_error(a: &FileError, b: &FileError) -> bool {
    let split = |e: &FileError| {
        let text = e.to_string();
        match text.rsplit_once(" column ") {
            Some((head, col)) => (std::mem::discriminant(e), head.to_string(), col.parse::<i64>().ok()),
            None => (std::mem::discriminant(e), text, None),
        }
    };
    let ((ka, ha, ca), (kb, hb, cb)) = (split(a), split(b));
    ka == kb && ha == hb && ca.zip(cb).is_none_or(|(x, y)| (x - y).abs() <= 1) && ca.is_some() == cb.is_some()
}

/// Every input the test starts from: (name, bytes).
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [root.join("tests/fixtures/results"), root.join("../shared/original-results")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    for f in gen_corpus::corpus(7, 600, 1_767_225_600, 100) {
        out.push((format!("generated {} ({})", f.name, f.kind.as_str()), f.bytes));
    }
    // Jobs with one identity: written again (with `100` as `100.0`), and with other content.
    let job = |res: &str, watts: &str| {
        format!(
            r#"{{"name": "a", "duration": 10, "end_time": 1700000000, "resolution": "{res}", "power_watts": [{watts}]}}"#
        )
    };
    let twice = format!(
        r#"{{"scenarios": [{}, {}, {}, 7, {}]}}"#,
        job("1280x720", "100"),
        job("1280x720", "100.0"),
        job("1920x1080", "100"),
        job("1280x720", "NaN")
    );
    out.push(("jobs written twice".into(), twice.into_bytes()));
    // Numbers longer than a block of a streamed file; one near f64::MAX that serde_json reads
    // but `str::parse` rounds up to infinity.
    let long = format!(
        r#"{{"test_metadata": {{"x": {0}, "y": 0.{0}}}, "scenarios": [{{"name": "b", "duration": 10, "end_time": 1700000000, "pixels_processed": 1.79769313486231581e308}}]}}"#,
        "7".repeat(200_000)
    );
    out.push(("long numbers".into(), long.into_bytes()));
    out
}

#[test]
fn the_borrowed_tree_reads_as_a_plain_value_does() {
    let inputs = inputs();
    assert!(inputs.len() >= 9, "fixtures and a generated corpus: {}", inputs.len());
    for (name, bytes) in &inputs {
        let parsed = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!parsed.jobs.is_empty(), "{name}: no jobs");
        same(name, bytes);
    }
}

#[test]
fn mutated_files_read_alike() {
    // Values each reader must treat alike: non-finite literals, out-of-range and inexact numbers,
    // wrong types, empty and nested containers.
    const SWAPS: [&str; 12] = [
        "NaN",
        "-Infinity",
        "1e400",
        "9007199254740993",
        "-9007199254740993",
        "\"text\"",
        "null",
        "true",
        "[]",
        "{}",
        "[1, \"a\", 2.5]",
        "{\"a\": [1, 2]}",
    ];
    let mut rng = fastrand::Rng::with_seed(20);
    let mut cases = 0;
    for (name, bytes) in inputs().iter().take(12) {
        // Only small inputs are mutated whole; larger ones are cut to their first 8 KiB.
        let bytes = &bytes[..bytes.len().min(8192)];
        for n in 0..60 {
            let mut b = bytes.to_vec();
            let what = match n % 4 {
                0 => {
                    b.truncate(rng.usize(0..=b.len()));
                    "cut short"
                }
                1 => {
                    let i = rng.usize(0..b.len());
                    b[i] ^= 1 << rng.u32(0..8);
                    "a bit flipped"
                }
                2 => {
                    // A number (after a ':' or ',' or '[') swapped for another value.
                    let starts: Vec<usize> = (1..b.len())
                        .filter(|&i| b[i].is_ascii_digit() && matches!(b[i - 1], b':' | b',' | b'[' | b' '))
                        .collect();
                    if starts.is_empty() {
                        continue;
                    }
                    let i = starts[rng.usize(0..starts.len())];
                    let end = (i..b.len())
                        .find(|&j| !matches!(b[j], b'0'..=b'9' | b'.' | b'e' | b'-'))
                        .unwrap_or(b.len());
                    b.splice(i..end, SWAPS[rng.usize(0..SWAPS.len())].bytes());
                    "a number swapped"
                }
                _ => {
                    // A repeated key: the last one wins in both readers.
                    let opens: Vec<usize> = (0..b.len()).filter(|&i| b[i] == b'{').collect();
                    if opens.is_empty() {
                        continue;
                    }
                    let at = opens[rng.usize(0..opens.len())];
                    let key = ["name", "end_time", "duration", "power_watts", "scenarios", "test_metadata"]
                        [rng.usize(0..6)];
                    let value = SWAPS[rng.usize(0..SWAPS.len())];
                    let extra = format!("\"{key}\": {value}, ");
                    b.splice(at + 1..at + 1, extra.bytes());
                    "a key repeated"
                }
            };
            same(&format!("{name}, {what} (case {n})"), &b);
            cases += 1;
        }
    }
    assert!(cases > 400, "{cases} cases");
}

/// Generated results files, valid and not: the parser never panics, both readers agree, and what
/// it accepts keeps its promises (finite times in range, a positive run time, power and CPU
/// within their caps, every problem naming a field).
mod properties {
    use proptest::prelude::*;

    use super::same;
    use crate::ingest::results::{parse, MAX_CORES, MAX_EPOCH_S, MAX_RUN_S, MAX_WATTS};

    /// A JSON value as text, including what only a broken writer emits.
    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|x| if x.is_finite() { format!("{x:?}") } else { "0".into() }),
            (1_600_000_000u32..1_900_000_000).prop_map(|n| n.to_string()),
            (0u32..100_000).prop_map(|n| format!("{}.{}", n / 100, n % 100)),
            Just("NaN".to_string()),
            Just("-Infinity".to_string()),
            Just("1e400".to_string()),
            Just("-1E+999".to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
            "[a-z0-9 @x]{0,12}".prop_map(|s| format!("\"{s}\"")),
            Just("\"1920x1080\"".to_string()),
            Just("\"2500k\"".to_string()),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|kv| {
                    let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                    format!("{{{}}}", body.join(", "))
                }),
            ]
        })
    }

    /// A scenario: keys the reader looks at (some twice) and others, with any values.
    fn scenario() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            prop::sample::select(super::SCENARIO_KEYS.to_vec()).prop_map(str::to_string),
            "[a-z_]{1,10}",
        ];
        // Most carry what a job needs (a name, an end, a run time), so that jobs come out.
        let needed =
            prop::option::weighted(0.7, ("[a-z0-9 @]{1,12}", 1_700_000_000u32..1_800_000_000, 0u32..100_000));
        (needed, prop::collection::vec((key, value()), 0..12)).prop_map(|(needed, kv)| {
            let mut body: Vec<String> = kv.into_iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            if let Some((name, end, run)) = needed {
                body.insert(0, format!("\"name\": \"{name}\", \"end_time\": {end}, \"duration\": {run}"));
            }
            format!("{{{}}}", body.join(", "))
        })
    }

    /// A file: a scenarios list (or something else), metadata before or after, and sometimes cut
    /// short or with a byte flipped.
    fn file() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(scenario(), 0..6),
            prop::option::of(prop_oneof![Just("\"scheduler\""), Just("\"lab\""), Just("5")]),
            any::<bool>(),
            prop_oneof![Just(None), any::<prop::sample::Index>().prop_map(Some)],
            prop_oneof![Just(None), (any::<prop::sample::Index>(), 0u8..8).prop_map(Some)],
        )
            .prop_map(|(scenarios, source, meta_first, cut, flip)| {
                let list = format!("\"scenarios\": [{}]", scenarios.join(", "));
                let meta = source.map(|s| format!("\"test_metadata\": {{\"source\": {s}}}"));
                let parts: Vec<String> = match (meta, meta_first) {
                    (Some(m), true) => vec![m, list],
                    (Some(m), false) => vec![list, m],
                    (None, _) => vec![list],
                };
                let mut b = format!("{{{}}}", parts.join(", ")).into_bytes();
                if let Some(i) = cut {
                    b.truncate(i.index(b.len() + 1));
                }
                if let (Some((i, bit)), false) = (flip, b.is_empty()) {
                    let i = i.index(b.len());
                    b[i] ^= 1 << bit;
                }
                b
            })
    }

    /// Jobs the generated files gave, so that the test can tell it was not all refusals.
    static JOBS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn the_generated_files_give_jobs() {
        any_file_reads_without_a_panic_and_keeps_the_promises();
        assert!(JOBS.load(std::sync::atomic::Ordering::Relaxed) > 500);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_file_reads_without_a_panic_and_keeps_the_promises(bytes in file()) {
            same("a generated file", &bytes);
            if let Ok(p) = parse(&bytes) {
                JOBS.fetch_add(p.jobs.len(), std::sync::atomic::Ordering::Relaxed);
                for j in &p.jobs {
                    prop_assert!(j.end_s.is_finite() && j.end_s > 0.0 && j.end_s <= MAX_EPOCH_S, "{j:?}");
                    prop_assert!(j.run_s > 0.0 && j.run_s <= MAX_RUN_S, "{j:?}");
                    prop_assert!(j.power_watts.iter().all(|w| (0.0..=MAX_WATTS).contains(w)), "{j:?}");
                    prop_assert!(j.cpu_cores.iter().all(|c| (0.0..=MAX_CORES).contains(c)), "{j:?}");
                    prop_assert!(!j.scenario.is_empty());
                }
                for pr in &p.problems {
                    prop_assert!(pr.field.starts_with("scenarios"), "{pr}");
                    prop_assert!(!pr.message.is_empty());
                }
            }
        }
    }
}
