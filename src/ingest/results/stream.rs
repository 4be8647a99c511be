//! A results file too large to hold, read as it streams. A first pass ([`index`]) reads the
//! whole file as [`super::parse`] does, with the same problems and the same file errors, but keeps
//! of each job only its identity, its end and the span of its scenario in the file ([`Entry`]).
//! Each job is then read again from its span when its chunk needs it ([`FileIndex::job`]). So a
//! file costs a few dozen bytes a job, not its size and its jobs' samples.
//!
//! No I/O here: the caller gives a reader of the whole file and a way to read one span of it.

use std::io::Read;
use std::ops::Range;

use super::json::{from_slice_or_replaced, NonFinite, Shape, Strings};
use super::schema::{same_job, Keep, Root, Scenario, Scenarios};
use super::{checked_root, lists_notice, FileError, Problem};
use crate::domain::{Job, Schema};

/// What the first pass over a file found: its jobs, in the file's order, and its problems.
#[derive(Debug)]
pub struct FileIndex {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
    /// The file is the scheduler's (its `test_metadata`), which decides each job's run time.
    scheduler: bool,
}

/// One job of an indexed file: enough to order it and to read it again. A large file holds
/// one for each of its jobs while they wait, so it is kept to 32 bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub end_s: f64,
    /// Where its scenario's bytes begin in the file (its `{`), and how many there are.
    start: u64,
    len: u32,
    /// Its place in the `scenarios` list.
    index: u32,
}

impl Entry {
    /// Where its scenario's bytes are in the file: from its `{` to its `}`.
    pub fn span(&self) -> Range<u64> {
        self.start..self.start + u64::from(self.len)
    }

