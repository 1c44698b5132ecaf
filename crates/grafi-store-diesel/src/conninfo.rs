//! Connection settings: what to connect to and how, parsed once.
//!
//! The connection string is parsed by tokio-postgres' own [`Config`] parser (libpq URLs and
//! `key=value` strings, socket hosts, several hosts); the two options it does not know
//! (`sslmode` beyond `require`, `sslrootcert`) are taken out first. What the string leaves
//! unsaid comes from libpq's environment variables. The password is kept inside [`Config`] and
//! never shown: `Display` and `Debug` are built from the parsed fields, and every error this
//! module writes is built without the input text.

use std::fmt;
use std::path::PathBuf;

use grafi_events::Dialect;
use grafi_store_core::StoreError;
use tokio_postgres::config::{Config, Host};

/// The `application_name` of the store's connections when neither the connection string nor
/// `PGAPPNAME` names one (visible in `pg_stat_activity`).
pub const DEFAULT_APPLICATION_NAME: &str = "grafi-store";

/// libpq's `sslmode`, all five values, with libpq's meaning.
///
/// ```
/// use grafi_store_diesel::SslMode;
/// assert_eq!("verify-full".parse::<SslMode>().unwrap(), SslMode::VerifyFull);
/// assert!(SslMode::Prefer.allows_plain_text());
/// assert!(!SslMode::Require.allows_plain_text());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// TLS whenever the server offers it, plain text when it does not; the certificate is not
    /// checked (libpq's default).
    Prefer,
    /// TLS or no connection. The certificate chain is checked only when a root certificate
    /// is given (`sslrootcert`, or `~/.postgresql/root.crt` exists), as libpq does.
    Require,
    /// TLS with the server's certificate chain checked against the root certificates; the host
    /// name is not.
    VerifyCa,
    /// TLS with the chain checked and the certificate issued for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether a connection in this mode may end up unencrypted.
    pub fn allows_plain_text(self) -> bool {
        matches!(self, SslMode::Disable | SslMode::Prefer)
    }
}

