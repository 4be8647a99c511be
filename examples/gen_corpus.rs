//! Synthetic results corpus for benchmarks: writes `test_results_*.json` files in the three
//! schemas costpush reads (benchmark runner, telemetry, scheduler; about a third of the jobs each),
//! deterministic from the seed, with job end times spread over the 20 days before `--end-before`.
//!
//! ```sh
//! cargo run --release --example gen_corpus -- --seed 42 --jobs 15000 --out DIR \
//!     [--end-before UNIX_SECONDS] [--per-file 1000] [--shape mixed|telemetry]
//! ```
//!
//! `--shape telemetry` makes the other corpus shape `scripts/bench` measures: telemetry jobs
//! only, each with 4 to 40 power and CPU samples, quality scores, four encoders, four presets and
//! four resolutions, in files of exactly `--per-file` jobs (20,000 jobs at 500 a file: 40 files).
//!
//! Prints one summary line (`jobs=… benchmark=… telemetry=… scheduler=… files=… bytes=…`).
//! Every value is valid for costpush: `costpush once --dry-run` over the corpus takes in every
//! job and logs no warning (`scripts/bench` checks both). The labels vary as real hosts' do
//! (scenario names, encoders, presets, bitrates, resolutions, stream counts), so the number of
//! series stays realistic instead of one series per metric. `benches/hot.rs` includes this file
//! as a module to make its inputs, so the two always agree.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// Days before `end_before` over which job end times are spread.
pub const SPREAD_DAYS: f64 = 20.0;

/// Which writer a generated file imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Benchmark,
    Telemetry,
    Scheduler,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Benchmark, Kind::Telemetry, Kind::Scheduler];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Benchmark => "benchmark",
            Kind::Telemetry => "telemetry",
            Kind::Scheduler => "scheduler",
        }
    }
}

/// One generated results file, in memory.
pub struct GenFile {
    pub name: String,
    pub kind: Kind,
    pub jobs: usize,
    pub bytes: Vec<u8>,
}

/// The corpus shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The three schemas in thirds, files of up to `per_file` jobs.
    Mixed,
    /// Telemetry only, 4 to 40 samples a job, files of exactly `per_file` jobs.
    Telemetry,
}

/// Generates a corpus of `shape` in memory.
pub fn corpus_of(shape: Shape, seed: u64, jobs: usize, end_before: i64, per_file: usize) -> Vec<GenFile> {
    match shape {
        Shape::Mixed => corpus(seed, jobs, end_before, per_file),
        Shape::Telemetry => lean_corpus(seed, jobs, end_before, per_file),
    }
}

/// Telemetry jobs with few samples each, spread over the window, in files of `per_file` jobs.
fn lean_corpus(seed: u64, jobs: usize, end_before: i64, per_file: usize) -> Vec<GenFile> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let lo = end_before as f64 - SPREAD_DAYS * 86_400.0;
    let hi = end_before as f64 - 120.0;
    let mut ends: Vec<f64> = (0..jobs).map(|_| lo + rng.f64() * (hi - lo)).collect();
    ends.sort_by(f64::total_cmp);
    let mut files = Vec::new();
    for chunk in ends.chunks(per_file.max(1)) {
        let scenarios: Vec<Value> = chunk.iter().map(|&end| lean_job(&mut rng, end)).collect();
        let doc = json!({
            "test_metadata": {"timestamp": iso_stamp(chunk[0] - 600.0, false), "platform": "linux"},
            "scenarios": scenarios,
        });
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("a Value always serialises");
        bytes.push(b'\n');
        let name = format!("test_results_{}_{:05}.json", compact_stamp(chunk[0] as i64), files.len());
        files.push(GenFile { name, kind: Kind::Telemetry, jobs: chunk.len(), bytes });
    }
    files
}

