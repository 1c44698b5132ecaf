//! Project automation: `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! * `schema [--check]`: apply the migrations to a scratch database and (re)generate
//!   `crates/grafi-store-diesel/src/schema.rs` from the resulting table; `--check` fails when
//!   the committed file differs.
//! * `migrate [--database-url URL] [--revert]`: apply pending migrations, or revert the last.
//! * `interop`: the real Python grafi 0.0.24 against the Rust store, both directions.
//! * `bench-report`: criterion's results as one table, with the target ratios.
//!
//! The server is `--database-url`, else `DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/postgres`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench_report;

use clap::{Parser, Subcommand};
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use grafi_store_diesel::{migrate, ConnectionSettings};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const SCHEMA_RS: &str = "crates/grafi-store-diesel/src/schema.rs";

#[derive(Parser)]
#[command(name = "cargo xtask", about = "grafi-rs project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate crates/grafi-store-diesel/src/schema.rs from the migrations.
    Schema {
        /// Fail (exit 1) if the committed schema.rs differs instead of writing it.
        #[arg(long)]
        check: bool,
        /// Server on which to create the scratch database.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Apply pending migrations to a database (or revert the last one).
    Migrate {
        /// The database to migrate.
        #[arg(long)]
        database_url: Option<String>,
        /// Revert the last applied migration instead.
        #[arg(long)]
        revert: bool,
    },
    /// Print criterion's results (target/criterion) as one table with the target ratios.
    BenchReport,
    /// Check compatibility with the real grafi 0.0.24 and 0.0.36, both directions (Python
    /// venvs from interop/setup.sh and interop/setup36.sh).
    Interop {
        /// Server on which the tests create their scratch databases.
        #[arg(long)]
        database_url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xtask: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.task {
            Task::Schema {
                check,
                database_url,
            } => schema(check, &server_url(database_url)).await,
            Task::Migrate {
                database_url,
                revert,
            } => migrate_task(&server_url(database_url), revert).await,
            Task::Interop { database_url } => interop(&server_url(database_url)),
            Task::BenchReport => {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| workspace_root().join("target"));
                bench_report::run(&target)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

fn server_url(arg: Option<String>) -> String {
    arg.or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The server, for messages: parsed fields only, never the password.
fn shown(url: &str) -> String {
    ConnectionSettings::parse(url)
        .map_or_else(|_| "<invalid connection string>".into(), |s| s.to_string())
}

async fn admin(url: &str) -> Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", shown(url)))
}

/// A scratch database, dropped by [`drop_scratch`].
async fn create_scratch(server: &str) -> Result<(String, String)> {
    let name = format!("grafi_xtask_{}", uuid::Uuid::new_v4().simple());
    admin(server)
        .await?
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
    let settings = ConnectionSettings::parse(server).map_err(|e| e.to_string())?;
    Ok((name.clone(), settings.with_dbname(&name).expose_conninfo()))
}

async fn drop_scratch(server: &str, name: &str) -> Result<()> {
    admin(server)
        .await?
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .map_err(|e| format!("DROP DATABASE {name}: {e}"))
}

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    udt_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Bool)]
    primary: bool,
}

/// diesel's name for a PostgreSQL type (the subset print-schema would emit for our tables).
fn diesel_type(udt: &str) -> Result<&'static str> {
    Ok(match udt {
        "int2" => "Int2",
        "int4" => "Int4",
        "int8" => "Int8",
        "varchar" => "Varchar",
        "text" => "Text",
        "bool" => "Bool",
        "json" => "Json",
        "jsonb" => "Jsonb",
        "timestamp" => "Timestamp",
        "timestamptz" => "Timestamptz",
        "float4" => "Float4",
        "float8" => "Float8",
        "numeric" => "Numeric",
        "uuid" => "Uuid",
        "bytea" => "Bytea",
        "date" => "Date",
        // No diesel type: declared in the generated file (see `SQL_TYPES`).
        "xid8" => "Xid8",
        other => {
            return Err(format!(
                "no diesel type known for PostgreSQL type {other:?}"
            ))
        }
    })
}

/// The PostgreSQL types diesel has no type for, declared as print-schema does.
const SQL_TYPES: &str = "\n/// PostgreSQL types diesel has no type for.\npub mod sql_types {\n    \
    /// `xid8`: a 64-bit transaction id.\n    #[derive(Debug, diesel::sql_types::SqlType)]\n    \
    #[diesel(postgres_type(name = \"xid8\"))]\n    pub struct Xid8;\n}\n";