impl std::str::FromStr for SslMode {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's `allow` tries plain text first; that is a downgrade nobody should ask for.
            _ => {
                return Err(StoreError::Config(
                    "sslmode must be disable, prefer, require, verify-ca or verify-full".into(),
                ))
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the root certificates that check the server's certificate come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootCerts {
    /// A PEM file of one or more certificates.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// Parsed connection settings. Cheap to clone; never shows the password.
///
/// ```
/// use grafi_store_diesel::{ConnectionSettings, SslMode};
/// let no_env = |_: &str| None;
/// let s = ConnectionSettings::parse_with_env(
///     "postgres://app:p%40ss%2Fw0rd@db.internal:6543/agents?sslmode=verify-full",
///     no_env,
/// )
/// .unwrap();
/// assert_eq!(s.to_string(), "postgres://app:***@db.internal:6543/agents?sslmode=verify-full&application_name=grafi-store");
/// assert_eq!(s.ssl_mode(), SslMode::VerifyFull);
///
/// let s = ConnectionSettings::parse_with_env("host=/var/run/postgresql dbname=agents", no_env).unwrap();
/// assert_eq!(s.endpoint(), "/var/run/postgresql:5432");
/// ```
#[derive(Clone)]
pub struct ConnectionSettings {
    config: Config,
    ssl_mode: SslMode,
    root_certs: Option<RootCerts>,
    dialect: Option<Dialect>,
}

/// libpq's environment variables this store reads where the connection string is silent.
pub const ENVIRONMENT: [&str; 8] = [
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGAPPNAME",
];

impl ConnectionSettings {
    /// Parses a libpq connection string (`postgres://…` / `postgresql://…` URL, or
    /// `key=value …`) and fills what it leaves out from libpq's environment ([`ENVIRONMENT`]).
    ///
    /// Defaults where neither says: host `localhost`, port 5432, user `$USER`, database named
    /// as the user, `sslmode=prefer`, `application_name=grafi-store`.
    pub fn parse(conninfo: &str) -> Result<Self, StoreError> {
        Self::parse_with_env(conninfo, |name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with `env` in place of the process environment.
    pub fn parse_with_env(
        conninfo: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, StoreError> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        if conninfo.contains('\0') {
            return Err(config_error(
                "the connection string contains a NUL character",
            ));
        }
        let (rest, own) = split_own_options(conninfo.trim())?;
        let mut config: Config = rest.parse().map_err(|e| parse_error(&e))?;

        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            match env("PGHOST") {
                Some(hosts) => {
                    for host in hosts.split(',') {
                        if host.starts_with('/') {
                            config.host_path(host);
                        } else {
                            config.host(host);
                        }
                    }
                }
                None => {
                    config.host("localhost");
                }
            }
        }
        if config.get_ports().is_empty() {
            if let Some(ports) = env("PGPORT") {
                for port in ports.split(',') {
                    let port = port
                        .trim()
                        .parse()
                        .map_err(|_| config_error("PGPORT is not a port number"))?;
                    config.port(port);
                }
            }
        }
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .or_else(|| env("LOGNAME"))
                .unwrap_or_else(|| "postgres".to_owned());
            config.user(user);
        }
        if config.get_password().is_none() {
            if let Some(password) = env("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_dbname().is_none() {
            if let Some(dbname) = env("PGDATABASE") {
                config.dbname(dbname);
            }
        }
        if config.get_application_name().is_none() {
            let name = env("PGAPPNAME").unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_owned());
            config.application_name(name);
        }
        let ssl_mode = match own.ssl_mode.or_else(|| env("PGSSLMODE")) {
            Some(mode) => mode.parse()?,
            None => SslMode::Prefer,
        };
        let root_certs = own
            .ssl_root_cert
            .or_else(|| env("PGSSLROOTCERT"))
            .map(|path| match path.as_str() {
                "system" => RootCerts::System,
                _ => RootCerts::File(PathBuf::from(path)),
            });
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let dialect = own
            .grafi_dialect
            .map(|text| {
                text.parse::<Dialect>().map_err(|_| {
                    config_error(&format!(
                        "grafi_dialect={:?} is not a grafi dialect this store knows (0.0.24 or 0.0.36)",
                        text.chars().take(20).collect::<String>()
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            config,
            ssl_mode,
            root_certs,
            dialect,
        })
    }

    /// The grafi dialect the connection string names (`grafi_dialect=0.0.36`): the layout of
    /// a table the store creates, and what an existing table must have. Not a libpq option, so
    /// it is taken out before the string reaches the driver.
    ///
    /// ```
    /// use grafi_store_diesel::ConnectionSettings;
    /// let s = ConnectionSettings::parse_with_env("postgres://db/agents?grafi_dialect=0.0.36", |_| None).unwrap();
    /// assert_eq!(s.dialect(), Some(grafi_events::Dialect::V0_0_36));
    /// assert!(ConnectionSettings::parse_with_env("postgres://db/agents?grafi_dialect=9", |_| None).is_err());
    /// ```
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// The same settings for another database (scratch and test databases, tools).
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut copy = self.clone();
        copy.config.dbname(dbname);
        copy
    }

    /// The TLS mode.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The root certificates asked for (`sslrootcert` / `PGSSLROOTCERT`), if any.
    pub fn root_certs(&self) -> Option<&RootCerts> {
        self.root_certs.as_ref()
    }

    /// The `application_name` the connections report.
    pub fn application_name(&self) -> &str {
        self.config
            .get_application_name()
            .unwrap_or(DEFAULT_APPLICATION_NAME)
    }

    /// The role connected as.
    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// The database (`None`: the server uses the user's name).
    pub fn dbname(&self) -> Option<&str> {
        self.config.get_dbname()
    }

    /// Whether a password is set (it is never shown).
    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// The first host and its port, for messages: `db.internal:5432`, `/var/run/postgresql:5432`.
    pub fn endpoint(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(host) => host_text(host),
            None => self
                .config
                .get_hostaddrs()
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }

    /// `text` with this password (as given, and percent-encoded) replaced by `***`: a last
    /// line of defence for text from elsewhere (a driver, a tool) before it is shown.
    ///
    /// ```
    /// let s = grafi_store_diesel::ConnectionSettings::parse_with_env("postgres://u:p%40ss@h/d", |_| None).unwrap();
    /// assert_eq!(s.scrub("failed for p@ss (p%40ss)"), "failed for *** (***)");
    /// ```
    pub fn scrub(&self, text: &str) -> String {
        let Some(password) = self.config.get_password() else {
            return text.to_owned();
        };
        let plain = String::from_utf8_lossy(password).into_owned();
        if plain.is_empty() {
            return text.to_owned();
        }
        // Percent-encoded as this crate writes it, and with every non-alphanumeric encoded.
        let unreserved_kept = percent_encode(&plain);
        let all_encoded: String = plain
            .bytes()
            .map(|b| match b.is_ascii_alphanumeric() {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            })
            .collect();
        let mut out = text.replace(&plain, "***");
        for form in [unreserved_kept, all_encoded] {
            for form in [form.to_ascii_lowercase(), form] {
                if form != plain {
                    out = out.replace(&form, "***");
                }
            }
        }
        out
    }

    /// The parsed driver configuration (with the password: for connecting only).
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// A `key=value` connection string carrying everything, the password included, for
    /// handing these settings to another libpq client (a tool, a test). Never log it.
    pub fn expose_conninfo(&self) -> String {
        let mut out = String::new();
        let mut put = |key: &str, value: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(key);
            out.push('=');
            push_quoted(&mut out, value);
        };
        let hosts: Vec<String> = self.config.get_hosts().iter().map(host_text).collect();
        if !hosts.is_empty() {
            put("host", &hosts.join(","));
        }
        let addrs: Vec<String> = self
            .config
            .get_hostaddrs()
            .iter()
            .map(ToString::to_string)
            .collect();
        if !addrs.is_empty() {
            put("hostaddr", &addrs.join(","));
        }
        let ports: Vec<String> = self
            .config
            .get_ports()
            .iter()
            .map(ToString::to_string)
            .collect();
        if !ports.is_empty() {
            put("port", &ports.join(","));
        }
        put("user", self.user());
        if let Some(password) = self.config.get_password() {
            put("password", &String::from_utf8_lossy(password));
        }
        if let Some(dbname) = self.dbname() {
            put("dbname", dbname);
        }
        put("application_name", self.application_name());
        if let Some(timeout) = self.config.get_connect_timeout() {
            put("connect_timeout", &timeout.as_secs().max(1).to_string());
        }
        if let Some(options) = self.config.get_options() {
            put("options", options);
        }
        put("sslmode", self.ssl_mode.as_str());
        match &self.root_certs {
            Some(RootCerts::System) => put("sslrootcert", "system"),
            Some(RootCerts::File(path)) => put("sslrootcert", &path.to_string_lossy()),
            None => {}
        }
        out
    }
}

/// `value` as a single-quoted libpq value (`'` and `\` escaped with a backslash).
fn push_quoted(out: &mut String, value: &str) {
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ConnectionSettings {
    /// The same as [`expose_conninfo`](Self::expose_conninfo) as a `postgresql://` URL, every
    /// part percent-encoded, for tools that take only URLs (SQLAlchemy). Never log it.
    pub fn expose_url(&self) -> String {
        let mut url = String::from("postgresql://");
        url.push_str(&percent_encode(self.user()));
        if let Some(password) = self.config.get_password() {
            url.push(':');
            url.push_str(&percent_encode(&String::from_utf8_lossy(password)));
        }
        url.push('@');
        let ports = self.config.get_ports();
        let mut query: Vec<String> = Vec::new();
        let mut tcp = Vec::new();
        for (i, host) in self.config.get_hosts().iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => tcp.push(format!("[{name}]:{port}")),
                Host::Tcp(name) => tcp.push(format!("{}:{port}", percent_encode(name))),
                #[cfg(unix)]
                Host::Unix(path) => {
                    query.push(format!("host={}", percent_encode(&path.to_string_lossy())));
                    query.push(format!("port={port}"));
                }
            }
        }
        url.push_str(&tcp.join(","));
        url.push('/');
        if let Some(db) = self.dbname() {
            url.push_str(&percent_encode(db));
        }
        query.push(format!(
            "application_name={}",
            percent_encode(self.application_name())
        ));
        query.push(format!("sslmode={}", self.ssl_mode));
        match &self.root_certs {
            Some(RootCerts::System) => query.push("sslrootcert=system".into()),
            Some(RootCerts::File(path)) => query.push(format!(
                "sslrootcert={}",
                percent_encode(&path.to_string_lossy())
            )),
            None => {}
        }
        if let Some(timeout) = self.config.get_connect_timeout() {
            query.push(format!("connect_timeout={}", timeout.as_secs().max(1)));
        }
        url.push('?');
        url.push_str(&query.join("&"));
        url
    }
}

fn host_text(host: &Host) -> String {
    match host {
        Host::Tcp(name) => name.clone(),
        #[cfg(unix)]
        Host::Unix(path) => path.to_string_lossy().into_owned(),
    }
}

/// `postgres://user:***@host:port,host2:port2/db?sslmode=…&application_name=…`, built from the
/// parsed fields: no text of the input reaches it unparsed, and the password is `***`.
impl fmt::Display for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://{}", self.user())?;
        if self.has_password() {
            f.write_str(":***")?;
        }
        f.write_str("@")?;
        let ports = self.config.get_ports();
        let mut hosts: Vec<String> = self.config.get_hosts().iter().map(host_text).collect();
        if hosts.is_empty() {
            hosts = self
                .config
                .get_hostaddrs()
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        for (i, host) in hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            write!(f, "{host}:{port}")?;
        }
        if let Some(db) = self.dbname() {
            write!(f, "/{db}")?;
        }
        write!(
            f,
            "?sslmode={}&application_name={}",
            self.ssl_mode,
            self.application_name()
        )?;
        match &self.root_certs {
            Some(RootCerts::System) => f.write_str("&sslrootcert=system"),
            Some(RootCerts::File(path)) => write!(f, "&sslrootcert={}", path.display()),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("hosts", &self.config.get_hosts())
            .field("hostaddrs", &self.config.get_hostaddrs())
            .field("ports", &self.config.get_ports())
            .field("user", &self.user())
            .field("password", &self.has_password().then_some("***"))
            .field("dbname", &self.dbname())
            .field("application_name", &self.application_name())
            .field("ssl_mode", &self.ssl_mode)
            .field("root_certs", &self.root_certs)
            .finish()
    }
}

impl std::str::FromStr for ConnectionSettings {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::parse(s)
    }
}

fn config_error(message: &str) -> StoreError {
    StoreError::Config(message.to_owned())
}

/// libpq option names, so an unknown one can be named in an error without echoing input text
/// that might be part of a password.
const LIBPQ_OPTIONS: [&str; 20] = [
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requiressl",
    "requirepeer",
    "gssencmode",
    "gsslib",
    "krbsrvname",
    "passfile",
    "service",
    "client_encoding",
    "fallback_application_name",
    "replication",
    "require_auth",
];

/// The driver's parse error, without any text of the input (which may hold a password).
fn parse_error(error: &tokio_postgres::Error) -> StoreError {
    let text = std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_default();
    let what = match text.split_once('`') {
        Some((head, tail)) => {
            let quoted = tail.split('`').next().unwrap_or_default();
            if head.starts_with("unknown option") && LIBPQ_OPTIONS.contains(&quoted) {
                format!("option `{quoted}` is not supported")
            } else if head.starts_with("unknown option") {
                "it names an option libpq does not have".to_owned()
            } else if head.starts_with("invalid value") {
                format!("invalid value for option `{quoted}`")
            } else {
                "it is malformed (in a URL, percent-encode reserved characters such as `@`, `/`, \
                 `?`, `#`, `%`; in key=value form, quote values with spaces in single quotes)"
                    .to_owned()
            }
        }
        None => match text.as_str() {
            "unterminated quoted connection parameter value"
            | "unexpected EOF"
            | "unterminated parameter" => format!("it is malformed ({text})"),
            _ => "it is malformed".to_owned(),
        },
    };
    StoreError::Config(format!("invalid connection string: {what}"))
}

/// The options tokio-postgres does not parse (values as given).
#[derive(Default)]
struct OwnOptions {
    ssl_mode: Option<String>,
    ssl_root_cert: Option<String>,
    grafi_dialect: Option<String>,
}

impl OwnOptions {
    /// Takes `key`'s value if it is one of ours.
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.ssl_mode = Some(value),
            "sslrootcert" => self.ssl_root_cert = Some(value),
            "grafi_dialect" => self.grafi_dialect = Some(value),
            _ => return false,
        }
        true
    }
}

