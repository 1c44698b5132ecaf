//! A private PostgreSQL 15 instance per test: `initdb` in a temp dir, its own free port,
//! started and stopped with `pg_ctl` — faults can be injected without touching the shared
//! server. Binaries come from `GRAFI_PG_BIN` (default `/usr/lib/postgresql/15/bin`). PostgreSQL
//! refuses to run as root, so when the tests run as root the server runs as `GRAFI_PG_USER`
//! (default `postgres`) through `runuser`.
//!
//! [`PgInstance::setup`] adds files to the data directory before the first start (TLS
//! certificates and keys, owned by the server user) and `pg_hba.conf` lines that are matched
//! before initdb's `trust` lines (e.g. `scram-sha-256` for a password role), and environment
//! variables for the server's programs (e.g. `LOCPATH` for a locale generated in a temp dir).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// A file written into the data directory before the server starts, owned by the server
/// user, with `mode` (e.g. `0o600`, which PostgreSQL requires of `ssl_key_file`).
#[derive(Clone, Debug)]
pub struct DataFile {
    /// Relative to the data directory (what `ssl_cert_file = 'name'` resolves against).
    pub name: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

impl DataFile {
    pub fn new(name: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        Self {
            name: name.to_owned(),
            contents: contents.into(),
            mode,
        }
    }
}

/// What a private instance is started with; [`PgInstance::setup`] builds one.
#[derive(Clone, Debug, Default)]
pub struct PgSetup {
    settings: Vec<(String, String)>,
    files: Vec<DataFile>,
    hba: Vec<String>,
    env: Vec<(String, String)>,
}

impl PgSetup {
    /// `key = value` appended to postgresql.conf (`value` as written there: quote strings).
    pub fn setting(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn settings(mut self, settings: &[(&str, &str)]) -> Self {
        for (k, v) in settings {
            self = self.setting(k, v);
        }
        self
    }

    pub fn file(mut self, file: DataFile) -> Self {
        self.files.push(file);
        self
    }

    pub fn files(mut self, files: &[DataFile]) -> Self {
        self.files.extend_from_slice(files);
        self
    }

    /// A `pg_hba.conf` line, matched before initdb's `trust` lines (which stay, so the admin
    /// helpers keep working as `postgres` without a password).
    pub fn hba(mut self, line: &str) -> Self {
        self.hba.push(line.to_owned());
        self
    }

    /// `key=value` in the environment of every server program (initdb, pg_ctl and so the
    /// server it starts). Under `runuser` they are passed through `env key=value …` after the
    /// user switch, so nothing depends on what `runuser` keeps of the caller's environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        assert!(
            !key.is_empty() && !key.contains('='),
            "invalid environment variable name {key:?}"
        );
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// initdb, write the files and configuration, start.
    pub fn start(self) -> PgInstance {
        PgInstance::start_setup(self)
    }
}

pub struct PgInstance {
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    /// Environment of every server program ([`PgSetup::env`]).
    env: Vec<(String, String)>,
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
        Self::setup().settings(settings).start()
    }

    /// initdb + `files` written into the data directory + start, with `settings` appended
    /// to postgresql.conf.
    pub fn start_with(settings: &[(&str, &str)], files: &[DataFile]) -> Self {
        Self::setup().settings(settings).files(files).start()
    }

    /// Settings, files and `pg_hba.conf` lines for the next start.
    pub fn setup() -> PgSetup {
        PgSetup::default()
    }

    fn start_setup(setup: PgSetup) -> Self {
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
            env: setup.env.clone(),
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
        for (k, v) in &setup.settings {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        let conf_path = instance.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&conf_path, text).expect("write postgresql.conf");
        for file in &setup.files {
            instance.write_data_file(file);
        }
        if !setup.hba.is_empty() {
            instance.write_hba(&setup.hba);
        }
        instance.start();
        instance
    }

