//! A job: one encode run as read from a results file, in plain data with units in the field
//! names. Everything after ingest works on these.

/// Which writer produced an entry, which decides how its run time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Benchmark,
    Telemetry,
    Scheduler,
}

/// One output rendition of a ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
}

/// One encode job as read from a file: plain data, units in the field names.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Stable identity (see the module doc).
    pub id: u64,
    /// Position in the file's `scenarios` list.
    pub index: usize,
    pub schema: Schema,
    pub scenario: String,
    pub encoder: Option<String>,
    pub preset: Option<String>,
    /// The bitrate as written (`"2500k"`), used as a label.
    pub bitrate: Option<String>,
    pub bitrate_kbps: Option<f64>,
    pub resolution: Option<(u32, u32)>,
    /// Frame rate: `fps`, else `avg_fps`.
    pub fps: Option<f64>,
    pub outputs: Vec<Rendition>,
    /// End of the run, Unix seconds.
    pub end_s: f64,
    /// Measured run time in seconds (see the module doc for which field).
    pub run_s: f64,
    pub power_watts: Vec<f64>,
    pub cpu_cores: Vec<f64>,
    pub step_s: Option<f64>,
    pub vmaf: Option<f64>,
    pub psnr_db: Option<f64>,
    pub ssim: Option<f64>,
    pub total_frames: Option<f64>,
    pub dropped_frames: Option<f64>,
    pub pixels_processed: Option<f64>,
}
