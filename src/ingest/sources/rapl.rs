//! Local RAPL energy: while the agent runs it samples the package and dram counters of Linux
//! powercap into a bounded ring persisted in a file, so a job's measured energy can later be
//! attributed to its time window. Attribution ([`Ring::energy_between`]) is pure arithmetic over
//! the ring; only [`discover`], [`read_uj`], [`boot_id`] and the ring file touch the system.
//!
//! Zones: entries `intel-rapl:N` / `intel-rapl:N:M` of the powercap root (default
//! `/sys/class/powercap`) whose `name` is `package-*` or `dram`. `core` and `uncore` are parts of
//! their package and `psys` is the whole platform (it includes the packages), so counting them
//! would double count. `intel-rapl` (the control type) has no counter, and `intel-rapl-mmio:*`
//! is a second interface to the same package counter: both are skipped.
//!
//! Counters: `energy_uj` is cumulative and wraps to 0 after `max_energy_range_uj`, so a reading
//! below the previous one is a wrap, with delta `max - e0 + e1`. A wrap is believed only if that
//! delta means at most [`MAX_PLAUSIBLE_W`] per zone over the interval; otherwise the counter was
//! reset (driver reload, firmware), and the interval breaks coverage like a reboot or a long gap.
//!
//! Ring file (text): a header `# costpush rapl ring v1 zones=ID:MAX,ID:MAX,...` (ids contain
//! colons, so a pair splits on its last colon), then one line per reading `t_ms boot uj0 uj1 ...`,
//! space separated, values in zone order; an empty boot id is written `-`. Readings are appended
//! without fsync (a lost last reading only shortens coverage); a torn or malformed line is skipped
//! on load, and the file is rewritten (temp file + rename) when it holds more than twice the cap.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::util::bounded;
use crate::util::fs::{write_atomic, Durability};

/// Above this power per zone (watts) a counter going back is a reset, not a wrap.
pub(crate) const MAX_PLAUSIBLE_W: u64 = 10_000;

const HEADER_PREFIX: &str = "# costpush rapl ring v1 zones=";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone {
    /// Directory name, e.g. `intel-rapl:0:2`.
    pub(crate) id: String,
    /// Contents of `name`, e.g. `package-0` or `dram`.
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) max_range_uj: u64,
}

fn read_u64(path: &Path) -> Result<u64, String> {
    let text = bounded::read_file_to_string(path, bounded::caps::SYSFS).map_err(|e| {
        // energy_uj is readable only by root since Linux 5.10 (CVE-2020-8694).
        let denied = matches!(&e, bounded::FileError::Io(e) if e.kind() == io::ErrorKind::PermissionDenied);
        let hint = if denied { " (needs root)" } else { "" };
        format!("{}: {e}{hint}", path.display())
    })?;
    let t = text.trim();
    t.parse().map_err(|_| format!("{}: not a counter: {t:?}", path.display()))
}

/// Package and dram zones under `root`, sorted by id. Err (naming the path) if none is found or a
/// file is unreadable/malformed.
pub(crate) fn discover(root: &Path) -> Result<Vec<Zone>, String> {
    let entries = fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut zones = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
        let id = entry.file_name().to_string_lossy().into_owned();
        // The colon excludes the control type `intel-rapl` and `intel-rapl-mmio:*`.
        if !id.starts_with("intel-rapl:") {
            continue;
        }
        let path = root.join(&id);
        let name_path = path.join("name");
        let name = bounded::read_file_to_string(&name_path, bounded::caps::SYSFS)
            .map_err(|e| format!("{}: {e}", name_path.display()))?
            .trim()
            .to_string();
        if !(name.starts_with("package") || name == "dram") {
            continue;
        }
        let max_range_uj = read_u64(&path.join("max_energy_range_uj"))?;
        // Fail now rather than at the first sample if the counter cannot be read.
        read_u64(&path.join("energy_uj"))?;
        zones.push(Zone { id, name, path, max_range_uj });
    }
    if zones.is_empty() {
        return Err(format!("{}: no RAPL package or dram zone", root.display()));
    }
    zones.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(zones)
}

