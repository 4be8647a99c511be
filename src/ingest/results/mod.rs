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
//! the file once, straight into a small tree that borrows its strings from the bytes ([`Json`]),
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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Number;

use crate::domain::{Job, Rendition, Schema};

/// What a problem cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
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
    pub field: String,
    pub message: String,
    pub severity: Severity,
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
pub const MAX_RUN_S: f64 = 31.0 * 86_400.0;
/// Largest power sample accepted, in watts (1 MW: far above any one host).
pub const MAX_WATTS: f64 = 1e6;
/// Largest CPU sample accepted, in cores.
pub const MAX_CORES: f64 = 1e5;

pub fn parse(bytes: &[u8]) -> Result<Parsed, FileError> {
    // JSON has no bare NaN or Infinity outside strings, so on a file that reads as JSON,
    // `replace_non_finite` changes nothing: only a file that does not read is scanned for them
    // (a byte-by-byte pass over the whole file, which took over a third of the time), then read
    // again.
    let replaced;
    let root: Shape<Root> = match serde_json::from_slice(bytes) {
        Ok(root) => root,
        Err(e) => {
            replaced = replace_non_finite(bytes);
            let Cow::Owned(replaced) = &replaced else { return Err(file_error(&e)) };
            serde_json::from_slice(replaced).map_err(|e| file_error(&e))?
        }
    };
    let root = match root {
        Shape::Wanted(root) => root,
        Shape::Other(kind) => {
            return Err(FileError::Malformed(format!("top level: expected an object, got {kind}")))
        }
    };
    let Scenarios { mut jobs, pending } = match root.scenarios {
        Some(Shape::Wanted(a)) => a,
        Some(Shape::Other(kind)) => {
            return Err(FileError::Malformed(format!("scenarios: expected a list, got {kind}")))
        }
        None => return Err(FileError::Malformed("scenarios: missing".into())),
    };

    // Now that `test_metadata` is known: each job's schema and run time, and the problems in
    // the order the fields are read.
    let mut problems = Vec::new();
    let mut kept = Vec::with_capacity(jobs.len());
    for p in pending {
        problems.extend(p.before);
        let Some(head) = p.head else { continue };
        let run = Fields { index: p.index, problems: &mut problems }.run_time(&head, root.scheduler);
        if let Some((schema, run_s)) = run {
            let job = &mut jobs[kept.len()];
            (job.schema, job.run_s) = (schema, run_s);
            problems.extend(p.after);
        }
        kept.push(run.is_some());
    }
    let mut kept = kept.into_iter();
    jobs.retain(|_| kept.next() == Some(true));
    jobs.shrink_to_fit();
    Ok(Parsed { jobs, problems })
}

fn file_error(e: &serde_json::Error) -> FileError {
    if e.classify() == serde_json::error::Category::Eof {
        FileError::Incomplete(e.to_string())
    } else {
        FileError::Malformed(e.to_string())
    }
}

/// A JSON value as read from a file, borrowing its strings from the file's bytes when they have
/// no escapes. It reads, compares and renders (see [`describe`]) as `serde_json::Value` would.
#[derive(Debug)]
enum Json<'de> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'de, str>),
    /// A list whose elements are all numbers (power and CPU samples): 8 bytes an element.
    Nums(Box<Nums>),
    /// Any other list.
    Array(Vec<Json<'de>>),
    /// Entries in file order, repeated keys included: lookups take the last, as `serde_json::Map`
    /// does.
    Object(Vec<(Cow<'de, str>, Json<'de>)>),
}

