//! The `costpush` command: parses arguments, sets up logging, runs a subcommand and owns the exit
//! code (0 success, 1 the work failed, 2 bad usage or configuration).

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use cli::{Cli, Command, LogFormat, Progress};
use costpush::config::{self, Overrides};

/// `--version`: the package version, and the git commit when built from a checkout.
const VERSION: &str = env!("COSTPUSH_VERSION");

/// Writes `out` to stdout; a reader that stops early (`| head`) is not a failure.
fn write_stdout(out: &[u8]) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(out) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Progress of `forecast --model ets`, whose fits take seconds each on a long series: after the
/// first second, a bar on a terminal (text logs), else a log event per model fitted.
fn forecast_progress(bar_ok: bool) -> impl FnMut(costpush::stats::forecast::Fitted<'_>) {
    let started = std::time::Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    move |f| {
        let elapsed = started.elapsed();
        if elapsed < std::time::Duration::from_secs(1) && bar.is_none() {
            return;
        }
        if bar_ok {
            let b = bar.get_or_insert_with(|| {
                let b = indicatif::ProgressBar::new(f.total as u64);
                let style = indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} models, {msg}, {elapsed} (eta {eta})",
                );
                b.set_style(style.expect("a valid template"));
                b
            });
            b.set_position(f.done as u64);
            b.set_message(format!("last {}", f.model));
            if f.done == f.total {
                b.finish_and_clear();
            }
        } else {
            let eta_s = elapsed.as_secs_f64() * (f.total - f.done) as f64 / f.done as f64;
            tracing::info!(
                models_done = f.done,
                models_total = f.total,
                model = f.model,
                elapsed_s = (elapsed.as_secs_f64() * 10.0).round() / 10.0,
                eta_s = (eta_s * 10.0).round() / 10.0,
                "progress"
            );
        }
    }
}

/// The offline commands: no configuration, no network (the statistics, completions, the man
/// page). `None` for the other commands.
fn offline(cmd: &Command, bar_ok: bool) -> Option<ExitCode> {
    type Render = fn(&serde_json::Value) -> String;
    let (doc, json, text): (Result<serde_json::Value, String>, bool, Render) = match cmd {
        Command::Forecast { csv, period, horizon, model, long_period, params, sigma2, json } => {
            let sigma2 = if sigma2 == "mle" {
                costpush::stats::forecast::Sigma2::Mle
            } else {
                costpush::stats::forecast::Sigma2::Unbiased
            };
            let args = costpush::stats::offline::ForecastArgs {
                csv,
                period: *period,
                long_period: *long_period,
                horizon: *horizon,
                model,
                params: params.as_deref(),
                sigma2,
            };
            let doc = costpush::stats::offline::forecast_reporting(&args, &mut forecast_progress(bar_ok));
            (doc, *json, costpush::stats::offline::forecast_text)
        }
        Command::Regress { csv, target, predict, json } => (
            costpush::stats::offline::regress(csv, target, predict),
            *json,
            costpush::stats::offline::regress_text,
        ),
        // Made in memory, then written: `| head` closing the pipe is not a failure.
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "costpush", &mut script);
            return Some(write_stdout(&script));
        }
        Command::Man => {
            let mut page = Vec::new();
            return Some(match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => write_stdout(&page),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            });
        }
        _ => return None,
    };
    Some(match doc {
        Ok(v) => write_stdout((if json { format!("{v:#}\n") } else { text(&v) }).as_bytes()),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    })
}

