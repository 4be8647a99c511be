//! Reading results files: bytes of one file in, jobs and field problems out. No I/O here.
//!
//! Three schemas exist in the wild, all `{"scenarios": [...]}` with optional `test_date` /
//! `test_metadata` beside it:
//! - **benchmark** (A): `fps`, planned integer `duration`, float epoch `start_time`/`end_time`,
//!   optional `encoder`, `preset`, `outputs` ladder; no power. Run time = `end_time − start_time`.
//! - **telemetry** (B): `power_watts[]`, `cpu_usage_cores[]`, `step_seconds`, quality scores,
//!   frames, `pixels_processed`, `encoder_type`. Run time = `duration` (measured).
//! - **scheduler** (C): `test_metadata.source == "scheduler"`. `duration` is the measured run
//!   time and `start_time` is the *queue* time, so the run window is `end_time − duration ..
//!   end_time`. An entry whose `end_time − start_time` exceeds `duration` by more than a minute
//!   is read this way too, whatever file it is in.
//!
//! Numbers may be ints or floats; any field may be missing or null. A problem in one field is
//! reported with its path (`scenarios[3].power_watts[2]`) and costs only what depends on it: a
//! bad optional field is left out, a bad required field (name, end time, run time) drops that one
//! job, and only a file that is not JSON at all (or has no `scenarios` list) fails as a whole.
//!
//! Reading takes about the file's bytes, the jobs and their samples in memory. serde_json reads
//! the file once, straight into a small tree that borrows its strings from the bytes (`Json`),
//! one scenario at a time: only the keys a job is made from are kept (the values of others are
//! skipped as read, still checked as JSON), a list of numbers is kept as f64s and moved into its
//! job, and each scenario's tree is dropped once its job is read. A job's schema and run time
//! are worked out at the end, as `test_metadata` may follow the scenarios. Problems, errors and
//! messages are those of reading the file into a `serde_json::Value` (which this once did), down
//! to the rendering of a bad value.
//!
//! Each job gets a stable identity: a 64-bit FNV-1a hash of the fields that say which run it was
//! (name, times, duration, bitrate, encoder), with numbers normalised to f64 so that a writer
//! re-serialising `47.0` as `47` does not make a new job.

#[cfg(test)]
mod equivalence;
mod json;
mod schema;
mod stream;

use json::{from_slice_or_replaced, Shape};
use schema::{Root, Scenarios};
pub use stream::{index, Entry, FileIndex};

use crate::domain::Job;

/// What a problem cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The whole job was left out.
    JobDropped,
    /// One field was left out; the job is kept.
    FieldLeftOut,
    /// Nothing was left out, but the reading needs explaining (e.g. a fallback was used).
    Notice,
}

/// A problem with one field, named by its path in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub(crate) field: String,
    pub(crate) message: String,
    pub(crate) severity: Severity,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        if self.severity == Severity::JobDropped {
            f.write_str(" (job skipped)")?;
        }
        Ok(())
    }
}

/// Why a whole file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileError {
    /// The JSON ends early: most likely the writer is still writing. Retried when it changes.
    #[error("incomplete JSON (still being written?): {0}")]
    Incomplete(String),
    #[error("{0}")]
    Malformed(String),
    /// Reading the file failed part way (a file read as it streams). Retried next cycle.
    #[error("cannot read results file: {0}")]
    Unreadable(String),
}

/// What a file yielded.
#[derive(Debug, Default)]
pub struct Parsed {
    pub jobs: Vec<Job>,
    pub problems: Vec<Problem>,
}

/// Latest end time accepted: 2100-01-01. Later values are most likely milliseconds.
const MAX_EPOCH_S: f64 = 4_102_444_800.0;
/// How far `end − start` may exceed `duration` before `start_time` is read as a queue time.
const QUEUE_GAP_S: f64 = 60.0;
/// Longest run time accepted (31 days): beyond it a value is a unit mistake, and it would swamp
/// the counters (adding 1 to 1e300 changes nothing).
pub(crate) const MAX_RUN_S: f64 = 31.0 * 86_400.0;
/// Largest power sample accepted, in watts (1 MW: far above any one host).
pub(crate) const MAX_WATTS: f64 = 1e6;
/// Largest CPU sample accepted, in cores.
pub const MAX_CORES: f64 = 1e5;

