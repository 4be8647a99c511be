//! Prometheus text exposition of a [`SeriesSet`], for `once --dry-run`.

use std::fmt::Write as _;

use super::series::SeriesSet;

impl SeriesSet {
    /// Prometheus text exposition, one line per sample, with millisecond timestamps.
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        self.clone().write_text(&mut out).expect("writing to memory");
        String::from_utf8(out).expect("the text is UTF-8")
    }

    /// The same text, written to `out` series by series, so that the whole text is never held;
    /// the series in output order (by metric name, then label set) and written straight from
    /// their keys.
    pub fn write_text(self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let (mut head, mut line) = (Vec::<u8>::new(), String::new());
        let mut result = Ok(());
        self.into_sorted().each(|labels, samples| {
            if result.is_err() {
                return;
            }
            head.clear();
            let labels: Vec<(&[u8], &[u8])> = labels.collect();
            let name = labels.iter().find(|(k, _)| *k == b"__name__").expect("every series has a name").1;
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
    }
}
