//! `grafi-store`: run a grafi event store without writing Rust.
//!
//! Exit status: 0 success (also when stdout's reader went away, `| head`, and when Ctrl-C or
//! SIGTERM ends `tail --follow`); 1 some input line was invalid (import, validate) or the
//! event asked for does not exist (export --event); 2 usage error (an argument the store
//! refuses, such as an empty id to erase, and erase or purge without --yes, included); 3 the
//! store or a file failed, or the store cannot do what was asked; 130 import, or tail without
//! --follow, interrupted (Ctrl-C, SIGTERM).

mod audit;
mod demo;
mod dialects;
mod erase;
mod export;
mod import;
mod input;
mod interrupt;
mod logging;
mod migrate;
mod out;
mod purge;
mod stats;
mod tail;
#[cfg(test)]
mod test_support;
mod timeline;
mod validate;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use grafi_store::{EventStore, Selection, StoreError};
use serde::Serialize;

/// grafi event store command line: try the store, move events in and out, watch new ones,
/// check a dump.
///
/// The store is chosen by --store, else GRAFI_STORE_URL, else DATABASE_URL, else the
/// in-memory store (`memory:`, nothing persists). PostgreSQL: postgres://user@host:5432/db.
/// `demo` never uses DATABASE_URL: only --store or GRAFI_STORE_URL, else memory:.
#[derive(Debug, Parser)]
#[command(
    name = "grafi-store",
    version,
    after_help = "Logging goes to stderr: warnings and errors by default (the store's retries, \
                  connection and pool errors); -v info, -vv debug (grafi's crates), -vvv debug \
                  (everything, SQL parameters included), -q errors only; without \
                  -v/-q, RUST_LOG sets the filter (e.g. RUST_LOG=grafi_store_diesel=debug for the \
                  PostgreSQL store, grafi_cli=debug for this command).\n\n\
                  Exit status: 0 success (also when the reader of stdout goes away, as with \
                  `| head`, and when Ctrl-C or SIGTERM ends tail --follow); 1 invalid input \
                  lines (import, validate) or no such event (export --event); 2 usage error, \
                  bad store URL, an argument the store refuses (an empty id to erase), or \
                  erase or purge without --yes or --dry-run; 3 the store or a file failed, or \
                  the store cannot do what was asked; 130 import, or tail without --follow, \
                  interrupted by Ctrl-C or SIGTERM."
)]
struct Cli {
    /// Store URL: `memory:` or `postgres://user[:password]@host[:port]/db`
    /// [default: $GRAFI_STORE_URL, then $DATABASE_URL (not for demo), then memory:]
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,

    /// More log output on stderr: -v info, -vv debug (grafi's crates), -vvv debug
    /// (everything), -vvvv trace (overrides RUST_LOG).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Log errors only (overrides RUST_LOG).
    #[arg(short, long, global = true)]
    quiet: bool,

