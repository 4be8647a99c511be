//! The rules of the three schemas: which fields make a job, how its run time is read, and what a
//! bad field costs. Scenarios arrive one at a time as borrowed trees ([`super::json`]); a job's
//! schema and run time wait for the file's `test_metadata` ([`Scenarios::finish`]).

use serde::de::{MapAccess, SeqAccess};

use super::json::{describe, kind, Json, KeyIn, Shape, Skip, Want};
use super::{parse_kbps, parse_resolution, BadResolution, Problem, Severity};
use super::{MAX_CORES, MAX_EPOCH_S, MAX_RUN_S, MAX_WATTS, QUEUE_GAP_S};
use crate::domain::{Job, Rendition, Schema};

/// What the reader uses of the top level: the last `scenarios`, and whether the last
/// `test_metadata` has `"source": "scheduler"`.
pub(super) struct Root<K = Job> {
    pub(super) scenarios: Option<Shape<Scenarios<K>>>,
    pub(super) scheduler: bool,
    /// How many `scenarios` keys the file has: past one, only the last list is read.
    pub(super) scenario_lists: usize,
}

impl<'de, K: Keep> Want<'de> for Root<K> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut root = Root { scenarios: None, scheduler: false, scenario_lists: 0 };
        while let Some(key) = map.next_key_seed(KeyIn(&["scenarios", "test_metadata"]))? {
            match key {
                Some(0) => {
                    root.scenario_lists += 1;
                    root.scenarios = Some(map.next_value()?);
                }
                Some(_) => root.scheduler = matches!(map.next_value()?, Shape::Wanted(SchedulerSource(true))),
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(root))
    }
}

/// What a reading keeps of each job: the whole [`Job`], or (for a file read as it streams) only
/// what finds it again ([`super::stream::Entry`]).
pub(super) trait Keep: Sized {
    fn keep(job: Job) -> Self;
    fn id(&self) -> u64;
    fn index(&self) -> usize;
    /// Once the file's `test_metadata` is known.
    fn set_run_time(&mut self, schema: Schema, run_s: f64);
}

impl Keep for Job {
    fn keep(job: Job) -> Self {
        job
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn index(&self) -> usize {
        self.index
    }

    fn set_run_time(&mut self, schema: Schema, run_s: f64) {
        (self.schema, self.run_s) = (schema, run_s);
    }
}

/// Whether two jobs with one identity are the same job, written twice (their places aside).
pub(super) fn same_job(earlier: &Job, later: &Job) -> bool {
    Job { index: earlier.index, ..later.clone() } == *earlier
}

/// The `scenarios` list, read as it goes: each scenario's tree is dropped as soon as it is read
/// into its job, all but the schema and run time, which depend on the file's `test_metadata`, and
/// that may come after the list (`json.dump(..., sort_keys=True)` puts it there).
pub(super) struct Scenarios<K = Job> {
    /// The index of the first scenario (a scenario read on its own keeps its place in its file).
    first: usize,
    /// One for each `Some` [`Pending::head`], in order.
    jobs: Vec<K>,
    pending: Vec<Pending>,
}

impl<K> Default for Scenarios<K> {
    fn default() -> Self {
        Scenarios::starting_at(0)
    }
}

impl<K> Scenarios<K> {
    /// A list whose first scenario is scenario `first` of its file (a scenario read on its own).
    pub(super) fn starting_at(first: usize) -> Self {
        Scenarios { first, jobs: Vec::new(), pending: Vec::new() }
    }
}

/// What is left to do for one scenario once the file's `test_metadata` is known. A large file
/// holds one for each of its scenarios while it is indexed, so it is kept small: most
/// scenarios have no problem.
pub(super) struct Pending {
    /// `None`: the scenario was dropped before its schema mattered.
    head: Option<Head>,
    problems: Option<Box<PendingProblems>>,
}

/// The problems of a scenario, by when they are reported.
struct PendingProblems {
    /// Found before the schema matters.
    before: Vec<Problem>,
    /// With the fields read after the run time: reported only if the job is kept.
    after: Vec<Problem>,
}

/// What a scenario's schema and run time are worked out from.
pub(super) struct Head {
    start: Option<f64>,
    end: f64,
    duration: Option<f64>,
    /// Has a queue time (see the module doc).
    queue_gap: bool,
    /// Has a field only the telemetry writer writes.
    telemetry_keys: bool,
}

impl<K: Keep> Scenarios<K> {
    /// Scenarios read so far.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Reads one scenario into its job, all but the schema and run time.
    pub(super) fn push(&mut self, s: Shape<Scenario<'_>>) {
        let index = self.first + self.pending.len();
        let (mut before, mut after, mut kept) = (Vec::new(), Vec::new(), None);
        match s {
            Shape::Wanted(mut o) => {
                for key in std::mem::take(&mut o.repeated) {
                    let f = &mut Fields { index, problems: &mut before };
                    f.push(
                        key,
                        "the key appears more than once; the last value is read".into(),
                        Severity::Notice,
                    );
                }
                if let Some((name, head)) = (Fields { index, problems: &mut before }).head(&o) {
                    let mut f = Fields { index, problems: &mut after };
                    self.jobs.push(K::keep(f.rest(index, &mut o, name, head.end)));
                    kept = Some(head);
                }
            }
            Shape::Other(kind) => Fields { index, problems: &mut before }
                .drop_job("", format!("expected an object, got {kind}")),
        }
        let problems =
            (!before.is_empty() || !after.is_empty()).then(|| Box::new(PendingProblems { before, after }));
        self.pending.push(Pending { head: kept, problems });
    }

