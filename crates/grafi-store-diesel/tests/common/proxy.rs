//! An in-test TCP proxy that can stop forwarding (a network partition: bytes are held, not
//! refused or reset, like a link that went dark) and heal.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
    partitioned: Arc<AtomicBool>,
    flags: Arc<Flags>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free local port and forwards to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let partitioned = Arc::new(AtomicBool::new(false));
        let flags = Arc::new(Flags::default());
        let flag = partitioned.clone();
        let shared = flags.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if shared.down.load(Ordering::SeqCst) {
                    drop(client); // the database is unreachable: connections are reset
                    continue;
                }
                let flag = flag.clone();
                let flags = shared.clone();
                tokio::spawn(async move {
                    // A connection opened during a partition hangs until it heals.
                    wait_healed(&flag).await;
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, flag.clone(), flags.clone(), true));
                    tokio::spawn(pump(sr, cw, flag, flags, false));
                });
            }
        });
        Self {
            port,
            partitioned,
            flags,
            task,
        }
    }

    /// Arms a cut: the next `COMMIT` a client sends reaches the server, but its answer never
    /// comes back — every connection is closed and new ones are refused until [`Self::restore`]
    /// (the server committed; the client cannot know).
    pub fn cut_after_next_commit(&self) {
        self.arm(b"COMMIT");
    }

    fn arm(&self, pattern: &'static [u8]) {
        *self.flags.cut_on.lock().unwrap() = Some(pattern);
    }

    /// Whether the armed cut happened.
    pub fn cut_happened(&self) -> bool {
        self.flags.down.load(Ordering::SeqCst)
    }

    /// Accepts connections again after a cut.
    pub fn restore(&self) {
        self.flags.down.store(false, Ordering::SeqCst);
    }

    pub fn partition(&self) {
        self.partitioned.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.partitioned.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Flags {
    /// The bytes whose passage triggers the armed cut.
    cut_on: std::sync::Mutex<Option<&'static [u8]>>,
    down: AtomicBool,
}

async fn wait_healed(flag: &AtomicBool) {
    while flag.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    flag: Arc<AtomicBool>,
    flags: Arc<Flags>,
    client_to_server: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    // The end of the previous read, so a pattern split across two reads is still seen.
    let mut seen: Vec<u8> = Vec::new();
    loop {
        wait_healed(&flag).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if flags.down.load(Ordering::SeqCst) {
            break; // cut: nothing more goes through, both ways
        }
        let armed = *flags.cut_on.lock().unwrap();
        let cut = match armed {
            Some(pattern) if client_to_server => {
                seen.extend_from_slice(&buf[..n]);
                let found = seen.windows(pattern.len()).any(|w| w == pattern);
                let keep = seen.len().saturating_sub(pattern.len() - 1);
                seen.drain(..keep);
                found
            }
            _ => {
                seen.clear();
                false
            }
        };
        if cut {
            *flags.cut_on.lock().unwrap() = None;
            flags.down.store(true, Ordering::SeqCst);
            let _ = to.write_all(&buf[..n]).await;
            // Let the server read and execute the COMMIT before its socket closes.
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        // Read during the partition: hold the bytes until it heals.
        wait_healed(&flag).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
