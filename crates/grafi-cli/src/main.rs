//! `grafi-store`: run a grafi event store without writing Rust.
//!
//! Exit status: 0 success; 1 some input line was invalid (import, validate) or the event
//! asked for does not exist (export --event); 2 usage error; 3 the store or a file failed.

mod demo;
mod export;
mod import;
mod input;
mod migrate;
mod stats;
mod timeline;
mod validate;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use grafi_store::{EventStore, Selection, StoreError, StoreUrl};

/// grafi event store command line: try the store, move events in and out, check a dump.
///
/// The store is chosen by --store, else GRAFI_STORE_URL, else DATABASE_URL, else the
/// in-memory store (`memory:`, nothing persists). PostgreSQL: postgres://user@host:5432/db.
#[derive(Debug, Parser)]
#[command(
    name = "grafi-store",
    version,
    after_help = "Exit status: 0 success; 1 invalid input lines (import, validate) or no such event \
                  (export --event); 2 usage error or bad store URL; 3 the store or a file failed."
)]
struct Cli {
    /// Store URL: `memory:` or `postgres://user[:password]@host[:port]/db`
    /// [default: $GRAFI_STORE_URL, then $DATABASE_URL, then memory:]
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate realistic agent runs, record them, read them back and print a timeline with
    /// per-request stats.
    Demo(DemoArgs),
    /// Import a JSONL file of grafi event documents (`-` for stdin). Idempotent: re-running
    /// after a failure is safe.
    Import(ImportArgs),
    /// Export events as JSONL on stdout, in recording order (topic queries: offset order).
    Export(ExportArgs),
    /// Check a JSONL file (`-` for stdin): every line must decode and re-encode to the same
    /// document, and be storable. Stores nothing.
    Validate(ValidateArgs),
    /// Events by type, conversations, requests, success rate.
    Stats,
    /// Delete every event in the store.
    Clear(ClearArgs),
    /// The table's migrations: `status` (changes nothing), `run` and `revert` (print their
    /// plan and ask for --yes). A store never alters an existing table by itself.
    Migrate(MigrateArgs),
    /// Least-privilege roles: `--print-sql` prints the SQL for an owner (migrations), a
    /// writer (SELECT, INSERT) and a reader (SELECT) role.
    Roles(RolesArgs),
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[command(subcommand)]
    action: MigrateAction,
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Applied and pending migrations, the table, and what each pending one would do.
    Status,
    /// Apply the pending migrations (prints the plan; needs --yes).
    Run(ChangeArgs),
    /// Revert the last applied migration (prints the plan; needs --yes).
    Revert(ChangeArgs),
}

#[derive(Debug, Args)]
struct ChangeArgs {
    /// Confirm: carry out the plan.
    #[arg(long)]
    yes: bool,
    /// How long each migration may wait for its table lock before giving up and changing
    /// nothing (`10s`, `500ms`, `2m`; `0`: as long as it takes). While it waits, other
    /// clients of the table queue behind it.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = migrate::parse_timeout)]
    lock_timeout: migrate::LockTimeout,
}

#[derive(Debug, Args)]
struct RolesArgs {
    /// Print the SQL (run it as a superuser or a role with CREATEROLE).
    #[arg(long, required = true)]
    print_sql: bool,
    /// Role names are PREFIX_owner, PREFIX_writer and PREFIX_reader.
    #[arg(long, value_name = "PREFIX", default_value = "grafi")]
    prefix: String,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Conversations to simulate.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    conversations: u32,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// JSONL file, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    file: String,
    /// Events per `record_events` call (each call is atomic).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch_size: u32,
    /// Write a batch that is not full once its first event has waited this long (`1s`,
    /// `500ms`, `2m`; `0`: do not wait): input that trickles in, e.g. from a pipe that
    /// pauses, is stored within about this time instead of when the batch fills.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = import::parse_flush_after)]
    flush_after: std::time::Duration,
    #[command(flatten)]
    input: InputArgs,
}

/// Input options of `import` and `validate`.
#[derive(Debug, Args)]
struct InputArgs {
    /// Also write every problem found, one per line, to FILE (stderr shows the first 100).
    #[arg(long, value_name = "FILE")]
    errors: Option<std::path::PathBuf>,
    /// Longest line accepted, in bytes (by default the store's event size limit): a longer
    /// line is reported and skipped without being read into memory.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = input::default_max_line_bytes() as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_line_bytes: u64,
}

impl InputArgs {
    fn options(&self) -> input::Options {
        input::Options {
            max_line_bytes: usize::try_from(self.max_line_bytes).unwrap_or(usize::MAX),
            errors: self.errors.clone(),
        }
    }
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("filter")
        .args(["conversation", "request", "event", "topic"])
        .multiple(false)
))]
struct ExportArgs {
    /// Only this conversation (`invoke_context.conversation_id`).
    #[arg(long, value_name = "ID")]
    conversation: Option<String>,
    /// Only this assistant request (`assistant_request_id`).
    #[arg(long, value_name = "ID")]
    request: Option<String>,
    /// Only this event.
    #[arg(long, value_name = "ID")]
    event: Option<String>,
    /// Topic records (PublishToTopic, TopicEvent) of this topic at --offsets.
    #[arg(long, value_name = "NAME", requires = "offsets")]
    topic: Option<String>,
    /// Offsets for --topic, comma-separated.
    #[arg(
        long,
        value_name = "N,N,…",
        value_delimiter = ',',
        requires = "topic",
        allow_negative_numbers = true
    )]
    offsets: Option<Vec<i64>>,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// JSONL file, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    file: String,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Debug, Args)]
