//! The borrowed JSON tree a scenario is read into: strings borrowed from the file's bytes when
//! they have no escapes, numeric lists as `f64`s. It reads, compares and renders as
//! `serde_json::Value` would (the equivalence test in `super` holds it to that), and only the
//! wanted parts of a file are kept: the rest is checked as JSON and skipped as read ([`Want`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Number;

/// A JSON value as read from a file, borrowing its strings from the file's bytes when they have
/// no escapes. It reads, compares and renders (see [`describe`]) as `serde_json::Value` would.
#[derive(Debug)]
pub(super) enum Json<'de> {
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

pub(super) fn kind(v: &Json<'_>) -> &'static str {
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
    pub(super) fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in an object (the last, if repeated); `None` for anything else.
    pub(super) fn get(&self, key: &str) -> Option<&Json<'de>> {
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
pub(super) struct Nums {
    pub(super) values: Vec<f64>,
    /// Bit `j % 64` of word `j / 64` is set when element `j` is an integer. Empty until one is.
    ints: Vec<u64>,
}

impl Nums {
    const EXACT: u64 = 1 << 53;

    /// Appends `n`, or returns false if it cannot be held exactly.
    pub(super) fn push(&mut self, n: &Number) -> bool {
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
    pub(super) fn get<'a>(&self, j: usize) -> Json<'a> {
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
pub(super) struct JsonVisitor;

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
pub(super) enum Elem<'de> {
    /// A number, appended to the [`Nums`].
    Pushed,
    /// Anything else, which the [`Nums`] cannot hold.
    Other(Json<'de>),
}

/// Reads a list element straight into a [`Nums`] when it can (the common case), without making
/// a [`Json`] of it.
pub(super) struct ElemSeed<'a>(&'a mut Nums);

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
pub(super) struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

pub(super) struct TextVisitor;

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
pub(super) enum Shape<T> {
    Wanted(T),
    Other(&'static str),
}

/// How to read the wanted shape of a [`Shape`]. Whatever is not wanted is skipped as read.
///
/// Every value goes through `deserialize_any`, as for a `serde_json::Value`, so that serde_json
/// checks it just the same (number range, escapes, nesting depth) and fails a file with the same
/// error. `serde::de::IgnoredAny` would not: serde_json skips it with a looser scan that, for
/// one, lets `1e400` through.
pub(super) trait Want<'de>: Sized {
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
pub(super) struct Nothing;

impl Want<'_> for Nothing {}

pub(super) type Skip = Shape<Nothing>;

impl<'de, T: Want<'de>> Deserialize<'de> for Shape<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor(PhantomData))
    }
}

pub(super) struct ShapeVisitor<T>(PhantomData<T>);

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
pub(super) struct KeyIn(pub(super) &'static [&'static str]);

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

/// A bad value for an error message: its kind and a short rendering.
pub(super) fn describe(v: &Json<'_>) -> String {
    if let Some(lit) = v.as_str().and_then(|s| s.strip_prefix(NON_FINITE)) {
        return if lit.starts_with(|c: char| c == '-' || c.is_ascii_digit()) && !lit.ends_with("Infinity") {
            format!("{lit} (out of a 64-bit float's range)")
        } else {
            format!("{lit} (not a number JSON allows)")
        };
    }
    // What `serde_json::Value::to_string` gives (see `impl Serialize for Json`).
    let s = serde_json::to_string(v).unwrap_or_default();
    let s = if s.chars().count() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s };
    match v {
        Json::Null => "null".into(),
        _ => format!("{} {s}", kind(v)),
    }
}

/// Marks a bare `NaN` / `Infinity` / `-Infinity`, or a number out of an f64's range, that
/// [`replace_non_finite`] turned into a string.
pub(super) const NON_FINITE: &str = "\u{1}non-finite:";

/// Python's `json.dump` writes bare `NaN`, `Infinity` and `-Infinity`, which are not JSON, and
/// serde_json refuses a number beyond an f64's range (`1e400`). So that one such value costs only
/// its field (not the whole file), each is replaced, outside strings, by a marked string that the
/// field readers report by name. Borrowed when nothing was replaced.
pub(super) fn replace_non_finite(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut state = NonFinite::default();
    let mut out = Vec::with_capacity(bytes.len() + 64);
    state.step(bytes, true, &mut out);
    if state.changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(bytes)
    }
}

/// Whether a reader of JSON that comes a block at a time is in a string: what it must follow to
/// tell the structure (and bare literals) from text.
#[derive(Debug, Default)]
pub(super) struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    pub(super) fn inside(&self) -> bool {
        self.inside
    }

    /// A string opens at a `"` met outside one.
    pub(super) fn open(&mut self) {
        self.inside = true;
    }

    /// Reads on in the string: how many bytes of `bytes` are the string's, up to and including
    /// its closing quote, and whether that quote came.
    pub(super) fn skip(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < bytes.len() {
            if self.escaped {
                self.escaped = false;
                i += 1;
                continue;
            }
            let Some(n) = memchr::memchr2(b'"', b'\\', &bytes[i..]) else { return (bytes.len(), false) };
            i += n + 1;
            if bytes[i - 1] == b'"' {
                self.inside = false;
                return (i, true);
            }
            self.escaped = true;
        }
        (i, false)
    }
}

