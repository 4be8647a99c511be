//! Prometheus text exposition of a [`SeriesSet`], for `once --dry-run`.

use std::fmt::Write as _;

use super::series::SeriesSet;

impl SeriesSet {
    /// Prometheus text exposition, one line per sample, with millisecond timestamps; series in
    /// label order (for people reading a dry run).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut all = self.clone().into_series();
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        for s in all {
            let name = &s.labels.iter().find(|(k, _)| k == "__name__").expect("every series has a name").1;
            let mut head = name.clone();
            let rest: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if !rest.is_empty() {
                let _ = write!(head, "{{{}}}", rest.join(","));
            }
            for (t, v) in s.samples {
                let _ = writeln!(out, "{head} {v:?} {t}");
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
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
