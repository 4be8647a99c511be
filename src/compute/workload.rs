//! What a job encoded: streams, pixels and frames, derived from plain job fields.

use crate::domain::Job;

/// Number of parallel streams named in a scenario like `"4 Streams @ 2500k"`.
///
/// Only a whole number written directly before the word "stream(s)" counts, so
/// `"10 Mbps Stream"` is one stream at 10 Mbps, not ten streams. `"single stream"` is 1, and so
/// is any name that states no count.
pub(crate) fn streams_from_name(name: &str) -> u32 {
    let words: Vec<&str> = name.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if i == 0 || !w.to_lowercase().starts_with("stream") {
            continue;
        }
        if let Ok(n) = words[i - 1].parse::<u32>() {
            if n >= 1 {
                return n;
            }
        }
    }
    1
}

/// Pixels the job produced: the file's `pixels_processed` when given, else every rendition of the
/// ladder (or the one resolution) × its frame rate × run time × streams.
pub(crate) fn pixels(job: &Job, streams: u32) -> Option<f64> {
    if let Some(p) = job.pixels_processed {
        return Some(p);
    }
    let per_second: f64 = if job.outputs.is_empty() {
        let (w, h) = job.resolution?;
        f64::from(w) * f64::from(h) * job.fps?
    } else {
        let mut sum = 0.0;
        for r in &job.outputs {
            sum += f64::from(r.width) * f64::from(r.height) * r.fps.or(job.fps)?;
        }
        sum
    };
    Some(per_second * job.run_s * f64::from(streams))
}

/// Frames the job produced: the file's `total_frames` when given, else frame rate × run time ×
/// streams (the primary rendition's frames).
pub(crate) fn frames(job: &Job, streams: u32) -> Option<f64> {
    job.total_frames.or_else(|| job.fps.map(|f| f * job.run_s * f64::from(streams)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Rendition;
    use crate::ingest::results::parse;

    #[test]
    fn streams() {
        for (name, n) in [
            ("4 Streams @ 2500k", 4),
            ("2 streams @ 2500k", 2),
            ("1 Streams @ 1000k", 1),
            ("8 Streams @ 5000k", 8),
            ("10 Mbps Stream", 1),
            ("single stream @ 1500k", 1),
            ("Baseline (Idle)", 1),
            ("Multi-resolution ladder test 1080p+720p+480p @ 5000k", 1),
            ("0 streams", 1),
            ("stream", 1),
        ] {
            assert_eq!(streams_from_name(name), n, "{name}");
        }
    }

    fn job() -> Job {
        let json = r#"{"scenarios": [{"name": "x", "duration": 10, "start_time": 1700000000,
            "end_time": 1700000010, "resolution": "1280x720", "fps": 30}]}"#;
        parse(json.as_bytes()).unwrap().jobs.remove(0)
    }

    #[test]
    fn pixels_count_every_rendition_and_stream() {
        let mut j = job();
        // 1280*720*30*10 s * 2 streams
        assert_eq!(pixels(&j, 2), Some(552_960_000.0));
        j.outputs = vec![
            Rendition { width: 1920, height: 1080, fps: Some(30.0) },
            Rendition { width: 1280, height: 720, fps: None },
            Rendition { width: 854, height: 480, fps: Some(30.0) },
        ];
        // (2073600 + 921600 + 409920) * 30 * 10
        assert_eq!(pixels(&j, 1), Some(1_021_536_000.0));
        j.pixels_processed = Some(5.0);
        assert_eq!(pixels(&j, 1), Some(5.0));
        let mut none = job();
        none.fps = None;
        assert_eq!(pixels(&none, 1), None);
    }

    #[test]
    fn frames_reported_or_derived() {
        let mut j = job();
        assert_eq!(frames(&j, 3), Some(900.0));
        j.total_frames = Some(42.0);
        assert_eq!(frames(&j, 3), Some(42.0));
    }
}
