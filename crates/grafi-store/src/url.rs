//! Store URLs: which backend a URL selects, and how to show it without its password.

use std::fmt;

use grafi_store_core::StoreError;

/// The backend a [`StoreUrl`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// `memory:` — the in-memory store (nothing persists).
    Memory,
    /// `postgres://…` or `postgresql://…` — the PostgreSQL store (cargo feature `postgres`).
    Postgres,
}

impl Backend {
    /// A short name: `memory` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A store URL, parsed just enough to select a backend and to describe the target in
/// messages without revealing secrets.
///
/// `Display` and `Debug` show the [redacted](Self::redacted) form; only
/// [`expose`](Self::expose) gives back the URL with its password.
///
/// ```
/// use grafi_store::{Backend, StoreUrl};
/// let url = StoreUrl::parse("postgres://grafi:s3cret@db.internal:6543/events").unwrap();
/// assert_eq!(url.backend(), Backend::Postgres);
/// assert_eq!(url.to_string(), "postgres://grafi:***@db.internal:6543/events");
/// assert_eq!((url.host(), url.port()), (Some("db.internal"), Some(6543)));
/// assert_eq!(url.scrub("auth failed for s3cret"), "auth failed for ***");
///
/// assert_eq!(StoreUrl::parse("memory:").unwrap().backend(), Backend::Memory);
/// assert!(StoreUrl::parse("mysql://root@localhost/db").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    raw: String,
    backend: Backend,
    redacted: String,
    host: Option<String>,
    port: Option<u16>,
    /// Secrets found in the URL (raw and percent-decoded), to scrub from messages.
    secrets: Vec<String>,
}

const REDACTED: &str = "***";

