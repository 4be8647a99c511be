//! The allocator's tuning, and what an idle daemon gives back between cycles: the crate's only
//! `unsafe`, calls into glibc and the kernel. They are no-ops on other systems.

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

/// Hands back what an idle daemon holds without needing it: the allocator's free pages, and
/// the code pages a large cycle touched.
///
/// - glibc keeps memory freed after a large cycle (a backfill) mapped in its arenas, so an idle
///   daemon would go on holding its peak; `malloc_trim` releases what is free in every arena.
/// - A cycle that parses, fits and projects runs most of the executable: its code pages stay in
///   the process's resident set (5.8 of 9.5 MiB after a 20,000-job cycle). They are dropped from
///   it (`MADV_DONTNEED` on the read-only mappings of files, code and constants, of which the
///   process holds no copy of its own, as [`note_code_mappings`] found them); they stay in the
///   page cache and come back by a minor fault when next used.
///
/// Called by the daemon after each cycle; `once` exits instead.
pub(crate) fn release_idle_memory() {
    release_free_memory();
    #[cfg(target_os = "linux")]
    release_code_pages();
}

/// Hands the allocator's free pages back (the first half of [`release_idle_memory`]): after a
/// sender drains its queue. The code pages are left to the daemon's call after a cycle (a
/// `once` that is about to exit has nothing to gain from them).
#[allow(unsafe_code)]
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The code mappings [`note_code_mappings`] found.
#[cfg(target_os = "linux")]
static CODE: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();

/// Notes the mappings of code and constants whose pages [`release_idle_memory`] gives back. The
/// daemon calls it once as it starts, before any library could be loaded at run time: the
/// executable and the libraries it was linked with are then all the files mapped, and they
/// stay mapped for the life of the process. So their ranges stay theirs, and every cycle gives
/// them back without reading `/proc/self/smaps` again (9 % of an idle cycle's instructions over
/// 30,000 jobs, besides the kernel's walk through every mapping). A library loaded later (by a name lookup, say) is left alone: it could be
/// unloaded and its addresses reused.
pub(crate) fn note_code_mappings() {
    #[cfg(target_os = "linux")]
    CODE.get_or_init(|| {
        super::bounded::read_file(std::path::Path::new("/proc/self/smaps"), 4 * 1024 * 1024)
            .map(|smaps| clean_code_mappings(&String::from_utf8_lossy(&smaps)))
            .unwrap_or_default()
    });
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn release_code_pages() {
    for &(start, end) in CODE.get().map_or(&[][..], Vec::as_slice) {
        // SAFETY: the range is a whole mapping of the executable or of a library it was linked
        // with (mapped for the life of the process), read-only and never written (no private
        // dirty page): dropping its pages loses nothing, and the next access reads them from
        // the file again. A failure changes nothing.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// The address ranges of `/proc/PID/smaps` entries that map a file's code or constants: not
/// writable, private, with an inode, and no anonymous page (relocated data made read-only after
/// loading holds the process's own copies of its pages: it is kept). Dirty pages are no reason
/// to keep a mapping: a file written shortly before it was started (an upgrade, a copy) has
/// dirty pages in the page cache until they are written back, and they are the file's.
fn clean_code_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut anonymous = 0u64;
    let mut finish = |current: Option<(usize, usize)>, anonymous: u64| {
        if let Some(range) = current.filter(|_| anonymous == 0) {
            out.push(range);
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_ascii_whitespace();
        let first = f.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                finish(current.take(), anonymous);
                anonymous = 0;
                let (perms, inode) = (f.next(), f.nth(2));
                let read_only = matches!(perms, Some("r-xp" | "r--p"));
                let code = read_only && inode.is_some_and(|i| i != "0");
                current = code.then_some((start, end));
                continue;
            }
        }
        if first == "Anonymous:" {
            anonymous += f.next().and_then(|n| n.parse().ok()).unwrap_or(1);
        }
    }
    finish(current, anonymous);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_code_of_a_file_without_copies_of_its_own_is_given_back() {
        let smaps = "\
55d0c0000000-55d0c0100000 r--p 00000000 fd:01 123 /usr/bin/costpush
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0c0080000-55d0c0090000 r--p 00000000 fd:01 123 /usr/bin/costpush
Private_Dirty:         8 kB
Anonymous:             8 kB
55d0c0100000-55d0c0600000 r-xp 00100000 fd:01 123 /usr/bin/costpush
Rss:                5000 kB
Private_Dirty:      5000 kB
Anonymous:             0 kB
AnonHugePages:         0 kB
55d0c0600000-55d0c0700000 rw-p 00600000 fd:01 123 /usr/bin/costpush
Anonymous:            12 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 456 /usr/lib/libc.so.6
Anonymous:             4 kB
7f0000200000-7f0000300000 r-xp 00000000 00:00 0
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
7f0000400000-7f0000500000 r-xp 00000000 fd:01 789 /usr/lib/libm.so.6
Anonymous:             0 kB
";
        assert_eq!(
            clean_code_mappings(smaps),
            [
                (0x55d0c0000000, 0x55d0c0100000),
                (0x55d0c0100000, 0x55d0c0600000),
                (0x7f0000400000, 0x7f0000500000)
            ],
            "costpush's constants and code (dirty in the page cache, as after a copy: still the file's), \
             libm's code; not data, not relocated constants, not written code, not anonymous code"
        );
    }

    #[test]
    fn giving_back_the_code_pages_keeps_the_process_running() {
        note_code_mappings();
        // The test binary was most likely linked moments ago, its pages still dirty in the page
        // cache: its code is given back all the same.
        let here = giving_back_the_code_pages_keeps_the_process_running as fn() as usize;
        assert!(
            CODE.get().unwrap().iter().any(|&(start, end)| (start..end).contains(&here)),
            "the mapping of this very code is among those given back: {:x?}",
            CODE.get()
        );
        release_idle_memory();
        // The code runs on: its pages come back from the file.
        let v: Vec<u64> = (0..1000).map(|i| i * i).collect();
        assert_eq!(v.iter().sum::<u64>(), 332_833_500);
        assert!(!clean_code_mappings(&std::fs::read_to_string("/proc/self/smaps").unwrap()).is_empty());
    }
}