/// The connection string without `sslmode` and `sslrootcert`, and their values.
fn split_own_options(conninfo: &str) -> Result<(String, OwnOptions), StoreError> {
    let lower = conninfo.get(..13).unwrap_or(conninfo).to_ascii_lowercase();
    for scheme in ["postgres://", "postgresql://"] {
        if lower.starts_with(scheme) {
            return split_url(&conninfo[scheme.len()..]);
        }
    }
    split_key_values(conninfo)
}

/// URL form. tokio-postgres takes everything before the first `@` as `user:password`, so a
/// password may hold any character but `@` unencoded; an `@` that cannot be the end of the
/// user info is refused rather than guessed at.
fn split_url(after_scheme: &str) -> Result<(String, OwnOptions), StoreError> {
    let (userinfo, rest) = match after_scheme.split_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, after_scheme),
    };
    if let Some(userinfo) = userinfo {
        let user = userinfo.split(':').next().unwrap_or_default();
        if rest.contains('@') || user.contains(['/', '?', '#']) {
            return Err(config_error(
                "invalid connection string: an `@` appears outside the user info; \
                 percent-encode `@` in a user name or password as %40",
            ));
        }
    }
    let (head, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    let mut own = OwnOptions::default();
    let mut kept = Vec::new();
    for pair in query.unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        if !own.take(&key, percent_decode(value)?) {
            kept.push(pair);
        }
    }
    let mut out = String::from("postgresql://");
    if let Some(userinfo) = userinfo {
        out.push_str(userinfo);
        out.push('@');
    }
    out.push_str(head);
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok((out, own))
}

