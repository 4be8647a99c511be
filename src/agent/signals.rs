//! The daemon's signals: SIGTERM and SIGINT end it, SIGHUP reloads its configuration.

use std::future::Future;

use tracing::{debug, error, info};

/// Registers the SIGTERM and SIGINT handlers now, so that a signal arriving while the daemon
/// starts up is not fatal, and returns a future that completes on the first of them. Needs a
/// tokio runtime context.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => debug!("SIGTERM"),
            _ = int.recv() => debug!("SIGINT"),
        }
    })
}

/// Registers the SIGHUP handler now, and returns the configurations it loads: on each SIGHUP
/// the file is read again with the same overrides and checked; a configuration with problems
/// is logged, problem by problem, and not passed on (the running one stays). Needs a tokio
/// runtime context.
pub fn reload_signal(
    path: std::path::PathBuf,
    overrides: crate::config::Overrides,
) -> std::io::Result<tokio::sync::mpsc::Receiver<crate::config::Config>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            info!(config = %path.display(), "SIGHUP: reading the configuration again");
            match crate::config::load(&path, &overrides) {
                Ok(cfg) => {
                    // One reload waiting is enough: a newer file is read at the next SIGHUP.
                    if tx.send(cfg).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    for p in &e.problems {
                        error!(problem = %p, "reload refused: the configuration has problems; the running one stays");
                    }
                }
            }
        }
    });
    Ok(rx)
}
