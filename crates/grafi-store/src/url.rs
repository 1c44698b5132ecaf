//! Store URLs: which backend a URL selects, and how to show it without its password.

use std::fmt;

use grafi_store_core::StoreError;

/// The backend a [`StoreUrl`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// `memory:` — the in-memory store (nothing persists).
    Memory,
    /// A PostgreSQL connection string — `postgres://…`, `postgresql://…` or libpq's
    /// `key=value` form (cargo feature `postgres`).
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

/// A store URL: the backend it selects and, for PostgreSQL, the parsed connection settings
/// (`grafi_store_diesel::ConnectionSettings`: the one parser, libpq's environment included).
///
/// `Display` and `Debug` never show the password; only [`expose`](Self::expose) gives back
/// the text as given.
///
/// ```
/// use grafi_store::{Backend, StoreUrl};
/// let url = StoreUrl::parse("memory:").unwrap();
/// assert_eq!(url.backend(), Backend::Memory);
/// assert!(StoreUrl::parse("mysql://root@localhost/db").is_err());
/// ```
#[derive(Clone)]
pub struct StoreUrl {
    raw: String,
    backend: Backend,
    #[cfg(feature = "postgres")]
    settings: Option<grafi_store_diesel::ConnectionSettings>,
}

impl StoreUrl {
    /// Parses a store URL: `memory:` (also `memory` or `memory://`), `postgres://…`,
    /// `postgresql://…`, or `host=… dbname=…`. The error never contains the password.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if url.is_empty() {
            return Err(StoreError::Config(
                "the store URL is empty: use `memory:` or `postgres://user@host:5432/db`".into(),
            ));
        }
        if matches!(lower.as_str(), "memory" | "memory:" | "memory://" | "mem:") {
            return Ok(Self {
                raw: url.to_owned(),
                backend: Backend::Memory,
                #[cfg(feature = "postgres")]
                settings: None,
            });
        }
        if lower.starts_with("memory:") || lower.starts_with("mem:") {
            return Err(StoreError::Config(
                "the memory store takes no address: use `memory:`".into(),
            ));
        }
        let postgres = lower.starts_with("postgres://")
            || lower.starts_with("postgresql://")
            || (!lower.contains("://") && lower.contains('='));
        if !postgres {
            let scheme: String = match url.split_once(':') {
                Some((scheme, _)) => scheme.chars().take(32).collect(),
                None => {
                    return Err(StoreError::Config(
                        "the store URL has no scheme: use `memory:`, \
                         `postgres://user@host:5432/db` or `host=… dbname=…`"
                            .into(),
                    ))
                }
            };
            return Err(StoreError::Config(format!(
                "unsupported store URL scheme `{scheme}:`: use `memory:` or \
                 `postgres://user@host:5432/db`"
            )));
        }
        Ok(Self {
            raw: url.to_owned(),
            backend: Backend::Postgres,
            #[cfg(feature = "postgres")]
            settings: Some(grafi_store_diesel::ConnectionSettings::parse(url)?),
        })
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL without its password: safe to print or log.
    pub fn redacted(&self) -> String {
        self.to_string()
    }

    /// The URL as given, password included. Pass it to a driver; never print it.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// `host:port` the first connection attempt goes to; `None` for the memory store.
    pub fn endpoint(&self) -> Option<String> {
        #[cfg(feature = "postgres")]
        if let Some(settings) = &self.settings {
            return Some(settings.endpoint());
        }
        None
    }

    /// `text` with the URL's password replaced by `***` (defence in depth for messages that
    /// came from elsewhere).
    pub fn scrub(&self, text: &str) -> String {
        #[cfg(feature = "postgres")]
        if let Some(settings) = &self.settings {
            return settings.scrub(text);
        }
        text.to_owned()
    }

    /// Whether this selects the in-memory store.
    pub fn is_memory(&self) -> bool {
        self.backend == Backend::Memory
    }
}

impl PartialEq for StoreUrl {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for StoreUrl {}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.backend {
            Backend::Memory => f.write_str("memory:"),
            #[cfg(feature = "postgres")]
            Backend::Postgres => match &self.settings {
                Some(settings) => settings.fmt(f),
                None => f.write_str("postgres"),
            },
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres => f.write_str("postgres (connection string not shown)"),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_forms() {
        for s in ["memory:", "memory", "memory://", "MEMORY:"] {
            let url = StoreUrl::parse(s).unwrap();
            assert_eq!(url.backend(), Backend::Memory, "{s}");
            assert_eq!(url.to_string(), "memory:");
        }
        assert!(StoreUrl::parse("memory:/tmp/x").is_err());
    }

    #[test]
    fn errors_are_clear() {
        assert!(StoreUrl::parse("").is_err());
        assert!(StoreUrl::parse("just-text").is_err());
        let e = StoreUrl::parse("mysql://u:hunter22@h/db").unwrap_err();
        assert!(
            e.to_string()
                .contains("unsupported store URL scheme `mysql:`"),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter22"));
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_forms_never_show_the_password() {
        for s in [
            "postgres://u:hunter22@h:5433/db",
            "postgresql://u:hunter22@h:5433/db",
            "host=h port=5433 user=u password=hunter22 dbname=db",
        ] {
            let url = StoreUrl::parse(s).unwrap();
            assert_eq!(url.backend(), Backend::Postgres);
            assert!(
                url.to_string().starts_with("postgres://u:***@h:5433/db?"),
                "{url}"
            );
            assert!(!format!("{url:?}").contains("hunter22"));
            assert_eq!(url.endpoint().as_deref(), Some("h:5433"));
            assert_eq!(url.scrub("auth failed: hunter22"), "auth failed: ***");
        }
    }
}