    /// Writes `file` into the data directory, owned by the server user, with its mode.
    fn write_data_file(&self, file: &DataFile) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data.join(&file.name);
        assert!(
            Path::new(&file.name).is_relative() && !file.name.contains(".."),
            "{} is not inside the data directory",
            file.name
        );
        std::fs::write(&path, &file.contents)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        self.chown_to_server_user(&path);
    }

    fn chown_to_server_user(&self, path: &Path) {
        if let Some(user) = &self.run_as {
            let status = Command::new("chown")
                .arg(user)
                .arg(path)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {} to {user}", path.display());
        }
    }

    /// `lines` first, then initdb's own `pg_hba.conf` (its `trust` lines): the first match wins,
    /// so these take precedence for the roles and addresses they name.
    fn write_hba(&self, lines: &[String]) {
        let path = self.data.join("pg_hba.conf");
        let initdb = std::fs::read_to_string(&path).expect("pg_hba.conf");
        let mut text = String::from("# added by the test (first match wins)\n");
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&initdb);
        std::fs::write(&path, text).expect("write pg_hba.conf");
        self.chown_to_server_user(&path);
    }

    /// The effective `pg_hba.conf` rules the server reports (`pg_hba_file_rules`), one per
    /// line, with any parse error: for diagnostics.
    pub async fn hba_rules(&self) -> String {
        self.scalar(
            "SELECT string_agg(concat_ws(' ', line_number, type, database::text, \
             user_name::text, address, auth_method, error), E'\\n' ORDER BY line_number) \
             FROM pg_hba_file_rules",
        )
        .await
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--");
                if !self.env.is_empty() {
                    c.arg("env");
                    c.args(self.env.iter().map(|(k, v)| format!("{k}={v}")));
                }
                c.arg(exe).args(args);
                c
            }
            None => {
                let mut c = Command::new(exe);
                c.envs(self.env.iter().map(|(k, v)| (k, v)));
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

    /// What the admin helpers below connect with: [`PgInstance::url`] with the
    /// application_name `grafi-test-admin`, so they are never mistaken for a store's backends.
    pub fn admin_url(&self) -> String {
        format!("{}?application_name=grafi-test-admin", self.url())
    }

    /// Runs SQL on a fresh admin connection.
    pub async fn sql(&self, sql: &str) {
        let mut conn = AsyncPgConnection::establish(&self.admin_url())
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
        let mut conn = AsyncPgConnection::establish(&self.admin_url())
            .await
            .expect("admin connection");
        let row: Row = diesel::sql_query(format!("SELECT ({sql})::text AS v"))
            .get_result(&mut conn)
            .await
            .expect(sql);
        row.v
    }

    /// Terminates every backend of the store (application_name `grafi-store` — the default
    /// — or `grafi-store-diesel`, the former name); returns how many.
    pub async fn terminate_store_backends(&self) -> usize {
        self.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name IN ('grafi-store', 'grafi-store-diesel') \
             AND pid <> pg_backend_pid()",
        )
        .await
        .parse()
        .unwrap()
    }

    /// `(pid, ssl)` of every backend whose `application_name` is `name` (other than the one
    /// asking), from `pg_stat_activity` joined with `pg_stat_ssl`.
    pub async fn backends_ssl(&self, name: &str) -> Vec<(i32, bool)> {
        use diesel::sql_types::{Bool, Integer, Text};
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Integer)]
            pid: i32,
            #[diesel(sql_type = Bool)]
            ssl: bool,
        }
        let mut conn = AsyncPgConnection::establish(&self.admin_url())
            .await
            .expect("admin connection");
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT a.pid, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = $1 AND a.pid <> pg_backend_pid() ORDER BY a.pid",
        )
        .bind::<Text, _>(name)
        .load(&mut conn)
        .await
        .expect("pg_stat_ssl");
        rows.into_iter().map(|r| (r.pid, r.ssl)).collect()
    }

    /// Waits until the server accepts connections (after a restart), up to `limit`.
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if AsyncPgConnection::establish(&self.admin_url())
                .await
                .is_ok()
            {
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
