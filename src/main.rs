//! The `costpush` command: parses arguments, sets up logging, runs a subcommand and owns the exit
//! code (0 success, 1 the work failed, 2 bad usage or configuration).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use costpush::config::{self, Overrides};

#[derive(Parser)]
#[command(
    name = "costpush",
    version,
    about = "Energy, cost, CO2 and quality of encode jobs, pushed by Prometheus remote write"
)]
struct Cli {
    /// Results directory to read instead of the config's results.dirs (repeatable).
    #[arg(long = "results-dir", global = true, value_name = "DIR")]
    results_dir: Vec<PathBuf>,
    /// Remote-write URL: replaces the config's destinations with one, this URL with the first
    /// destination's other settings.
    #[arg(long = "remote-write-url", global = true, value_name = "URL")]
    remote_write_url: Option<String>,
    /// State directory instead of the config's state_dir.
    #[arg(long = "state-dir", global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Cron schedule instead of the config's schedule.
    #[arg(long, global = true, value_name = "CRON")]
    schedule: Option<String>,
    /// Log format on stderr: `text` for people, `json` (one object a line, with timestamp,
    /// level, target and the event's fields) for a log pipeline.
    #[arg(long, global = true, value_enum, env = "COSTPUSH_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check a configuration file: exit 0, or print every problem and exit 2.
    Validate {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// One ingest-and-push cycle; the exit code says whether the push succeeded.
    Once {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print the samples (Prometheus text with timestamps) instead of pushing; writes no state.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run cycles on the schedule until SIGTERM or SIGINT.
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Fit exponential smoothing to a CSV column `value` and forecast with 80 % and 95 % intervals.
    Forecast {
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Seasonal period in rows (e.g. 24 for hourly data with a daily cycle; 1 for none).
        #[arg(long, value_name = "M")]
        period: usize,
        /// Steps to forecast.
        #[arg(long, value_name = "H")]
        horizon: usize,
        /// auto (candidates chosen by backtest), ets (the exponential-smoothing model of lowest
        /// AICc), or one of ANN, AAN, AAdN, ANA, AAA, AAdA, ANM, AAM, AAdM.
        #[arg(long, default_value = "auto")]
        model: String,
        /// The long seasonal period for auto (default: seven periods, a week of days; 0: none).
        #[arg(long, value_name = "STEPS")]
        long_period: Option<usize>,
        /// Fixed smoothing parameters, e.g. alpha=0.3,beta=0.1,gamma=0.2,phi=0.95 (beta is the
        /// Holt-form β*); initial states are still estimated.
        #[arg(long, value_name = "LIST")]
        params: Option<String>,
        /// σ² for the intervals: unbiased = SSE/(n−k) as R, mle = SSE/n as statsmodels.
        #[arg(long, default_value = "unbiased", value_parser = ["unbiased", "mle"])]
        sigma2: String,
        #[arg(long)]
        json: bool,
    },
    /// Least squares of COLUMN on the other columns (text columns one-hot), then 95 % bands for
    /// the rows of NEW.csv.
    Regress {
        #[arg(long, value_name = "TRAIN")]
        csv: PathBuf,
        #[arg(long, value_name = "COLUMN")]
        target: String,
        #[arg(long, value_name = "NEW.csv")]
        predict: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// The offline commands: no configuration, no network. `None` for the other commands.
fn offline(cmd: &Command) -> Option<ExitCode> {
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
            (costpush::stats::offline::forecast(&args), *json, costpush::stats::offline::forecast_text)
        }
        Command::Regress { csv, target, predict, json } => (
            costpush::stats::offline::regress(csv, target, predict),
            *json,
            costpush::stats::offline::regress_text,
        ),
        _ => return None,
    };
    Some(match doc {
        Ok(v) => {
            let out = if json { format!("{v:#}\n") } else { text(&v) };
            use std::io::Write;
            match std::io::stdout().lock().write_all(out.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
                _ => ExitCode::SUCCESS,
            }
        }
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
    let ov = Overrides {
        results_dirs: cli.results_dir,
        remote_write_url: cli.remote_write_url,
        state_dir: cli.state_dir,
        schedule: cli.schedule,
    };
    if let Some(code) = offline(&cli.command) {
        return code;
    }
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
    // The daemon takes over SIGTERM/SIGINT before anything else, so a stop during start-up
    // still ends in a clean exit.
    let shutdown = match &cli.command {
        Command::Run { .. } => {
            let _in_runtime = rt.enter();
            match costpush::agent::shutdown_signal() {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("error: cannot install signal handlers: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ => None,
    };
    let path = match &cli.command {
        Command::Validate { config } | Command::Once { config, .. } | Command::Run { config } => {
            config.clone()
        }
        Command::Forecast { .. } | Command::Regress { .. } => unreachable!("handled by offline()"),
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
        Command::Once { dry_run: false, .. } => rt.block_on(costpush::agent::once(&cfg)).map(|o| {
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
        }),
        Command::Run { .. } => {
            rt.block_on(costpush::agent::run(cfg, shutdown.expect("installed above for run")))
        }
        Command::Forecast { .. } | Command::Regress { .. } => unreachable!("handled by offline()"),
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
