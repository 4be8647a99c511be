//! costpush: turns video-encoding results files into energy, cost, CO2 and quality samples and
//! pushes them to VictoriaMetrics (or any Prometheus remote-write 1.0 receiver).
//!
//! # Layout
//!
//! - [`config`]: the YAML file → a checked [`config::Config`].
//! - [`results`]: bytes of a results file → jobs and field problems (pure).
//! - [`calc`]: energy, money, carbon, quality and what-if of a job (pure).
//! - [`metrics`]: job reports → samples, the contract of `docs/metrics.md` (pure).
//! - [`queue`]: encoded batches on disk (fsynced), sent oldest first, bounded in bytes.
//! - [`remote_write`]: series → protobuf + snappy bodies; the sender that delivers the queue.
//! - [`state`]: what was ingested and the counters, saved atomically after each acknowledged push.
//! - [`forecast`], [`regress`], [`linalg`]: Holt-Winters with intervals, OLS with bands (pure).
//! - [`offline`]: the `forecast` and `regress` commands over CSV files.
//! - [`agent`]: one cycle, and the daemon loop with its schedule and shutdown.
//!
//! The binary (`src/main.rs`) only parses the command line, sets up logging, and maps results to
//! exit codes.

pub mod agent;
pub mod calc;
pub mod config;
pub mod external;
pub mod forecast;
pub mod history;
pub mod linalg;
pub mod metrics;
pub mod offline;
pub mod predict;
pub mod queue;
pub mod regress;
pub mod remote_write;
pub mod results;
pub mod sources;
pub mod state;

/// An error and all its sources on one line (`outer: inner: root`), for logs and messages.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Allocations at or above this size get their own mapping, returned to the system when freed.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Tunes glibc's malloc for a daemon that idles between cycles. A no-op on other C libraries.
/// Call once, before threads start.
///
/// - The mmap threshold is fixed at [`MMAP_THRESHOLD`]. glibc starts there but raises it (up to
///   32 MiB) each time a mapped block is freed, after which every large buffer of a cycle (a
///   results file, a request body) is carved from the heap, and the heap keeps the peak of all
///   of them. Fixed, a large buffer is unmapped when freed: about 4 MB less peak RSS for a
///   1M-sample cycle (BENCHMARKS.md).
/// - Fastbins are off. They keep freed small blocks unmerged; the top of a thread's arena (a
///   cycle runs on a thread of its own) is only given back by a large free that merges into it,
///   and `malloc_trim` merges fastbins without giving a thread arena's top back. So the cycle's
///   last small frees left its arena's top resident: 2.4 MiB after a 1M-sample cycle, 144 KiB
///   with fastbins off, for 0.05 % more instructions (BENCHMARKS.md, round 5).
#[allow(unsafe_code)]
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; an unsupported one returns 0.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

/// Hands the allocator's free pages back to the system. glibc keeps memory freed after a large
/// cycle (a backfill) mapped in its arenas, so an idle daemon would go on holding its peak;
/// `malloc_trim` releases what is free in every arena. A no-op on other C libraries.
///
/// With [`tune_allocator`], the crate's only `unsafe`: calls into the C library.
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