/// One telemetry job of the lean shape: 4 to 40 power and CPU samples, an encoder, a preset and
/// a resolution each of four.
fn lean_job(rng: &mut fastrand::Rng, end: f64) -> Value {
    let end = round(end, 1);
    let n = rng.usize(4..=40);
    let step = *pick(rng, &[1.0f64, 2.0, 5.0, 10.0]);
    let duration = round(step * (n - 1) as f64 + rng.f64(), 1);
    let encoder = *pick(rng, &["libx264", "libx265", "libsvtav1", "h264_nvenc"]);
    let preset = *pick(rng, &["veryfast", "fast", "medium", "slow"]);
    let (w, h) = *pick(rng, &[(3840u32, 2160u32), (1920, 1080), (1280, 720), (854, 480)]);
    let bitrate_k = *pick(rng, &[1500u32, 2500, 5000, 8000]);
    let streams = *pick(rng, &[1u32, 2, 4]);
    let fps = *pick(rng, &[29.97f64, 25.0, 59.94]);
    let heavy = match encoder {
        "libx265" => 1.8,
        "libsvtav1" => 2.4,
        "h264_nvenc" => 0.5,
        _ => 1.0,
    } * match preset {
        "veryfast" => 0.6,
        "fast" => 0.9,
        "medium" => 1.0,
        _ => 1.5,
    };
    let pixel_rate = f64::from(w * h) * fps * f64::from(streams);
    let cores = (pixel_rate / 3.0e7 * heavy + 0.2).min(30.0);
    let watts = 30.0 + 9.0 * cores + if encoder.contains("nvenc") { 35.0 } else { 0.0 };
    let (power, cpu) = load_samples(rng, watts, cores, n);
    let total_frames = (fps * duration * f64::from(streams)).round();
    let vmaf = vmaf_for(rng, bitrate_k, h);
    let mut o = scores(rng, vmaf, fps);
    o.extend(json_map(json!({
        "name": format!("{streams} streams @ {bitrate_k}k"),
        "duration": duration,
        "bitrate": format!("{bitrate_k}k"),
        "encoder_type": encoder,
        "preset": preset,
        "resolution": res((w, h)),
        "dropped_frames": (total_frames * rng.f64() * 0.004).floor(),
        "total_frames": total_frames,
    })));
    o.extend(run_fields(end, duration, power, cpu, step));
    Value::Object(o)
}

/// A telemetry job's power and CPU samples around `watts` and `cores` (power drawn first).
fn load_samples(rng: &mut fastrand::Rng, watts: f64, cores: f64, n: usize) -> (Vec<f64>, Vec<f64>) {
    let power: Vec<f64> = (0..n).map(|_| round(watts * (1.0 + 0.03 * noise(rng)), 1)).collect();
    let cpu: Vec<f64> = (0..n).map(|_| round((cores * (1.0 + 0.05 * noise(rng))).max(0.01), 2)).collect();
    (power, cpu)
}

/// VMAF falls with less bitrate per pixel row.
fn vmaf_for(rng: &mut fastrand::Rng, bitrate_k: u32, h: u32) -> f64 {
    round(
        (96.0 - 12000.0 / f64::from(bitrate_k) * (f64::from(h) / 1080.0) + 2.0 * noise(rng))
            .clamp(40.0, 99.5),
        1,
    )
}

/// A telemetry job's run: its times and its samples every `step` seconds.
fn run_fields(end: f64, duration: f64, power: Vec<f64>, cpu: Vec<f64>, step: f64) -> Map<String, Value> {
    json_map(json!({
        "start_time": round(end - duration, 1),
        "end_time": end,
        "power_watts": power,
        "cpu_usage_cores": cpu,
        "step_seconds": step,
    }))
}

/// A telemetry job's quality scores and frame rate: PSNR and SSIM follow VMAF.
fn scores(rng: &mut fastrand::Rng, vmaf: f64, fps: f64) -> Map<String, Value> {
    json_map(json!({
        "vmaf_score": vmaf,
        "psnr_score": round(30.0 + vmaf / 7.0 + noise(rng) * 0.5, 1),
        "ssim_score": round((0.9 + vmaf / 1100.0).min(0.999), 3),
        "avg_fps": fps,
    }))
}

fn json_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! of braces is an object"),
    }
}