    /// The grafi dialect of the database's `events` table, 0.0.24 or 0.0.36: the layout a
    /// command gives a table it creates, and the one an existing table must have. Unset, an
    /// existing table is served as it is, and a new one gets the dialect of the file `import`
    /// reads (0.0.24 for stdin and for `demo`). The in-memory store holds both.
    #[arg(long, global = true, value_name = "VERSION")]
    dialect: Option<grafi_events::Dialect>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate realistic agent runs, record them, read them back and print a timeline with
    /// per-request stats. Uses the in-memory store unless --store or GRAFI_STORE_URL names
    /// one (never DATABASE_URL: the demo's events do not belong in an application's database).
    Demo(DemoArgs),
    /// Import a JSONL file of grafi event documents (`-` for stdin). Idempotent: re-running
    /// after a failure is safe. Ctrl-C stops at a batch boundary and says where to resume.
    Import(ImportArgs),
    /// Export events as JSONL on stdout, each document in the grafi dialect it was recorded in,
    /// in recording order (topic queries: offset order). With -v, says how many of each
    /// dialect it wrote.
    Export(ExportArgs),
    /// Print the events after a cursor, as a timeline or (--json) as JSONL; with --follow,
    /// keep printing new events as they are recorded, until Ctrl-C or SIGTERM. Ends by printing
    /// on stderr the cursor to resume from (`resume: --from g1.…`). Needs a store that keeps
    /// positions (memory:, or a PostgreSQL table migrated by `grafi-store migrate run`).
    Tail(TailArgs),
    /// Check a JSONL file (`-` for stdin): every line must decode and re-encode to the same
    /// document, and be storable. Stores nothing.
    Validate(ValidateArgs),
    /// Events by type, conversations, requests, success rate.
    Stats(StatsArgs),
    /// Delete every event in the store.
    Clear(ClearArgs),
    /// Remove for good every event of a conversation, a request or a user (a user: with every
    /// conversation of theirs), e.g. for a request to erase personal data. Erased events are
    /// refused if recorded again, and the audit trail keeps the erasure without the id. Needs
    /// --yes (without it: says how much it would remove, changes nothing); --dry-run only
    /// counts. The id is never printed.
    Erase(EraseArgs),
    /// Remove every event recorded before a cut-off (retention): --before TIME or
    /// --older-than DURATION. The audit trail keeps the purge; purged events may be recorded
    /// again. Needs --yes (without it: says how much it would remove, changes nothing);
    /// --dry-run only counts.
    Purge(PurgeArgs),
    /// The audit trail: every erasure and purge done on this store, oldest first, one line
    /// each (id, time, action, events removed, the subject's keyed hash or the purge's
    /// cut-off, database role, application_name). Never an erased id or a payload.
    Audit(AuditArgs),
    /// The table's migrations: `status` (changes nothing), `run` and `revert` (print their
    /// plan and ask for --yes). A store never alters an existing table by itself.
    Migrate(MigrateArgs),
    /// Least-privilege roles: `--print-sql` prints the SQL for an owner (migrations), a
    /// writer (SELECT, INSERT) and a reader (SELECT) role.
    Roles(RolesArgs),
    /// Print a shell completion script: `grafi-store completions bash >
    /// /etc/bash_completion.d/grafi-store`, `… zsh > ~/.zfunc/_grafi-store`, `… fish >
    /// ~/.config/fish/completions/grafi-store.fish`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
struct StatsArgs {
    /// One JSON document on stdout (fields: see --help).
    #[arg(long, long_help = stats::JSON_HELP)]
    json: bool,
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
    /// One JSON document on stdout when the import ends (fields: see --help).
    #[arg(long, long_help = import::JSON_HELP)]
    json: bool,
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
        .args(["conversation", "request", "event", "topic", "user"])
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
    /// Everything held about this user (`user_id`), as for a request for access: every event
    /// naming them, and every event of their conversations (what `erase --user` removes).
    #[arg(long, value_name = "ID")]
    user: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("subject")
        .args(["conversation", "request", "user"])
        .required(true)
        .multiple(false)
))]
struct EraseArgs {
    /// Every event of this conversation (`conversation_id`).
    #[arg(long, value_name = "ID")]
    conversation: Option<String>,
    /// Every event of this assistant request (`assistant_request_id`).
    #[arg(long, value_name = "ID")]
    request: Option<String>,
    /// Every event naming this user (`user_id`), and every event of their conversations.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    #[command(flatten)]
    confirm: ConfirmArgs,
    /// One JSON document on stdout (fields: see --help).
    #[arg(long, long_help = erase::JSON_HELP)]
    json: bool,
}

impl EraseArgs {
    fn erasure(self) -> anyhow::Result<grafi_store_core::Erasure> {
        use grafi_store_core::Erasure;
        match (self.conversation, self.request, self.user) {
            (Some(id), ..) => Ok(Erasure::Conversation(id)),
            (_, Some(id), _) => Ok(Erasure::Request(id)),
            (_, _, Some(id)) => Ok(Erasure::User(id)),
            _ => Err(UsageError("give --conversation, --request or --user".into()).into()),
        }
    }
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("cutoff")
        .args(["before", "older_than"])
        .required(true)
        .multiple(false)
))]
struct PurgeArgs {
    /// Remove the events whose timestamp is before this time: RFC 3339
    /// (2026-01-01T00:00:00Z) or a date (2026-01-01, midnight UTC).
    #[arg(long, value_name = "TIME", value_parser = purge::parse_time)]
    before: Option<chrono::DateTime<chrono::Utc>>,
    /// Remove the events older than this: a number and a unit, s, m, h, d or w (90d, 12h,
    /// 2w); the cut-off is now minus that, to the second.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = purge::parse_age,
        allow_hyphen_values = true
    )]
    older_than: Option<chrono::TimeDelta>,
    #[command(flatten)]
    confirm: ConfirmArgs,
    /// One JSON document on stdout (fields: see --help).
    #[arg(long, long_help = purge::JSON_HELP)]
    json: bool,
}

