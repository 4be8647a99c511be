//! Prometheus text exposition of a [`SeriesSet`], for `once --dry-run`: each family's `# HELP` and
//! `# TYPE` (from `families`) before its first series, then one line per sample.

use std::fmt::Write as _;

use super::series::SeriesSet;

/// The families whose `# HELP` and `# TYPE` a text has written so far.
#[derive(Debug, Default)]
pub struct Declared(std::collections::BTreeSet<Vec<u8>>);

impl SeriesSet {
    /// Prometheus text exposition, one line per sample, with millisecond timestamps.
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        self.clone().write_text(&mut out, &mut Declared::default()).expect("writing to memory");
        String::from_utf8(out).expect("the text is UTF-8")
    }

    /// The same text, written to `out` series by series, so that the whole text is never held;
    /// the series in output order (by metric name, then label set) and written straight from
    /// their keys. A family's `# HELP` and `# TYPE` come before its first series, unless
    /// `declared` says an earlier part of the same text had them.
    pub fn write_text(self, out: &mut impl std::io::Write, declared: &mut Declared) -> std::io::Result<()> {
        let (mut head, mut line) = (Vec::<u8>::new(), String::new());
        let mut result = Ok(());
        self.into_sorted().each(|labels, samples| {
            if result.is_err() {
                return;
            }
            head.clear();
            let labels: Vec<(&[u8], &[u8])> = labels.collect();
            let name = labels.iter().find(|(k, _)| *k == b"__name__").expect("every series has a name").1;
            if !declared.0.contains(name) {
                declared.0.insert(name.to_vec());
                if let Some(f) = std::str::from_utf8(name).ok().and_then(super::families::family) {
                    let kind = if f.counter { "counter" } else { "gauge" };
                    line.clear();
                    // HELP escapes backslash and newline (the exposition format's rule).
                    let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
                    let _ = write!(line, "# HELP {} {help}\n# TYPE {} {kind}\n", f.name, f.name);
                    if let Err(e) = out.write_all(line.as_bytes()) {
                        result = Err(e);
                        return;
                    }
                }
            }
            head.extend_from_slice(name);
            let mut first = true;
            for (k, v) in labels.iter().filter(|(k, _)| *k != b"__name__") {
                head.push(if first { b'{' } else { b',' });
                first = false;
                head.extend_from_slice(k);
                head.extend_from_slice(b"=\"");
                for &c in *v {
                    match c {
                        b'\\' => head.extend_from_slice(b"\\\\"),
                        b'"' => head.extend_from_slice(b"\\\""),
                        b'\n' => head.extend_from_slice(b"\\n"),
                        c => head.push(c),
                    }
                }
                head.push(b'"');
            }
            if !first {
                head.push(b'}');
            }
            for (t, v) in samples {
                line.clear();
                let _ = writeln!(line, " {v:?} {t}");
                if let Err(e) = out.write_all(&head).and_then(|()| out.write_all(line.as_bytes())) {
                    result = Err(e);
                    return;
                }
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_exposition_escapes_and_stamps() {
        let mut s = SeriesSet::default();
        s.add("m", &[("scenario", "a \"b\"\\c\nd")], 1700000000000, 0.25);
        assert_eq!(s.to_text(), "m{scenario=\"a \\\"b\\\"\\\\c\\nd\"} 0.25 1700000000000\n");
        // A family of the contract is declared once, before its first series.
        let mut s = SeriesSet::default();
        s.add("costpush_jobs_total", &[("host", "a")], 1, 1.0);
        s.add("costpush_jobs_total", &[("host", "a")], 2, 2.0);
        s.add("costpush_jobs_total", &[("host", "b")], 1, 3.0);
        s.add("costpush_up", &[("host", "b")], 1, 1.0);
        let (mut out, mut declared) = (Vec::new(), Declared::default());
        s.clone().write_text(&mut out, &mut declared).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..2],
            ["# HELP costpush_jobs_total Jobs ingested.", "# TYPE costpush_jobs_total counter"]
        );
        assert_eq!(lines.len(), 8, "{text}");
        assert!(lines[2..5].iter().all(|l| l.starts_with("costpush_jobs_total{host=")), "{text}");
        assert_eq!(
            lines[5..],
            [
                "# HELP costpush_up 1 in every push.",
                "# TYPE costpush_up gauge",
                "costpush_up{host=\"b\"} 1.0 1"
            ]
        );
        let mut again = Vec::new();
        s.write_text(&mut again, &mut declared).unwrap();
        assert!(!String::from_utf8(again).unwrap().contains('#'), "not twice in one text");
    }
}