    /// Now that `test_metadata` is known (`scheduler`: the file is the scheduler's): each job's
    /// schema and run time, and the problems in the order the fields are read. Of the jobs with
    /// one identity the first is kept; `same` tells whether a later one is that job again.
    pub(super) fn finish(self, scheduler: bool, same: impl FnMut(&K, &K) -> bool) -> (Vec<K>, Vec<Problem>) {
        let Scenarios { first, mut jobs, pending } = self;
        let mut problems = Vec::new();
        let mut kept = Vec::with_capacity(jobs.len());
        for (i, p) in pending.into_iter().enumerate() {
            let (before, after) = p.problems.map(|b| (b.before, b.after)).unwrap_or_default();
            problems.extend(before);
            let Some(head) = p.head else { continue };
            let run = Fields { index: first + i, problems: &mut problems }.run_time(&head, scheduler);
            if let Some((schema, run_s)) = run {
                jobs[kept.len()].set_run_time(schema, run_s);
                problems.extend(after);
            }
            kept.push(run.is_some());
        }
        let mut kept = kept.into_iter();
        jobs.retain(|_| kept.next() == Some(true));
        one_of_each(&mut jobs, &mut problems, same);
        jobs.shrink_to_fit();
        (jobs, problems)
    }
}

impl<'de, K: Keep> Want<'de> for Scenarios<K> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut read = Scenarios::default();
        while let Some(s) = seq.next_element::<Shape<Scenario<'de>>>()? {
            read.push(s);
        }
        Ok(Some(read))
    }
}

