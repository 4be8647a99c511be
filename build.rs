//! Compiles `proto/remote.proto` with protox (pure Rust), so no system `protoc` is needed; turns
//! the metric tables of `docs/metrics.md` into the catalogue of families (name, type, unit, help)
//! the dry-run text and the remote-write metadata carry; and sets `COSTPUSH_VERSION`, the version `--version` shows: the package version and, when built
//! from a git checkout, the commit (`COSTPUSH_GIT_COMMIT` in the environment takes precedence,
//! for builds from a source tarball).

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/remote.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;

    println!("cargo:rerun-if-changed=docs/metrics.md");
    let families = families(&std::fs::read_to_string("docs/metrics.md")?)?;
    std::fs::write(std::path::Path::new(&std::env::var("OUT_DIR")?).join("families.rs"), families)?;

    println!("cargo:rerun-if-env-changed=COSTPUSH_GIT_COMMIT");
    let commit = std::env::var("COSTPUSH_GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(git_commit);
    let version = env!("CARGO_PKG_VERSION");
    match commit {
        Some(c) => println!("cargo:rustc-env=COSTPUSH_VERSION={version} (git {c})"),
        None => println!("cargo:rustc-env=COSTPUSH_VERSION={version}"),
    }
    Ok(())
}

/// The checkout's commit, short; `None` outside a git checkout of this crate (a source tree
/// unpacked inside another repository is not that repository's commit) or without git. Rebuilt
/// when HEAD's reflog moves (every commit and checkout, loose or packed refs, worktrees too).
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(&here).ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Only paths that exist: one that does not would make cargo run this script on every build.
    for what in ["logs/HEAD", "HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", what]) {
            let path = std::path::Path::new(&here).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(commit)
}

/// The rows `| `name` | type | unit | labels | meaning |` of the metric tables, as a Rust array
/// sorted by name: `(name, is_counter, unit, help)`. The help is the meaning with its Markdown
/// backticks dropped; the unit is the table's when the name ends in it (the OpenMetrics rule),
/// else empty.
fn families(doc: &str) -> Result<String, String> {
    let mut rows = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `costpush_")) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").map(str::trim).collect();
        if cells.len() != 5 {
            return Err(format!("docs/metrics.md: a metric row without five cells: {line}"));
        }
        let name = cells[0].trim_matches('`');
        let counter = match cells[1] {
            "counter" => true,
            "gauge" => false,
            t => return Err(format!("docs/metrics.md: {name}: type {t:?}")),
        };
        let unit = cells[2].split_whitespace().next().unwrap_or("");
        let base = name.strip_suffix("_total").unwrap_or(name);
        let unit = if base.ends_with(&format!("_{unit}")) { unit } else { "" };
        let help = cells[4].replace('`', "").replace("\\|", "|");
        rows.push((name.to_string(), counter, unit.to_string(), help));
    }
    rows.sort();
    if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("docs/metrics.md: {} is listed twice", w[0].0));
    }
    let mut out = String::from("&[\n");
    for (name, counter, unit, help) in rows {
        out.push_str(&format!("    ({name:?}, {counter}, {unit:?}, {help:?}),\n"));
    }
    out.push_str("]\n");
    Ok(out)
}
