//! Compiles `proto/remote.proto` with protox (pure Rust), so no system `protoc` is needed, and
//! sets `COSTPUSH_VERSION`, the version `--version` shows: the package version and, when built
//! from a git checkout, the commit (`COSTPUSH_GIT_COMMIT` in the environment takes precedence,
//! for builds from a source tarball).

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/remote.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;

    println!("cargo:rerun-if-env-changed=COSTPUSH_GIT_COMMIT");
    let commit = std::env::var("COSTPUSH_GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(git_commit);
    let version = env!("CARGO_PKG_VERSION");
    match commit {
        Some(c) => println!("cargo:rustc-env=COSTPUSH_VERSION={version} (git {c})"),
        None => println!("cargo:rustc-env=COSTPUSH_VERSION={version}"),
    }
    Ok(())
}

/// The checkout's commit, short; `None` outside a git checkout or without git. Rebuilt when
/// HEAD moves (the ref it names, or HEAD itself when detached).
fn git_commit() -> Option<String> {
    let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let git_dir = Command::new("git").args(["rev-parse", "--git-dir"]).output().ok()?;
    let git_dir = String::from_utf8(git_dir.stdout).ok()?.trim().to_string();
    println!("cargo:rerun-if-changed={git_dir}/HEAD");
    if let Ok(head) = std::fs::read_to_string(format!("{git_dir}/HEAD")) {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            // A file that does not exist would make cargo run this script on every build.
            let loose = format!("{git_dir}/{r}");
            let watched =
                if std::path::Path::new(&loose).exists() { loose } else { format!("{git_dir}/packed-refs") };
            println!("cargo:rerun-if-changed={watched}");
        }
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