struct ClearArgs {
    /// Confirm: delete every event.
    #[arg(long)]
    yes: bool,
}

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything as asked.
    Success,
    /// Invalid input, or nothing found for an exact lookup (exit 1).
    Incomplete,
}

const EXIT_INCOMPLETE: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_FAILURE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut scrubber: Option<StoreUrl> = None;
    let result = runtime.block_on(run(cli, &mut scrubber));
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Incomplete) => ExitCode::from(EXIT_INCOMPLETE),
        Err(e) => {
            let text = format!("{e:#}");
            let text = match &scrubber {
                Some(url) => url.scrub(&text),
                None => text,
            };
            eprintln!("error: {text}");
            match e.downcast_ref::<UsageError>() {
                Some(_) => ExitCode::from(EXIT_USAGE),
                None => ExitCode::from(EXIT_FAILURE),
            }
        }
    }
}

/// A mistake in how the command was called (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

async fn run(cli: Cli, scrubber: &mut Option<StoreUrl>) -> anyhow::Result<Outcome> {
    if let Command::Validate(args) = &cli.command {
        // Validation needs no store.
        return validate::run(&args.file, &args.input.options());
    }
    if let Command::Roles(args) = &cli.command {
        return migrate::print_roles(&args.prefix);
    }
    if let Command::Clear(ClearArgs { yes: false }) = &cli.command {
        return Err(UsageError(
            "`clear` deletes every event in the store; add --yes to confirm".into(),
        )
        .into());
    }
    let selection = select(cli.store.as_deref())?;
    *scrubber = Some(selection.url.clone());
    if let Command::Migrate(args) = &cli.command {
        let (action, yes, lock_timeout) = match &args.action {
            MigrateAction::Status => (migrate::Action::Status, false, None),
            MigrateAction::Run(c) => (migrate::Action::Run, c.yes, c.lock_timeout.0),
            MigrateAction::Revert(c) => (migrate::Action::Revert, c.yes, c.lock_timeout.0),
        };
        return migrate::run(&selection, action, yes, lock_timeout).await;
    }
    // Reading commands never create or migrate a table: on a big grafi table, migrating
    // rewrites it under an exclusive lock.
    let writes = !matches!(cli.command, Command::Export(_) | Command::Stats);
    let store = open(&selection, writes).await?;
    match cli.command {
        Command::Demo(args) => demo::run(store, &selection, args.conversations as usize).await,
        Command::Import(args) => {
            let options = args.input.options();
            import::run(
                store,
                &args.file,
                args.batch_size as usize,
                args.flush_after,
                &options,
            )
            .await
        }
        Command::Export(args) => {
            let filter = match (args.conversation, args.request, args.event, args.topic) {
                (Some(id), ..) => export::Filter::Conversation(id),
                (_, Some(id), ..) => export::Filter::Request(id),
                (_, _, Some(id), _) => export::Filter::Event(id),
                (_, _, _, Some(topic)) => {
                    export::Filter::Topic(topic, args.offsets.unwrap_or_default())
                }
                _ => export::Filter::All,
            };
            export::run(store, filter).await
        }
        Command::Stats => stats::run(store, &selection).await,
        Command::Clear(_) => {
            store.clear_events().await.map_err(anyhow::Error::new)?;
            println!("cleared every event in {}", selection.url);
            Ok(Outcome::Success)
        }
        Command::Validate(_) | Command::Migrate(_) | Command::Roles(_) => {
            unreachable!("handled above")
        }
    }
}

fn select(explicit: Option<&str>) -> anyhow::Result<Selection> {
    let selection = match explicit {
        Some(url) => grafi_store::select(Some(url), |_| None),
        None => grafi_store::select_from_env(),
    }
    .map_err(|e| UsageError(e.to_string()))?;
    if selection.fell_back_to_memory() {
        eprintln!(
            "note: no --store, GRAFI_STORE_URL or DATABASE_URL: using the in-memory store \
             (memory:); nothing persists after this command"
        );
    }
    Ok(selection)
}

async fn open(selection: &Selection, migrate: bool) -> anyhow::Result<Arc<dyn EventStore>> {
    let options = grafi_store::OpenOptions::default().run_migrations(migrate);
    grafi_store::open_url_with(&selection.url, options)
        .await
        .map_err(|e| match e {
            StoreError::Config(_) if !migrate => anyhow::anyhow!(
                "cannot open the store: {e}\nhint: reading commands (export, stats) never create \
                 the table; run `grafi-store migrate run` or `grafi-store import` first"
            ),
            e => anyhow::anyhow!("cannot open the store: {e}"),
        })
}