fn kind(v: &Json<'_>) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::Str(_) => "a string",
        Json::Nums(_) | Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

impl<'de> Json<'de> {
    fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in an object (the last, if repeated); `None` for anything else.
    fn get(&self, key: &str) -> Option<&Json<'de>> {
        match self {
            Json::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The elements of an all-number list, as `as_f64` reads them, and which of them were written as
/// integers, so that a message renders `2` and `2.0` as written. An integer beyond ±2^53, which an
/// f64 cannot hold exactly, puts its list in the general [`Json::Array`] form instead.
#[derive(Debug, Default)]
struct Nums {
    values: Vec<f64>,
    /// Bit `j % 64` of word `j / 64` is set when element `j` is an integer. Empty until one is.
    ints: Vec<u64>,
}

impl Nums {
    const EXACT: u64 = 1 << 53;

    /// Appends `n`, or returns false if it cannot be held exactly.
    fn push(&mut self, n: &Number) -> bool {
        // Traces run to hundreds of samples: fewer regrowths (the list is trimmed when read).
        if self.values.capacity() == 0 {
            self.values.reserve(64);
        }
        let x = if let Some(u) = n.as_u64() {
            if u > Self::EXACT {
                return false;
            }
            u as f64
        } else if let Some(i) = n.as_i64() {
            if i.unsigned_abs() > Self::EXACT {
                return false;
            }
            i as f64
        } else {
            let Some(x) = n.as_f64() else { return false };
            self.values.push(x);
            return true;
        };
        let (word, bit) = (self.values.len() / 64, self.values.len() % 64);
        if self.ints.len() <= word {
            self.ints.resize(word + 1, 0);
        }
        self.ints[word] |= 1 << bit;
        self.values.push(x);
        true
    }

    /// Element `j` as the number it was read from.
    fn get<'a>(&self, j: usize) -> Json<'a> {
        let x = self.values[j];
        if self.ints.get(j / 64).is_some_and(|w| w >> (j % 64) & 1 == 1) {
            Json::Number(if x < 0.0 { Number::from(x as i64) } else { Number::from(x as u64) })
        } else {
            Number::from_f64(x).map_or(Json::Null, Json::Number)
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// Builds a [`Json`] the way `serde_json::Value`'s visitor builds a `Value`.
struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut nums = Nums::default();
        while let Some(elem) = seq.next_element_seed(ElemSeed(&mut nums))? {
            let Elem::Other(v) = elem else { continue };
            // Not all numbers: the general form, with the numbers read so far in their places.
            let mut all: Vec<Json<'de>> = (0..nums.values.len()).map(|j| nums.get(j)).collect();
            all.push(v);
            while let Some(v) = seq.next_element()? {
                all.push(v);
            }
            return Ok(Json::Array(all));
        }
        nums.values.shrink_to_fit();
        nums.ints.shrink_to_fit();
        Ok(Json::Nums(Box::new(nums)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut entries = Vec::new();
        while let Some(Text(key)) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Json::Object(entries))
    }
}

/// A list element as [`ElemSeed`] reads it.
enum Elem<'de> {
    /// A number, appended to the [`Nums`].
    Pushed,
    /// Anything else, which the [`Nums`] cannot hold.
    Other(Json<'de>),
}

/// Reads a list element straight into a [`Nums`] when it can (the common case), without making
/// a [`Json`] of it.
struct ElemSeed<'a>(&'a mut Nums);

impl<'de> DeserializeSeed<'de> for ElemSeed<'_> {
    type Value = Elem<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Elem<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl ElemSeed<'_> {
    fn number<'de, E>(self, n: Number) -> Result<Elem<'de>, E> {
        Ok(if self.0.push(&n) { Elem::Pushed } else { Elem::Other(Json::Number(n)) })
    }
}

impl<'de> Visitor<'de> for ElemSeed<'_> {
    type Value = Elem<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_i64<E>(self, v: i64) -> Result<Elem<'de>, E> {
        self.number(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Elem<'de>, E> {
        self.number(v.into())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Elem<'de>, E> {
        match JsonVisitor.visit_f64(v)? {
            Json::Number(n) => self.number(n),
            other => Ok(Elem::Other(other)),
        }
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Elem<'de>, E> {
        JsonVisitor.visit_bool(v).map(Elem::Other)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Elem<'de>, E> {
        JsonVisitor.visit_borrowed_str(v).map(Elem::Other)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Elem<'de>, E> {
        JsonVisitor.visit_str(v).map(Elem::Other)
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Elem<'de>, E> {
        JsonVisitor.visit_string(v).map(Elem::Other)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Elem<'de>, E> {
        JsonVisitor.visit_unit().map(Elem::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Elem<'de>, A::Error> {
        JsonVisitor.visit_seq(seq).map(Elem::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Elem<'de>, A::Error> {
        JsonVisitor.visit_map(map).map(Elem::Other)
    }
}

/// An object key, borrowed when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// Renders as `serde_json::Value` does, for [`describe`].
impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::Str(t) => s.serialize_str(t),
            Json::Nums(n) => s.collect_seq((0..n.values.len()).map(|j| n.get(j))),
            Json::Array(a) => s.collect_seq(a),
            Json::Object(entries) => {
                // serde_json's Map is a BTreeMap: keys sorted, the last of a repeated key kept.
                let mut map = BTreeMap::new();
                for (k, v) in entries {
                    map.insert(&**k, v);
                }
                s.collect_map(map)
            }
        }
    }
}

/// A value of which the reader wants one shape, an object or a list (see [`Want`]): that, or the
/// kind of anything else.
enum Shape<T> {
    Wanted(T),
    Other(&'static str),
}

/// How to read the wanted shape of a [`Shape`]. Whatever is not wanted is skipped as read.
///
/// Every value goes through `deserialize_any`, as for a `serde_json::Value`, so that serde_json
/// checks it just the same (number range, escapes, nesting depth) and fails a file with the same
/// error. `serde::de::IgnoredAny` would not: serde_json skips it with a looser scan that, for
/// one, lets `1e400` through.
trait Want<'de>: Sized {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(None)
    }

    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(None)
    }
}

