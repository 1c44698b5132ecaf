//! What the PostgreSQL benches share: connections, scratch databases, the run's filters, the
//! report files `bench-report` reads, percentiles.
#![allow(dead_code)]

use std::time::Duration;

use grafi_benches::{admin_url, criterion_home};
use grafi_store_diesel::ConnectionSettings;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

/// A raw tokio-postgres connection, plain text, driven by a task of its own.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("PostgreSQL (DATABASE_URL)");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A new, empty database on `DATABASE_URL`'s server: its name, and its connection string in
/// plain text (`sslmode=disable`) like the raw baselines (`NoTls`), so the ratios measure the
/// store's work, not TLS. Drop it with [`drop_database`].
pub fn create_database(rt: &Runtime) -> (String, String) {
    let name = format!("grafi_bench_{}", uuid::Uuid::new_v4().simple());
    rt.block_on(async {
        connect(&admin_url())
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    });
    let url = format!(
        "{} sslmode=disable",
        ConnectionSettings::parse(&admin_url())
            .unwrap()
            .with_dbname(&name)
            .expose_conninfo()
    );
    (name, url)
}

/// Drops a database [`create_database`] made, whoever is still connected to it.
pub fn drop_database(rt: &Runtime, name: &str) {
    rt.block_on(async {
        let _ = connect(&admin_url())
            .await
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    });
}

/// The run's benchmark filters (criterion's positional arguments).
pub fn filters() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect()
}

/// Writes `report` to `criterion/{bench}/{name}.json`, where `bench-report` reads it.
pub fn write_report(bench: &str, name: &str, report: &serde_json::Value) {
    let dir = criterion_home().join(bench);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), report.to_string()).unwrap();
}

/// The nearest-rank percentile of sorted `values`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