impl PurgeArgs {
    fn cutoff(&self) -> anyhow::Result<purge::Cutoff> {
        match (self.before, self.older_than) {
            (Some(t), _) => Ok(purge::Cutoff::Before(t)),
            (None, Some(age)) => Ok(purge::Cutoff::OlderThan(age)),
            (None, None) => Err(UsageError("give --before or --older-than".into()).into()),
        }
    }
}

/// `--yes` and `--dry-run` of `erase` and `purge`.
#[derive(Debug, Args)]
struct ConfirmArgs {
    /// Confirm: remove the events for good.
    #[arg(long)]
    yes: bool,
    /// Count what would be removed, and change nothing.
    #[arg(long, conflicts_with = "yes")]
    dry_run: bool,
}

impl ConfirmArgs {
    fn intent(&self) -> Intent {
        match (self.dry_run, self.yes) {
            (true, _) => Intent::DryRun,
            (false, true) => Intent::Apply,
            (false, false) => Intent::Ask,
        }
    }
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// One JSON object per record, one per line (fields: see --help).
    #[arg(long, long_help = audit::JSON_HELP)]
    json: bool,
}

#[derive(Debug, Args)]
struct TailArgs {
    /// Keep going: print each new event as it is recorded, until Ctrl-C or SIGTERM (then exit
    /// 0). Without it, tail prints the events recorded so far and exits.
    #[arg(short, long)]
    follow: bool,
    /// Print the events after this point: `start` (every event), `end` (only events recorded
    /// from now on), or a cursor a previous tail printed (`resume: --from g1.…`).
    #[arg(
        long,
        value_name = "start|end|CURSOR",
        default_value = "start",
        value_parser = tail::parse_start
    )]
    from: tail::Start,
    /// Only this conversation (`invoke_context.conversation_id`).
    #[arg(long, value_name = "ID")]
    conversation: Option<String>,
    /// Only this assistant request (`assistant_request_id`).
    #[arg(long, value_name = "ID")]
    request: Option<String>,
    /// Only events of this type (e.g. ToolFailed); repeat it for several types.
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Only events about this topic (PublishToTopic, ConsumeFromTopic, OutputTopic and
    /// TopicEvent records naming it).
    #[arg(long, value_name = "NAME")]
    topic: Option<String>,
    /// Print each event's grafi document, one per line, exactly as `export` writes it,
    /// instead of the timeline.
    #[arg(long)]
    json: bool,
}

impl TailArgs {
    fn options(self) -> tail::Options {
        let mut filter = grafi_store_core::Filter::all();
        if let Some(id) = self.conversation {
            filter = filter.conversation(id);
        }
        if let Some(id) = self.request {
            filter = filter.request(id);
        }
        for event_type in self.types {
            filter = filter.event_type(event_type);
        }
        if let Some(topic) = self.topic {
            filter = filter.topic(topic);
        }
        tail::Options {
            from: self.from,
            follow: self.follow,
            filter,
            json: self.json,
        }
    }
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// JSONL file, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    file: String,
    /// One JSON document on stdout (fields: see --help).
    #[arg(long, long_help = validate::JSON_HELP)]
    json: bool,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Debug, Args)]
struct ClearArgs {
    /// Confirm: delete every event.
    #[arg(long)]
    yes: bool,
    /// One JSON document on stdout (fields: see --help).
    #[arg(long, long_help = CLEAR_JSON_HELP)]
    json: bool,
}

