//! The allocator's tuning for a daemon that idles between cycles: the crate's only `unsafe`,
//! calls into glibc. Both functions are no-ops on other C libraries.

/// Allocations at or above this size get their own mapping, returned to the system when freed.
pub(crate) const MMAP_THRESHOLD: usize = 128 * 1024;

/// Tunes glibc's malloc. Call once, before threads start.
///
/// - The mmap threshold is fixed at `MMAP_THRESHOLD`. glibc starts there but raises it (up to
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
/// `malloc_trim` releases what is free in every arena.
#[allow(unsafe_code)]
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