/// Generates the whole corpus in memory: `jobs` jobs split in thirds over the three schemas, in
/// files of at most `per_file` jobs, ending before `end_before` (Unix seconds).
pub fn corpus(seed: u64, jobs: usize, end_before: i64, per_file: usize) -> Vec<GenFile> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let per_file = per_file.max(1);
    let third = jobs / 3;
    let counts = [third, third, jobs - 2 * third];
    let mut files = Vec::new();
    for (kind, n) in Kind::ALL.into_iter().zip(counts) {
        // End times uniform over the window, in time order: files are runs of consecutive jobs,
        // interleaved in time as several runners' would be.
        let lo = end_before as f64 - SPREAD_DAYS * 86_400.0;
        let hi = end_before as f64 - 120.0;
        let mut ends: Vec<f64> = (0..n).map(|_| lo + rng.f64() * (hi - lo)).collect();
        ends.sort_by(f64::total_cmp);
        let mut at = 0;
        while at < ends.len() {
            let size = rng.usize(per_file.div_ceil(4).max(1)..=per_file).min(ends.len() - at);
            let chunk = &ends[at..at + size];
            let doc = match kind {
                Kind::Benchmark => benchmark_file(&mut rng, chunk),
                Kind::Telemetry => telemetry_file(&mut rng, chunk),
                Kind::Scheduler => scheduler_file(&mut rng, chunk),
            };
            let mut bytes = serde_json::to_vec_pretty(&doc).expect("a Value always serialises");
            bytes.push(b'\n');
            let name = format!("test_results_{}_{:05}.json", compact_stamp(chunk[0] as i64), files.len());
            files.push(GenFile { name, kind, jobs: size, bytes });
            at += size;
        }
    }
    files
}