/// One reading of every zone's energy_uj, in zone order.
pub(crate) fn read_uj(zones: &[Zone]) -> Result<Vec<u64>, String> {
    zones.iter().map(|z| read_u64(&z.path.join("energy_uj"))).collect()
}

/// This boot's id (/proc/sys/kernel/random/boot_id, trimmed); a different id means the counters
/// restarted. "" if unreadable.
pub(crate) fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub(crate) t_ms: i64,
    pub(crate) boot: String,
    pub(crate) uj: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Coverage {
    /// Energy in the window, joules.
    Joules(f64),
    /// The window ends after the newest reading: more readings may still cover it.
    NotYet,
    /// Readings can never cover it: it starts before the oldest reading, or a gap longer than
    /// max_gap, a reboot (boot id change) or a counter reset lies inside it.
    NotCovered,
}

pub(crate) struct Ring {
    /// (id, max_range_uj) per zone, in zone order.
    zones: Vec<(String, u64)>,
    readings: VecDeque<Reading>,
    cap: usize,
    /// Reading lines in the file if it is known to be clean and ours; None: rewrite it next time.
    file_lines: Option<usize>,
}

fn header(zones: &[(String, u64)]) -> String {
    let pairs: Vec<String> = zones.iter().map(|(id, max)| format!("{id}:{max}")).collect();
    format!("{HEADER_PREFIX}{}", pairs.join(","))
}

fn parse_header(line: &str) -> Option<Vec<(String, u64)>> {
    let rest = line.trim_end().strip_prefix(HEADER_PREFIX)?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.split(',')
        .map(|pair| {
            let (id, max) = pair.rsplit_once(':')?;
            Some((id.to_string(), max.parse().ok()?))
        })
        .collect()
}

fn parse_reading(line: &str, n_zones: usize) -> Option<Reading> {
    let mut fields = line.split_whitespace();
    let t_ms = fields.next()?.parse().ok()?;
    let boot = match fields.next()? {
        "-" => String::new(),
        b => b.to_string(),
    };
    let uj: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    (uj.len() == n_zones).then_some(Reading { t_ms, boot, uj })
}

fn format_reading(r: &Reading) -> String {
    let boot = if r.boot.is_empty() { "-" } else { &r.boot };
    let mut line = format!("{} {boot}", r.t_ms);
    for v in &r.uj {
        line.push(' ');
        line.push_str(&v.to_string());
    }
    line.push('\n');
    line
}

impl Ring {
    /// An empty ring for `zones`, keeping at most `cap` readings (at least 2: an interval needs two).
    pub(crate) fn new(zones: &[Zone], cap: usize) -> Ring {
        Ring {
            zones: zones.iter().map(|z| (z.id.clone(), z.max_range_uj)).collect(),
            readings: VecDeque::new(),
            cap: cap.max(2),
            file_lines: None,
        }
    }

    /// Loads the ring file if it exists and was written for the same zones (ids and max ranges);
    /// otherwise an empty ring. A torn or malformed line (the last line after a crash) is skipped.
    /// Keeps at most `cap` newest readings.
    pub(crate) fn load(path: &Path, zones: &[Zone], cap: usize) -> Ring {
        let mut ring = Ring::new(zones, cap);
        let Ok(text) = fs::read_to_string(path) else {
            return ring;
        };
        // Without a complete header line the file is not (or no longer) ours.
        let Some((head, body)) = text.split_once('\n') else {
            return ring;
        };
        if parse_header(head).as_ref() != Some(&ring.zones) {
            return ring;
        }
        let mut count = 0;
        let mut clean = true;
        for line in body.split_inclusive('\n') {
            count += 1;
            // A line without its '\n' is torn: it may parse yet be cut mid-number.
            let parsed = line.strip_suffix('\n').and_then(|l| parse_reading(l, ring.zones.len()));
            match parsed {
                Some(r) if ring.newest_ms().is_none_or(|n| r.t_ms > n) => ring.push(r),
                _ => clean = false,
            }
        }
        // A torn tail would swallow the next appended line: rewrite the file on the next record.
        ring.file_lines = clean.then_some(count);
        ring
    }

    pub(crate) fn len(&self) -> usize {
        self.readings.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.readings.is_empty()
    }