/// `clear --json`: its help, which lists the fields of [`ClearSummary`].
const CLEAR_JSON_HELP: &str = "Print one JSON document on stdout instead of the message. Fields:
  store: the store URL, password replaced by ***
  cleared: true (on failure nothing is printed on stdout and the exit status is 3)";

/// `clear --json`: one document on stdout (field names are stable).
#[derive(Debug, Serialize)]
struct ClearSummary {
    /// The store URL, password replaced by `***`.
    store: String,
    /// Always `true`: every event was deleted (a failure prints nothing on stdout).
    cleared: bool,
}

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything as asked.
    Success,
    /// Invalid input, or nothing found for an exact lookup (exit 1).
    Incomplete,
    /// Stopped early by Ctrl-C or SIGTERM (exit 130).
    Interrupted,
}

/// What `erase` and `purge` were asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// `--yes`: remove.
    Apply,
    /// `--dry-run`: count, change nothing.
    DryRun,
    /// Neither: count, change nothing, and refuse with what `--yes` would remove (exit 2).
    Ask,
}

const EXIT_INCOMPLETE: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_FAILURE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Incomplete) => ExitCode::from(EXIT_INCOMPLETE),
        Ok(Outcome::Interrupted) => ExitCode::from(interrupt::EXIT_INTERRUPTED),
        // The reader of stdout went away (`| head`): the command stopped there, quietly.
        Err(e) if out::is_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let text = logging::scrub(&format!("{e:#}"));
            crate::errln!("error: {text}");
            if is_usage_error(&e) {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_FAILURE)
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

/// Whether `e` is a mistake in how the command was called: a [`UsageError`], or an argument
/// the store refused ([`StoreError::InvalidArgument`], e.g. an empty id to erase).
pub fn is_usage_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<UsageError>()
            || matches!(
                cause.downcast_ref::<StoreError>(),
                Some(StoreError::InvalidArgument { .. })
            )
    })
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // Commands that need no store.
    match &cli.command {
        Command::Validate(args) => {
            return validate::run(&args.file, &args.input.options(), args.json)
        }
        Command::Roles(args) => return migrate::print_roles(&args.prefix),
        Command::Completions(args) => return completions(args.shell),
        Command::Clear(ClearArgs { yes: false, .. }) => {
            return Err(UsageError(
                "`clear` deletes every event in the store; add --yes to confirm".into(),
            )
            .into())
        }
        _ => {}
    }
    let selection = match cli.command {
        Command::Demo(_) => select_for_demo(cli.store.as_deref())?,
        _ => select(cli.store.as_deref())?,
    };
    logging::set_store(&selection.url);
    tracing::info!(
        target: "grafi_cli",
        store = %selection.url,
        source = selection.source.describe(),
        "store selected"
    );
    if let Command::Migrate(args) = &cli.command {
        let (action, yes, lock_timeout) = match &args.action {
            MigrateAction::Status => (migrate::Action::Status, false, None),
            MigrateAction::Run(c) => (migrate::Action::Run, c.yes, c.lock_timeout.0),
            MigrateAction::Revert(c) => (migrate::Action::Revert, c.yes, c.lock_timeout.0),
        };
        return migrate::run(&selection, action, yes, lock_timeout, cli.dialect).await;
    }
    // Only the commands that record events (or clear them) create a missing table: on a big
    // grafi table, migrating rewrites it under an exclusive lock, and there is nothing to
    // read, erase or purge in a table that does not exist.
    let writes = matches!(
        cli.command,
        Command::Demo(_) | Command::Import(_) | Command::Clear(_)
    );
    let new_table_dialect = match &cli.command {
        Command::Import(args) if cli.dialect.is_none() => input::dialect_of_file(&args.file),
        _ => None,
    };
    let options = grafi_store::OpenOptions::default()
        .run_migrations(writes)
        .dialect(cli.dialect)
        .new_table_dialect(new_table_dialect);
    let store = open(&selection, options).await?;
    match cli.command {
        Command::Demo(args) => {
            // What the store's table holds (a new table: what --dialect or the URL named).
            let dialect = cli.dialect.or(store.table_dialect()).unwrap_or_default();
            demo::run(store, &selection, args.conversations as usize, dialect).await
        }
        Command::Import(args) => {
            let options = args.input.options();
            import::run(
                store,
                &args.file,
                args.batch_size as usize,
                args.flush_after,
                &options,
                args.json,
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
                _ => match args.user {
                    Some(id) => export::Filter::User(id),
                    None => export::Filter::All,
                },
            };
            export::run(store, filter).await
        }
        Command::Tail(args) => tail::run(store, args.options()).await,
        Command::Stats(args) => stats::run(store, &selection, args.json).await,
        Command::Erase(args) => {
            let (intent, json) = (args.confirm.intent(), args.json);
            let erasure = args.erasure()?;
            erase::run(&*store, &erasure, intent, json, &mut std::io::stdout()).await
        }
        Command::Purge(args) => {
            let cutoff = args.cutoff()?;
            let intent = args.confirm.intent();
            purge::run(&*store, cutoff, intent, args.json, &mut std::io::stdout()).await
        }
        Command::Audit(args) => audit::run(&*store, args.json, &mut std::io::stdout()).await,
        Command::Clear(args) => {
            store.clear_events().await.map_err(anyhow::Error::new)?;
            if args.json {
                out::json(&ClearSummary {
                    store: selection.url.to_string(),
                    cleared: true,
                })?;
            } else {
                outln!("cleared every event in {}", selection.url)?;
            }
            Ok(Outcome::Success)
        }
        Command::Validate(_)
        | Command::Migrate(_)
        | Command::Roles(_)
        | Command::Completions(_) => {
            unreachable!("handled above")
        }
    }
}

