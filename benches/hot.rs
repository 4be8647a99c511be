//! Micro benchmarks of costpush's hot paths, on a corpus from `examples/gen_corpus.rs`: JSON
//! parse (`results::parse`, per schema), per-job computation (`calc::report`), building a cycle's
//! samples (`agent::prepare`, with and without forecast and predictions, and a cycle with nothing
//! new), request bodies (`SeriesSet::write_bodies`: protobuf and snappy), a whole queued
//! cycle (`agent::enqueue_cycle`: prepare, encode, fsynced queue files, state commit) and the
//! dry-run text. Then, in a fresh child process per corpus size, the peak RSS (VmHWM) after each
//! step of one cycle.
//!
//! Run with `cargo bench --bench hot`; it prints medians. `HOT_JOBS` sets the corpus size for the
//! cycle benchmarks (default 6000 jobs, about 200k samples).

#[allow(dead_code)]
#[path = "../examples/gen_corpus.rs"]
mod gen_corpus;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use costpush::agent;
use costpush::agent::state::State;
use costpush::config::{self, Config, Overrides};
use costpush::ingest::results;
use costpush::samples::catalogue::DeliveryStats;
use costpush::samples::{BodyEncoder, SeriesSet};

/// Median seconds per call of `f`: each of 7 measurements repeats `f` for at least 0.2 s.
fn per_call(mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let mut times = Vec::new();
    for _ in 0..7 {
        let (mut n, t) = (0u32, Instant::now());
        while n == 0 || t.elapsed() < Duration::from_millis(200) {
            f();
            n += 1;
        }
        times.push(t.elapsed().as_secs_f64() / f64::from(n));
    }
    median(times)
}