/// Keeps the first of the jobs with one identity (see [`identity`]): a job written twice is read
/// once, with a notice; a later one with the same identity but other content is reported and
/// left out, not silently dropped.
fn one_of_each<K: Keep>(
    jobs: &mut Vec<K>,
    problems: &mut Vec<Problem>,
    mut same: impl FnMut(&K, &K) -> bool,
) {
    let mut first: std::collections::HashMap<u64, usize> =
        std::collections::HashMap::with_capacity(jobs.len());
    let mut keep = vec![true; jobs.len()];
    for k in 0..jobs.len() {
        let Some(&j) = first.get(&jobs[k].id()) else {
            first.insert(jobs[k].id(), k);
            continue;
        };
        keep[k] = false;
        let (earlier, later) = (&jobs[j], &jobs[k]);
        let (message, severity) = if same(earlier, later) {
            (format!("the same job as scenarios[{}]; read once", earlier.index()), Severity::Notice)
        } else {
            (
                format!(
                    "the same identity as scenarios[{}] (name, start, end, duration, bitrate and encoder) but other content; only the first is read",
                    earlier.index()
                ),
                Severity::JobDropped,
            )
        };
        problems.push(Problem { field: format!("scenarios[{}]", later.index()), message, severity });
    }
    let mut keep = keep.into_iter();
    jobs.retain(|_| keep.next() == Some(true));
}

/// Whether a `test_metadata` object's `source` is the string `scheduler` (in any case).
pub(super) struct SchedulerSource(bool);

impl<'de> Want<'de> for SchedulerSource {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut scheduler = false;
        while let Some(key) = map.next_key_seed(KeyIn(&["source"]))? {
            if key.is_some() {
                let source: Json<'de> = map.next_value()?;
                scheduler = source.as_str().is_some_and(|s| s.eq_ignore_ascii_case("scheduler"));
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(Some(SchedulerSource(scheduler)))
    }
}

/// The keys of a scenario that the reader looks at. The values of any others are skipped as read.
pub(super) const SCENARIO_KEYS: [&str; 21] = [
    "name",
    "start_time",
    "end_time",
    "duration",
    "fps",
    "avg_fps",
    "outputs",
    "power_watts",
    "cpu_usage_cores",
    "step_seconds",
    "encoder",
    "encoder_type",
    "preset",
    "bitrate",
    "resolution",
    "vmaf_score",
    "psnr_score",
    "ssim_score",
    "total_frames",
    "dropped_frames",
    "pixels_processed",
];

/// One scenario object: the value of each of [`SCENARIO_KEYS`] (the last, if a key is repeated).
pub(super) struct Scenario<'de> {
    pub(super) values: [Option<Json<'de>>; SCENARIO_KEYS.len()],
    /// Keys read more than once (JSON allows it; the last value is the one read).
    repeated: Vec<&'static str>,
}

impl Default for Scenario<'_> {
    fn default() -> Self {
        Scenario { values: [const { None }; SCENARIO_KEYS.len()], repeated: Vec::new() }
    }
}

impl<'de> Scenario<'de> {
    fn slot(key: &str) -> Option<usize> {
        let slot = SCENARIO_KEYS.iter().position(|k| *k == key);
        debug_assert!(slot.is_some(), "{key} is not in SCENARIO_KEYS");
        slot
    }

    fn get(&self, key: &str) -> Option<&Json<'de>> {
        Self::slot(key).and_then(|i| self.values[i].as_ref())
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Json<'de>> {
        Self::slot(key).and_then(|i| self.values[i].as_mut())
    }

    fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl<'de> Want<'de> for Scenario<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut s = Scenario::default();
        while let Some(key) = map.next_key_seed(KeyIn(&SCENARIO_KEYS))? {
            match key {
                Some(i) => {
                    if s.values[i].replace(map.next_value()?).is_some()
                        && !s.repeated.contains(&SCENARIO_KEYS[i])
                    {
                        s.repeated.push(SCENARIO_KEYS[i]);
                    }
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(s))
    }
}

/// Field reader for scenario `index`: each accessor records its own problems.
pub(super) struct Fields<'a> {
    index: usize,
    problems: &'a mut Vec<Problem>,
}