/// `grafi-store completions SHELL`.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "grafi-store", &mut script);
    out::bytes(&script)?;
    Ok(Outcome::Success)
}

/// The store of `demo`: --store, else GRAFI_STORE_URL, else memory:. Never DATABASE_URL
/// alone: that is usually an application's own database, no place for simulated events.
fn select_for_demo(explicit: Option<&str>) -> anyhow::Result<Selection> {
    let var = grafi_store::GRAFI_STORE_URL;
    if explicit.is_none() && std::env::var_os(var).is_some_and(|v| v.to_str().is_none()) {
        return Err(UsageError(format!("{var} is not valid UTF-8")).into());
    }
    let selection = grafi_store::select(explicit, |k| {
        if k == var {
            std::env::var(k).ok()
        } else {
            None
        }
    })
    .map_err(|e| UsageError(e.to_string()))?;
    if selection.fell_back_to_memory() {
        let database_url = std::env::var_os(grafi_store::DATABASE_URL)
            .is_some_and(|v| !v.to_string_lossy().trim().is_empty());
        if database_url {
            crate::errln!(
                "note: demo ignores DATABASE_URL (its simulated events do not belong in that \
                 database): using the in-memory store (memory:), nothing persists; give \
                 --store or GRAFI_STORE_URL to keep them"
            );
        } else {
            crate::errln!(
                "note: no --store or GRAFI_STORE_URL: using the in-memory store (memory:); \
                 nothing persists after this command"
            );
        }
    }
    Ok(selection)
}

fn select(explicit: Option<&str>) -> anyhow::Result<Selection> {
    let selection = match explicit {
        Some(url) => grafi_store::select(Some(url), |_| None),
        None => grafi_store::select_from_env(),
    }
    .map_err(|e| UsageError(e.to_string()))?;
    if selection.fell_back_to_memory() {
        crate::errln!(
            "note: no --store, GRAFI_STORE_URL or DATABASE_URL: using the in-memory store \
             (memory:); nothing persists after this command"
        );
    }
    Ok(selection)
}

async fn open(
    selection: &Selection,
    options: grafi_store::OpenOptions,
) -> anyhow::Result<Arc<dyn EventStore>> {
    let migrate = options.migrates();
    grafi_store::open_url_with(&selection.url, options)
        .await
        .map_err(|e| match e {
            StoreError::Config(_) if !migrate => anyhow::anyhow!(
                "cannot open the store: {e}\nhint: reading commands (export, stats, tail, audit), \
                 erase and purge never create the table; run `grafi-store migrate run` or \
                 `grafi-store import` first"
            ),
            e => anyhow::anyhow!("cannot open the store: {e}"),
        })
}