/// schema.rs for the tables of the migrated database (diesel's own bookkeeping excluded).
async fn generate_schema(url: &str) -> Result<String> {
    let mut conn = admin(url).await?;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT c.table_name::text, c.column_name::text, c.udt_name::text, \
                (c.is_nullable = 'YES') AS nullable, \
                EXISTS (SELECT 1 FROM information_schema.table_constraints t \
                        JOIN information_schema.key_column_usage k \
                          ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema \
                        WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema \
                          AND t.table_name = c.table_name AND k.column_name = c.column_name) AS primary \
         FROM information_schema.columns c \
         WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '\\_\\_diesel%' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .load(&mut conn)
    .await
    .map_err(|e| format!("reading information_schema: {e}"))?;
    let mut out = String::from(
        "// @generated by `cargo xtask schema` from the migrations in /migrations. Do not edit:\n\
         // `cargo xtask schema --check` fails when this file and the migrations disagree.\n",
    );
    if columns.iter().any(|c| c.udt_name == "xid8") {
        out.push_str(SQL_TYPES);
    }
    let mut tables: Vec<&str> = columns.iter().map(|c| c.table_name.as_str()).collect();
    tables.dedup();
    for table in tables {
        let cols: Vec<&Column> = columns.iter().filter(|c| c.table_name == table).collect();
        let keys: Vec<&str> = cols
            .iter()
            .filter(|c| c.primary)
            .map(|c| c.column_name.as_str())
            .collect();
        out.push_str("\ndiesel::table! {\n");
        if cols.iter().any(|c| c.udt_name == "xid8") {
            out.push_str("    use diesel::sql_types::*;\n    use super::sql_types::Xid8;\n\n");
        }
        out.push_str(&format!("    {table} ({}) {{\n", keys.join(", ")));
        for c in cols {
            let ty = diesel_type(&c.udt_name)?;
            let ty = if c.nullable {
                format!("Nullable<{ty}>")
            } else {
                ty.to_owned()
            };
            out.push_str(&format!("        {} -> {ty},\n", c.column_name));
        }
        out.push_str("    }\n}\n");
    }
    Ok(out)
}

async fn schema(check: bool, server: &str) -> Result<()> {
    let (name, url) = create_scratch(server).await?;
    println!("applying migrations to scratch database {name}");
    let generated = async {
        let applied = migrate::run_pending_migrations(&url, None)
            .await
            .map_err(|e| format!("migrations failed: {e}"))?;
        println!("applied {}", applied.join(", "));
        generate_schema(&url).await
    }
    .await;
    let dropped = drop_scratch(server, &name).await;
    let generated = generated?;
    dropped?;
    let path = workspace_root().join(SCHEMA_RS);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if check {
        if current == generated {
            println!("{SCHEMA_RS} is up to date");
            Ok(())
        } else {
            Err(format!(
                "{SCHEMA_RS} is out of date with the migrations; run `cargo xtask schema`.\n\
                 --- expected ---\n{generated}"
            ))
        }
    } else if current == generated {
        println!("{SCHEMA_RS} unchanged");
        Ok(())
    } else {
        std::fs::write(&path, generated).map_err(|e| format!("writing {SCHEMA_RS}: {e}"))?;
        println!("wrote {SCHEMA_RS}");
        Ok(())
    }
}

async fn migrate_task(url: &str, revert: bool) -> Result<()> {
    println!(
        "{} migrations on {}",
        if revert {
            "reverting the last of the"
        } else {
            "applying pending"
        },
        shown(url)
    );
    if revert {
        match migrate::revert_last_migration(url, None)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(v) => println!("reverted {v}"),
            None => println!("nothing to revert"),
        }
    } else {
        let applied = migrate::run_pending_migrations(url, None)
            .await
            .map_err(|e| e.to_string())?;
        if applied.is_empty() {
            println!(
                "already up to date ({})",
                migrate::migration_versions().join(", ")
            );
        } else {
            println!("applied {}", applied.join(", "));
        }
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    println!("$ {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// Builds the venvs of the real grafi 0.0.24 (interop/setup.sh) and 0.0.36
/// (interop/setup36.sh), then runs the interop tests of both, which need them.
fn interop(server: &str) -> Result<()> {
    let root = workspace_root();
    let python24 = venv(&root, "0.0.24", "interop/setup.sh")?;
    let python36 = venv(&root, "0.0.36", "interop/setup36.sh")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .current_dir(&root)
        .args([
            "test",
            "-p",
            "grafi-store-diesel",
            "--test",
            "interop",
            "--test",
            "interop36",
            "--",
            "--ignored",
            "--test-threads=2",
        ])
        .env("GRAFI_PYTHON", python24)
        .env("GRAFI36_PYTHON", python36)
        .env("DATABASE_URL", server))
}

/// Runs a venv script (it prints its python last) and returns that python.
fn venv(root: &std::path::Path, version: &str, script: &str) -> Result<String> {
    println!("preparing the Python venv with the real grafi {version} ({script})");
    let output = Command::new("bash")
        .arg(root.join(script))
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{script} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let python = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    println!("python for grafi {version}: {python}");
    Ok(python)
}