/// `bytes` read as JSON or, if they do not read, read again with [`replace_non_finite`]'s
/// replacements (into `replaced`, which what is read may borrow from). JSON has no bare `NaN`
/// or `Infinity`, so bytes that read need no scan; the error is the first reading's when
/// nothing was replaced.
pub(super) fn from_slice_or_replaced<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    replaced: &'a mut Vec<u8>,
) -> Result<T, serde_json::Error> {
    match from_json(bytes) {
        Ok(v) => Ok(v),
        Err(e) => {
            let std::borrow::Cow::Owned(r) = replace_non_finite(bytes) else { return Err(e) };
            *replaced = r;
            let replaced: &'a [u8] = replaced;
            from_json(replaced)
        }
    }
}

/// `bytes` read as JSON: as text when they are UTF-8, checked once for the whole file (serde_json
/// reading bytes checks every string on its own, which costs more), else as bytes, for
/// serde_json's error naming the place. The same parser reads both, to the same values.
fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Where [`replace_non_finite`] stands in a file read a block at a time.
#[derive(Debug, Default)]
pub(super) struct NonFinite {
    strings: Strings,
    /// Bytes at the start of the next block known to be a number's (one that went on past the
    /// last block), so that a long number is scanned once, not once a block.
    number_so_far: usize,
    /// Something was replaced.
    pub(super) changed: bool,
}

impl NonFinite {
    /// Appends `bytes`, replaced, to `out` and returns how many it used: all of them at the end
    /// of the file (`end`), else all but a literal or number that may go on in the next block.
    pub(super) fn step(&mut self, bytes: &[u8], end: bool, out: &mut Vec<u8>) -> usize {
        const LITERALS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
        let mut i = 0;
        while i < bytes.len() {
            if self.strings.inside() {
                // A string is copied as it is.
                let (n, _) = self.strings.skip(&bytes[i..]);
                out.extend_from_slice(&bytes[i..i + n]);
                i += n;
                continue;
            }
            let b = bytes[i];
            match b {
                b'"' => self.strings.open(),
                b'N' | b'I' | b'-' => {
                    if let Some(lit) = LITERALS.iter().find(|l| bytes[i..].starts_with(l)) {
                        mark(out, lit);
                        self.changed = true;
                        i += lit.len();
                        continue;
                    }
                    if !end && LITERALS.iter().any(|l| l.starts_with(&bytes[i..])) {
                        return i;
                    }
                    if b == b'-' {
                        match self.number(&bytes[i..], end, out) {
                            Some(len) => {
                                i += len;
                                continue;
                            }
                            None => return i,
                        }
                    }
                }
                b'0'..=b'9' => match self.number(&bytes[i..], end, out) {
                    Some(len) => {
                        i += len;
                        continue;
                    }
                    None => return i,
                },
                _ => {}
            }
            out.push(b);
            i += 1;
        }
        bytes.len()
    }

    /// The number token `bytes` starts with, replaced if it overflows an f64; its length, or
    /// `None` when it may go on in the next block.
    fn number(&mut self, bytes: &[u8], end: bool, out: &mut Vec<u8>) -> Option<usize> {
        let from = std::mem::take(&mut self.number_so_far).min(bytes.len());
        let rest =
            bytes[from..].iter().position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
        let len = match rest {
            Some(n) => from + n,
            None if end => bytes.len(),
            None => {
                self.number_so_far = bytes.len();
                return None;
            }
        };
        let token = &bytes[..len];
        // Without an exponent, fewer than 309 digits stay below f64::MAX: only those are parsed.
        // Replaced only if serde_json refuses it too: near f64::MAX its rounding is not
        // `str::parse`'s, and a number it reads must read the same in every reader.
        let may_overflow = len > 308 || token.iter().any(|c| matches!(c, b'e' | b'E'));
        let overflows = may_overflow
            && std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_infinite)
            && serde_json::from_slice::<f64>(token).is_err();
        if overflows {
            mark(out, token);
            self.changed = true;
        } else {
            out.extend_from_slice(token);
        }
        Some(len)
    }
}

/// Appends `lit` as a string marked with [`NON_FINITE`].
fn mark(out: &mut Vec<u8>, lit: &[u8]) {
    out.push(b'"');
    // The JSON escape of NON_FINITE's marker character.
    out.extend_from_slice(br"\u0001non-finite:");
    out.extend_from_slice(lit);
    out.push(b'"');
}
