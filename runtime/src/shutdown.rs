//! Graceful shutdown: the first SIGTERM or SIGINT cancels the returned token (the loop drains,
//! flushes and commits); a second signal exits at once with status 130.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Listens for SIGTERM/SIGINT in the background.
pub fn on_signals() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "Shutdown requested; draining."),
            _ = int.recv() => tracing::info!(signal = "SIGINT", "Shutdown requested; draining."),
        }
        cancel.cancel();
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::warn!("Second signal: exiting without draining.");
        std::process::exit(130);
    });
    Ok(token)
}