    /// Its place in the `scenarios` list.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

impl Keep for Entry {
    fn keep(job: Job) -> Self {
        let index = u32::try_from(job.index)
            .expect("a file of at most 4 GiB (results.max_file_bytes) has fewer than 2^31 scenarios");
        Entry { id: job.id, end_s: job.end_s, start: 0, len: 0, index }
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn index(&self) -> usize {
        Entry::index(self)
    }

    fn set_run_time(&mut self, _: Schema, _: f64) {}
}

/// The first pass over a file: `file` reads it from its start; `read_span` reads the bytes of
/// one span of it (used only to compare two jobs that share an identity).
pub fn index(
    file: impl Read,
    mut read_span: impl FnMut(Range<u64>) -> std::io::Result<Vec<u8>>,
) -> Result<FileIndex, FileError> {
    let mut reader = Streamed::new(file);
    let root: Shape<Root<Entry>> = serde_json::from_reader(&mut reader).map_err(|e| match e.classify() {
        serde_json::error::Category::Io => FileError::Unreadable(e.to_string()),
        _ => super::file_error(&e),
    })?;
    let (scenarios, scheduler, lists) = checked_root(root)?;
    let spans = reader.spans.spans;
    if spans.len() != scenarios.len() {
        return Err(FileError::Malformed(format!(
            "the scenarios list could not be split into its {} entries (found {})",
            scenarios.len(),
            spans.len()
        )));
    }
    let (mut entries, mut problems) = scenarios.finish(scheduler, |a, b| {
        let mut job = |e: &Entry| {
            read_span(spans[e.index()].clone()).ok().and_then(|bytes| job_at(&bytes, e.index(), scheduler))
        };
        match (job(a), job(b)) {
            (Some(a), Some(b)) => same_job(&a, &b),
            _ => false,
        }
    });
    for e in &mut entries {
        let span = &spans[e.index()];
        e.start = span.start;
        e.len = u32::try_from(span.end - span.start)
            .map_err(|_| FileError::Malformed(format!("scenarios[{}] is larger than 4 GiB", e.index())))?;
    }
    lists_notice(lists, &mut problems);
    Ok(FileIndex { entries, problems, scheduler })
}

impl FileIndex {
    /// The job `entry` names, read from `bytes`, the bytes of its span now; `None` when they no
    /// longer hold that job (the file changed since it was indexed).
    pub fn job(&self, entry: &Entry, bytes: &[u8]) -> Option<Job> {
        job_at(bytes, entry.index(), self.scheduler).filter(|j| j.id == entry.id)
    }
}

/// Scenario `index` of a file, read on its own from its bytes.
fn job_at(bytes: &[u8], index: usize, scheduler: bool) -> Option<Job> {
    // As in `parse`: replaced only if it does not read as it is.
    let mut replaced = Vec::new();
    let scenario: Shape<Scenario<'_>> = from_slice_or_replaced(bytes, &mut replaced).ok()?;
    let mut one = Scenarios::<Job>::starting_at(index);
    one.push(scenario);
    one.finish(scheduler, same_job).0.pop()
}

/// Bytes read from the file at a time.
const BLOCK: usize = 64 * 1024;

/// The file's bytes as serde_json reads them, with non-finite numbers replaced
/// ([`NonFinite`]); [`Spans`] sees each byte as it comes from the file.
struct Streamed<R> {
    file: R,
    /// Bytes read from the file and not yet replaced, from `used` on.
    input: Vec<u8>,
    used: usize,
    end: bool,
    replace: NonFinite,
    /// Replaced bytes not yet handed to serde_json, from `out_at` on.
    out: Vec<u8>,
    out_at: usize,
    spans: Spans,
}

impl<R: Read> Streamed<R> {
    fn new(file: R) -> Self {
        Streamed {
            file,
            input: Vec::new(),
            used: 0,
            end: false,
            replace: NonFinite::default(),
            out: Vec::new(),
            out_at: 0,
            spans: Spans::default(),
        }
    }
}

impl<R: Read> Read for Streamed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_at == self.out.len() {
            if self.end && self.used == self.input.len() {
                return Ok(0);
            }
            self.out.clear();
            self.out_at = 0;
            self.input.drain(..self.used);
            self.used = 0;
            if !self.end {
                let old = self.input.len();
                self.input.resize(old + BLOCK, 0);
                let n = loop {
                    match self.file.read(&mut self.input[old..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.input.truncate(old);
                            return Err(e);
                        }
                    }
                };
                self.input.truncate(old + n);
                self.spans.feed(&self.input[old..]);
                self.end = n == 0;
            }
            self.used = self.replace.step(&self.input, self.end, &mut self.out);
        }
        let n = buf.len().min(self.out.len() - self.out_at);
        buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
        self.out_at += n;
        Ok(n)
    }
}

/// Where each element of the top level's last `scenarios` list lies in a file, fed its bytes in
/// order. It follows the JSON's structure only (strings, brackets, root keys) and leaves every
/// other check to the parse beside it, which refuses a file that is not JSON.
#[derive(Debug, Default)]
struct Spans {
    /// The offset of the next byte.
    at: u64,
    /// Open objects and lists: 1 inside the top-level object.
    depth: u32,
    strings: Strings,
    /// In the top-level object, a key comes next (after its `{` or a `,`).
    key_next: bool,
    /// The top-level key being read.
    key: Option<Key>,
    /// The last top-level key read was `scenarios`.
    scenarios_key: bool,
    /// Inside that key's list, whose elements are at depth 2.
    in_list: bool,
    /// Where the element being read began.
    open: Option<u64>,
    /// The elements of the last list found, in order; an element that is not an object gets an
    /// empty span (it holds no job).
    spans: Vec<Range<u64>>,
}

/// A top-level key as it is read, between its quotes.
#[derive(Debug)]
enum Key {
    Text(Vec<u8>),
    /// Longer than any spelling of `scenarios`.
    TooLong,
}

/// Longest spelling of `scenarios` as a key, every character escaped (`\u0073`…).
const LONGEST_KEY: usize = 9 * 6;

