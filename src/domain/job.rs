//! A job: one encode run as read from a results file, in plain data with units in the field
//! names. Everything after ingest works on these.

/// Which writer produced an entry, which decides how its run time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schema {
    Benchmark,
    Telemetry,
    Scheduler,
}

/// One output rendition of a ladder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendition {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: Option<f64>,
}

/// One encode job as read from a file: plain data, units in the field names.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Stable identity (see the module doc).
    pub(crate) id: u64,
    /// Position in the file's `scenarios` list.
    pub(crate) index: usize,
    pub(crate) schema: Schema,
    pub(crate) scenario: String,
    pub(crate) encoder: Option<String>,
    pub(crate) preset: Option<String>,
    /// The bitrate as written (`"2500k"`), used as a label.
    pub(crate) bitrate: Option<String>,
    pub(crate) bitrate_kbps: Option<f64>,
    pub(crate) resolution: Option<(u32, u32)>,
    /// Frame rate: `fps`, else `avg_fps`.
    pub(crate) fps: Option<f64>,
    pub(crate) outputs: Vec<Rendition>,
    /// End of the run, Unix seconds.
    pub(crate) end_s: f64,
    /// Measured run time in seconds (see the module doc for which field).
    pub(crate) run_s: f64,
    pub(crate) power_watts: Vec<f64>,
    pub(crate) cpu_cores: Vec<f64>,
    pub(crate) step_s: Option<f64>,
    pub(crate) vmaf: Option<f64>,
    pub(crate) psnr_db: Option<f64>,
    pub(crate) ssim: Option<f64>,
    pub(crate) total_frames: Option<f64>,
    pub(crate) dropped_frames: Option<f64>,
    pub(crate) pixels_processed: Option<f64>,
}