/// Wants nothing: reads a value only to check it and to say what kind it was.
struct Nothing;

impl Want<'_> for Nothing {}

type Skip = Shape<Nothing>;

impl<'de, T: Want<'de>> Deserialize<'de> for Shape<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor(PhantomData))
    }
}

struct ShapeVisitor<T>(PhantomData<T>);

impl<'de, T: Want<'de>> Visitor<'de> for ShapeVisitor<T> {
    type Value = Shape<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Shape<T>, E> {
        Ok(Shape::Other(kind(&Json::Bool(v))))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Shape<T>, E> {
        Ok(Shape::Other(kind(&JsonVisitor.visit_i64::<E>(v)?)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Shape<T>, E> {
        Ok(Shape::Other(kind(&JsonVisitor.visit_u64::<E>(v)?)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Shape<T>, E> {
        Ok(Shape::Other(kind(&JsonVisitor.visit_f64::<E>(v)?)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Shape<T>, E> {
        Ok(Shape::Other(kind(&Json::Str(Cow::Borrowed(v)))))
    }

    fn visit_unit<E>(self) -> Result<Shape<T>, E> {
        Ok(Shape::Other(kind(&Json::Null)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape<T>, A::Error> {
        Ok(T::from_seq(seq)?.map_or(Shape::Other(kind(&Json::Array(Vec::new()))), Shape::Wanted))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape<T>, A::Error> {
        Ok(T::from_map(map)?.map_or(Shape::Other(kind(&Json::Object(Vec::new()))), Shape::Wanted))
    }
}

/// Reads an object key as its position in a list of wanted keys (`None`: not wanted), without
/// keeping it.
struct KeyIn(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyIn {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for KeyIn {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == v))
    }
}

/// What the reader uses of the top level: the last `scenarios`, and whether the last
/// `test_metadata` has `"source": "scheduler"`.
struct Root {
    scenarios: Option<Shape<Scenarios>>,
    scheduler: bool,
}

impl<'de> Want<'de> for Root {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut root = Root { scenarios: None, scheduler: false };
        while let Some(key) = map.next_key_seed(KeyIn(&["scenarios", "test_metadata"]))? {
            match key {
                Some(0) => root.scenarios = Some(map.next_value()?),
                Some(_) => root.scheduler = matches!(map.next_value()?, Shape::Wanted(SchedulerSource(true))),
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(root))
    }
}

/// The `scenarios` list, read as it goes: each scenario's tree is dropped as soon as it is read
/// into its job, all but the schema and run time, which depend on the file's `test_metadata`, and
/// that may come after the list (`json.dump(..., sort_keys=True)` puts it there).
struct Scenarios {
    /// One for each `Some` [`Pending::head`], in order.
    jobs: Vec<Job>,
    pending: Vec<Pending>,
}

/// What is left to do for one scenario once the file's `test_metadata` is known.
struct Pending {
    index: usize,
    /// Problems found before the schema matters.
    before: Vec<Problem>,
    /// `None`: the scenario was dropped before its schema mattered.
    head: Option<Head>,
    /// Problems with the fields read after the run time: reported only if the job is kept.
    after: Vec<Problem>,
}

/// What a scenario's schema and run time are worked out from.
struct Head {
    start: Option<f64>,
    end: f64,
    duration: Option<f64>,
    /// Has a queue time (see the module doc).
    queue_gap: bool,
    /// Has a field only the telemetry writer writes.
    telemetry_keys: bool,
}

impl<'de> Want<'de> for Scenarios {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut read = Scenarios { jobs: Vec::new(), pending: Vec::new() };
        while let Some(s) = seq.next_element::<Shape<Scenario<'de>>>()? {
            let index = read.pending.len();
            let mut p = Pending { index, before: Vec::new(), head: None, after: Vec::new() };
            match s {
                Shape::Wanted(mut o) => {
                    if let Some((name, head)) = (Fields { index, problems: &mut p.before }).head(&o) {
                        let mut f = Fields { index, problems: &mut p.after };
                        read.jobs.push(f.rest(index, &mut o, name, head.end));
                        p.head = Some(head);
                    }
                }
                Shape::Other(kind) => Fields { index, problems: &mut p.before }
                    .drop_job("", format!("expected an object, got {kind}")),
            }
            read.pending.push(p);
        }
        Ok(Some(read))
    }
}

/// Whether a `test_metadata` object's `source` is the string `scheduler` (in any case).
struct SchedulerSource(bool);

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
const SCENARIO_KEYS: [&str; 21] = [
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
struct Scenario<'de> {
    values: [Option<Json<'de>>; SCENARIO_KEYS.len()],
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
        let mut s = Scenario { values: [const { None }; SCENARIO_KEYS.len()] };
        while let Some(key) = map.next_key_seed(KeyIn(&SCENARIO_KEYS))? {
            match key {
                Some(i) => s.values[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(s))
    }
}

/// Field reader for scenario `index`: each accessor records its own problems.
struct Fields<'a> {
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
const LADDER: &str = "expected {\"resolution\": \"WxH\", \"fps\": n}; the ladder is left out";

/// A bad value for an error message: its kind and a short rendering.
fn describe(v: &Json<'_>) -> String {
    if let Some(lit) = v.as_str().and_then(|s| s.strip_prefix(NON_FINITE)) {
        return format!("{lit} (not a number JSON allows)");
    }
    // What `serde_json::Value::to_string` gives (see `impl Serialize for Json`).
    let s = serde_json::to_string(v).unwrap_or_default();
    let s = if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s };
    match v {
        Json::Null => "null".into(),
        _ => format!("{} {s}", kind(v)),
    }
}

/// Marks a bare `NaN` / `Infinity` / `-Infinity` that [`replace_non_finite`] turned into a string.
const NON_FINITE: &str = "\u{1}non-finite:";

/// Python's `json.dump` writes bare `NaN`, `Infinity` and `-Infinity`, which are not JSON. So
/// that one such value costs only its field (not the whole file), each is replaced, outside
/// strings, by a marked string that the field readers report by name.
fn replace_non_finite(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const LITERALS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(lit) = LITERALS.iter().find(|l| bytes[i..].starts_with(l)) {
            let o = out.get_or_insert_with(|| bytes[..i].to_vec());
            o.push(b'"');
            // The JSON escape of NON_FINITE's marker character.
            o.extend_from_slice(br"\u0001non-finite:");
            o.extend_from_slice(lit);
            o.push(b'"');
            i += lit.len();
            continue;
        }
        if let Some(o) = out.as_mut() {
            o.push(b);
        }
        i += 1;
    }
    match out {
        Some(o) => std::borrow::Cow::Owned(o),
        None => std::borrow::Cow::Borrowed(bytes),
    }
}

/// `"2500k"` → 2500, `"5M"` → 5000, `"800"` → 800 (kbps).
pub fn parse_kbps(s: &str) -> Option<f64> {
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
pub struct BadResolution;

pub fn parse_resolution(s: &str) -> Result<Option<(u32, u32)>, BadResolution> {
    let (w, h) = s.trim().split_once(['x', 'X']).ok_or(BadResolution)?;
    let w: u32 = w.trim().parse().map_err(|_| BadResolution)?;
    let h: u32 = h.trim().parse().map_err(|_| BadResolution)?;
    match (w, h) {
        (0, 0) => Ok(None),
        (0, _) | (_, 0) => Err(BadResolution),
        _ => Ok(Some((w, h))),
    }
}

fn identity(o: &Scenario<'_>, name: &str, encoder: Option<&str>) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            ("{\"scenarios\": [{\"name\": \"x\", \"end_time\": 1e400}]}", "out of range"),
        ] {
            match parse(text.as_bytes()) {
                Err(FileError::Malformed(m)) => assert!(m.contains(needle), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
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
    fn repeated_keys_keep_the_last_value() {
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
        assert_eq!(msgs, [r#"scenarios[0].psnr_score: expected a number, got an object {"a":2,"b":3}"#]);

        let p = parse(
            br#"{"scenarios": [{"name": "old", "duration": 1, "end_time": 1700000000}],
            "scenarios": [{"name": "new", "duration": 1, "end_time": 1700000000}]}"#,
        )
        .unwrap();
        assert_eq!(p.jobs.iter().map(|j| j.scenario.as_str()).collect::<Vec<_>>(), ["new"]);
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
        assert_eq!(extra.unwrap(), plain.unwrap());
        assert!(probs.is_empty(), "{probs:?}");
        // ... and still checked as JSON just as before: the file fails as a whole
        for text in [
            r#"{"scenarios": [{"name": "u", "extra": [1e400]}]}"#,
            r#"{"scenarios": [], "host": {"n": 1e400}}"#,
        ] {
            match parse(text.as_bytes()) {
                Err(FileError::Malformed(m)) => assert!(m.contains("out of range"), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
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