impl Fields<'_> {
    fn field(&self, key: &str) -> String {
        if key.is_empty() {
            format!("scenarios[{}]", self.index)
        } else {
            format!("scenarios[{}].{key}", self.index)
        }
    }

    fn push(&mut self, key: &str, message: String, severity: Severity) {
        self.problems.push(Problem { field: self.field(key), message, severity });
    }

    fn note(&mut self, key: &str, message: String) {
        self.push(key, message, Severity::FieldLeftOut);
    }

    fn drop_job(&mut self, key: &str, message: String) {
        self.push(key, message, Severity::JobDropped);
    }

    /// A finite number, or `None` when missing or null. Wrong types are noted and give `None`.
    fn num(&mut self, o: &Scenario<'_>, key: &str) -> Option<f64> {
        match o.get(key) {
            None | Some(Json::Null) => None,
            Some(Json::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() => Some(x),
                _ => {
                    self.note(key, format!("number {n} is out of range"));
                    None
                }
            },
            Some(v) => {
                self.note(key, format!("expected a number, got {}", describe(v)));
                None
            }
        }
    }

    /// Like [`Fields::num`], but also requires `lo <= x <= hi`.
    fn num_in(&mut self, o: &Scenario<'_>, key: &str, lo: f64, hi: f64) -> Option<f64> {
        let x = self.num(o, key)?;
        if (lo..=hi).contains(&x) {
            Some(x)
        } else {
            self.note(key, format!("{x} is outside [{lo}, {hi}]; left out"));
            None
        }
    }

    fn string(&mut self, o: &Scenario<'_>, key: &str) -> Option<String> {
        match o.get(key) {
            None | Some(Json::Null) => None,
            Some(Json::Str(s)) if s.trim().is_empty() => None,
            Some(Json::Str(s)) => Some(s.to_string()),
            Some(v) => {
                self.note(key, format!("expected a string, got {}", describe(v)));
                None
            }
        }
    }

    /// A list of finite numbers ≥ 0. Any bad element leaves the whole list out (half a power
    /// trace integrates to a wrong energy).
    fn samples(&mut self, o: &mut Scenario<'_>, key: &str, max: f64) -> Vec<f64> {
        match o.get_mut(key) {
            None | Some(Json::Null) => Vec::new(),
            // The common case: moved out of the tree, not copied.
            Some(Json::Nums(n)) => match n.values.iter().position(|x| !(0.0..=max).contains(x)) {
                None => std::mem::take(&mut n.values),
                Some(j) => {
                    self.note(
                        &format!("{key}[{j}]"),
                        format!(
                            "expected a number in [0, {max}], got {}; the whole {key} list is left out",
                            describe(&n.get(j))
                        ),
                    );
                    Vec::new()
                }
            },
            Some(Json::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for (j, v) in a.iter().enumerate() {
                    match v.as_f64() {
                        Some(x) if (0.0..=max).contains(&x) => out.push(x),
                        _ => {
                            self.note(
                                &format!("{key}[{j}]"),
                                format!(
                                    "expected a number in [0, {max}], got {}; the whole {key} list is left out",
                                    describe(v)
                                ),
                            );
                            return Vec::new();
                        }
                    }
                }
                out
            }
            Some(v) => {
                self.note(key, format!("expected a list of numbers, got {}", kind(v)));
                Vec::new()
            }
        }
    }

    /// The name and what the schema and run time are worked out from; `None`: the job is dropped.
    fn head(&mut self, o: &Scenario<'_>) -> Option<(String, Head)> {
        let name = match o.get("name") {
            Some(Json::Str(s)) if !s.trim().is_empty() => s.to_string(),
            Some(Json::Str(_)) => {
                self.drop_job("name", "is empty".into());
                return None;
            }
            None | Some(Json::Null) => {
                self.drop_job("name", "missing".into());
                return None;
            }
            Some(v) => {
                self.drop_job("name", format!("expected a string, got {}", kind(v)));
                return None;
            }
        };
        let start = self.num(o, "start_time");
        let end = self.num(o, "end_time");
        let duration = self.num(o, "duration");
        let Some(end) = end else {
            self.drop_job("end_time", "missing or not a number: a job needs its end time".into());
            return None;
        };
        if !(end > 0.0 && end <= MAX_EPOCH_S) {
            self.drop_job("end_time", format!("{end} is not a Unix time in seconds"));
            return None;
        }
        if let Some(d) = duration {
            if d < 0.0 {
                self.drop_job("duration", format!("negative ({d})"));
                return None;
            }
        }
        // Benchmark entries (with `fps` or `outputs`) measure their run as end − start even when it
        // overran the planned `duration`; only other entries can carry a queue time.
        let benchmark_shaped = o.contains_key("fps") || o.contains_key("outputs");
        let queue_gap =
            !benchmark_shaped && matches!((start, duration), (Some(s), Some(d)) if end - s > d + QUEUE_GAP_S);
        let telemetry_keys = ["power_watts", "cpu_usage_cores", "step_seconds", "encoder_type"]
            .iter()
            .any(|k| o.contains_key(k));
        Some((name, Head { start, end, duration, queue_gap, telemetry_keys }))
    }

    /// The schema and run time, once it is known whether the file is the scheduler's; `None`:
    /// the job is dropped.
    fn run_time(&mut self, head: &Head, scheduler_file: bool) -> Option<(Schema, f64)> {
        let Head { start, end, duration, queue_gap, telemetry_keys } = *head;
        let schema = if scheduler_file || queue_gap {
            Schema::Scheduler
        } else if telemetry_keys {
            Schema::Telemetry
        } else {
            Schema::Benchmark
        };
        let window = start.map(|s| end - s);
        let run_s = match schema {
            Schema::Scheduler => duration,
            Schema::Benchmark => window.or(duration),
            Schema::Telemetry => duration.or(window),
        };
        let Some(run_s) = run_s else {
            self.drop_job("duration", "missing, and no start_time to measure the run from".into());
            return None;
        };
        if run_s < 0.0 {
            self.drop_job("end_time", format!("before start_time (run time {run_s} s)"));
            return None;
        }
        // Nothing ran: pushing it would put zeros in every per-job series.
        if run_s == 0.0 {
            let field =
                if duration == Some(0.0) && schema != Schema::Benchmark { "duration" } else { "end_time" };
            self.drop_job(field, "run time is 0 s: nothing ran".into());
            return None;
        }
        if run_s > MAX_RUN_S {
            let field = if schema == Schema::Benchmark && window.is_some() { "end_time" } else { "duration" };
            self.drop_job(field, format!("run time {run_s} s is more than {MAX_RUN_S} s (31 days)"));
            return None;
        }
        if schema == Schema::Benchmark && window.is_none() {
            self.push(
                "start_time",
                "missing: run time taken from the planned duration".into(),
                Severity::Notice,
            );
        }
        Some((schema, run_s))
    }

    /// The rest of the job: all but `schema` and `run_s`, which [`Fields::run_time`] works out.
    fn rest(&mut self, index: usize, o: &mut Scenario<'_>, name: String, end_s: f64) -> Job {
        let encoder = self.string(o, "encoder").or_else(|| self.string(o, "encoder_type"));
        let preset = self.string(o, "preset");
        let bitrate = self.string(o, "bitrate");
        let bitrate_kbps = match &bitrate {
            Some(b) => {
                let k = parse_kbps(b);
                if k.is_none() {
                    self.push(
                        "bitrate",
                        format!("{b:?} is not a bitrate like \"2500k\" (kept as a label only)"),
                        Severity::Notice,
                    );
                }
                k
            }
            None => None,
        };
        let resolution = match self.string(o, "resolution") {
            Some(r) => match parse_resolution(&r) {
                Ok(wh) => wh,
                Err(BadResolution) => {
                    self.note("resolution", format!("{r:?} is not WIDTHxHEIGHT"));
                    None
                }
            },
            None => None,
        };
        let fps = match self.num_in(o, "fps", 0.0, 1000.0) {
            Some(f) if f > 0.0 => Some(f),
            _ => self.num_in(o, "avg_fps", 0.0, 1000.0).filter(|f| *f > 0.0),
        };
        let outputs = self.outputs(o);
        let power_watts = self.samples(o, "power_watts", MAX_WATTS);
        let cpu_cores = self.samples(o, "cpu_usage_cores", MAX_CORES);
        let step_s = match self.num(o, "step_seconds") {
            Some(s) if s > 0.0 => Some(s),
            Some(s) => {
                self.note("step_seconds", format!("must be > 0, got {s}"));
                None
            }
            None => None,
        };
        // Zero means "not measured" in the telemetry writer (its baseline rows), not a score.
        let vmaf = self.num_in(o, "vmaf_score", 0.0, 100.0).filter(|v| *v > 0.0);
        let psnr_db = self.num_in(o, "psnr_score", 0.0, 1000.0).filter(|v| *v > 0.0);
        let ssim = self.num_in(o, "ssim_score", 0.0, 1.0).filter(|v| *v > 0.0);
        let total_frames = self.num_in(o, "total_frames", 0.0, f64::MAX);
        let mut dropped_frames = self.num_in(o, "dropped_frames", 0.0, f64::MAX);
        if let (Some(d), Some(t)) = (dropped_frames, total_frames) {
            if d > t {
                self.note("dropped_frames", format!("{d} is more than total_frames {t}; left out"));
                dropped_frames = None;
            }
        }
        let pixels_processed = self.num_in(o, "pixels_processed", 0.0, f64::MAX);

        let id = identity(o, &name, encoder.as_deref());
        Job {
            id,
            index,
            schema: Schema::Benchmark,
            scenario: name,
            encoder,
            preset,
            bitrate,
            bitrate_kbps,
            resolution,
            fps,
            outputs,
            end_s,
            run_s: 0.0,
            power_watts,
            cpu_cores,
            step_s,
            vmaf,
            psnr_db,
            ssim,
            total_frames,
            dropped_frames,
            pixels_processed,
        }
    }

    fn outputs(&mut self, o: &Scenario<'_>) -> Vec<Rendition> {
        let list = match o.get("outputs") {
            None | Some(Json::Null) => return Vec::new(),
            Some(Json::Array(a)) => a,
            // Numbers are not renditions: the first one fails the ladder, as below.
            Some(Json::Nums(n)) if n.values.is_empty() => return Vec::new(),
            Some(Json::Nums(_)) => {
                self.note("outputs[0]", LADDER.into());
                return Vec::new();
            }
            Some(v) => {
                self.note("outputs", format!("expected a list, got {}", kind(v)));
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(list.len());
        for (j, r) in list.iter().enumerate() {
            let res = r.get("resolution").and_then(Json::as_str).map(parse_resolution);
            let fps = r.get("fps").and_then(Json::as_f64).filter(|f| f.is_finite() && *f > 0.0);
            match res {
                Some(Ok(Some((width, height)))) => out.push(Rendition { width, height, fps }),
                _ => {
                    self.note(&format!("outputs[{j}]"), LADDER.into());
                    return Vec::new();
                }
            }
        }
        out
    }
}

/// The problem with a bad element of `outputs`.
pub(super) const LADDER: &str = "expected {\"resolution\": \"WxH\", \"fps\": n}; the ladder is left out";

pub(super) fn identity(o: &Scenario<'_>, name: &str, encoder: Option<&str>) -> u64 {
    let mut key = String::with_capacity(128);
    key.push_str(name);
    for k in ["start_time", "end_time", "duration"] {
        key.push('\u{1f}');
        if let Some(x) = o.get(k).and_then(Json::as_f64) {
            key.push_str(&format!("{:x}", x.to_bits()));
        }
    }
    key.push('\u{1f}');
    key.push_str(o.get("bitrate").and_then(Json::as_str).unwrap_or(""));
    key.push('\u{1f}');
    key.push_str(encoder.unwrap_or(""));
    crate::util::hash::fnv1a(key.as_bytes())
}