fn percent_decode(text: &str) -> Result<String, StoreError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| config_error("invalid connection string: an option is not valid UTF-8"))
}

/// `key=value` form, tokenised as libpq and tokio-postgres do (values optionally in single
/// quotes, backslash escapes), and written back with every value quoted.
fn split_key_values(conninfo: &str) -> Result<(String, OwnOptions), StoreError> {
    let mut own = OwnOptions::default();
    let mut kept = String::new();
    let mut chars = conninfo.chars().peekable();
    let malformed = || {
        config_error(
            "invalid connection string: expected `key=value` pairs separated by spaces, or a \
             postgres:// URL",
        )
    };
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            if chars.peek().is_some() {
                return Err(malformed());
            }
            break;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(malformed());
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(malformed()),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        if own.take(&key, value.clone()) {
            continue;
        }
        kept.push_str(&key);
        kept.push('=');
        push_quoted(&mut kept, &value);
        kept.push(' ');
    }
    Ok((kept, own))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(s: &str) -> ConnectionSettings {
        ConnectionSettings::parse_with_env(s, no_env).unwrap()
    }

    #[test]
    fn url_and_key_value_forms_agree() {
        let a = parse("postgres://app:pw@db:6543/agents?sslmode=verify-ca&sslrootcert=/ca.pem&application_name=billing");
        let b = parse("host=db port=6543 user=app password=pw dbname=agents sslmode=verify-ca sslrootcert='/ca.pem' application_name=billing");
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(a.ssl_mode(), SslMode::VerifyCa);
        assert_eq!(a.root_certs(), Some(&RootCerts::File("/ca.pem".into())));
        assert_eq!(a.application_name(), "billing");
        assert_eq!(a.config().get_password(), Some(&b"pw"[..]));
        assert_eq!(b.config().get_password(), Some(&b"pw"[..]));
    }

    #[test]
    fn socket_hosts_and_several_hosts() {
        let s = parse("postgres:///agents?host=%2Fvar%2Frun%2Fpostgresql");
        assert_eq!(s.endpoint(), "/var/run/postgresql:5432");
        let s = parse("postgres://u@h1:1,h2:2/db");
        assert_eq!(
            s.to_string(),
            "postgres://u@h1:1,h2:2/db?sslmode=prefer&application_name=grafi-store"
        );
    }

    #[test]
    fn the_environment_fills_what_the_string_leaves_out() {
        let env = |k: &str| {
            Some(
                match k {
                    "PGHOST" => "envhost",
                    "PGPORT" => "7777",
                    "PGUSER" => "envuser",
                    "PGPASSWORD" => "envpw",
                    "PGDATABASE" => "envdb",
                    "PGSSLMODE" => "require",
                    "PGSSLROOTCERT" => "system",
                    "PGAPPNAME" => "envapp",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let s = ConnectionSettings::parse_with_env("postgres://", env).unwrap();
        assert_eq!(
            s.to_string(),
            "postgres://envuser:***@envhost:7777/envdb?sslmode=require&application_name=envapp&sslrootcert=system"
        );
        assert_eq!(s.config().get_password(), Some(&b"envpw"[..]));
        // The string wins over the environment, option by option.
        let s = ConnectionSettings::parse_with_env(
            "postgres://u:pw@h:1/d?sslmode=disable&application_name=mine",
            env,
        )
        .unwrap();
        assert_eq!(
            s.to_string(),
            "postgres://u:***@h:1/d?sslmode=disable&application_name=mine&sslrootcert=system"
        );
        assert_eq!(s.config().get_password(), Some(&b"pw"[..]));
    }

    #[test]
    fn bad_strings_are_config_errors_that_say_why() {
        for (input, says) in [
            ("postgres://h/d?sslmode=allow", "sslmode must be"),
            (
                "postgres://h/d?sslcert=/x",
                "option `sslcert` is not supported",
            ),
            ("postgres://h:notaport/d", "invalid value for option `port`"),
            ("host=h dbname='unterminated", "expected `key=value`"),
            ("postgres://u:a@b@h/d", "percent-encode `@`"),
        ] {
            let e = ConnectionSettings::parse_with_env(input, no_env).unwrap_err();
            assert!(matches!(e, StoreError::Config(_)), "{input}: {e:?}");
            assert!(e.to_string().contains(says), "{input}: {e}");
        }
    }

    #[test]
    fn expose_url_round_trips() {
        for input in [
            "postgres://u:it%27s%20a%2F%40%3Fpw@h:1/d?sslmode=require&connect_timeout=3",
            "host=/var/run/postgresql port=5433 user=u dbname=d application_name='a b'",
            "host=h1,h2 port=1,2 user=u sslmode=verify-full sslrootcert=system",
        ] {
            let s = parse(input);
            let again = parse(&s.expose_url());
            assert_eq!(again.to_string(), s.to_string(), "{input}");
            assert_eq!(again.config().get_password(), s.config().get_password());
        }
    }

    #[test]
    fn expose_conninfo_round_trips() {
        let s = parse("postgres://u:it%27s%20a%5Cpw@h:1/d?sslmode=require&connect_timeout=3");
        let again = parse(&s.expose_conninfo());
        assert_eq!(again.to_string(), s.to_string());
        assert_eq!(again.config().get_password(), Some(&b"it's a\\pw"[..]));
        assert_eq!(
            parse(&s.with_dbname("other").expose_conninfo()).dbname(),
            Some("other")
        );
    }
}
