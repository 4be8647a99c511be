//! The house rules, checked on the source: imports between the folders of `src/` go the one way
//! `ARCHITECTURE.md` gives, no file's non-test part outgrows one idea (700 lines), every file has
//! a module doc, and every path and `module::name` that `ARCHITECTURE.md` names exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The lines of a file that are built outside tests: the `mod tests` block and every item under
/// `#[cfg(test)]` (a `use`, a `mod x;`, or a block to its closing brace) are left out.
fn non_test_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            let indent = lines[i].len() - lines[i].trim_start().len();
            let item = lines.get(i + 1).copied().unwrap_or_default();
            i += 2;
            if item.trim_end().ends_with('{') {
                let close = format!("{}}}", " ".repeat(indent));
                while i < lines.len() && lines[i] != close {
                    i += 1;
                }
                i += 1;
            }
            continue;
        }
        out.push(lines[i]);
        i += 1;
    }
    out
}

/// The folder of `src/` a file is in (`None` for `lib.rs` and `main.rs`).
fn folder_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(repo().join("src")).unwrap();
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_string_lossy().to_string();
    parts.next().map(|_| first)
}

#[test]
fn imports_between_folders_go_one_way() {
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("util", &[][..]),
        ("domain", &[][..]),
        ("stats", &["util"][..]),
        ("config", &["domain", "stats", "util"][..]),
        ("ingest", &["domain", "config", "util"][..]),
        ("compute", &["domain", "config", "stats", "util"][..]),
        ("samples", &["domain", "compute", "stats", "util"][..]),
        ("delivery", &["config", "util"][..]),
        ("agent", &["domain", "config", "util", "stats", "ingest", "compute", "samples", "delivery"][..]),
    ]);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bad = Vec::new();
    for file in rust_files(&repo().join("src")) {
        let Some(from) = folder_of(&file) else { continue };
        assert!(allowed.contains_key(from.as_str()), "{}: a folder the layers do not list", file.display());
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in non_test_lines(&text).iter().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for part in line.split("crate::").skip(1) {
                let to: String =
                    part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if to == from || !allowed.contains_key(to.as_str()) {
                    continue;
                }
                found.entry(from.clone()).or_default().insert(to.clone());
                if !allowed[from.as_str()].contains(&to.as_str()) {
                    bad.push(format!("{}:{}: {from} imports {to}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "imports against the layers of ARCHITECTURE.md:\n{}", bad.join("\n"));
    // The check sees the imports at all: the agent uses every stage.
    assert_eq!(found["agent"].len(), 8, "{found:?}");
}

#[test]
fn every_file_holds_one_idea_and_says_which() {
    let mut problems = Vec::new();
    for file in rust_files(&repo().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let n = non_test_lines(&text).len();
        if n > 700 {
            problems.push(format!("{}: {n} lines outside its tests (at most 700)", file.display()));
        }
        if !text.starts_with("//!") {
            problems.push(format!("{}: no module doc (`//!`) on its first line", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn architecture_names_only_what_exists() {
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let spans: Vec<&str> = doc.split('`').skip(1).step_by(2).collect();
    assert!(spans.len() > 50, "the document's code spans were found");
    // Every item name defined anywhere in src/.
    let mut defined = BTreeSet::new();
    for file in rust_files(&repo().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for kw in ["fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ", "mod "] {
            for part in text.split(kw).skip(1) {
                let name: String =
                    part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                defined.insert(name);
            }
        }
        defined.insert(file.file_stem().unwrap().to_string_lossy().to_string());
    }
    // Names from outside the crate that the document uses on purpose.
    const FOREIGN: [&str; 2] = ["Debug", "serde_json::Value"];
    let all_rs: Vec<PathBuf> = ["src", "tests", "benches", "examples"]
        .iter()
        .flat_map(|d| rust_files(&repo().join(d)))
        .chain([repo().join("build.rs")])
        .collect();
    let mut missing = Vec::new();
    for s in spans {
        let s = s.trim_end_matches("()");
        if FOREIGN.contains(&s) {
            continue;
        }
        let is_path = ["src/", "tests/", "benches/", "examples/", "scripts/", "docs/", "proto/"]
            .iter()
            .any(|p| s.starts_with(p));
        if is_path {
            if !repo().join(s.trim_end_matches('/')).exists() {
                missing.push(format!("path {s}"));
            }
        } else if s.contains("::")
            && s.split("::")
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            for seg in s.split("::") {
                if !defined.contains(seg) {
                    missing.push(format!("{s} ({seg})"));
                }
            }
        } else if s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && s.chars().any(|c| c.is_ascii_lowercase())
            && !defined.contains(s)
        {
            missing.push(format!("type {s}"));
        } else if s.ends_with(".rs") && !s.contains('/') {
            // A file named by itself (`json.rs`): it exists somewhere in the crate.
            if !all_rs.iter().any(|f| f.file_name().is_some_and(|n| n == s)) {
                missing.push(format!("file {s}"));
            }
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md names what the code does not have:\n{}", missing.join("\n"));
}