    pub(crate) fn oldest_ms(&self) -> Option<i64> {
        self.readings.front().map(|r| r.t_ms)
    }

    pub(crate) fn newest_ms(&self) -> Option<i64> {
        self.readings.back().map(|r| r.t_ms)
    }

    fn push(&mut self, r: Reading) {
        self.readings.push_back(r);
        while self.readings.len() > self.cap {
            self.readings.pop_front();
        }
    }

    /// Adds a reading in memory (readings older than or equal to the newest are ignored: time
    /// must advance) and appends it to the file (creating it with its header). When the file holds
    /// more than 2 × cap lines, rewrites it with the newest cap readings via a temp file + rename
    /// in the same directory. No fsync per reading (a lost last reading only shortens coverage).
    /// Err(InvalidInput) if the value count differs from the zones or the boot id has whitespace.
    pub(crate) fn record(&mut self, path: &Path, r: Reading) -> io::Result<()> {
        if r.uj.len() != self.zones.len() || r.boot.contains(char::is_whitespace) {
            let msg = "rapl reading does not fit the ring's zones or format";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        if self.newest_ms().is_some_and(|n| r.t_ms <= n) {
            return Ok(());
        }
        let line = format_reading(&r);
        self.push(r);
        if let Some(n) = self.file_lines.take() {
            if n < 2 * self.cap && append(path, &line).is_ok() {
                self.file_lines = Some(n + 1);
                return Ok(());
            }
        }
        // New file, too long, or the append failed (possibly half-written): rewrite it whole.
        self.rewrite(path)?;
        self.file_lines = Some(self.readings.len());
        Ok(())
    }

    fn rewrite(&self, path: &Path) -> io::Result<()> {
        let mut text = header(&self.zones);
        text.push('\n');
        for r in &self.readings {
            text.push_str(&format_reading(r));
        }
        // Rare (once per cap readings): the rename never exposes an empty file.
        write_atomic(path, &[text.as_bytes()], Durability::Content)
    }

    /// Microjoules between two consecutive readings, summed over zones; None if the interval
    /// breaks coverage (reboot, gap longer than max_gap_ms, implausible wrap i.e. a reset).
    fn interval_uj(&self, a: &Reading, b: &Reading, max_gap_ms: i64) -> Option<u128> {
        let dt = b.t_ms - a.t_ms;
        if a.boot != b.boot || dt <= 0 || dt > max_gap_ms {
            return None;
        }
        if a.uj.len() != self.zones.len() || b.uj.len() != self.zones.len() {
            return None;
        }
        // W × ms = mJ; × 1000 = µJ.
        let limit = u128::from(MAX_PLAUSIBLE_W) * dt as u128 * 1000;
        let mut total = 0u128;
        for ((&e0, &e1), (_, max)) in a.uj.iter().zip(&b.uj).zip(&self.zones) {
            total += if e1 >= e0 {
                u128::from(e1 - e0)
            } else {
                let wrapped = u128::from(max.checked_sub(e0)?) + u128::from(e1);
                if wrapped > limit {
                    return None;
                }
                wrapped
            };
        }
        Some(total)
    }

    /// Energy (J) in [start_ms, end_ms], summed over zones. Between two consecutive readings of
    /// the same boot no more than max_gap_ms apart, each zone's delta is `e1 - e0`, or
    /// `max_range - e0 + e1` when e1 < e0 (a wrap, if plausible); the interval's energy is spread
    /// evenly over it, and a window takes the overlapping share (linear interpolation at the
    /// window's edges). An inverted window (end < start) is NotCovered; an empty ring, NotYet.
    pub(crate) fn energy_between(&self, start_ms: i64, end_ms: i64, max_gap_ms: i64) -> Coverage {
        let (Some(oldest), Some(newest)) = (self.oldest_ms(), self.newest_ms()) else {
            return Coverage::NotYet;
        };
        if end_ms < start_ms || start_ms < oldest {
            return Coverage::NotCovered;
        }
        let mut total_uj = 0.0;
        for (a, b) in self.readings.iter().zip(self.readings.iter().skip(1)) {
            if a.t_ms >= end_ms {
                break;
            }
            let (lo, hi) = (a.t_ms.max(start_ms), b.t_ms.min(end_ms));
            // A zero-length window strictly inside an interval still needs that interval sound.
            let touches = lo < hi || (start_ms == end_ms && a.t_ms < start_ms && start_ms < b.t_ms);
            if !touches {
                continue;
            }
            let Some(uj) = self.interval_uj(a, b, max_gap_ms) else {
                return Coverage::NotCovered;
            };
            if lo < hi {
                total_uj += uj as f64 * (hi - lo) as f64 / (b.t_ms - a.t_ms) as f64;
            }
        }
        if end_ms > newest {
            return Coverage::NotYet;
        }
        Coverage::Joules(total_uj / 1e6)
    }
}

fn append(path: &Path, line: &str) -> io::Result<()> {
    fs::OpenOptions::new().append(true).open(path)?.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1_000_000_000;

    fn zone_dir(root: &Path, id: &str, name: &str, uj: u64, max: u64) {
        let d = root.join(id);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("name"), format!("{name}\n")).unwrap();
        fs::write(d.join("energy_uj"), format!("{uj}\n")).unwrap();
        fs::write(d.join("max_energy_range_uj"), format!("{max}\n")).unwrap();
    }

