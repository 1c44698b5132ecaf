//! A private PostgreSQL 15 instance per test: `initdb` in a temp dir, its own free port,
//! started and stopped with `pg_ctl` — faults can be injected without touching the shared
//! server. Binaries come from `GRAFI_PG_BIN` (default `/usr/lib/postgresql/15/bin`). PostgreSQL
//! refuses to run as root, so when the tests run as root the server runs as `GRAFI_PG_USER`
//! (default `postgres`) through `runuser`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

pub struct PgInstance {
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    // Dropped last: removes the data directory.
    _dir: tempfile::TempDir,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgInstance {
    /// initdb + start, with `settings` appended to postgresql.conf.
    pub fn start_new(settings: &[(&str, &str)]) -> Self {
        let bin = PathBuf::from(
            std::env::var("GRAFI_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        let run_as =
            is_root().then(|| std::env::var("GRAFI_PG_USER").unwrap_or_else(|_| "postgres".into()));
        let dir = tempfile::Builder::new()
            .prefix("grafi-pg-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .arg(user)
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the temp dir to {user}");
        }
        let port = free_port();
        let instance = Self {
            port,
            data,
            log,
            bin,
            run_as,
            _dir: dir,
        };
        instance.run_ok(
            "initdb",
            &[
                "-D",
                instance.data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let mut conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
             max_connections = 60\nlc_messages = 'C'\nlog_min_messages = warning\n"
        );
        for (k, v) in settings {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        let conf_path = instance.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&conf_path, text).expect("write postgresql.conf");
        instance.start();
        instance
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(exe).args(args);
                c
            }
            None => {
                let mut c = Command::new(exe);
                c.args(args);
                c
            }
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    fn run_ok(&self, program: &str, args: &[&str]) {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }

    /// The last lines of the server log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// `pg_ctl start -w`: returns once the server accepts connections.
    pub fn start(&self) {
        self.run_ok(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                self.log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// `pg_ctl stop -m <mode>` (`fast`, `immediate`).
    pub fn stop(&self, mode: &str) {
        self.run_ok(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-m", mode, "-w", "stop"],
        );
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_on(self.port)
    }

    /// The same database, reached through another port (a proxy).
    pub fn url_on(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    /// Runs SQL on a fresh admin connection.
    pub async fn sql(&self, sql: &str) {
        let mut conn = AsyncPgConnection::establish(&self.url())
            .await
            .expect("admin connection");
        conn.batch_execute(sql).await.expect(sql);
    }

    /// One scalar as text, on a fresh admin connection.
    pub async fn scalar(&self, sql: &str) -> String {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            v: String,
        }
        let mut conn = AsyncPgConnection::establish(&self.url())
            .await
            .expect("admin connection");
        let row: Row = diesel::sql_query(format!("SELECT ({sql})::text AS v"))
            .get_result(&mut conn)
            .await
            .expect(sql);
        row.v
    }

    /// Terminates every backend of the store (application_name `grafi-store-diesel`);
    /// returns how many.
    pub async fn terminate_store_backends(&self) -> usize {
        self.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'grafi-store-diesel' AND pid <> pg_backend_pid()",
        )
        .await
        .parse()
        .unwrap()
    }

    /// Waits until the server accepts connections (after a restart), up to `limit`.
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if AsyncPgConnection::establish(&self.url()).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        // Never leave a server behind, whatever state the test left it in.
        let _ = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    self.data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )
            .output();
    }
}
