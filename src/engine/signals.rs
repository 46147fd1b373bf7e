//! What stops a run early: SIGINT, SIGTERM, SIGHUP (a closed terminal or SSH session),
//! SIGQUIT, or the loss of the run lease. Each flips one cancel channel; the engine then
//! restores every change and exits 130.
//!
//! A second signal never abandons the restore: it is acknowledged on stderr (with how to
//! abandon it for real: SIGKILL, then `acr-chaos recover`), and the restore goes on.
//! Leaving faults behind because someone pressed Ctrl-C twice is the failure this tool
//! exists to prevent.

use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Cancels a run once, remembering why.
#[derive(Clone, Debug)]
pub struct Canceller {
    tx: Arc<watch::Sender<bool>>,
    reason: Arc<Mutex<Option<String>>>,
}

impl Canceller {
    /// A canceller and the receiver the engine's waits watch.
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Self { tx: Arc::new(tx), reason: Arc::new(Mutex::new(None)) }, rx)
    }

    /// Cancel with `reason`; `false` when the run was already cancelled.
    pub fn cancel(&self, reason: &str) -> bool {
        let Ok(mut r) = self.reason.lock() else { return false };
        if r.is_some() {
            return false;
        }
        *r = Some(reason.to_string());
        let _ = self.tx.send(true);
        true
    }

    /// Why the run was cancelled, if it was.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

/// Write to stderr without panicking: after SIGHUP the terminal may be gone.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Listen for the stopping signals for the rest of the process.
pub fn spawn_handler(c: Canceller) {
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else {
                tracing::warn!(signal = name, "cannot listen for the signal");
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            on_signal(&c, name);
        }
    });
}

fn on_signal(c: &Canceller, name: &str) {
    if name == "SIGHUP" {
        detach_from_dead_terminal();
    }
    if c.cancel(name) {
        say(&format!("interrupted ({name}): restoring every change before exiting"));
    } else {
        say(&format!(
            "{name}: the restore is still running and will finish; to abandon it, send SIGKILL and then run `acr-chaos recover --target FILE`"
        ));
    }
}

/// After a hang-up, a terminal on stdout/stderr answers every write with EIO; point them
/// at /dev/null so that nothing the restore prints can fail it. Pipes and files (CI logs)
/// are left alone.
fn detach_from_dead_terminal() {
    use std::io::IsTerminal;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else { return };
    if std::io::stdout().is_terminal() {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    if std::io::stderr().is_terminal() {
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancels_once_and_keeps_the_first_reason() {
        let (c, rx) = Canceller::new();
        assert!(!*rx.borrow());
        assert!(c.cancel("SIGHUP"));
        assert!(!c.cancel("SIGINT"));
        assert!(*rx.borrow());
        assert_eq!(c.reason().as_deref(), Some("SIGHUP"));
    }
}