/// Median of `runs` timings of `f` (for steps too slow to repeat many times).
fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    (median(times), last.expect("runs > 0"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn status_kb(key: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn config(results: &Path, state: &Path, extra: &str) -> Config {
    let yaml = format!(
        "host: {{name: bench-host, region: eu-north-1}}\nresults: {{dirs: [\"{}\"]}}\nstate_dir: \"{}\"\n\
         target_retention_days: 36500\nremote_write: {{url: \"http://127.0.0.1:9/api/v1/write\"}}\n{extra}",
        results.display(),
        state.display()
    );
    config::from_str(&yaml, Path::new("."), &Overrides::default()).expect("bench config is valid")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory") {
        memory(Path::new(&args[i + 1]));
        return;
    }
    let now = SystemTime::now();
    let end_before = now.duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64;
    let jobs: usize = std::env::var("HOT_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(6000);
    println!("hot paths (medians); cycle corpus {jobs} jobs (HOT_JOBS)");

    // --- parse: one file of 1000 jobs per schema ---
    let files = gen_corpus::corpus(42, 3000, end_before, 1000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let cfg_dir = tmp.path().join("parse-only");
    let cfg = config(&cfg_dir, &tmp.path().join("state0"), "");
    let here = &cfg.regions[&cfg.region];
    let mut all_jobs = Vec::new();
    for kind in gen_corpus::Kind::ALL {
        let f = files.iter().find(|f| f.kind == kind && f.jobs >= 500).expect("a big file of each kind");
        let t = per_call(|| {
            std::hint::black_box(results::parse(&f.bytes).expect("parses"));
        });
        let parsed = results::parse(&f.bytes).expect("parses");
        assert!(parsed.problems.is_empty(), "generated files have no problems");
        println!(
            "parse {:<9} {:>5} jobs, {:>7.0} KB: {:>7.2} ms, {:>6.1} MB/s, {:>8.0} jobs/s",
            kind.as_str(),
            parsed.jobs.len(),
            f.bytes.len() as f64 / 1024.0,
            t * 1e3,
            f.bytes.len() as f64 / t / 1e6,
            parsed.jobs.len() as f64 / t
        );
        all_jobs.extend(parsed.jobs);
    }
    let bytes: Vec<u8> = files[0].bytes.clone();
    let t = per_call(|| {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"));
    });
    println!(
        "  of which serde_json::Value alone ({}): {:.1} MB/s",
        files[0].kind.as_str(),
        bytes.len() as f64 / t / 1e6
    );

    // --- calc::report ---
    let t = per_call(|| {
        for j in &all_jobs {
            std::hint::black_box(costpush::compute::job::report_from_file(
                j,
                here,
                &cfg.regions,
                cfg.cores_without_cpu_samples,
            ));
        }
    });
    println!(
        "calc::report: {:.2} µs per job ({:.0} jobs/s, mixed schemas, {} regions)",
        t / all_jobs.len() as f64 * 1e6,
        all_jobs.len() as f64 / t,
        cfg.regions.len()
    );

    // --- a cycle's samples: agent::prepare over a corpus directory ---
    let corpus = tmp.path().join("corpus");
    let cycle_files = gen_corpus::corpus(42, jobs, end_before, 1000);
    gen_corpus::write(&corpus, &cycle_files).expect("corpus written");
    let corpus_mb = cycle_files.iter().map(|f| f.bytes.len()).sum::<usize>() as f64 / 1e6;
    let variants = [
        ("full (forecast + predictions)", ""),
        ("predictions, no forecast", "forecast: {enabled: false}\n"),
        ("core (neither)", "forecast: {enabled: false}\npredictions: {enabled: false}\n"),
    ];
    let mut full_set = SeriesSet::default();
    for (name, extra) in variants {
        let cfg = config(&corpus, &tmp.path().join("state1"), extra);
        let outside = costpush::ingest::outside::OutsideData::new(&cfg, false);
        let (t, p) = timed(5, || {
            agent::prepare(&cfg, &State::default(), &outside, vec![DeliveryStats::default()], now)
        });
        let n = p.set.sample_count();
        println!(
            "agent::prepare {name:<30}: {:>7.3} s for {n} samples ({:.0} samples/s, {:.1} MB of JSON)",
            t,
            n as f64 / t,
            corpus_mb
        );
        if extra.is_empty() {
            full_set =
                agent::prepare(&cfg, &State::default(), &outside, vec![DeliveryStats::default()], now).set;
            // nothing new: the idle cycle, with the state the first cycle committed
            let state = p.next;
            let t = per_call(|| {
                std::hint::black_box(agent::prepare(
                    &cfg,
                    &state,
                    &outside,
                    vec![DeliveryStats::default()],
                    now,
                ));
            });
            let idle = agent::prepare(&cfg, &state, &outside, vec![DeliveryStats::default()], now);
            println!(
                "agent::prepare, nothing changed ({} files): {:.2} ms, {} samples (counters and health)",
                cycle_files.len(),
                t * 1e3,
                idle.set.sample_count()
            );
            let t = per_call(|| {
                std::hint::black_box(p.set.to_text());
            });
            println!("SeriesSet::to_text (dry run): {:.3} s ({:.0} samples/s)", t, n as f64 / t);
        }
    }

    // --- request bodies: protobuf written from the keys, snappy ---
    let n = full_set.sample_count();
    let mut bodies = 0usize;
    let mut bytes = 0usize;
    let t = per_call(|| {
        let (mut count, mut size) = (0usize, 0usize);
        let mut enc = BodyEncoder::default();
        let mut sink = |b: &[u8], _n: u64| {
            count += 1;
            size += b.len();
            Ok::<(), ()>(())
        };
        full_set.clone().write_bodies(10_000, &mut enc, &mut sink).expect("bodies");
        enc.flush(&mut sink).expect("bodies");
        (bodies, bytes) = (count, size);
    });
    println!(
        "SeriesSet::write_bodies (10000 samples each, protobuf + snappy): {:.1} ms, {:.2} M samples/s, {bodies} bodies, {:.1} bytes/sample on the wire",
        t * 1e3,
        n as f64 / t / 1e6,
        bytes as f64 / n as f64
    );

    // --- a whole queued cycle: prepare, encode, fsynced batch files, state commit ---
    let mut times = Vec::new();
    for i in 0..3 {
        let dir = tmp.path().join(format!("cycle{i}"));
        let cfg = config(&corpus, &dir, "");
        std::fs::create_dir_all(&dir).expect("state dir");
        let mut state = State::default();
        let (outboxes, _) = agent::open_outboxes(&cfg, &mut state).expect("queue");
        let mut outside = costpush::ingest::outside::OutsideData::new(&cfg, false);
        let t = Instant::now();
        agent::enqueue_cycle(
            &cfg,
            &mut state,
            &mut outside,
            &outboxes,
            now,
            &mut agent::Progress::new(agent::ProgressMode::None),
            &mut costpush::samples::KeptSeries::default(),
        )
        .expect("cycle");
        times.push(t.elapsed().as_secs_f64());
        if i == 0 {
            let kb = std::fs::metadata(dir.join(costpush::agent::state::FILE_NAME))
                .map_or(0.0, |m| m.len() as f64 / 1024.0);
            let t = Instant::now();
            state.clone().save(&dir, &State::default()).expect("state saved");
            println!(
                "State::save alone ({kb:.0} KB, serialise + write + fsync + rename): {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    println!("agent::enqueue_cycle (full config, nothing queued before): {:.3} s", median(times));

    // --- memory: a fresh process per corpus, so earlier steps' heap does not hide the peaks ---
    let exe = std::env::current_exe().expect("own path");
    for jobs in [jobs, jobs * 5] {
        let dir = tmp.path().join(format!("mem{jobs}"));
        gen_corpus::write(&dir.join("corpus"), &gen_corpus::corpus(42, jobs, end_before, 1000))
            .expect("corpus");
        let out = std::process::Command::new(&exe).arg("--memory").arg(&dir).output().expect("child runs");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            panic!("memory child failed");
        }
    }
}

/// The child process of the memory benchmark: one cycle's steps over `dir/corpus`, done by hand
/// as `agent::enqueue_cycle` does them, printing the peak RSS (VmHWM) after each step.
fn memory(dir: &Path) {
    let now = SystemTime::now();
    let cfg = config(&dir.join("corpus"), &dir.join("state"), "");
    let base = status_kb("VmRSS:").unwrap_or(0.0);
    let step = |name: &str, detail: String| {
        let hwm = status_kb("VmHWM:").unwrap_or(0.0);
        let rss = status_kb("VmRSS:").unwrap_or(0.0);
        println!(
            "  {name:<44} peak {:>7.1} MB above start, now {:>7.1} MB  {detail}",
            (hwm - base) / 1024.0,
            (rss - base) / 1024.0
        );
    };
    println!("memory of one cycle ({}), start RSS {:.1} MB:", dir.display(), base / 1024.0);
    let outside = costpush::ingest::outside::OutsideData::new(&cfg, false);
    let p = agent::prepare(&cfg, &State::default(), &outside, vec![DeliveryStats::default()], now);
    let n = p.set.sample_count();
    step("agent::prepare (parse, compute, SeriesSet)", format!("{n} samples, {} new jobs", p.new_jobs));
    let (mut bodies, mut largest) = (0, 0);
    let mut enc = BodyEncoder::default();
    let mut sink = |b: &[u8], _n: u64| {
        bodies += 1;
        largest = largest.max(b.len());
        Ok::<(), ()>(())
    };
    p.set.write_bodies(cfg.max_samples_per_request, &mut enc, &mut sink).expect("bodies");
    enc.flush(&mut sink).expect("bodies");
    step(
        "SeriesSet::write_bodies, one body at a time",
        format!("{bodies} bodies, largest {:.0} KB", largest as f64 / 1024.0),
    );
    let state = p.next;
    let text = serde_json::to_vec(&state).expect("state serialises");
    step(
        "serialising the state",
        format!("{:.1} MB of JSON, {} job ids", text.len() as f64 / 1e6, state.jobs().len()),
    );
}
