//! Outside data sources end to end, against a real VictoriaMetrics: energy from the RAPL ring
//! (with a counter wrap) and from the sampler of the daemon reading a fake powercap tree, energy
//! from the query API over a known power series, ECB rates by day from XML, CSV and a fetch, and
//! hourly carbon intensity with embodied emissions and an idle baseline.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn sel(name: &str, extra: &str) -> String {
    format!("{name}{{host=\"enc-test\"{extra}}}")
}

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A results file of telemetry jobs without power samples: (name, end, run seconds).
fn write_jobs(dir: &Path, jobs: &[(&str, f64, f64)]) {
    std::fs::create_dir_all(dir).unwrap();
    let list: Vec<String> = jobs
        .iter()
        .map(|(name, end, run)| {
            format!(
                r#"{{"name": "{name}", "duration": {run}, "end_time": {end}, "encoder_type": "libx264"}}"#
            )
        })
        .collect();
    std::fs::write(dir.join("test_results_jobs.json"), format!(r#"{{"scenarios": [{}]}}"#, list.join(",")))
        .unwrap();
}

/// A powercap tree with one package (max 1000 J, so it wraps often) and its dram zone, plus
/// the zones costpush must skip.
fn fake_powercap(root: &Path, pkg_uj: u64, dram_uj: u64) {
    for (id, name, max, uj) in [
        ("intel-rapl:0", "package-0", PKG_MAX, pkg_uj),
        ("intel-rapl:0:0", "core", PKG_MAX, 0),
        ("intel-rapl:0:2", "dram", DRAM_MAX, dram_uj),
        ("intel-rapl:1", "psys", PKG_MAX, 0),
    ] {
        let d = root.join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(d.join("max_energy_range_uj"), format!("{max}\n")).unwrap();
        std::fs::write(d.join("energy_uj"), format!("{uj}\n")).unwrap();
    }
    std::fs::create_dir_all(root.join("intel-rapl")).unwrap();
}

const PKG_MAX: u64 = 1_000_000_000;
const DRAM_MAX: u64 = 65_712_999_613;

/// Package at 90 W starting at 700 J (wrapping at 1000 J), dram at 10 W: 100 W in all.
fn counters_at(t0: f64, t: f64) -> (u64, u64) {
    let dt = t - t0;
    (((700e6 + 90e6 * dt) as u64) % PKG_MAX, (5e9 + 10e6 * dt) as u64)
}

#[test]
fn rapl_ring_energy_with_a_wrap_lands_exactly() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let (results, powercap) = (tmp.path().join("results"), tmp.path().join("powercap"));
    fake_powercap(&powercap, 0, 0);
    let now = now_s().floor();
    let t0 = now - 600.0;
    // Readings every 5 s from t0 to now - 60, as the daemon would have left them.
    std::fs::create_dir_all(tmp.path().join("state")).unwrap();
    let mut ring =
        format!("# costpush rapl ring v1 zones=intel-rapl:0:{PKG_MAX},intel-rapl:0:2:{DRAM_MAX}\n");
    let mut t = t0;
    while t <= now - 60.0 {
        let (p, d) = counters_at(t0, t);
        ring.push_str(&format!("{} boot-1 {p} {d}\n", (t * 1000.0) as i64));
        t += 5.0;
    }
    std::fs::write(tmp.path().join("state/rapl.ring"), ring).unwrap();
    write_jobs(
        &results,
        &[
            // Inside the ring, edges between readings: 100 W x 100 s, with several wraps.
            ("covered", t0 + 300.5, 100.0),
            // Starts before the first reading: never covered.
            ("too early", t0 + 30.0, 60.0),
            // Ends after the newest reading: waits for more.
            ("running", now - 30.0, 60.0),
        ],
    );
    let extra = format!(
        "energy: {{sources: [file, rapl], rapl: {{root: \"{}\", interval_seconds: 5, max_gap_seconds: 15}}}}\n",
        powercap.display()
    );
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", &extra);
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let e = vm.one(&sel("costpush_job_energy_joules", r#",scenario="covered",method="rapl""#));
    assert!((e.values[0] - 10_000.0).abs() < 1e-6, "{}", e.values[0]);
    let w = vm.one(&sel("costpush_job_power_watts", r#",scenario="covered""#));
    assert!((w.values[0] - 100.0).abs() < 1e-9);
    assert!(vm.export(&sel("costpush_job_energy_joules", r#",scenario="too early""#)).is_empty());
    assert_eq!(vm.one(&sel("costpush_jobs_by_energy_method_total", r#",method="none""#)).last().1, 1.0);
    assert_eq!(vm.one(&sel("costpush_jobs_by_energy_method_total", r#",method="rapl""#)).last().1, 1.0);
    let miss = vm.one(&sel("costpush_energy_source_misses_total", r#",method="rapl",reason="no_data""#));
    assert_eq!(miss.last().1, 1.0);
    assert_eq!(vm.one(&sel("costpush_jobs_waiting_for_energy", "")).last().1, 1.0);
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 2.0, "the running job is not taken yet");
    assert_eq!(vm.one(&sel("costpush_rapl_readings", "")).last().1, 109.0);
}

#[test]
fn the_daemon_samples_rapl_and_measures_a_job_it_covers() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let (results, powercap) = (tmp.path().join("results"), tmp.path().join("powercap"));
    std::fs::create_dir_all(&results).unwrap();
    let t0 = now_s();
    fake_powercap(&powercap, counters_at(t0, t0).0, counters_at(t0, t0).1);
    // The counters advance with the clock, as the hardware's do.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, powercap) = (stop.clone(), powercap.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (p, d) = counters_at(t0, now_s());
                // Replaced whole, as sysfs reads are: never a half-written value.
                for (zone, uj) in [("intel-rapl:0", p), ("intel-rapl:0:2", d)] {
                    let tmp = powercap.join(zone).join("energy_uj.tmp");
                    std::fs::write(&tmp, format!("{uj}\n")).unwrap();
                    std::fs::rename(&tmp, powercap.join(zone).join("energy_uj")).unwrap();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let extra = format!(
        "energy: {{sources: [rapl], rapl: {{root: \"{}\", interval_seconds: 0.2, max_gap_seconds: 1}}}}\n",
        powercap.display()
    );
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", &extra);
    let mut daemon = costpush()
        .args(["run", "--config", cfg.to_str().unwrap(), "--schedule", "* * * * * *"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    // A 2 s job that ran while the sampler was reading.
    write_jobs(&results, &[("sampled", t0 + 3.0, 2.0)]);
    std::thread::sleep(Duration::from_millis(2500));
    let _ = std::process::Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    assert!(daemon.wait().unwrap().success());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();

    let ring = std::fs::read_to_string(tmp.path().join("state/rapl.ring")).unwrap();
    let readings = ring.lines().filter(|l| !l.starts_with('#')).count();
    assert!(readings >= 15, "{readings} readings in 6 s at 0.2 s");
    // 100 W over 2 s; the counters are files rewritten every 10 ms, so each edge may be 10 ms off.
    let e = vm.one(&sel("costpush_job_energy_joules", r#",scenario="sampled",method="rapl""#));
    assert!((e.values[0] - 200.0).abs() < 4.0, "{}", e.values[0]);
    assert!(vm.one(&sel("costpush_rapl_readings", "")).last().1 >= 10.0);
    assert_eq!(vm.one(&sel("costpush_rapl_read_failures_total", "")).last().1, 0.0);
}

/// Imports Prometheus text lines into VictoriaMetrics.
fn import(vm: &Vm, text: &str) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/import/prometheus", vm.base))
        .body(text.to_string())
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    vm.flush();
}

#[test]
fn query_api_energy_is_the_integral_of_the_pushed_power() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    // Power on two series (package and dram) every 5 s for an hour, a ramp: 100 W + 0.1 W/s.
    let t0 = (now_s() / 5.0).floor() * 5.0 - 3600.0;
    let mut text = String::new();
    for k in 0..=720 {
        let t = t0 + 5.0 * k as f64;
        let p = 100.0 + 0.1 * (t - t0);
        text.push_str(&format!("rapl_power_watts{{zone=\"package\"}} {} {}\n", p - 5.0, (t * 1000.0) as i64));
        text.push_str(&format!("rapl_power_watts{{zone=\"dram\"}} 5 {}\n", (t * 1000.0) as i64));
    }
    import(&vm, &text);
    // A 10-minute job from t0 + 600 s: mean power 100 + 0.1 * 900 = 190 W, so 114 000 J.
    write_jobs(&results, &[("queried", t0 + 1200.0, 600.0), ("before the data", t0 - 4000.0, 60.0)]);
    let extra = format!(
        "energy: {{sources: [file, query], query: {{url: \"{}\", expr: \"sum(rapl_power_watts)\", step_seconds: 5, settle_seconds: 0}}}}\n",
        vm.base
    );
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", &extra);
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let e = vm.one(&sel("costpush_job_energy_joules", r#",scenario="queried",method="query""#));
    assert!((e.values[0] - 114_000.0).abs() < 1e-6, "{}", e.values[0]);
    assert!(vm.export(&sel("costpush_job_energy_joules", r#",scenario="before the data""#)).is_empty());
    let miss = vm.one(&sel("costpush_energy_source_misses_total", r#",method="query",reason="no_data""#));
    assert_eq!(miss.last().1, 1.0);
    // Energy from the query is priced like any other: 114 000 J = 1/31.58 kWh at 1 SEK.
    let cost = vm.one(&sel("costpush_job_energy_cost", r#",scenario="queried",currency="SEK""#));
    assert!((cost.values[0] - 114_000.0 / 3.6e6).abs() < 1e-12);
}

#[test]
fn a_job_waits_for_the_query_settle_time_then_is_taken_in() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let now = now_s().floor();
    let mut text = String::new();
    for k in 0..=24 {
        let t = now - 120.0 + 5.0 * k as f64;
        text.push_str(&format!("rapl_power_watts 50 {}\n", (t * 1000.0) as i64));
    }
    import(&vm, &text);
    write_jobs(&results, &[("just ended", now - 10.0, 60.0)]);
    let extra = format!(
        "energy: {{sources: [query], query: {{url: \"{}\", expr: \"sum(rapl_power_watts)\", settle_seconds: 3}}}}\n",
        vm.base
    );
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", &extra);
    // It ended 10 s ago: past the 3 s settle time, so it is asked for at once.
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = vm.one(&sel("costpush_job_energy_joules", r#",scenario="just ended",method="query""#));
    assert!((e.values[0] - 3000.0).abs() < 1e-9, "{}", e.values[0]);

    // A job that ended a second ago waits (its file is read again), then lands.
    write_jobs(&results, &[("just ended", now - 10.0, 60.0), ("fresh", now_s().floor() - 1.0, 30.0)]);
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(vm.export(&sel("costpush_job_energy_joules", r#",scenario="fresh""#)).is_empty());
    assert_eq!(vm.one(&sel("costpush_jobs_waiting_for_energy", "")).last().1, 1.0);
    std::thread::sleep(Duration::from_millis(3200));
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success());
    let e = vm.one(&sel("costpush_job_energy_joules", r#",scenario="fresh",method="query""#));
    assert!((e.values[0] - 1500.0).abs() < 1e-9, "{}", e.values[0]);
    assert_eq!(vm.one(&sel("costpush_jobs_total", "")).last().1, 2.0);
    assert_eq!(vm.one(&sel("costpush_jobs_waiting_for_energy", "")).last().1, 0.0);
}

// ECB reference rates around Easter 2024: Thursday 28 March, then Good Friday, the weekend and
// Easter Monday without rates, then Tuesday 2 April and Wednesday 3 April.
const ECB_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender>
		<gesmes:name>European Central Bank</gesmes:name>
	</gesmes:Sender>
	<Cube>
		<Cube time='2024-04-03'>
			<Cube currency='USD' rate='1.0793'/>
			<Cube currency='JPY' rate='163.66'/>
			<Cube currency='SEK' rate='11.5215'/>
		</Cube>
		<Cube time='2024-04-02'>
			<Cube currency='USD' rate='1.0749'/>
			<Cube currency='JPY' rate='163.01'/>
			<Cube currency='SEK' rate='11.5605'/>
		</Cube>
		<Cube time='2024-03-28'>
			<Cube currency='USD' rate='1.0811'/>
			<Cube currency='JPY' rate='163.45'/>
			<Cube currency='SEK' rate='11.5250'/>
		</Cube>
	</Cube>
</gesmes:Envelope>
"#;

const ECB_CSV: &str = "Date,USD,JPY,BGN,CYP,SEK,\n\
2024-04-03,1.0793,163.66,1.9558,N/A,11.5215,\n\
2024-04-02,1.0749,163.01,1.9558,N/A,11.5605,\n\
2024-03-28,1.0811,163.45,1.9558,N/A,11.5250,\n";

const DAY_0328: f64 = 1_711_584_000.0;

/// Jobs ending on Saturday, Easter Monday, Tuesday, Wednesday, and before the first ECB day.
fn ecb_jobs(results: &Path) {
    let day = |d: f64, h: f64| DAY_0328 + d * 86_400.0 + h * 3600.0;
    write_jobs(
        results,
        &[
            ("saturday", day(2.0, 12.0), 60.0),
            ("easter monday", day(4.0, 23.0), 60.0),
            ("tuesday", day(5.0, 10.0), 60.0),
            ("wednesday", day(6.0, 0.5), 60.0),
            ("before", day(-8.0, 12.0), 60.0),
        ],
    );
}

fn with_ecb(cfg: &Path, ecb: &str) {
    let text = std::fs::read_to_string(cfg)
        .unwrap()
        .replace("  reporting: [SEK, EUR, USD]\n", &format!("  reporting: [SEK, EUR, USD]\n  ecb: {ecb}\n"));
    std::fs::write(cfg, text).unwrap();
}

/// (USD per EUR, SEK per EUR) a job's compute cost was converted at.
fn job_rates(vm: &Vm, scenario: &str) -> (f64, f64) {
    let cost = |cur: &str| {
        vm.one(&sel("costpush_job_compute_cost", &format!(r#",scenario="{scenario}",currency="{cur}""#)))
            .values[0]
    };
    (cost("USD") / cost("EUR"), cost("SEK") / cost("EUR"))
}

fn assert_rates(vm: &Vm, scenario: &str, usd: f64, sek: f64) {
    let (u, s) = job_rates(vm, scenario);
    assert!(
        (u - usd).abs() < 1e-9 && (s - sek).abs() < 1e-9,
        "{scenario}: USD {u} SEK {s}, want {usd} {sek}"
    );
}

#[test]
fn ecb_files_convert_each_job_at_its_days_rates() {
    for (name, body) in [("eurofxref-hist-90d.xml", ECB_XML), ("eurofxref-hist.csv", ECB_CSV)] {
        let vm = Vm::start();
        let tmp = tempfile::tempdir().unwrap();
        let results = tmp.path().join("results");
        ecb_jobs(&results);
        let file = tmp.path().join(name);
        std::fs::write(&file, body).unwrap();
        let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
        with_ecb(&cfg, &format!("{{file: \"{}\"}}", file.display()));
        let out = run(&["once", "--config", cfg.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));

        assert_rates(&vm, "saturday", 1.0811, 11.5250);
        assert_rates(&vm, "easter monday", 1.0811, 11.5250);
        assert_rates(&vm, "tuesday", 1.0749, 11.5605);
        assert_rates(&vm, "wednesday", 1.0793, 11.5215);
        // Before the first ECB day: the configured fixed rates, counted.
        assert_rates(&vm, "before", 1.25, 10.0);
        assert_eq!(vm.one(&sel("costpush_jobs_at_fallback_rates_total", "")).last().1, 1.0);
        assert_eq!(vm.one(&sel("costpush_exchange_rate", r#",quote="USD""#)).last().1, 1.0793);

        // The date of the newest day, then a new day arrives and the date moves on.
        let newest = DAY_0328 + 6.0 * 86_400.0;
        let date = vm.one(&sel("costpush_exchange_rate_date_timestamp_seconds", r#",source="ecb""#));
        let (ts, v) = date.last();
        assert_eq!(v, newest, "{name}: date");
        let newer = if name.ends_with(".xml") {
            ECB_XML.replace(
                "\t<Cube>\n",
                "\t<Cube>\n\t\t<Cube time='2024-04-04'>\n\t\t\t<Cube currency='USD' rate='1.0833'/>\n\t\t\t<Cube currency='SEK' rate='11.4820'/>\n\t\t</Cube>\n",
            )
        } else {
            ECB_CSV.replace("SEK,\n", "SEK,\n2024-04-04,1.0833,164.18,1.9558,N/A,11.4820,\n")
        };
        std::fs::write(&file, newer).unwrap();
        let out = run(&["once", "--config", cfg.to_str().unwrap()]);
        assert!(out.status.success());
        let (ts2, v2) =
            vm.one(&sel("costpush_exchange_rate_date_timestamp_seconds", r#",source="ecb""#)).last();
        assert!(ts2 > ts);
        assert_eq!(v2, newest + 86_400.0, "{name}: date");
        assert_eq!(vm.one(&sel("costpush_exchange_rate", r#",quote="USD""#)).last().1, 1.0833);
    }
}

/// Serves `body` to every request on a loopback port until the listener is dropped.
fn serve(body: &'static str) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/stats/eurofxref/eurofxref-hist-90d.xml", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        if let Some(Ok(mut s)) = listener.incoming().next() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
        }
    });
    (url, handle)
}

#[test]
fn ecb_rates_are_fetched_into_the_state_dir_and_a_failed_fetch_is_counted() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    ecb_jobs(&results);
    let (url, server) = serve(ECB_XML);
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", "");
    with_ecb(&cfg, &format!("{{url: \"{url}\", fetch_every_seconds: 1}}"));
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.join().unwrap();
    assert!(tmp.path().join("state/ecb-rates.csv").exists());
    assert_rates(&vm, "tuesday", 1.0749, 11.5605);
    assert_eq!(vm.one(&sel("costpush_exchange_rate_fetch_failures_total", "")).last().1, 0.0);

    // The server is gone: the fetch fails, is counted, and the cached rates stay in use.
    std::thread::sleep(Duration::from_millis(1100));
    write_jobs(&results, &[("later tuesday", DAY_0328 + 5.0 * 86_400.0 + 7200.0, 60.0)]);
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("fetching ECB exchange rates"), "{stderr}");
    assert_eq!(vm.one(&sel("costpush_exchange_rate_fetch_failures_total", "")).last().1, 1.0);
    assert_rates(&vm, "later tuesday", 1.0749, 11.5605);
}

#[test]
fn hourly_intensity_embodied_share_and_idle_baseline() {
    let vm = Vm::start();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    // 2024-01-05: 10:00 = 100 g/kWh, 11:00 = 400 g/kWh in SE-SE3 (Electricity Maps export).
    let h10 = 1_704_448_800.0;
    let csv = tmp.path().join("intensity.csv");
    std::fs::write(
        &csv,
        "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,Data Estimated,Data Estimation Method\n\
         2024-01-05 10:00:00,Sweden,SE3,SE-SE3,20,100,98,70,svk.se,false,\n\
         2024-01-05 11:00:00,Sweden,SE3,SE-SE3,80,400,97,69,svk.se,false,\n",
    )
    .unwrap();
    // A 30-minute job at 100 W from 10:40 to 11:10, an idle baseline at 20 W before it, and
    // a job on a day the file does not cover.
    let job = |name: &str, end: f64, run: f64, watts: f64| {
        format!(
            r#"{{"name": "{name}", "duration": {run}, "end_time": {end}, "encoder_type": "libx264", "power_watts": [{watts}, {watts}], "step_seconds": 5}}"#
        )
    };
    std::fs::write(
        results.join("test_results_day.json"),
        format!(
            r#"{{"scenarios": [{}, {}, {}]}}"#,
            job("baseline idle", h10 + 600.0, 60.0, 20.0),
            job("two hours", h10 + 4200.0, 1800.0, 100.0),
            job("uncovered", h10 - 86_400.0, 1800.0, 100.0)
        ),
    )
    .unwrap();
    let extra = format!(
        "energy: {{idle_baseline: {{from_scenarios: true, watts: 30}}}}\ncarbon: {{intensity_file: \"{}\", embodied: {{kg_co2e: 1300, lifespan_years: 4}}}}\n",
        csv.display()
    );
    let cfg = write_config(tmp.path(), &results, &vm.write_url(), "test_results_*.json", &extra);
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "grid_intensity_year: 2025}",
        "grid_intensity_year: 2025, intensity_zone: SE-SE3}",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // 100 W x 1800 s = 0.05 kWh at (20 min x 100 + 10 min x 400) / 30 min = 200 g/kWh = 10 g.
    let co2 = vm.one(&sel("costpush_job_co2_grams", r#",scenario="two hours",intensity_source="hourly""#));
    assert!((co2.values[0] - 10.0).abs() < 1e-9, "{}", co2.values[0]);
    let i = vm.one(&sel("costpush_job_grid_intensity_grams_per_joule", r#",scenario="two hours""#));
    assert!((i.values[0] * 3_600_000.0 - 200.0).abs() < 1e-6, "{}", i.values[0]);
    // The other region has no zone: its annual 400 g/kWh.
    let south = vm.one(&sel(
        "costpush_job_whatif_co2_grams",
        r#",scenario="two hours",target_region="test-south",intensity_source="annual""#,
    ));
    assert!((south.values[0] - 20.0).abs() < 1e-9);
    // A day the file does not cover: the annual 36 g/kWh.
    let co2 = vm.one(&sel("costpush_job_co2_grams", r#",scenario="uncovered",intensity_source="annual""#));
    assert!((co2.values[0] - 1.8).abs() < 1e-9);
    // 1300 kg over 4 Julian years, 1800 s of it.
    let emb = vm.one(&sel("costpush_job_embodied_co2_grams", r#",scenario="two hours""#));
    assert!((emb.values[0] - 1.3e6 * 1800.0 / (4.0 * 365.25 * 86_400.0)).abs() < 1e-9);
    // Net of the measured 20 W idle (the configured 30 W is only a fallback): 80 W x 1800 s.
    let net = vm.one(&sel("costpush_job_net_energy_joules", r#",scenario="two hours",baseline="measured""#));
    assert!((net.values[0] - 144_000.0).abs() < 1e-9);
    assert_eq!(vm.one(&sel("costpush_idle_baseline_watts", r#",baseline="measured""#)).last().1, 20.0);
}