pub fn parse(bytes: &[u8]) -> Result<Parsed, FileError> {
    // Only a file that does not read is scanned for non-finite numbers (a pass over the whole
    // file, which would be over a third of the parse time).
    let mut replaced = Vec::new();
    let root: Shape<Root> = from_slice_or_replaced(bytes, &mut replaced).map_err(|e| file_error(&e))?;
    let (scenarios, scheduler, lists) = checked_root(root)?;
    let (jobs, mut problems) = scenarios.finish(scheduler, schema::same_job);
    lists_notice(lists, &mut problems);
    Ok(Parsed { jobs, problems })
}

/// The top level's `scenarios` list, whether the file is the scheduler's, and how many
/// `scenarios` keys it has; or why the file cannot be read.
fn checked_root<K: schema::Keep>(root: Shape<Root<K>>) -> Result<(Scenarios<K>, bool, usize), FileError> {
    let root = match root {
        Shape::Wanted(root) => root,
        Shape::Other(kind) => {
            return Err(FileError::Malformed(format!("top level: expected an object, got {kind}")))
        }
    };
    match root.scenarios {
        Some(Shape::Wanted(a)) => Ok((a, root.scheduler, root.scenario_lists)),
        Some(Shape::Other(kind)) => {
            Err(FileError::Malformed(format!("scenarios: expected a list, got {kind}")))
        }
        None => Err(FileError::Malformed("scenarios: missing".into())),
    }
}

/// The notice for a file with more than one `scenarios` key, first among its problems.
fn lists_notice(lists: usize, problems: &mut Vec<Problem>) {
    if lists > 1 {
        problems.insert(
            0,
            Problem {
                field: "scenarios".into(),
                message: format!(
                    "the key appears {lists} times; only the last list is read, the jobs of the others are left out"
                ),
                severity: Severity::Notice,
            },
        );
    }
}

fn file_error(e: &serde_json::Error) -> FileError {
    if e.classify() == serde_json::error::Category::Eof {
        FileError::Incomplete(e.to_string())
    } else {
        FileError::Malformed(e.to_string())
    }
}

/// `"2500k"` → 2500, `"5M"` → 5000, `"800"` → 800 (kbps).
pub(crate) fn parse_kbps(s: &str) -> Option<f64> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix(['k', 'K']) {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix(['m', 'M']) {
        (n, 1000.0)
    } else {
        (t, 1.0)
    };
    let x: f64 = num.trim().parse().ok()?;
    (x.is_finite() && x >= 0.0).then_some(x * mult)
}

/// `"1920x1080"` → `Some((1920, 1080))`; `"0x0"` (the baseline's "no video") → `None`.
/// A resolution string that is not `WIDTHxHEIGHT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadResolution;

