//! A results file far larger than a chunk of jobs costs about a chunk's memory, not its size:
//! the heap's peak over a dry run of one 22 MB file of 20,000 jobs (in no order of time) stays
//! far under the file's size. A test binary of its own, with one test: the allocator below counts
//! the allocations of every thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes it holds and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = HELD.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// The one way to count a process's allocations: a global allocator, which is `unsafe` to write.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts the lines of per-job samples written to it.
#[derive(Default)]
struct JobLines {
    lines: usize,
    at_line_start: bool,
    head: Vec<u8>,
}

impl std::io::Write for JobLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                if self.head.starts_with(b"costpush_job_") {
                    self.lines += 1;
                }
                self.head.clear();
                self.at_line_start = true;
            } else if self.head.len() < 16 {
                self.head.push(b);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `n` telemetry jobs a minute apart, shuffled, each with 60 power and 60 CPU samples.
fn results_file(n: usize) -> String {
    let mut rng = fastrand::Rng::with_seed(16);
    let mut jobs: Vec<String> = (0..n)
        .map(|i| {
            let end = 1_767_000_000 + 60 * i;
            let samples =
                |base: usize| (0..60).map(|k| format!("{}.{:02}", base + (i + k) % 50, k)).collect::<Vec<_>>().join(", ");
            format!(
                r#"{{"name": "job {}", "duration": 30, "start_time": {}, "end_time": {end}, "encoder_type": "libx264",
                "resolution": "1280x720", "vmaf_score": 93.5, "power_watts": [{}], "cpu_usage_cores": [{}], "step_seconds": 0.5}}"#,
                i % 7,
                end - 30,
                samples(100),
                samples(2)
            )
        })
        .collect();
    rng.shuffle(&mut jobs);
    format!(r#"{{"test_metadata": {{"source": "lab"}}, "scenarios": [{}]}}"#, jobs.join(", "))
}

#[test]
fn a_results_file_far_larger_than_a_chunk_costs_about_a_chunks_memory() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let text = results_file(20_000);
    let size = text.len();
    std::fs::write(results.join("test_results_big.json"), text).unwrap();
    let yaml = format!(
        "host: {{name: h, region: eu-north-1}}\nresults: {{dirs: [{}]}}\nstate_dir: {}\nremote_write: {{url: 'http://127.0.0.1:9'}}\ntarget_retention_days: 36500\n",
        results.display(),
        dir.path().join("state").display()
    );
    let cfg = costpush::config::from_str(&yaml, dir.path(), &Default::default()).unwrap();
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_768_300_000);
    let mut out = JobLines::default();

    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    costpush::agent::dry_run(&cfg, now, &mut out).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;

    assert!(out.lines > 20_000 * 10, "{} job samples written", out.lines);
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    eprintln!("a {:.1} MiB results file: heap peak {:.1} MiB over the dry run", mib(size), mib(peak));
    // The file alone is 22 MB and its jobs' samples as much again; a chunk of 1,000 jobs, the
    // dry run's batch of 100,000 samples and the file's index fit in well under half of it.
    assert!(peak < size / 2, "heap peak {:.1} MiB for a {:.1} MiB file", mib(peak), mib(size));
}
