//! Ctrl-C (SIGINT) and SIGTERM while a command runs: the first asks it to stop where it can
//! stop cleanly (`import` at the next batch boundary: the batch being written completes or
//! fails as usual, none is started after it; `tail` after the last event it printed); the
//! second ends the process at once, with status 130, for a command stuck where it cannot
//! look (a write to a stalled pipe, a slow store call).

use tokio::sync::watch;

/// Exit status of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Whether the user asked to stop.
pub struct Interrupt {
    asked: watch::Receiver<bool>,
}

impl Interrupt {
    /// Takes over SIGINT and SIGTERM (their default action, ending the process at once, is
    /// gone until the process ends). `stopping` is logged (info) at the first signal, `again`
    /// printed on stderr at the second, just before the process exits: each command says
    /// what an early exit leaves behind.
    pub fn listen(stopping: &'static str, again: &'static str) -> anyhow::Result<Self> {
        let (tx, asked) = watch::channel(false);
        let mut signals = Signals::new()?;
        tokio::spawn(async move {
            signals.next().await;
            tracing::info!(target: "grafi_cli", "interrupted: {stopping}");
            let _ = tx.send(true);
            signals.next().await;
            crate::errln!("interrupted again: exiting now; {again}");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        });
        Ok(Self { asked })
    }

    /// An interrupt set by sending `true`, without touching the process's signals.
    #[cfg(test)]
    pub fn manual() -> (watch::Sender<bool>, Self) {
        let (tx, asked) = watch::channel(false);
        (tx, Self { asked })
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        *self.asked.borrow()
    }

    /// Returns once a stop is asked for.
    pub async fn wait(&self) {
        let mut asked = self.asked.clone();
        if asked.wait_for(|&asked| asked).await.is_err() {
            // The listener is gone (the runtime is shutting down): no stop will come.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self)
    }

    async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