impl StoreUrl {
    /// Parses a store URL: `memory:` (also `memory` or `memory://`), `postgres://…` or
    /// `postgresql://…`. The error never contains the password.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::Config(
                "the store URL is empty: use `memory:` or `postgres://user@host:5432/db`".into(),
            ));
        }
        let Some((scheme, rest)) = url.split_once(':') else {
            if url.eq_ignore_ascii_case("memory") {
                return Ok(Self::memory(url));
            }
            return Err(StoreError::Config(
                "the store URL has no scheme: use `memory:` or `postgres://user@host:5432/db`"
                    .into(),
            ));
        };
        let scheme_lower = scheme.to_ascii_lowercase();
        match scheme_lower.as_str() {
            "memory" | "mem" => {
                if rest.is_empty() || rest == "//" {
                    Ok(Self::memory(url))
                } else {
                    Err(StoreError::Config(
                        "the memory store takes no address: use `memory:`".into(),
                    ))
                }
            }
            "postgres" | "postgresql" => Self::parse_postgres(scheme, rest),
            _ => {
                let shown: String = scheme.chars().take(32).collect();
                Err(StoreError::Config(format!(
                    "unsupported store URL scheme `{shown}:`: use `memory:` or \
                     `postgres://user@host:5432/db`"
                )))
            }
        }
    }

    fn memory(url: &str) -> Self {
        Self {
            raw: url.to_owned(),
            backend: Backend::Memory,
            redacted: "memory:".to_owned(),
            host: None,
            port: None,
            secrets: Vec::new(),
        }
    }

    fn parse_postgres(scheme: &str, rest: &str) -> Result<Self, StoreError> {
        let Some(after) = rest.strip_prefix("//") else {
            return Err(StoreError::Config(format!(
                "a PostgreSQL store URL starts with `{scheme}://` (e.g. `postgres://user@host:5432/db`)"
            )));
        };
        let mut secrets = Vec::new();

        // The userinfo ends at the last `@` before the path; an `@` after a `/` belongs to
        // the path or query, unless the password itself holds a `/`, in which case the
        // whole span up to the last `@` is treated as userinfo (over-redacting, never leaking).
        let path_start = after.find(['/', '?', '#']).unwrap_or(after.len());
        let at = after[..path_start].rfind('@').or_else(|| {
            after
                .rfind('@')
                .filter(|_| after[..path_start].contains(':'))
        });
        let (userinfo, hostpart) = match at {
            Some(at) => (Some(&after[..at]), &after[at + 1..]),
            None => (None, after),
        };
        let mut redacted = format!("{scheme}://");
        if let Some(userinfo) = userinfo {
            match userinfo.split_once(':') {
                Some((user, password)) => {
                    if !password.is_empty() {
                        push_secret(&mut secrets, password);
                    }
                    redacted.push_str(user);
                    redacted.push(':');
                    redacted.push_str(REDACTED);
                }
                None => redacted.push_str(userinfo),
            }
            redacted.push('@');
        }
        let authority_end = hostpart.find(['/', '?', '#']).unwrap_or(hostpart.len());
        let (authority, tail) = hostpart.split_at(authority_end);
        redacted.push_str(authority);
        redacted.push_str(&redact_query(tail, &mut secrets));

        let (host, port) = split_host_port(authority).map_err(|bad| {
            StoreError::Config(format!(
                "invalid port `{bad}` in the store URL {redacted}: expected a number up to 65535"
            ))
        })?;
        Ok(Self {
            // Drivers expect a lowercase scheme.
            raw: format!("{}://{after}", scheme.to_ascii_lowercase()),
            backend: Backend::Postgres,
            redacted,
            host,
            port,
            secrets,
        })
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its password replaced by `***`: safe to print or log.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The URL as given, password included. Pass it to a driver; never print it.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The host, if the URL names one (PostgreSQL defaults to `localhost` or a socket).
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The port, if the URL names one (PostgreSQL's default is 5432).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host:port` as the driver will use it, with PostgreSQL's defaults filled in; `None`
    /// for the memory store.
    pub fn endpoint(&self) -> Option<String> {
        match self.backend {
            Backend::Memory => None,
            Backend::Postgres => Some(format!(
                "{}:{}",
                self.host.as_deref().unwrap_or("localhost"),
                self.port.unwrap_or(5432)
            )),
        }
    }

    /// Replaces every occurrence of this URL's password (as written and percent-decoded)
    /// in `text` by `***`: for messages that come from drivers.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Whether this is the in-memory store.
    pub fn is_memory(&self) -> bool {
        self.backend == Backend::Memory
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({:?})", self.redacted)
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn push_secret(secrets: &mut Vec<String>, raw: &str) {
    // Short secrets would scrub unrelated text ("a" in every word); still redact them in the
    // URL itself, but only scrub messages of secrets long enough to be meaningful.
    if raw.len() >= 3 {
        secrets.push(raw.to_owned());
        let decoded = percent_decode(raw);
        if decoded != raw && decoded.len() >= 3 {
            secrets.push(decoded);
        }
    }
}

/// Redacts `password=…` in the query part of `tail` (path, query and fragment).
fn redact_query(tail: &str, secrets: &mut Vec<String>) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, query) = tail.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("password") => {
                push_secret(secrets, value);
                format!("{key}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}{}{fragment}", parts.join("&"))
}

/// Splits `host:port` (also `[v6]:port`); `Err` carries an invalid port.
fn split_host_port(authority: &str) -> Result<(Option<String>, Option<u16>), String> {
    // libpq allows several comma-separated hosts; describe the first.
    let first = authority.split(',').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = first.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':')),
            None => (first, None),
        }
    } else {
        match first.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| p.chars().take(16).collect::<String>())?,
        ),
    };
    let host = (!host.is_empty()).then(|| percent_decode(host));
    Ok((host, port))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> StoreUrl {
        StoreUrl::parse(s).unwrap()
    }

    #[test]
    fn memory_forms() {
        for s in ["memory:", "memory", "memory://", "MEMORY:", " memory: "] {
            assert_eq!(parse(s).backend(), Backend::Memory, "{s}");
            assert_eq!(parse(s).to_string(), "memory:");
        }
        assert!(StoreUrl::parse("memory:/tmp/x").is_err());
    }

    #[test]
    fn postgres_forms_and_redaction() {
        let u = parse("postgresql://u:p%40ss@h:5433/db?sslmode=disable&password=qwerty");
        assert_eq!(u.backend(), Backend::Postgres);
        assert_eq!(
            u.redacted(),
            "postgresql://u:***@h:5433/db?sslmode=disable&password=***"
        );
        assert_eq!(u.scrub("x p%40ss y p@ss z qwerty"), "x *** y *** z ***");
        assert_eq!(u.endpoint().as_deref(), Some("h:5433"));

        let u = parse("postgres://postgres@127.0.0.1/postgres");
        assert_eq!(u.redacted(), "postgres://postgres@127.0.0.1/postgres");
        assert_eq!(u.endpoint().as_deref(), Some("127.0.0.1:5432"));

        let u = parse("postgres://[::1]:6000/x");
        assert_eq!((u.host(), u.port()), (Some("::1"), Some(6000)));

        let u = parse("postgres:///db");
        assert_eq!(u.endpoint().as_deref(), Some("localhost:5432"));
    }

    #[test]
    fn passwords_with_odd_characters_never_leak() {
        for (url, secret) in [
            ("postgres://u:pa/ss@h:1/db", "pa/ss"),
            ("postgres://u:pa@ss@h:1/db", "pa@ss"),
            ("postgres://u:pa:ss@h:1/db", "pa:ss"),
            ("postgres://u:pa?ss@h:1/db", "pa?ss"),
        ] {
            let shown = match StoreUrl::parse(url) {
                Ok(u) => u.to_string(),
                Err(e) => e.to_string(),
            };
            assert!(!shown.contains(secret), "{url} -> {shown}");
        }
    }

    #[test]
    fn errors_are_clear_and_secret_free() {
        let e = StoreUrl::parse("mysql://root:hunter22@localhost/db").unwrap_err();
        assert!(e
            .to_string()
            .contains("unsupported store URL scheme `mysql:`"));
        assert!(!e.to_string().contains("hunter22"));
        let e = StoreUrl::parse("postgres://u:hunter22@h:99999/db").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("invalid port `99999`"), "{msg}");
        assert!(!msg.contains("hunter22"), "{msg}");
        assert!(StoreUrl::parse("").is_err());
        assert!(StoreUrl::parse("postgres:db").is_err());
        assert!(StoreUrl::parse("just-text").is_err());
    }
}
