//! The SQL that creates the owner, writer and reader roles (`sql/roles.sql`).

use grafi_store_core::StoreError;

const TEMPLATE: &str = include_str!("../sql/roles.sql");

/// The roles script with role names `{prefix}_owner`, `{prefix}_writer`, `{prefix}_reader`.
/// `prefix` must be a plain lower-case SQL identifier (letters, digits, `_`; at most 40 bytes),
/// since it is written into the SQL as it is.
///
/// ```
/// let sql = grafi_store_diesel::roles_sql("grafi").unwrap();
/// assert!(sql.contains("GRANT SELECT, INSERT ON public.events TO grafi_writer"));
/// assert!(grafi_store_diesel::roles_sql("x; DROP TABLE events").is_err());
/// ```
pub fn roles_sql(prefix: &str) -> Result<String, StoreError> {
    let plain = !prefix.is_empty()
        && prefix.len() <= 40
        && prefix.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(StoreError::Config(
            "the role prefix must be a lower-case SQL identifier (a-z, 0-9, _; at most 40 bytes)"
                .into(),
        ));
    }
    Ok(TEMPLATE.replace("{prefix}", prefix))
}