pub(crate) fn parse_resolution(s: &str) -> Result<Option<(u32, u32)>, BadResolution> {
    let (w, h) = s.trim().split_once(['x', 'X']).ok_or(BadResolution)?;
    let w: u32 = w.trim().parse().map_err(|_| BadResolution)?;
    let h: u32 = h.trim().parse().map_err(|_| BadResolution)?;
    match (w, h) {
        (0, 0) => Ok(None),
        (0, _) | (_, 0) => Err(BadResolution),
        _ => Ok(Some((w, h))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Rendition, Schema};

    fn one(json: &str) -> (Option<Job>, Vec<Problem>) {
        let p = parse(json.as_bytes()).expect("file parses");
        assert!(p.jobs.len() <= 1);
        (p.jobs.into_iter().next(), p.problems)
    }

    /// Identities of the jobs in [`BENCH`] and in `escaped_strings_read_as_their_text`.
    const ID_BENCH: u64 = 10540456274681595487;
    const ID_ESCAPED: u64 = 13145522863763718647;

    const BENCH: &str = r#"{"test_date": "2025-12-28T20:32:16.9", "scenarios": [
        {"name": "4 Streams @ 2500k", "bitrate": "2500k", "resolution": "1280x720", "fps": 30,
         "duration": 120, "start_time": 1766948030.25, "end_time": 1766948150.5,
         "encoder": "h264", "preset": "fast",
         "outputs": [{"resolution": "1280x720", "fps": 30}, {"resolution": "854x480", "fps": 30}]}]}"#;

    #[test]
    fn benchmark_entry_uses_the_measured_window() {
        let (j, probs) = one(BENCH);
        let j = j.unwrap();
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(j.schema, Schema::Benchmark);
        assert_eq!(j.run_s, 120.25);
        assert_eq!(j.end_s, 1766948150.5);
        assert_eq!(j.encoder.as_deref(), Some("h264"));
        assert_eq!(j.preset.as_deref(), Some("fast"));
        assert_eq!(j.bitrate_kbps, Some(2500.0));
        assert_eq!(j.resolution, Some((1280, 720)));
        assert_eq!(j.fps, Some(30.0));
        assert_eq!(j.outputs.len(), 2);
        assert_eq!(j.outputs[1], Rendition { width: 854, height: 480, fps: Some(30.0) });
        assert!(j.power_watts.is_empty());
    }

    #[test]
    fn telemetry_entry() {
        let (j, probs) =
            one(r#"{"test_metadata": {"source": "lab"}, "scenarios": [{"name": "2 streams @ 2500k",
            "duration": 120.5, "bitrate": "2500k", "encoder_type": "libx264", "resolution": "1920x1080",
            "vmaf_score": 92.5, "psnr_score": 42.3, "ssim_score": 0.985, "avg_fps": 29.97,
            "dropped_frames": 5, "total_frames": 3612, "pixels_processed": 8957952000,
            "start_time": 1705315800, "end_time": 1705315920.5, "power_watts": [45.2, 46],
            "cpu_usage_cores": [2.1, 2], "step_seconds": 5}]}"#);
        let j = j.unwrap();
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(j.schema, Schema::Telemetry);
        assert_eq!(j.run_s, 120.5);
        assert_eq!(j.power_watts, vec![45.2, 46.0]);
        assert_eq!(j.cpu_cores, vec![2.1, 2.0]);
        assert_eq!((j.vmaf, j.psnr_db, j.ssim), (Some(92.5), Some(42.3), Some(0.985)));
        assert_eq!((j.total_frames, j.dropped_frames), (Some(3612.0), Some(5.0)));
        assert_eq!(j.fps, Some(29.97));
        assert_eq!(j.pixels_processed, Some(8957952000.0));
        assert_eq!(j.encoder.as_deref(), Some("libx264"));
    }

    #[test]
    fn scheduler_entry_runs_before_its_end_not_from_its_queue_time() {
        let (j, _) =
            one(r#"{"test_date": "2026-01-07T12:15:03+01:00", "test_metadata": {"source": "scheduler"},
            "scenarios": [{"name": "4K60-h264", "duration": 12.5, "bitrate": "0k",
            "encoder_type": "ffmpeg", "start_time": 1767700000, "end_time": 1767700020}]}"#);
        let j = j.unwrap();
        assert_eq!(j.schema, Schema::Scheduler);
        assert_eq!(j.run_s, 12.5);
        assert_eq!(j.end_s, 1767700020.0);
    }

    #[test]
    fn test_metadata_after_the_scenarios_still_counts() {
        // json.dump(..., sort_keys=True) writes "scenarios" before "test_metadata"
        let p = parse(
            br#"{"scenarios": [
            {"name": "a", "start_time": 1767700000, "end_time": 1767700020, "vmaf_score": "x"},
            {"name": "b", "duration": 12.5, "start_time": 1767700000, "end_time": 1767700020,
             "ssim_score": 2, "power_watts": [1, 2.5]}],
            "test_metadata": {"source": "scheduler"}}"#,
        )
        .unwrap();
        assert_eq!(p.jobs.len(), 1);
        assert_eq!((p.jobs[0].scenario.as_str(), p.jobs[0].schema), ("b", Schema::Scheduler));
        assert_eq!((p.jobs[0].run_s, p.jobs[0].index), (12.5, 1));
        assert_eq!(p.jobs[0].power_watts, [1.0, 2.5]);
        let msgs: Vec<String> = p.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "scenarios[0].duration: missing, and no start_time to measure the run from (job skipped)",
                "scenarios[1].ssim_score: 2 is outside [0, 1]; left out",
            ]
        );
    }

    #[test]
    fn a_long_queue_gap_is_read_as_scheduler_without_metadata() {
        let (j, _) =
            one(r#"{"scenarios": [{"name": "burst-medium-4", "duration": 0.99, "encoder_type": "auto",
            "start_time": 1767600000, "end_time": 1767722400}]}"#);
        let j = j.unwrap();
        assert_eq!(j.schema, Schema::Scheduler);
        assert_eq!(j.run_s, 0.99);
    }

    #[test]
    fn identity_ignores_int_vs_float_and_key_order() {
        let a = one(r#"{"scenarios": [{"name": "x", "duration": 47.0, "end_time": 1700000000.0, "start_time": 1699999953}]}"#).0.unwrap();
        let b = one(r#"{"scenarios": [{"start_time": 1699999953.0, "end_time": 1700000000, "duration": 47, "name": "x"}]}"#).0.unwrap();
        let c = one(r#"{"scenarios": [{"name": "x", "duration": 47, "end_time": 1700000001, "start_time": 1699999953}]}"#).0.unwrap();
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn truncated_file_is_incomplete_not_malformed() {
        let cut = &BENCH[..BENCH.len() / 2];
        assert!(matches!(parse(cut.as_bytes()), Err(FileError::Incomplete(_))));
        assert!(matches!(parse(b""), Err(FileError::Incomplete(_))));
    }

    #[test]
    fn malformed_files() {
        for (text, needle) in [
            ("{\"scenarios\": [}", "expected value"),
            ("[1, 2]", "top level: expected an object"),
            ("{\"test_date\": \"x\"}", "scenarios: missing"),
            ("{\"scenarios\": {\"a\": 1}}", "scenarios: expected a list"),
            ("{\"scenarios\": [{\"name\": \"x\", \"end_time\": 1e}]}", "invalid number"),
            ("{\"scenarios\": [{\"name\": \"x\", \"end_time\": 1e400x}]}", "expected"),
        ] {
            match parse(text.as_bytes()) {
                Err(FileError::Malformed(m)) => assert!(m.contains(needle), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_file_not_utf8_is_malformed_at_the_string_that_is_not() {
        let mut bytes = br#"{"scenarios": [{"name": "a", "duration": 1, "end_time": 1700000001},
  {"name": "b"#
            .to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(br#"", "duration": 1, "end_time": 1700000002}]}"#);
        match parse(&bytes) {
            Err(FileError::Malformed(m)) => {
                assert!(m.contains("invalid unicode code point at line 2 column"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // Outside a string it is a syntax error, named where it is.
        let mut bytes = br#"{"scenarios": []"#.to_vec();
        bytes.push(0xfe);
        match parse(&bytes) {
            Err(FileError::Malformed(m)) => assert!(m.contains("line 1 column 17"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_types_cost_only_their_field() {
        let (j, probs) = one(
            r#"{"scenarios": [{"name": "q", "duration": 10, "start_time": 1700000000, "end_time": 1700000010,
            "encoder_type": "x", "vmaf_score": "NaN", "psnr_score": 120000, "ssim_score": 1.5,
            "power_watts": [10, null, 12], "cpu_usage_cores": "many", "bitrate": "fast",
            "resolution": "big", "dropped_frames": 9, "total_frames": 3}]}"#,
        );
        let j = j.expect("job kept");
        assert_eq!(j.vmaf, None);
        assert_eq!(j.psnr_db, None);
        assert_eq!(j.ssim, None);
        assert!(j.power_watts.is_empty());
        assert!(j.cpu_cores.is_empty());
        assert_eq!(j.dropped_frames, None);
        let fields: Vec<&str> = probs.iter().map(|p| p.field.as_str()).collect();
        for f in [
            "scenarios[0].vmaf_score",
            "scenarios[0].psnr_score",
            "scenarios[0].ssim_score",
            "scenarios[0].power_watts[1]",
            "scenarios[0].cpu_usage_cores",
            "scenarios[0].bitrate",
            "scenarios[0].resolution",
            "scenarios[0].dropped_frames",
        ] {
            assert!(fields.contains(&f), "no problem for {f}: {fields:?}");
        }
        assert!(probs.iter().all(|p| p.severity != Severity::JobDropped));
        let vmaf = probs.iter().find(|p| p.field.ends_with("vmaf_score")).unwrap();
        assert_eq!(vmaf.to_string(), "scenarios[0].vmaf_score: expected a number, got a string \"NaN\"");
    }

    #[test]
    fn bad_required_fields_drop_only_that_job() {
        let p = parse(
            r#"{"scenarios": [
            {"name": "neg", "duration": -5, "end_time": 1700000000},
            {"name": "backwards", "start_time": 1700000100, "end_time": 1700000000},
            {"name": "no end", "duration": 5},
            {"name": "millis", "duration": 5, "end_time": 1700000000000},
            {"duration": 5, "end_time": 1700000000},
            17,
            {"name": "ok", "duration": 5, "end_time": 1700000000, "power_watts": []}]}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(p.jobs.len(), 1);
        assert_eq!(p.jobs[0].scenario, "ok");
        assert_eq!(p.jobs[0].index, 6);
        let dropped: Vec<String> = p
            .problems
            .iter()
            .filter(|p| p.severity == Severity::JobDropped)
            .map(|p| p.field.clone())
            .collect();
        assert_eq!(
            dropped,
            [
                "scenarios[0].duration",
                "scenarios[1].end_time",
                "scenarios[2].end_time",
                "scenarios[3].end_time",
                "scenarios[4].name",
                "scenarios[5]"
            ]
        );
    }

    #[test]
    fn unicode_names_and_huge_numbers() {
        let (j, probs) =
            one(r#"{"scenarios": [{"name": "Å ström 🎬 @ 1000k", "duration": 60, "end_time": 1700000000,
            "pixels_processed": 1.7976931348623157e308, "power_watts": [1e308, 1e308]}]}"#);
        let j = j.unwrap();
        assert_eq!(j.scenario, "Å ström 🎬 @ 1000k");
        assert_eq!(j.pixels_processed, Some(f64::MAX));
        assert!(j.power_watts.is_empty(), "absurd power is left out, not integrated to infinity");
        assert_eq!(probs.len(), 1);
        assert!(probs[0]
            .to_string()
            .starts_with("scenarios[0].power_watts[0]: expected a number in [0, 1000000]"));
        // a run time beyond 31 days is a unit mistake: the job is skipped
        let (j, probs) = one(r#"{"scenarios": [{"name": "x", "duration": 1e300, "end_time": 1700000000}]}"#);
        assert!(j.is_none());
        assert_eq!(probs[0].severity, Severity::JobDropped);
        assert_eq!(probs[0].field, "scenarios[0].duration");
    }

    #[test]
    fn python_nan_and_infinity_cost_only_their_field() {
        // json.dump writes these bare literals; the rest of the file must survive them.
        let text = r#"{"scenarios": [{"name": "a \"NaN\" Infinity", "duration": 10, "end_time": 1700000000,
            "vmaf_score": NaN, "psnr_score": -Infinity, "power_watts": [1, Infinity]},
            {"name": "b", "start_time": 1699999991, "end_time": 1700000001, "vmaf_score": 93}]}"#;
        let p = parse(text.as_bytes()).expect("file still parses");
        assert_eq!(p.jobs.len(), 2);
        assert_eq!(p.jobs[0].scenario, "a \"NaN\" Infinity", "strings are left alone");
        assert_eq!(p.jobs[0].vmaf, None);
        assert!(p.jobs[0].power_watts.is_empty());
        assert_eq!(p.jobs[1].vmaf, Some(93.0));
        let mut msgs: Vec<String> = p.problems.iter().map(|p| p.to_string()).collect();
        msgs.sort();
        assert_eq!(
            msgs,
            [
                "scenarios[0].power_watts[1]: expected a number in [0, 1000000], got Infinity (not a number JSON allows); the whole power_watts list is left out",
                "scenarios[0].psnr_score: expected a number, got -Infinity (not a number JSON allows)",
                "scenarios[0].vmaf_score: expected a number, got NaN (not a number JSON allows)",
            ]
        );
    }

    #[test]
    fn a_job_written_twice_is_read_once_and_a_conflicting_one_is_reported() {
        let job = |res: &str| {
            format!(
                r#"{{"name": "a", "duration": 10, "end_time": 1700000000, "resolution": "{res}", "power_watts": [100]}}"#
            )
        };
        let text =
            format!(r#"{{"scenarios": [{}, {}, {}]}}"#, job("1280x720"), job("1280x720"), job("1920x1080"));
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.jobs.len(), 1);
        assert_eq!(p.jobs[0].resolution, Some((1280, 720)));
        let msgs: Vec<String> = p.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "scenarios[1]: the same job as scenarios[0]; read once",
                "scenarios[2]: the same identity as scenarios[0] (name, start, end, duration, bitrate and encoder) but other content; only the first is read (job skipped)",
            ]
        );
        assert_eq!(p.problems[1].severity, Severity::JobDropped);
    }

    #[test]
    fn a_job_of_zero_seconds_is_dropped_not_pushed_as_zeros() {
        for text in [
            r#"{"scenarios": [{"name": "z", "duration": 0, "end_time": 1700000000, "power_watts": [100]}]}"#,
            r#"{"scenarios": [{"name": "z", "start_time": 1700000000, "end_time": 1700000000}]}"#,
        ] {
            let (j, probs) = one(text);
            assert!(j.is_none(), "{text}");
            assert_eq!(probs.len(), 1, "{probs:?}");
            assert_eq!(probs[0].severity, Severity::JobDropped);
            assert!(probs[0].to_string().contains("run time is 0 s: nothing ran"), "{}", probs[0]);
        }
    }

    #[test]
    fn a_number_out_of_range_costs_only_its_field() {
        let text = r#"{"test_metadata": {"duration": 1e400}, "scenarios": [{"name": "a", "duration": 10,
            "end_time": 1700000000, "vmaf_score": -1E+400, "power_watts": [1, 2e308]},
            {"name": "b", "start_time": 1699999991, "end_time": 1700000001, "vmaf_score": 93.5}]}"#;
        let p = parse(text.as_bytes()).expect("file still parses");
        assert_eq!(p.jobs.len(), 2);
        assert_eq!(p.jobs[0].vmaf, None);
        assert!(p.jobs[0].power_watts.is_empty());
        assert_eq!(p.jobs[1].vmaf, Some(93.5));
        let mut msgs: Vec<String> = p.problems.iter().map(|p| p.to_string()).collect();
        msgs.sort();
        assert_eq!(
            msgs,
            [
                "scenarios[0].power_watts[1]: expected a number in [0, 1000000], got 2e308 (out of a 64-bit float's range); the whole power_watts list is left out",
                "scenarios[0].vmaf_score: expected a number, got -1E+400 (out of a 64-bit float's range)",
            ]
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value_and_are_reported() {
        // as serde_json's Map does, at every level
        let (j, probs) =
            one(r#"{"test_metadata": {"source": "lab"}, "scenarios": [{"name": "first", "name": "second",
            "duration": 10, "end_time": 1700000000, "vmaf_score": "bad", "vmaf_score": 90,
            "psnr_score": {"b": 1, "a": 2, "b": 3}, "encoder_type": "x", "encoder_type": null,
            "outputs": [{"resolution": "1x1", "resolution": "640x360", "fps": 25}]}],
            "test_metadata": {"source": "lab", "source": "SCHEDULER"}}"#);
        let j = j.unwrap();
        assert_eq!(j.scenario, "second");
        assert_eq!(j.schema, Schema::Scheduler, "the last test_metadata, and its last source");
        assert_eq!(j.vmaf, Some(90.0));
        assert_eq!(j.encoder, None);
        assert_eq!(j.outputs, [Rendition { width: 640, height: 360, fps: Some(25.0) }]);
        let msgs: Vec<String> = probs.iter().map(|p| p.to_string()).collect();
        // Each repeated key the reader looks at is reported once, as a notice.
        let again = "the key appears more than once; the last value is read";
        assert_eq!(
            msgs,
            [
                format!("scenarios[0].name: {again}"),
                format!("scenarios[0].vmaf_score: {again}"),
                format!("scenarios[0].encoder_type: {again}"),
                r#"scenarios[0].psnr_score: expected a number, got an object {"a":2,"b":3}"#.to_string(),
            ]
        );

        let p = parse(
            br#"{"scenarios": [{"name": "old", "duration": 1, "end_time": 1700000000}],
            "scenarios": [{"name": "new", "duration": 1, "end_time": 1700000000}]}"#,
        )
        .unwrap();
        assert_eq!(p.jobs.iter().map(|j| j.scenario.as_str()).collect::<Vec<_>>(), ["new"]);
        assert_eq!(
            p.problems[0].to_string(),
            "scenarios: the key appears 2 times; only the last list is read, the jobs of the others are left out"
        );
        assert_eq!(p.problems[0].severity, Severity::Notice);
        match parse(br#"{"scenarios": [], "scenarios": 5}"#) {
            Err(FileError::Malformed(m)) => assert_eq!(m, "scenarios: expected a list, got a number"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escaped_strings_read_as_their_text() {
        let plain = one(r#"{"scenarios": [{"name": "say \"hi\" café", "bitrate": "2500k", "duration": 60,
            "end_time": 1700000000}]}"#)
        .0
        .unwrap();
        let escaped = one(r#"{"scenarios": [{"na\u006de": "say \"hi\" caf\u00e9", "bitrate": "2500\u006b",
            "duration": 60, "end_time": 1700000000}]}"#)
        .0
        .unwrap();
        assert_eq!(plain.scenario, "say \"hi\" café");
        assert_eq!(escaped, plain);
        // Pinned: state files hold these identities.
        assert_eq!(plain.id, ID_ESCAPED);
        assert_eq!(one(BENCH).0.unwrap().id, ID_BENCH);
    }

    #[test]
    fn a_list_that_turns_out_not_all_numbers() {
        let (j, probs) = one(r#"{"scenarios": [{"name": "m", "duration": 10, "end_time": 1700000000,
            "power_watts": [1, 2.5, "x", 4], "cpu_usage_cores": [1, 2.0, -3],
            "vmaf_score": [1, 2.0, -0, "a"], "ssim_score": [1, 2.0], "psnr_score": [9007199254740993, 1]}]}"#);
        let j = j.unwrap();
        assert!(j.power_watts.is_empty());
        assert!(j.cpu_cores.is_empty());
        let msgs: Vec<String> = probs.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            msgs,
            [
                r#"scenarios[0].power_watts[2]: expected a number in [0, 1000000], got a string "x"; the whole power_watts list is left out"#,
                r#"scenarios[0].cpu_usage_cores[2]: expected a number in [0, 100000], got a number -3; the whole cpu_usage_cores list is left out"#,
                r#"scenarios[0].vmaf_score: expected a number, got a list [1,2.0,-0.0,"a"]"#,
                r#"scenarios[0].psnr_score: expected a number, got a list [9007199254740993,1]"#,
                r#"scenarios[0].ssim_score: expected a number, got a list [1,2.0]"#,
            ]
        );
    }

    #[test]
    fn unknown_fields_are_skipped_but_still_checked() {
        let (plain, _) =
            one(r#"{"scenarios": [{"name": "u", "start_time": 1699999990, "end_time": 1700000000}]}"#);
        let (extra, probs) =
            one(r#"{"host": {"gpu": [null, 1e300]}, "scenarios": [{"name": "u", "start_time": 1699999990,
            "extra": {"deep": [1, {"x": [true, null, "s\u00e9"]}], "n": -1e300}, "gpu": "none",
            "end_time": 1700000000}]}"#);
        assert_eq!(extra.unwrap(), plain.clone().unwrap());
        assert!(probs.is_empty(), "{probs:?}");
        // ... and still checked as JSON: a broken number fails the file as a whole, while one
        // out of an f64's range costs nothing where nothing reads it
        match parse(br#"{"scenarios": [{"name": "u", "extra": [1e+]}]}"#) {
            Err(FileError::Malformed(m)) => assert!(m.contains("invalid number"), "{m}"),
            other => panic!("{other:?}"),
        }
        let (far, probs) = one(
            r#"{"host": {"n": 1e400}, "scenarios": [{"name": "u", "start_time": 1699999990, "extra": [1e400],
            "end_time": 1700000000}]}"#,
        );
        assert_eq!(far.unwrap(), plain.unwrap());
        assert!(probs.is_empty(), "{probs:?}");
    }

    #[test]
    fn an_object_in_a_number_field_is_described_as_json() {
        let (j, probs) =
            one(r#"{"scenarios": [{"name": "o", "start_time": 1699999990, "end_time": 1700000000,
            "vmaf_score": {"score": 93.5, "model": "v0.6.1"},
            "psnr_score": {"z": [1, 2.0], "a": {"b": null}, "m": "long enough to be cut off"}}]}"#);
        let j = j.unwrap();
        assert_eq!((j.vmaf, j.psnr_db), (None, None));
        let msgs: Vec<String> = probs.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            msgs,
            [
                r#"scenarios[0].vmaf_score: expected a number, got an object {"model":"v0.6.1","score":93.5}"#,
                r#"scenarios[0].psnr_score: expected a number, got an object {"a":{"b":null},"m":"long enough to be c…"#,
            ]
        );
    }

    #[test]
    fn an_overrun_benchmark_keeps_its_measured_window() {
        // planned 60 s, ran 200 s: not a queue time, the run is end − start
        let (j, _) = one(r#"{"scenarios": [{"name": "x", "fps": 30, "duration": 60,
            "start_time": 1700000000, "end_time": 1700000200}]}"#);
        let j = j.unwrap();
        assert_eq!(j.schema, Schema::Benchmark);
        assert_eq!(j.run_s, 200.0);
    }

    #[test]
    fn bitrates_and_resolutions() {
        assert_eq!(parse_kbps("2500k"), Some(2500.0));
        assert_eq!(parse_kbps("0k"), Some(0.0));
        assert_eq!(parse_kbps("5M"), Some(5000.0));
        assert_eq!(parse_kbps("abc"), None);
        assert_eq!(parse_resolution("3840x2160"), Ok(Some((3840, 2160))));
        assert_eq!(parse_resolution("0x0"), Ok(None));
        assert!(parse_resolution("1920").is_err());
        assert!(parse_resolution("0x1080").is_err());
    }
}
