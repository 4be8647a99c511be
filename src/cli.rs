//! The command line: subcommands, their flags and help text (the binary's only module; the man
//! page and the shell completions are generated from these definitions).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "costpush",
    version = crate::VERSION,
    about = "Energy, cost, CO2 and quality of encode jobs, pushed by Prometheus remote write",
    long_about = "Energy, cost, CO2 and quality of encode jobs, pushed by Prometheus remote write.\n\n\
        costpush reads video-encoding results files (test_results_*.json), computes each job's \
        energy, cost, CO2 and quality, projects them, and pushes the samples to VictoriaMetrics \
        or any Prometheus remote-write 1.0 receiver through a durable queue.\n\n\
        Exit codes: 0 success; 1 the work failed (a push not acknowledged, an I/O error); 2 bad \
        usage or configuration.\n\n\
        Environment: COSTPUSH_LOG sets the log level or per-target directives \
        (info,costpush=debug)."
)]
pub(crate) struct Cli {
    /// Log format on stderr: `text` for people, `json` (one object a line, with timestamp,
    /// level, target and the event's fields) for a log pipeline.
    #[arg(long, global = true, value_enum, env = "COSTPUSH_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The configuration file and what may override it: the flags of `validate`, `once` and `run`.
#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The configuration file (YAML; see config/costpush.example.yml).
    #[arg(long, value_name = "FILE", env = "COSTPUSH_CONFIG")]
    pub(crate) config: PathBuf,
    /// Results directory to read instead of the config's results.dirs (repeatable).
    #[arg(long = "results-dir", value_name = "DIR")]
    pub(crate) results_dir: Vec<PathBuf>,
    /// Remote-write URL: replaces the config's destinations with one, this URL with the first
    /// destination's other settings.
    #[arg(
        long = "remote-write-url",
        value_name = "URL",
        env = "COSTPUSH_REMOTE_WRITE_URL",
        hide_env_values = true
    )]
    pub(crate) remote_write_url: Option<String>,
    /// State directory (state, queue, caches) instead of the config's state_dir.
    #[arg(long = "state-dir", value_name = "DIR", env = "COSTPUSH_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Cron schedule instead of the config's schedule: five fields, or six with seconds first.
    #[arg(long, value_name = "CRON")]
    pub(crate) schedule: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Check a configuration file: exit 0, or print every problem and exit 2.
    Validate {
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// One ingest-and-push cycle; the exit code says whether the push succeeded.
    Once {
        #[command(flatten)]
        agent: AgentArgs,
        /// Print the samples (Prometheus text with HELP, TYPE and timestamps) instead of
        /// pushing; writes no state.
        #[arg(long)]
        dry_run: bool,
        /// Progress on stderr: `auto` draws a bar on a terminal and logs events otherwise,
        /// `bar`, `log`, or `none`.
        #[arg(long, value_enum, default_value_t = Progress::Auto)]
        progress: Progress,
    },
    /// Run cycles on the schedule until SIGTERM or SIGINT; SIGHUP reloads the configuration.
    Run {
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Fit exponential smoothing to a CSV column `value` and forecast with 80 % and 95 % intervals.
    Forecast {
        /// The series: a column `value` (blank: missing), one row per step, oldest first.
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
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Least squares of COLUMN on the other columns (text columns one-hot), then 95 % bands for
    /// the rows of NEW.csv.
    Regress {
        /// The training rows (CSV with a header).
        #[arg(long, value_name = "TRAIN")]
        csv: PathBuf,
        /// The column to explain.
        #[arg(long, value_name = "COLUMN")]
        target: String,
        /// Rows to predict, with the training columns but the target.
        #[arg(long, value_name = "NEW.csv")]
        predict: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script on stdout (e.g. `costpush completions bash >
    /// /usr/share/bash-completion/completions/costpush`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout (e.g. `costpush man | man -l -`).
    Man,
}

/// How `once` shows its progress.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Progress {
    Auto,
    Bar,
    Log,
    None,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_definitions_hold_together_and_every_flag_has_help() {
        let cmd = super::Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        for sub in cmd.get_subcommands() {
            for arg in sub.get_arguments() {
                let name = arg.get_id().as_str();
                if arg.get_help().is_none() && !["help", "version"].contains(&name) {
                    missing.push(format!("{} --{name}", sub.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "flags without help text: {missing:?}");
    }
}
