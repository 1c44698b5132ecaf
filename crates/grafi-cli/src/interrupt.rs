//! Ctrl-C (SIGINT) and SIGTERM while `import` runs: the first asks it to stop at the next
//! batch boundary (the batch being written completes or fails as usual, none is started
//! after it); the second ends the process at once. Both exit with status 130.

use tokio::sync::watch;

/// Exit status of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Whether the user asked to stop.
pub struct Interrupt {
    asked: watch::Receiver<bool>,
}

impl Interrupt {
    /// Takes over SIGINT and SIGTERM (their default action, ending the process at once, is
    /// gone until the process ends).
    pub fn listen() -> anyhow::Result<Self> {
        let (tx, asked) = watch::channel(false);
        let mut signals = Signals::new()?;
        tokio::spawn(async move {
            signals.next().await;
            tracing::info!(target: "grafi_cli", "interrupted: stopping at the next batch boundary");
            let _ = tx.send(true);
            signals.next().await;
            crate::errln!(
                "interrupted again: exiting now; the batch being written may or may not be \
                 stored (running the same import again is safe)"
            );
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        });
        Ok(Self { asked })
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