/// Writes the corpus into `out` (created if missing); returns the files written.
pub fn write(out: &Path, files: &[GenFile]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut paths = Vec::with_capacity(files.len());
    for f in files {
        let path = out.join(&f.name);
        std::fs::File::create(&path)?.write_all(&f.bytes)?;
        paths.push(path);
    }
    Ok(paths)
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

/// A value rounded to `digits` decimals (files carry short decimals, as real writers do).
fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Approximately normal noise (Irwin–Hall of 4), mean 0, standard deviation about 1.
fn noise(rng: &mut fastrand::Rng) -> f64 {
    ((0..4).map(|_| rng.f64()).sum::<f64>() - 2.0) * 1.732
}

const LADDER: [(u32, u32); 5] = [(3840, 2160), (1920, 1080), (1280, 720), (854, 480), (640, 360)];

fn res(wh: (u32, u32)) -> String {
    format!("{}x{}", wh.0, wh.1)
}

/// How one benchmark run was configured: the runner encodes its whole scenario list with one
/// encoder, preset, frame rate and top resolution.
struct Run {
    encoder: Option<(&'static str, &'static str)>,
    fps: u32,
    top: (u32, u32),
    ladder: bool,
}

/// Benchmark runner: `{test_date, scenarios: [...]}`, planned `duration`, measured
/// `end_time − start_time`, `fps`, optional `encoder`/`preset` and `outputs` ladder, no power.
fn benchmark_file(rng: &mut fastrand::Rng, ends: &[f64]) -> Value {
    // older runner versions wrote no encoder or preset
    let run = Run {
        encoder: (rng.u8(..100) >= 20).then(|| {
            (
                *pick(rng, &["h264", "h264", "hevc", "av1"]),
                *pick(rng, &["ultrafast", "veryfast", "fast", "medium"]),
            )
        }),
        fps: *pick(rng, &[30u32, 30, 30, 60, 25]),
        top: LADDER[rng.usize(1..4)],
        ladder: rng.bool(),
    };
    let scenarios: Vec<Value> = ends.iter().map(|&end| benchmark_job(rng, end, &run)).collect();
    json!({"test_date": iso_stamp(ends[0] - 300.0, true), "scenarios": scenarios})
}

fn benchmark_job(rng: &mut fastrand::Rng, end: f64, run: &Run) -> Value {
    let bitrate_k = *pick(rng, &[1000u32, 2500, 5000, 8000]);
    let mbps = bitrate_k as f64 / 1000.0;
    let roll = rng.u8(..100);
    let (name, bitrate, resolution, duration) = if roll < 6 {
        ("Baseline (Idle)".to_string(), "0k".to_string(), (1280, 720), *pick(rng, &[60, 120]))
    } else if roll < 56 {
        let streams = *pick(rng, &[1u32, 2, 4, 8]);
        (format!("{streams} Streams @ {bitrate_k}k"), format!("{bitrate_k}k"), run.top, 120)
    } else if roll < 78 {
        (format!("{mbps} Mbps Stream"), format!("{bitrate_k}k"), run.top, 300)
    } else {
        let r = LADDER[rng.usize(1..4)];
        (format!("{}p @ {mbps}Mbps", r.1), format!("{bitrate_k}k"), r, 300)
    };
    let elapsed = duration as f64 + rng.f64() * 0.8 + 1e-4;
    let mut o = Map::new();
    o.insert("name".into(), json!(name));
    o.insert("bitrate".into(), json!(bitrate));
    o.insert("resolution".into(), json!(res(resolution)));
    o.insert("fps".into(), json!(run.fps));
    o.insert("duration".into(), json!(duration));
    o.insert("start_time".into(), json!(round(end - elapsed, 7)));
    o.insert("end_time".into(), json!(round(end, 7)));
    if let Some((encoder, preset)) = run.encoder {
        o.insert("encoder".into(), json!(encoder));
        o.insert("preset".into(), json!(preset));
    }
    let outputs = if name.starts_with("Baseline") || !run.ladder {
        Value::Null
    } else {
        let first = LADDER.iter().position(|r| *r == resolution).unwrap_or(2);
        let rungs = 3.min(LADDER.len() - first);
        Value::Array(
            LADDER[first..first + rungs]
                .iter()
                .map(|r| json!({"resolution": res(*r), "fps": run.fps}))
                .collect(),
        )
    };
    o.insert("outputs".into(), outputs);
    Value::Object(o)
}

/// Telemetry: `power_watts[]`, `cpu_usage_cores[]` every `step_seconds`, quality scores, frames,
/// `pixels_processed`, `encoder_type`; the run time is the measured `duration`.
fn telemetry_file(rng: &mut fastrand::Rng, ends: &[f64]) -> Value {
    // one telemetry run measures one encoder
    let encoder =
        *pick(rng, &["libx264", "libx264", "libx265", "libsvtav1", "h264_nvenc", "hevc_nvenc", "h264_qsv"]);
    let scenarios: Vec<Value> = ends.iter().map(|&end| telemetry_job(rng, end, encoder)).collect();
    let gpu = if encoder.contains("nvenc") {
        "nvidia-t4"
    } else if encoder.contains("qsv") {
        "intel-arc-a380"
    } else {
        "none"
    };
    let span = ends[ends.len() - 1] - ends[0] + 600.0;
    json!({
        "test_metadata": {
            "timestamp": iso_stamp(ends[0] - 600.0, false),
            "duration": span.round(),
            "platform": "linux",
            "gpu": gpu,
        },
        "scenarios": scenarios,
    })
}

fn telemetry_job(rng: &mut fastrand::Rng, end: f64, encoder: &str) -> Value {
    let end = round(end, 1);
    let step = *pick(rng, &[1.0f64, 2.0, 5.0, 5.0, 5.0, 10.0]);
    let duration = round(30.0 + rng.f64() * 570.0, 1);
    let n = ((duration / step).round() as usize + 1).clamp(10, 120);
    if rng.u8(..100) < 4 {
        // the idle baseline: zeros mean "not measured"
        let idle: Vec<f64> = (0..n).map(|_| round(25.0 + 0.3 * noise(rng), 1)).collect();
        let cpu: Vec<f64> = (0..n).map(|_| round(0.1 + 0.02 * rng.f64(), 2)).collect();
        return json!({
            "name": "baseline idle", "duration": duration, "bitrate": "0k", "encoder_type": "none",
            "resolution": "0x0", "vmaf_score": 0, "psnr_score": 0, "ssim_score": 0, "avg_fps": 0,
            "dropped_frames": 0, "total_frames": 0, "pixels_processed": 0,
            "start_time": round(end - duration, 1), "end_time": end,
            "power_watts": idle, "cpu_usage_cores": cpu, "step_seconds": step,
        });
    }
    let streams = *pick(rng, &[1u32, 1, 2, 4, 6]);
    let bitrate_k = *pick(rng, &[1500u32, 2500, 3500, 5000, 8000]);
    let name = if streams == 1 && rng.bool() {
        format!("single stream @ {bitrate_k}k")
    } else {
        format!("{streams} streams @ {bitrate_k}k")
    };
    let (w, h) = LADDER[rng.usize(1..4)];
    let fps = *pick(rng, &[29.97f64, 29.97, 25.0, 59.94]);
    let gpu = encoder.contains("nvenc") || encoder.contains("qsv");
    let heavy = match encoder {
        "libx265" => 1.8,
        "libsvtav1" => 2.4,
        _ if gpu => 0.5,
        _ => 1.0,
    };
    let pixel_rate = f64::from(w * h) * fps * f64::from(streams);
    let cores = (pixel_rate / 3.0e7 * heavy + 0.2).min(30.0);
    let watts = 30.0 + 9.0 * cores + if gpu { 35.0 } else { 0.0 };
    let (power, cpu) = load_samples(rng, watts, cores, n);
    let total_frames = (fps * duration * f64::from(streams)).round();
    let dropped = (total_frames * rng.f64() * 0.004).floor();
    let vmaf = vmaf_for(rng, bitrate_k, h);
    // The scores draw their noise here, as they always did: the corpus stays the same.
    let mut o = scores(rng, vmaf, fps);
    o.extend(json_map(json!({
        "name": name,
        "duration": duration,
        "bitrate": format!("{bitrate_k}k"),
        "encoder_type": encoder,
        "resolution": res((w, h)),
        "dropped_frames": dropped,
        "total_frames": total_frames,
        "pixels_processed": (pixel_rate * duration).round(),
    })));
    o.extend(run_fields(end, duration, power, cpu, step));
    Value::Object(o)
}

/// Scheduler: `test_metadata.source = "scheduler"`; `start_time` is the queue time (whole
/// seconds), `duration` the measured run ending at `end_time`; power on some jobs only.
fn scheduler_file(rng: &mut fastrand::Rng, ends: &[f64]) -> Value {
    let scenarios: Vec<Value> = ends.iter().map(|&end| scheduler_job(rng, end)).collect();
    let stamp = iso_stamp(ends[0] - 60.0, false);
    json!({
        "test_date": stamp,
        "test_metadata": {"platform": "distributed", "source": "scheduler", "timestamp": stamp},
        "scenarios": scenarios,
    })
}

fn scheduler_job(rng: &mut fastrand::Rng, end: f64) -> Value {
    let end = end.floor();
    let name = match rng.u8(..10) {
        0 => format!("live-{}", rng.u8(1..=24)),
        1 => format!("burst-{}-{}", pick(rng, &["short", "medium", "long"]), rng.u8(1..=8)),
        2 => format!("vod-transcode-{}", pick(rng, &["2160p", "1080p", "720p", "480p"])),
        3 => format!("concurrent-{}", rng.u8(1..=6)),
        4 => format!("nightly-ladder-{}", pick(rng, &["A", "B", "C", "D", "E"])),
        5 => "live-stream".to_string(),
        6 => "4K60-h264".to_string(),
        7 => "gstreamer-test".to_string(),
        8 => format!("test-{}", pick(rng, &["720p", "short-2s", "medium-30s", "long-60s", "lowbitrate"])),
        _ => format!("customer-{}-{}", rng.u8(1..=12), pick(rng, &["hls", "dash"])),
    };
    let duration = round(0.5 + rng.f64().powi(3) * 1800.0, 9);
    let wait = (rng.f64() * 900.0).floor();
    let mut o = Map::new();
    o.insert("name".into(), json!(name));
    o.insert("duration".into(), json!(duration));
    // a job name is one pipeline: its encoder and bitrate follow from it
    let h = name.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let bitrate = ["0k", "0k", "0k", "2500k", "5000k", "8000k"][h as usize % 6];
    let encoder = if name.starts_with("gst") {
        "gstreamer"
    } else {
        ["ffmpeg", "ffmpeg", "auto"][(h / 7) as usize % 3]
    };
    o.insert("bitrate".into(), json!(bitrate));
    o.insert("encoder_type".into(), json!(encoder));
    o.insert("start_time".into(), json!((end - duration - wait).floor() as i64));
    o.insert("end_time".into(), json!(end as i64));
    if rng.u8(..100) < 45 {
        let step = if duration < 60.0 { 1.0 } else { 5.0 };
        let n = ((duration / step).round() as usize + 1).clamp(1, 120);
        let watts = 40.0 + 120.0 * rng.f64();
        let cores = 0.5 + 7.5 * rng.f64();
        let power: Vec<f64> = (0..n).map(|_| round(watts * (1.0 + 0.04 * noise(rng)), 1)).collect();
        let cpu: Vec<f64> = (0..n).map(|_| round((cores * (1.0 + 0.06 * noise(rng))).max(0.01), 2)).collect();
        o.insert("power_watts".into(), json!(power));
        o.insert("cpu_usage_cores".into(), json!(cpu));
        o.insert("step_seconds".into(), json!(step));
    }
    Value::Object(o)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn parts(t: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (y, mo, d) = civil(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    (y, mo, d, s / 3600, s / 60 % 60, s % 60)
}

/// `20260105_100000` for file names.
fn compact_stamp(t: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(t);
    format!("{y:04}{mo:02}{d:02}_{h:02}{mi:02}{s:02}")
}

/// `2026-01-05T10:00:00.123456` (local, as the runner writes) or `…Z`.
fn iso_stamp(t: f64, micros: bool) -> String {
    let (y, mo, d, h, mi, s) = parts(t.floor() as i64);
    if micros {
        let us = ((t - t.floor()) * 1e6) as u32;
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

struct Args {
    seed: u64,
    jobs: usize,
    out: PathBuf,
    end_before: i64,
    per_file: usize,
    shape: Shape,
}

fn usage() -> ! {
    eprintln!(
        "usage: gen_corpus --seed N --jobs N --out DIR [--end-before UNIX_SECONDS] [--per-file N (<= 100000)] [--shape mixed|telemetry]"
    );
    std::process::exit(2)
}

fn value<T: std::str::FromStr>(flag: &str, value: Option<String>) -> T {
    let Some(v) = value else { usage() };
    v.parse().unwrap_or_else(|_| {
        eprintln!("gen_corpus: bad value {v:?} for {flag}");
        std::process::exit(2)
    })
}

fn args() -> Args {
    let mut a = std::env::args().skip(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (mut seed, mut jobs, mut out, mut end_before, mut per_file) = (42, None, None, now, 1000);
    let mut shape = Shape::Mixed;
    while let Some(flag) = a.next() {
        match flag.as_str() {
            "--seed" => seed = value(&flag, a.next()),
            "--jobs" => jobs = Some(value(&flag, a.next())),
            "--out" => out = Some(value::<PathBuf>(&flag, a.next())),
            "--end-before" => end_before = value(&flag, a.next()),
            "--per-file" => per_file = value::<usize>(&flag, a.next()).clamp(1, 100_000),
            "--shape" => {
                shape = match value::<String>(&flag, a.next()).as_str() {
                    "mixed" => Shape::Mixed,
                    "telemetry" => Shape::Telemetry,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    match (jobs, out) {
        (Some(jobs), Some(out)) => Args { seed, jobs, out, end_before, per_file, shape },
        _ => usage(),
    }
}

fn main() {
    let a = args();
    let files = corpus_of(a.shape, a.seed, a.jobs, a.end_before, a.per_file);
    if let Err(e) = write(&a.out, &files) {
        eprintln!("gen_corpus: writing {}: {e}", a.out.display());
        std::process::exit(1);
    }
    let mut line = format!("jobs={}", files.iter().map(|f| f.jobs).sum::<usize>());
    for k in Kind::ALL {
        let n: usize = files.iter().filter(|f| f.kind == k).map(|f| f.jobs).sum();
        line.push_str(&format!(" {}={n}", k.as_str()));
    }
    println!(
        "{line} files={} bytes={} end_before={}",
        files.len(),
        files.iter().map(|f| f.bytes.len()).sum::<usize>(),
        a.end_before
    );
}