fn main() -> ExitCode {
    costpush::tune_allocator();
    let cli = Cli::parse();
    {
        use tracing_subscriber::prelude::*;
        // `COSTPUSH_LOG`: a level, or `target=level` directives (`info,costpush=debug`); a
        // value that does not parse means `info`. (Targets, not EnvFilter: no regex engine in
        // the binary.)
        let filter: tracing_subscriber::filter::Targets = std::env::var("COSTPUSH_LOG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        match cli.log_format {
            // Colours only for a person at a terminal, not for journald or a pipe.
            LogFormat::Text => {
                let fmt = fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
                tracing_subscriber::registry().with(fmt).with(filter).init();
            }
            // The event's message and fields at the top level, beside timestamp, level and
            // target; the spans (a destination's name) in `spans`.
            LogFormat::Json => {
                let fmt = fmt.json().flatten_event(true).with_current_span(false).with_span_list(true);
                tracing_subscriber::registry().with(fmt).with(filter).init();
            }
        }
    }
    // A bar only for a person at a terminal reading text.
    let bar_ok = cli.log_format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if let Some(code) = offline(&cli.command, bar_ok) {
        return code;
    }
    let agent = match &cli.command {
        Command::Validate { agent } | Command::Once { agent, .. } | Command::Run { agent } => agent,
        _ => unreachable!("handled by offline()"),
    };
    let path = agent.config.clone();
    let ov = Overrides {
        results_dirs: agent.results_dir.clone(),
        remote_write_url: agent.remote_write_url.clone(),
        state_dir: agent.state_dir.clone(),
        schedule: agent.schedule.clone(),
    };
    // One thread runs every task (the sender, the schedule, the outside sources): they mostly
    // wait. The daemon's cycles, the CPU-heavy part, each run on a thread of their own
    // (`agent::run`), so no worker pool is kept idle beside them.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The daemon takes over SIGTERM, SIGINT and SIGHUP before anything else, so a signal
    // during start-up is not fatal.
    let signals = match &cli.command {
        Command::Run { .. } => {
            let _in_runtime = rt.enter();
            match costpush::agent::shutdown_signal()
                .and_then(|s| Ok((s, costpush::agent::reload_signal(path.clone(), ov.clone())?)))
            {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("error: cannot install signal handlers: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ => None,
    };
    // With JSON logs, what the command has to say at the end goes to the log pipeline too.
    let json = cli.log_format == LogFormat::Json;
    let cfg = match config::load(&path, &ov) {
        Ok(c) => c,
        Err(e) => {
            for p in &e.problems {
                if json {
                    tracing::error!(problem = %p, "invalid configuration");
                } else {
                    eprintln!("error: {p}");
                }
            }
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Validate { .. } => {
            println!(
                "{}: ok ({} regions, host {} in {})",
                path.display(),
                cfg.regions.len(),
                cfg.host,
                cfg.region
            );
            Ok(())
        }
        Command::Once { dry_run: true, .. } => {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            match costpush::agent::dry_run(&cfg, std::time::SystemTime::now(), &mut out) {
                // `| head` closing the pipe early is not a failure.
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
                {
                    Ok(())
                }
                r => r,
            }
        }
        Command::Once { dry_run: false, progress, .. } => {
            let mode = match progress {
                Progress::Bar => costpush::agent::ProgressMode::Bar,
                Progress::Log => costpush::agent::ProgressMode::Log,
                Progress::None => costpush::agent::ProgressMode::None,
                Progress::Auto if bar_ok => costpush::agent::ProgressMode::Bar,
                Progress::Auto => costpush::agent::ProgressMode::Log,
            };
            rt.block_on(costpush::agent::once_with_progress(&cfg, mode)).map(|o| {
            let delivered: Vec<String> = o
                .drained
                .iter()
                .map(|d| {
                    format!(
                        "to {:?} delivered {} queued batches ({} samples) in {} requests",
                        d.destination, d.batches, d.delivered, d.requests
                    )
                })
                .collect();
            if json {
                let (samples, batches, new_jobs) =
                    (o.enqueued.samples, o.enqueued.batches, o.enqueued.new_jobs);
                tracing::info!(samples, batches, new_jobs, delivered = %delivered.join("; "), "once done");
            } else {
                eprintln!(
                    "queued {} samples in {} batches ({} new jobs); {}",
                    o.enqueued.samples,
                    o.enqueued.batches,
                    o.enqueued.new_jobs,
                    delivered.join("; ")
                );
            }
            })
        }
        Command::Run { .. } => {
            let (shutdown, reloads) = signals.expect("installed above for run");
            rt.block_on(costpush::agent::run(cfg, reloads, shutdown))
        }
        _ => unreachable!("handled by offline()"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if json => {
            tracing::error!(error = %format!("{e:#}"), "failed");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