    fn fake_powercap() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("intel-rapl")).unwrap();
        fs::write(root.join("intel-rapl/enabled"), "1\n").unwrap();
        zone_dir(root, "intel-rapl:1", "psys", 7, MAX);
        zone_dir(root, "intel-rapl:0:2", "dram", 222, 65_712_999_613);
        zone_dir(root, "intel-rapl:0:0", "core", 5, MAX);
        zone_dir(root, "intel-rapl:0", "package-0", 111, 262_143_328_850);
        // Nested copy as on real sysfs, and the MMIO twin of the package: neither is counted.
        zone_dir(root, "intel-rapl:0/intel-rapl:0:2", "dram", 222, 65_712_999_613);
        zone_dir(root, "intel-rapl-mmio:0", "package-0", 111, 262_143_328_850);
        dir
    }

    fn zones(maxes: &[u64]) -> Vec<Zone> {
        let zone = |(i, &max): (usize, &u64)| Zone {
            id: format!("intel-rapl:{i}"),
            name: format!("package-{i}"),
            path: PathBuf::from(format!("/nonexistent/intel-rapl:{i}")),
            max_range_uj: max,
        };
        maxes.iter().enumerate().map(zone).collect()
    }

    fn reading(t_ms: i64, boot: &str, uj: &[u64]) -> Reading {
        Reading { t_ms, boot: boot.to_string(), uj: uj.to_vec() }
    }

    fn ring(maxes: &[u64], rs: &[(i64, &str, &[u64])]) -> Ring {
        let mut ring = Ring::new(&zones(maxes), 100);
        for &(t, b, uj) in rs {
            ring.push(reading(t, b, uj));
        }
        ring
    }

    fn joules(c: Coverage) -> f64 {
        match c {
            Coverage::Joules(j) => j,
            other => panic!("expected joules, got {other:?}"),
        }
    }

    /// Per-second energies: 12 J, 21 J, 9 J.
    fn three_intervals() -> Ring {
        ring(
            &[MAX, MAX],
            &[
                (0, "b", &[0, 0]),
                (1000, "b", &[10_000_000, 2_000_000]),
                (2000, "b", &[30_000_000, 3_000_000]),
                (3000, "b", &[36_000_000, 6_000_000]),
            ],
        )
    }

    #[test]
    fn discover_keeps_package_and_dram_sorted() {
        let dir = fake_powercap();
        let found = discover(dir.path()).unwrap();
        let ids: Vec<(&str, &str)> = found.iter().map(|z| (z.id.as_str(), z.name.as_str())).collect();
        assert_eq!(ids, [("intel-rapl:0", "package-0"), ("intel-rapl:0:2", "dram")]);
        assert_eq!(found[0].max_range_uj, 262_143_328_850);
        assert_eq!(found[1].max_range_uj, 65_712_999_613);
        assert_eq!(found[1].path, dir.path().join("intel-rapl:0:2"));
        assert_eq!(read_uj(&found).unwrap(), [111, 222]);
    }

    #[test]
    fn discover_and_read_errors_name_the_path() {
        let empty = tempfile::tempdir().unwrap();
        let err = discover(empty.path()).unwrap_err();
        assert!(err.contains(&empty.path().display().to_string()), "{err}");

        let dir = fake_powercap();
        fs::write(dir.path().join("intel-rapl:0:2/max_energy_range_uj"), "lots\n").unwrap();
        let err = discover(dir.path()).unwrap_err();
        assert!(err.contains("intel-rapl:0:2/max_energy_range_uj"), "{err}");

        let dir = fake_powercap();
        let found = discover(dir.path()).unwrap();
        fs::remove_file(dir.path().join("intel-rapl:0/energy_uj")).unwrap();
        let err = read_uj(&found).unwrap_err();
        assert!(err.contains("intel-rapl:0/energy_uj"), "{err}");
    }

    #[test]
    fn window_over_whole_intervals_and_partial_ones() {
        let r = three_intervals();
        assert_eq!(joules(r.energy_between(0, 3000, 5000)), 42.0);
        assert_eq!(joules(r.energy_between(1000, 2000, 5000)), 21.0);
        // Half of 12 J + 21 J + half of 9 J.
        assert!((joules(r.energy_between(500, 2500, 5000)) - 31.5).abs() < 1e-9);
        // Inside one interval: a quarter of 21 J.
        assert!((joules(r.energy_between(1250, 1500, 5000)) - 5.25).abs() < 1e-9);
    }

    #[test]
    fn wrap_inside_window_counts_exactly() {
        let r = ring(&[MAX, MAX], &[(0, "b", &[999_000_000, 100]), (1000, "b", &[4_000_000, 1_000_100])]);
        assert_eq!(joules(r.energy_between(0, 1000, 5000)), 6.0);
        assert_eq!(joules(r.energy_between(0, 500, 5000)), 3.0);
    }

    #[test]
    fn implausible_wrap_is_a_reset() {
        let big = 262_143_328_850;
        // Going back from 100 kJ to ~0 in 1 s would be 162 kJ: > 10 kW, so a reset.
        let r = ring(
            &[big],
            &[(0, "b", &[99_000_000_000]), (1000, "b", &[100_000_000_000]), (2000, "b", &[1_000_000])],
        );
        assert_eq!(joules(r.energy_between(0, 1000, 5000)), 1000.0);
        assert_eq!(r.energy_between(0, 1500, 5000), Coverage::NotCovered);
        assert_eq!(r.energy_between(1500, 1500, 5000), Coverage::NotCovered);
    }

    #[test]
    fn coverage_edges() {
        let r = three_intervals();
        assert_eq!(r.energy_between(2000, 4000, 5000), Coverage::NotYet);
        assert_eq!(r.energy_between(2000, 3001, 5000), Coverage::NotYet);
        assert_eq!(r.energy_between(-1, 1000, 5000), Coverage::NotCovered);
        // Before the oldest wins over after the newest: it can never become covered.
        assert_eq!(r.energy_between(-1, 4000, 5000), Coverage::NotCovered);
        assert_eq!(r.energy_between(2000, 1000, 5000), Coverage::NotCovered);
        assert_eq!(r.energy_between(1500, 1500, 5000), Coverage::Joules(0.0));
        assert_eq!(r.energy_between(3000, 3000, 5000), Coverage::Joules(0.0));
        assert_eq!(Ring::new(&zones(&[MAX]), 10).energy_between(0, 1, 5000), Coverage::NotYet);
    }

    #[test]
    fn gap_and_reboot_break_coverage() {
        let gap = ring(&[MAX], &[(0, "b", &[0]), (1000, "b", &[1_000_000]), (5000, "b", &[2_000_000])]);
        assert_eq!(gap.energy_between(500, 1500, 2000), Coverage::NotCovered);
        assert_eq!(gap.energy_between(0, 1000, 2000), Coverage::Joules(1.0));
        // With a larger max_gap the same interval counts: 1 J over 4 s, a quarter of it.
        assert!((joules(gap.energy_between(1000, 2000, 5000)) - 0.25).abs() < 1e-9);

        let boot = ring(&[MAX], &[(0, "a", &[0]), (1000, "a", &[1_000_000]), (2000, "c", &[5])]);
        assert_eq!(boot.energy_between(1500, 1800, 5000), Coverage::NotCovered);
        assert_eq!(boot.energy_between(0, 1000, 5000), Coverage::Joules(1.0));
    }

    #[test]
    fn record_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let zs = zones(&[MAX, 65_712_999_613]);
        let mut ring = Ring::new(&zs, 10);
        ring.record(&path, reading(1000, "b", &[0, 0])).unwrap();
        ring.record(&path, reading(2000, "b", &[3_000_000, 1_000_000])).unwrap();
        ring.record(&path, reading(3000, "", &[5, 6])).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "# costpush rapl ring v1 zones=intel-rapl:0:1000000000,intel-rapl:1:65712999613\n1000 b 0 0\n"
        ));
        assert!(text.ends_with("\n3000 - 5 6\n"));

        let back = Ring::load(&path, &zs, 10);
        assert_eq!(back.readings, ring.readings);
        assert_eq!((back.oldest_ms(), back.newest_ms()), (Some(1000), Some(3000)));
        assert_eq!(joules(back.energy_between(1000, 2000, 5000)), 4.0);
        // Fewer kept than stored: the newest.
        let two = Ring::load(&path, &zs, 2);
        assert_eq!((two.len(), two.oldest_ms()), (2, Some(2000)));
    }

    #[test]
    fn load_for_other_zones_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let mut ring = Ring::new(&zones(&[MAX, MAX]), 10);
        ring.record(&path, reading(1000, "b", &[1, 2])).unwrap();
        assert_eq!(Ring::load(&path, &zones(&[MAX, MAX]), 10).len(), 1);
        assert!(Ring::load(&path, &zones(&[MAX, MAX - 1]), 10).is_empty());
        assert!(Ring::load(&path, &zones(&[MAX]), 10).is_empty());
        assert!(Ring::load(&dir.path().join("absent"), &zones(&[MAX]), 10).is_empty());
    }

    #[test]
    fn torn_last_line_is_skipped_and_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let zs = zones(&[MAX]);
        let head = header(&Ring::new(&zs, 10).zones);
        // "300 b 12" parses but lacks its newline: it may be "300 b 1234..." cut short.
        fs::write(&path, format!("{head}\n100 b 5\n200 b x\n250 b 7\n300 b 12")).unwrap();
        let mut ring = Ring::load(&path, &zs, 10);
        assert_eq!((ring.len(), ring.newest_ms()), (2, Some(250)));
        ring.record(&path, reading(400, "b", &[9])).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{head}\n100 b 5\n250 b 7\n400 b 9\n"));
        assert_eq!(Ring::load(&path, &zs, 10).len(), 3);
    }

    #[test]
    fn compaction_keeps_newest_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let zs = zones(&[MAX]);
        let mut ring = Ring::new(&zs, 3);
        for t in 1..=6 {
            ring.record(&path, reading(t * 1000, "b", &[t as u64])).unwrap();
        }
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 7);
        let before = fs::metadata(&path).unwrap().len();
        ring.record(&path, reading(7000, "b", &[7])).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 4);
        assert!(fs::metadata(&path).unwrap().len() < before);
        assert!(!dir.path().join("ring.tmp").exists());
        let back = Ring::load(&path, &zs, 3);
        let ts: Vec<i64> = back.readings.iter().map(|r| r.t_ms).collect();
        assert_eq!(ts, [5000, 6000, 7000]);
        assert_eq!(ring.readings, back.readings);
    }

    #[test]
    fn non_advancing_and_misfit_readings_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let mut ring = Ring::new(&zones(&[MAX]), 10);
        ring.record(&path, reading(1000, "b", &[1])).unwrap();
        ring.record(&path, reading(1000, "b", &[2])).unwrap();
        ring.record(&path, reading(500, "b", &[3])).unwrap();
        assert!(ring.record(&path, reading(2000, "b", &[1, 2])).is_err());
        assert!(ring.record(&path, reading(2000, "a b", &[1])).is_err());
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.readings[0].uj, [1]);
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