impl Spans {
    fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.strings.inside() {
                let (n, closed) = self.strings.skip(&bytes[i..]);
                self.key_text(&bytes[i..i + n - usize::from(closed)]);
                if closed {
                    if let Some(key) = self.key.take() {
                        self.scenarios_key = matches!(key, Key::Text(k) if is_scenarios(&k));
                    }
                }
                i += n;
                self.at += n as u64;
                continue;
            }
            if self.depth > 2 {
                // Inside an element only strings, objects and lists matter.
                let n = bytes[i..].iter().position(|b| matches!(b, b'"' | b'{' | b'}' | b'[' | b']'));
                let Some(n) = n else {
                    self.at += (bytes.len() - i) as u64;
                    return;
                };
                i += n;
                self.at += n as u64;
            }
            self.byte(bytes[i]);
            self.at += 1;
            i += 1;
        }
    }

    /// Text of the top-level key being read, if one is.
    fn key_text(&mut self, text: &[u8]) {
        if let Some(Key::Text(key)) = &mut self.key {
            if key.len() + text.len() <= LONGEST_KEY {
                key.extend_from_slice(text);
            } else {
                self.key = Some(Key::TooLong);
            }
        }
    }

    /// A byte outside strings.
    fn byte(&mut self, b: u8) {
        if self.in_list
            && self.depth == 2
            && self.open.is_none()
            && !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b']')
        {
            self.open = Some(self.at);
        }
        match b {
            b'"' => {
                self.strings.open();
                if self.depth == 1 && self.key_next {
                    self.key = Some(Key::Text(Vec::new()));
                    self.scenarios_key = false;
                }
            }
            b'{' | b'[' => {
                if self.depth == 1 && b == b'[' && !self.key_next && self.scenarios_key {
                    self.in_list = true;
                    self.spans.clear();
                }
                self.depth += 1;
                if self.depth == 1 {
                    self.key_next = true;
                }
            }
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.in_list && self.depth == 2 {
                    if let Some(open) = self.open.take() {
                        self.spans.push(open..self.at + 1);
                    }
                } else if self.in_list && self.depth == 1 {
                    self.close_scalar();
                    self.in_list = false;
                }
            }
            b',' => match self.depth {
                1 => self.key_next = true,
                2 if self.in_list => self.close_scalar(),
                _ => {}
            },
            b':' if self.depth == 1 => self.key_next = false,
            _ => {}
        }
    }

    /// An element that is not an object or a list ends (at a `,` or the list's `]`).
    fn close_scalar(&mut self) {
        if let Some(open) = self.open.take() {
            self.spans.push(open..open);
        }
    }
}

/// Whether a key's bytes (between its quotes) spell `scenarios`, escapes read.
fn is_scenarios(key: &[u8]) -> bool {
    if !key.contains(&b'\\') {
        return key == b"scenarios";
    }
    let mut quoted = Vec::with_capacity(key.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(key);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted).is_ok_and(|k| k == "scenarios")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(json: &str) -> Vec<&str> {
        let mut s = Spans::default();
        // Fed in small pieces, as blocks of a file arrive.
        for piece in json.as_bytes().chunks(3) {
            s.feed(piece);
        }
        s.spans.iter().map(|r| &json[r.start as usize..r.end as usize]).collect()
    }

    #[test]
    fn spans_are_the_elements_of_the_last_top_level_scenarios_list() {
        let json = r#"{"a": {"scenarios": [{"x": 1}]}, "scenarios": [{"n": "}]\"{"}, 5 , [1], {"o": {}}, "s"],
            "b": [{"c": 2}]}"#;
        assert_eq!(spans_of(json), vec![r#"{"n": "}]\"{"}"#, "", "[1]", r#"{"o": {}}"#, ""]);
        let twice = r#"{"scenarios": [{"first": 1}], "scen\u0061rios": [ {"second": 2} ,{}]}"#;
        assert_eq!(spans_of(twice), vec![r#"{"second": 2}"#, "{}"]);
        assert!(
            spans_of(r#"{"scenariosx": [{"a": 1}], "x": "scenarios", "y": ["scenarios", [{}]]}"#).is_empty()
        );
    }
}
