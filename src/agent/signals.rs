//! Shutdown: the signals that end the daemon.

use std::future::Future;

use tracing::debug;

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
