//! The `grafi-store` binary end to end, against the memory store and a real PostgreSQL
//! (a scratch database per test on the server at `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped afterwards).

use std::io::Write;
use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

const CORPUS: &str = include_str!("../../../fixtures/grafi-0.0.24/events.jsonl");

fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/grafi-0.0.24/events.jsonl")
}

/// The binary with no store configured in the environment, and no `RUST_LOG`.
fn grafi_store() -> Command {
    let mut cmd = Command::cargo_bin("grafi-store").unwrap();
    cmd.env_remove("GRAFI_STORE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    cmd
}

/// A file of corpus lines and bad ones; returns it and the ids of the valid lines.
///
/// Lines: 1–3 valid, 4 bad JSON, 5 unknown shape, 6 NUL in event_context, 7 blank,
/// 8 a JSON array, 9 valid, 10 a duplicate of line 1.
fn bad_input() -> (tempfile::NamedTempFile, Vec<String>) {
    let lines: Vec<&str> = CORPUS.lines().collect();
    let nul = lines[3].replacen(
        "\"conversation_id\": \"",
        "\"conversation_id\": \"\\u0000",
        1,
    );
    assert_ne!(nul, lines[3]);
    let content = [
        lines[0],
        lines[1],
        lines[2],
        r#"{"event_id": "broken-1", "event_type": "ToolInvoke", "#,
        r#"{"hello": "world"}"#,
        &nul,
        "",
        "[1, 2, 3]",
        lines[4],
        lines[0],
    ]
    .join("\n");
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{content}").unwrap();
    let valid = [0, 1, 2, 4]
        .iter()
        .map(|&i| {
            grafi_events::decode_str(lines[i])
                .unwrap()
                .event_id()
                .to_owned()
        })
        .collect();
    (file, valid)
}

fn assert_bad_lines_reported(stderr: &str) {
    assert!(
        stderr.contains("line 4: event \"broken-1\": invalid JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: event (id unknown): not a grafi event document"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 6: event \"") && stderr.contains("NUL character"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 8: event (id unknown): not a grafi event document"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("line 7"),
        "a blank line is not an error: {stderr}"
    );
}

// ----------------------------------------------------------------------------------------
// Memory store and no store.

/// Both real corpora in one file: each line is judged in its own dialect, and the counts say
/// which the file held.
#[test]
fn validate_and_import_say_which_dialects_they_saw() {
    let mixed = format!(
        "{CORPUS}{}",
        include_str!("../../../fixtures/grafi-0.0.36/events.jsonl")
    );
    grafi_store()
        .args(["validate", "-"])
        .write_stdin(mixed.clone())
        .assert()
        .success()
        .stdout("412 valid (grafi 0.0.24: 211, 0.0.36: 201), 0 invalid\n")
        .stderr("");
    let out = grafi_store()
        .args(["--store", "memory://", "import", "--json", "-"])
        .write_stdin(mixed)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = one_json_document(&out);
    assert_eq!(doc["imported"], 412);
    assert_eq!(
        doc["by_dialect"],
        serde_json::json!({"0.0.24": 211, "0.0.36": 201, "other": 0})
    );
}

#[test]
fn validate_accepts_the_whole_corpus() {
    grafi_store()
        .arg("validate")
        .arg(corpus_path())
        .assert()
        .success()
        .stdout("211 valid (grafi 0.0.24: 211), 0 invalid\n")
        .stderr("");
}

#[test]
fn validate_reads_stdin_and_reports_bad_lines_by_number() {
    let (file, _) = bad_input();
    let input = std::fs::read(file.path()).unwrap();
    let out = grafi_store()
        .args(["validate", "-"])
        .write_stdin(input)
        .assert()
        .code(1)
        .stdout("5 valid (grafi 0.0.24: 5), 4 invalid\n")
        .get_output()
        .clone();
    assert_bad_lines_reported(&String::from_utf8_lossy(&out.stderr));
}

#[test]
fn validate_reports_fields_of_the_wrong_type() {
    // grafi stores message lists as JSON *strings*; an array there is not a grafi event.
    let line = CORPUS.lines().next().unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(line).unwrap();
    doc["data"]["input_data"] = serde_json::json!([]);
    grafi_store()
        .args(["validate", "-"])
        .write_stdin(format!("{doc}\n"))
        .assert()
        .code(1)
        .stdout("0 valid, 1 invalid\n")
        .stderr(contains("line 1: event \""));
}

#[test]
fn import_into_memory_counts_and_warns_that_nothing_persists() {
    grafi_store()
        .arg("import")
        .arg(corpus_path())
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "imported 211, duplicates 0, invalid 0 in ",
        ))
        .stderr(contains("in-memory store").and(contains("nothing persists")));
}

#[test]
fn import_of_bad_input_into_memory_stores_the_valid_lines_and_fails() {
    let (file, _) = bad_input();
    let out = grafi_store()
        .args(["--store", "memory:", "import", "--batch-size", "2"])
        .arg(file.path())
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "imported 4, duplicates 1, invalid 4 in ",
        ))
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_bad_lines_reported(&stderr);
    assert!(
        !stderr.contains("nothing persists"),
        "--store given: {stderr}"
    );
}

#[test]
fn demo_tells_a_consistent_story() {
    let out = grafi_store()
        .args(["demo", "--conversations", "5"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "Simulated 5 conversations",
        "Recorded them with record_events",
        "0 duplicates",
        "get_conversation_events",
        "get_agent_events",
        "AssistantInvoke",
        "WorkflowInvoke",
        "NodeInvoke",
        "ToolInvoke",
        "PublishToTopic",
        "ConsumeFromTopic",
        "OutputTopic",
        "ToolFailed",
        "AssistantFailed",
        "✓ succeeded",
        "✗ failed",
        "invoke→respond",
        "success rate",
        "Per-request summary",
        "9 requests in 5 conversations",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("differs from what was recorded"),
        "{stdout}"
    );
    // Re-recording is idempotent.
    assert!(stdout.contains("→ 0 new, 24 duplicates"), "{stdout}");
    // Timelines advance: no request takes zero time, and the failed search waits ~10 s.
    assert!(stdout.contains("+0.000s  AssistantInvoke"), "{stdout}");
    assert!(stdout.contains("TimeoutError"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing persists"));
}

#[test]
fn bad_store_urls_are_usage_errors_without_the_password() {
    for url in [
        "mysql://root:hunter22@localhost/db",
        "postgres://u:hunter22@db:99999/x",
        "no-scheme-hunter22",
    ] {
        let out = grafi_store()
            .args(["--store", url, "stats"])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("hunter22"), "{url}: {stderr}");
    }
}

#[test]
fn a_bad_url_in_the_environment_names_the_variable() {
    grafi_store()
        .env("DATABASE_URL", "sqlite://x.db")
        .arg("stats")
        .assert()
        .code(2)
        .stderr(contains("DATABASE_URL"));
}

#[test]
fn clear_needs_yes_and_export_filters_are_exclusive() {
    grafi_store()
        .arg("clear")
        .assert()
        .code(2)
        .stderr(contains("--yes"));
    grafi_store()
        .args(["--store", "memory:", "clear", "--yes"])
        .assert()
        .success();
    grafi_store()
        .args(["export", "--event", "a", "--request", "b"])
        .assert()
        .code(2);
    grafi_store()
        .args(["export", "--topic", "t"])
        .assert()
        .code(2);
    grafi_store()
        .args(["--store", "memory:", "export", "--event", "nope"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains("no event with id \"nope\""));
}

/// `erase` and `purge` change nothing without --yes: they say how much it would remove and
/// exit 2; --dry-run only counts. Bad scopes, ages and times are usage errors, and the id
/// erased is never printed back.
#[test]
fn erase_and_purge_need_yes_and_refuse_bad_arguments() {
    assert_documented(&["erase"], ERASE_FIELDS);
    assert_documented(&["purge"], PURGE_FIELDS);
    assert_documented(&["audit"], AUDIT_FIELDS);
    let out = grafi_store()
        .args(["--store", "memory:", "erase", "--user", "u_secret_42"])
        .assert()
        .code(2)
        .stdout("")
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("would remove 0 events in 0 conversations and 0 requests"),
        "{stderr}"
    );
    assert!(stderr.contains("add --yes"), "{stderr}");
    assert!(!stderr.contains("u_secret_42"), "{stderr}");
    let out = grafi_store()
        .args(["--store", "memory:", "erase", "--dry-run", "--json"])
        .args(["--conversation", "c_secret_42"])
        .assert()
        .success()
        .stderr("")
        .get_output()
        .clone();
    assert_eq!(
        one_json_document(&out.stdout),
        serde_json::json!({"action": "erase_conversation", "dry_run": true,
                           "events": 0, "conversations": 0, "requests": 0})
    );
    // One scope, exactly; --yes and --dry-run exclude each other; an empty id is refused.
    for args in [
        &["erase", "--yes"][..],
        &["erase", "--user", "a", "--request", "b", "--yes"],
        &["erase", "--user", "a", "--yes", "--dry-run"],
        &["erase", "--user", "", "--yes"],
        &["erase", "--user", "", "--dry-run"],
    ] {
        grafi_store()
            .args(["--store", "memory:"])
            .args(args)
            .assert()
            .code(2)
            .stdout("");
    }

    for (age, says) in [
        ("0d", "above zero"),
        ("-1d", "is no age"),
        ("90x", "is no age"),
        ("", "is no age"),
    ] {
        let out = grafi_store()
            .args([
                "--store",
                "memory:",
                "purge",
                "--dry-run",
                "--older-than",
                age,
            ])
            .assert()
            .code(2)
            .stdout("")
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{age}: {stderr}");
    }
    grafi_store()
        .args([
            "--store",
            "memory:",
            "purge",
            "--before",
            "2026-02-30",
            "--yes",
        ])
        .assert()
        .code(2)
        .stderr(contains("RFC 3339"));
    grafi_store()
        .args(["--store", "memory:", "purge", "--yes"])
        .assert()
        .code(2);
    grafi_store()
        .args(["--store", "memory:", "purge", "--before", "2026-01-01"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains(
            "purging would remove 0 events recorded before 2026-01-01T00:00:00Z; nothing \
             changed: add --yes",
        ));
    let out = grafi_store()
        .args(["--store", "memory:", "purge", "--before", "2026-01-01"])
        .args(["--dry-run", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(
        one_json_document(&out.stdout),
        serde_json::json!({"action": "purge", "dry_run": true,
                           "before": "2026-01-01T00:00:00Z", "events": 0})
    );
    grafi_store()
        .args([
            "--store",
            "memory:",
            "purge",
            "--older-than",
            "12h",
            "--yes",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match("^purged 0 events recorded before 20[0-9-]{8}T[0-9:]{8}Z; ")
                .unwrap(),
        );
}

/// `audit` of a store without erasures prints nothing on stdout; `export --user` is one
/// selector among the others.
#[test]
fn audit_of_a_new_store_is_empty_and_export_user_excludes_the_other_selectors() {
    for json in [&[][..], &["--json"]] {
        grafi_store()
            .args(["--store", "memory:", "audit"])
            .args(json)
            .assert()
            .success()
            .stdout("")
            .stderr(contains("the audit trail is empty"));
    }
    for other in [
        &["--conversation", "c"][..],
        &["--request", "r"],
        &["--event", "e"],
        &["--topic", "t", "--offsets", "1"],
    ] {
        grafi_store()
            .args(["--store", "memory:", "export", "--user", "u"])
            .args(other)
            .assert()
            .code(2)
            .stderr(contains("cannot be used with"));
    }
    grafi_store()
        .args(["--store", "memory:", "export", "--user", ""])
        .assert()
        .code(2)
        .stdout("");
}

/// The cursor of the `resume: --from CURSOR` line `tail` ends with (stderr's last line).
fn resume_cursor(stderr: &str) -> String {
    let last = stderr.lines().last().unwrap_or_default();
    last.strip_prefix("resume: --from ")
        .unwrap_or_else(|| panic!("stderr does not end with a resume line: {stderr}"))
        .to_owned()
}

/// A new process's memory store is empty: `tail` prints nothing and says to resume from
/// the start, with or without a filter, from the start or from the end.
#[test]
fn tail_of_an_empty_store_prints_nothing_and_where_to_resume() {
    let commands: &[&[&str]] = &[
        &["tail"],
        &["tail", "--json"],
        &["tail", "--from", "end", "--type", "ToolFailed"],
        &[
            "tail",
            "--from",
            "g1.3.4",
            "--conversation",
            "c",
            "--topic",
            "t",
        ],
    ];
    for args in commands {
        let out = grafi_store()
            .args(["--store", "memory:"])
            .args(*args)
            .assert()
            .success()
            .stdout("")
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let expected = if args.contains(&"g1.3.4") {
            "g1.3.4"
        } else {
            "start"
        };
        assert_eq!(resume_cursor(&stderr), expected, "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // No store given: the in-memory one, with its notice.
    grafi_store()
        .arg("tail")
        .assert()
        .success()
        .stdout("")
        .stderr(contains("in-memory store").and(contains("resume: --from start")));
}

/// `--from` takes `start`, `end` or a cursor a store printed: anything else is a usage
/// error that names the text, before any store is opened.
#[test]
fn tail_refuses_a_from_that_is_no_cursor() {
    for bad in ["g1.x", "yesterday", "g1.1", "g1.1.2.3", ""] {
        grafi_store()
            .args([
                "--store",
                "postgres://nobody@127.0.0.1:1/none",
                "tail",
                "--from",
                bad,
            ])
            .assert()
            .code(2)
            .stdout("")
            .stderr(contains(format!("not a cursor: \"{bad}\"")));
    }
}

/// `tail --follow` runs until Ctrl-C or SIGTERM, then says where to resume and exits 0:
/// stopping is how following ends.
#[cfg(unix)]
#[test]
fn tail_follow_stops_on_sigint_or_sigterm_with_exit_0_and_the_resume_cursor() {
    for signal in ["INT", "TERM"] {
        let mut child = std_grafi_store()
            .args(["--store", "memory:", "-v", "tail", "--follow"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = stderr_lines(&mut child);
        wait_for_line(&lines, "tail started");
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            child.try_wait().unwrap().is_none(),
            "--follow ended by itself"
        );
        send_signal(child.id(), signal);
        let out = wait_at_most(child, std::time::Duration::from_secs(30));
        let stderr = lines.iter().collect::<Vec<_>>().join("\n");
        assert_eq!(out.status.code(), Some(0), "SIG{signal}: {stderr}");
        assert_eq!(out.stdout, b"");
        assert_eq!(resume_cursor(&stderr), "start", "SIG{signal}");
    }
}

/// The binary as a `std::process::Command`, with no store or `RUST_LOG` from the
/// environment.
fn std_grafi_store() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_grafi-store"));
    cmd.env_remove("GRAFI_STORE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    cmd
}

/// The binary as a child process with piped stdin, stdout and stderr (no store from the
/// environment), for tests that feed stdin over time.
fn spawn_grafi_store(args: &[&str]) -> std::process::Child {
    std_grafi_store()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The peak resident set size of a running process, in kB (`VmHWM`).
#[cfg(target_os = "linux")]
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

/// Imports (memory store) from stdin a valid line, one line of `huge` bytes and another
/// valid line, with `--max-line-bytes limit`; once the huge line is reported, and with
/// stdin still open so that the process is alive, reads its peak RSS. Returns that (kB),
/// the exit code, stdout and stderr.
#[cfg(target_os = "linux")]
fn import_a_huge_line(huge: usize, limit: usize) -> (u64, Option<i32>, String, String) {
    use std::io::BufRead;

    let limit = limit.to_string();
    let mut child = spawn_grafi_store(&[
        "--store",
        "memory:",
        "import",
        "--max-line-bytes",
        &limit,
        "-",
    ]);
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr_reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = lines_tx.send(line.unwrap());
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let corpus: Vec<&str> = CORPUS.lines().collect();
    writeln!(stdin, "{}", corpus[0]).unwrap();
    // Not JSON at all: whoever reads it whole fails fast at its first byte.
    let mut big = vec![b'x'; huge];
    big.push(b'\n');
    stdin.write_all(&big).unwrap();
    drop(big);
    writeln!(stdin, "{}", corpus[1]).unwrap();
    stdin.flush().unwrap();
    // The huge line is line 2; it is reported once it has been read to its end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("line 2: ")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("line 2 was not reported; stderr so far: {seen:?}"),
        }
    }
    let peak = peak_rss_kb(child.id());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    stderr_reader.join().unwrap();
    seen.extend(lines_rx.try_iter());
    (
        peak,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        seen.join("\n"),
    )
}

/// A 50 MB line under `--max-line-bytes 1000000` is reported by number and skipped
/// without being read into memory; the lines around it are imported. (The same line under
/// the default limit, read whole, shows what the measurement sees when it is not.)
#[cfg(target_os = "linux")]
#[test]
fn a_line_over_the_limit_is_skipped_without_being_kept() {
    let huge = 50_000_000;
    let (peak, code, stdout, stderr) = import_a_huge_line(huge, 1_000_000);
    eprintln!("peak RSS importing a 50 MB line with --max-line-bytes 1000000: {peak} kB");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("imported 2, duplicates 0, invalid 1 in "),
        "{stdout}{stderr}"
    );
    assert!(
        stderr.contains("line 2: longer than 1000000 bytes; skipped"),
        "{stderr}"
    );
    assert!(peak < 30_000, "peak RSS {peak} kB for a 1 MB line limit");

    let (whole, code, stdout, stderr) = import_a_huge_line(huge, 64 << 20);
    eprintln!("peak RSS reading the same line whole: {whole} kB");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("line 2: event (id unknown): invalid JSON"),
        "{stderr}"
    );
    assert!(
        whole > 50_000,
        "peak RSS {whole} kB: the measurement misses the line"
    );
}

/// 300 bad lines: stderr shows the first 100 and says how many more there were;
/// `--errors FILE` has every one, in the same words.
#[test]
fn many_bad_lines_show_the_first_hundred_and_file_them_all() {
    let bad: String = (1..=300)
        .map(|i| format!("{{\"event_id\": \"bad-{i}\", \"event_type\": \n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (command, summary) in [
        (&["validate"][..], "0 valid, 300 invalid\n"),
        (
            &["--store", "memory:", "import"][..],
            "imported 0, duplicates 0, invalid 300 in ",
        ),
    ] {
        let check_stderr = |stderr: &[u8], note: &str| {
            let stderr = String::from_utf8_lossy(stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 101, "{stderr}");
            for (i, line) in lines[..100].iter().enumerate() {
                let expected = format!("line {}: event \"bad-{}\": invalid JSON", i + 1, i + 1);
                assert!(line.starts_with(&expected), "{line}");
            }
            assert!(lines[100].contains("200 more"), "{stderr}");
            assert!(lines[100].contains(note), "{stderr}");
            stderr.into_owned()
        };
        let out = grafi_store()
            .args(command)
            .arg("-")
            .write_stdin(bad.clone())
            .assert()
            .code(1)
            .stdout(predicate::str::starts_with(summary))
            .get_output()
            .clone();
        let shown = check_stderr(&out.stderr, "--errors FILE");

        let errors = dir
            .path()
            .join(format!("{}.txt", command[command.len() - 1]));
        let out = grafi_store()
            .args(command)
            .arg("--errors")
            .arg(&errors)
            .arg("-")
            .write_stdin(bad.clone())
            .assert()
            .code(1)
            .stdout(predicate::str::starts_with(summary))
            .get_output()
            .clone();
        check_stderr(&out.stderr, &errors.display().to_string());
        let all = std::fs::read_to_string(&errors).unwrap();
        let all: Vec<&str> = all.lines().collect();
        assert_eq!(all.len(), 300);
        assert_eq!(all[..100], shown.lines().take(100).collect::<Vec<_>>()[..]);
        assert!(all[299].starts_with("line 300: event \"bad-300\": invalid JSON"));
    }
}

// ----------------------------------------------------------------------------------------
// Operators: closed pipes, logging, JSON, byte order marks, completions, signals.

/// Runs `cmd` with stdout a pipe whose read end is closed before the child starts, so that
/// its first write to stdout fails (EPIPE), whatever it prints and however fast.
fn output_with_closed_stdout(cmd: &mut std::process::Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

/// `cmd`'s stdout was closed: it exits 0 and says nothing on stderr.
/// Runs the binary, reads the first line of its stdout, then closes the pipe (as `| head -1`
/// does) and waits for it to end.
fn first_line_then_close(args: &[&str]) -> (String, std::process::Output) {
    use std::io::BufRead;
    let mut child = std_grafi_store()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe is closed.
    (first, child.wait_with_output().unwrap())
}

fn assert_quiet_success(what: &str, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
    assert_eq!(stderr, "", "{what}");
}

/// `grafi-store … | head -1` for every command that prints, against the memory store (and
/// none): a reader that is gone ends the command with success, without a word on stderr.
#[test]
fn a_closed_stdout_ends_every_command_quietly_with_success() {
    let corpus = corpus_path();
    let corpus = corpus.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["--store", "memory:", "demo", "--conversations", "50"],
        &["--store", "memory:", "stats"],
        &["--store", "memory:", "stats", "--json"],
        &["--store", "memory:", "export"],
        &["validate", corpus],
        &["validate", "--json", corpus],
        &["--store", "memory:", "import", corpus],
        &["--store", "memory:", "import", "--json", corpus],
        &["--store", "memory:", "clear", "--yes"],
        &["--store", "memory:", "clear", "--yes", "--json"],
        &["roles", "--print-sql"],
        &["completions", "bash"],
    ];
    for args in commands {
        let out = output_with_closed_stdout(std_grafi_store().args(*args));
        assert_quiet_success(&args.join(" "), &out);
    }
    // Invalid lines are still exit 1 when stdout is open; a closed stdout stops the
    // command before it has anything left to say.
    let (file, _) = bad_input();
    let out = output_with_closed_stdout(std_grafi_store().arg("validate").arg(file.path()));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 4: "));
}

/// `2>&1 | head -1`: stderr is the closed pipe too. Problems (stderr) and the summary
/// (stdout) then go nowhere, and no command panics (exit 101) on it.
#[cfg(unix)]
#[test]
fn a_closed_stderr_is_no_panic_either() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for i in 0..5000 {
        writeln!(file, "{{\"broken\": {i}").unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_grafi-store");
    let path = file.path().to_str().unwrap();
    for command in ["validate", "import"] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "'{bin}' --store memory: {command} '{path}' 2>&1 | head -1 >/dev/null; \
                 echo \"${{PIPESTATUS[0]}}\""
            ))
            .env_remove("GRAFI_STORE_URL")
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            status == "0" || status == "1",
            "{command} 2>&1 | head -1: exit {status}, {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A UTF-16 file (PowerShell 5's `>` writes them) stops at once with how to convert it,
/// instead of a problem on every line.
#[test]
fn utf16_input_says_how_to_convert_it() {
    let line = CORPUS.lines().next().unwrap();
    let mut bytes = vec![0xFF, 0xFE];
    for unit in format!("{line}\r\n{line}\r\n").encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    for command in ["validate", "import"] {
        let out = grafi_store()
            .args(["--store", "memory:", command])
            .arg(file.path())
            .assert()
            .failure()
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("UTF-16") && stderr.contains("iconv"),
            "{stderr}"
        );
        assert_eq!(
            stderr.lines().filter(|l| l.contains("UTF-16")).count(),
            1,
            "{stderr}"
        );
    }
}

/// The way a user meets it: the first line of the demo, then the reader goes away.
#[test]
fn demo_into_head_exits_0_without_a_panic() {
    for _ in 0..3 {
        let (first, out) =
            first_line_then_close(&["--store", "memory:", "demo", "--conversations", "200"]);
        assert!(first.starts_with("grafi-store demo"), "{first}");
        assert_quiet_success("demo | head -1", &out);
    }
}

/// `-v`, `-vv` and `RUST_LOG` log on stderr; stdout holds only the command's output; by
/// default nothing is logged, and `-q` keeps only errors.
#[test]
fn logging_goes_to_stderr_at_the_level_asked_for() {
    let import = |extra: &[&str], rust_log: Option<&str>| {
        let mut cmd = grafi_store();
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let out = cmd
            .args(extra)
            .args([
                "--store",
                "memory:",
                "import",
                "--json",
                "--batch-size",
                "100",
            ])
            .arg(corpus_path())
            .assert()
            .success()
            .get_output()
            .clone();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {:?}", out));
        assert_eq!(doc["imported"], 211);
        String::from_utf8(out.stderr).unwrap()
    };
    let stderr = import(&["-v"], None);
    assert!(
        stderr.contains(" INFO ") && stderr.contains("store selected"),
        "{stderr}"
    );
    assert!(!stderr.contains("DEBUG"), "{stderr}");
    for (flags, rust_log) in [(&["-vv"][..], None), (&[][..], Some("debug"))] {
        let stderr = import(flags, rust_log);
        assert!(
            stderr.contains(" DEBUG ") && stderr.contains("batch written"),
            "{flags:?} {rust_log:?}: {stderr}"
        );
        assert!(stderr.contains("last_line=211"), "{stderr}");
    }
    // A target filter: only this command's own events.
    let stderr = import(&[], Some("warn,grafi_cli=info"));
    assert!(stderr.contains("store selected"), "{stderr}");
    assert!(!stderr.contains("DEBUG"), "{stderr}");
    assert_eq!(import(&[], None), "");
    assert_eq!(import(&["-q"], Some("debug")), "", "-q wins over RUST_LOG");
    grafi_store()
        .args(["-q", "-v", "stats"])
        .assert()
        .code(2)
        .stderr(contains("cannot be used with"));
}

/// The fields of a JSON document, in order.
fn keys(doc: &serde_json::Value) -> Vec<&str> {
    doc.as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {doc}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// stdout as exactly one JSON document (one line).
fn one_json_document(stdout: &[u8]) -> serde_json::Value {
    let text = std::str::from_utf8(stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

const VALIDATE_FIELDS: &[&str] = &[
    "valid",
    "invalid",
    "lines",
    "by_dialect",
    "problems",
    "problems_not_listed",
    "errors_file",
];
const IMPORT_FIELDS: &[&str] = &[
    "status",
    "imported",
    "duplicates",
    "erased",
    "invalid",
    "by_dialect",
    "last_line",
    "seconds",
    "events_per_second",
    "error",
    "problems",
    "problems_not_listed",
    "errors_file",
];
const ERASE_FIELDS: &[&str] = &["action", "dry_run", "events", "conversations", "requests"];
const PURGE_FIELDS: &[&str] = &["action", "dry_run", "before", "events"];
const AUDIT_FIELDS: &[&str] = &[
    "id",
    "at",
    "action",
    "events",
    "subject_hash",
    "before",
    "role",
    "application_name",
];
const STATS_FIELDS: &[&str] = &[
    "store",
    "events",
    "undecodable",
    "by_type",
    "unknown_types",
    "by_dialect",
    "first_timestamp",
    "last_timestamp",
    "conversations",
    "requests",
    "requests_succeeded",
    "requests_failed",
    "requests_without_outcome",
    "success_rate",
];

/// Every field is named in the command's `--help`.
fn assert_documented(command: &[&str], fields: &[&str]) {
    let out = grafi_store()
        .args(command)
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .clone();
    let help = String::from_utf8(out.stdout).unwrap();
    for field in fields {
        assert!(
            help.contains(field),
            "{command:?} --help lacks {field}:\n{help}"
        );
    }
}

#[test]
fn validate_json_counts_and_lists_the_problems() {
    assert_documented(&["validate"], VALIDATE_FIELDS);
    let out = grafi_store()
        .args(["validate", "--json"])
        .arg(corpus_path())
        .assert()
        .success()
        .get_output()
        .clone();
    let doc = one_json_document(&out.stdout);
    assert_eq!(keys(&doc), VALIDATE_FIELDS);
    assert_eq!(
        doc,
        serde_json::json!({"valid": 211, "invalid": 0, "lines": 211,
                           "by_dialect": {"0.0.24": 211, "0.0.36": 0, "other": 0},
                           "problems": [], "problems_not_listed": 0, "errors_file": null})
    );

    let (file, _) = bad_input();
    let out = grafi_store()
        .args(["validate", "--json"])
        .arg(file.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    // Problems are on stderr, as without --json.
    assert_bad_lines_reported(&String::from_utf8_lossy(&out.stderr));
    let doc = one_json_document(&out.stdout);
    assert_eq!((&doc["valid"], &doc["invalid"]), (&5.into(), &4.into()));
    assert_eq!(doc["lines"], 10);
    let problems = doc["problems"].as_array().unwrap();
    let lines: Vec<u64> = problems
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5, 6, 8]);
    assert_eq!(keys(&problems[0]), ["line", "event_id", "message"]);
    assert_eq!(problems[0]["event_id"], "broken-1");
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid JSON"));
    assert_eq!(problems[1]["event_id"], serde_json::Value::Null);

    // Beyond the first 100: counted, and all in --errors FILE.
    let bad: String = (1..=150)
        .map(|i| format!("{{\"event_id\": \"bad-{i}\", \"event_type\": \n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors.txt");
    let out = grafi_store()
        .args(["validate", "--json", "--errors"])
        .arg(&errors)
        .arg("-")
        .write_stdin(bad)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let doc = one_json_document(&out.stdout);
    assert_eq!(doc["invalid"], 150);
    assert_eq!(doc["problems"].as_array().unwrap().len(), 100);
    assert_eq!(doc["problems_not_listed"], 50);
    assert_eq!(doc["errors_file"], errors.display().to_string());
}

#[test]
fn import_json_is_one_document_with_the_documented_fields() {
    assert_documented(&["import"], IMPORT_FIELDS);
    let (file, _) = bad_input();
    let out = grafi_store()
        .args([
            "--store",
            "memory:",
            "import",
            "--json",
            "--batch-size",
            "2",
        ])
        .arg(file.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert_bad_lines_reported(&String::from_utf8_lossy(&out.stderr));
    let doc = one_json_document(&out.stdout);
    assert_eq!(keys(&doc), IMPORT_FIELDS);
    assert_eq!(doc["status"], "completed");
    assert_eq!(
        (&doc["imported"], &doc["duplicates"], &doc["invalid"]),
        (&4.into(), &1.into(), &4.into())
    );
    assert_eq!(doc["last_line"], 10);
    assert!(doc["seconds"].as_f64().unwrap() >= 0.0);
    assert!(doc["events_per_second"].as_f64().is_some());
    assert_eq!(doc["error"], serde_json::Value::Null);
    assert_eq!(doc["problems"].as_array().unwrap().len(), 4);
    assert_eq!(doc["problems"][2]["line"], 6);
    assert_eq!(doc["problems_not_listed"], 0);
    assert_eq!(doc["errors_file"], serde_json::Value::Null);

    // Input that fails while it is read (a directory): "failed", with the error, which
    // stderr has too (exit 3).
    let dir = tempfile::tempdir().unwrap();
    let out = grafi_store()
        .args(["--store", "memory:", "import", "--json"])
        .arg(dir.path())
        .assert()
        .code(3)
        .get_output()
        .clone();
    let doc = one_json_document(&out.stdout);
    assert_eq!(doc["status"], "failed");
    let error = doc["error"].as_str().unwrap();
    assert!(error.starts_with("cannot read "), "{error}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(error),
        "{doc} {out:?}"
    );
}

#[test]
fn stats_and_clear_json_on_an_empty_store() {
    assert_documented(&["stats"], STATS_FIELDS);
    let out = grafi_store()
        .args(["--store", "memory:", "stats", "--json"])
        .assert()
        .success()
        .stderr("")
        .get_output()
        .clone();
    let doc = one_json_document(&out.stdout);
    assert_eq!(keys(&doc), STATS_FIELDS);
    assert_eq!(doc["store"], "memory:");
    assert_eq!(doc["events"], 0);
    assert_eq!(doc["by_type"], serde_json::json!({}));
    assert_eq!(doc["first_timestamp"], serde_json::Value::Null);
    assert_eq!(doc["success_rate"], serde_json::Value::Null);

    assert_documented(&["clear"], &["store", "cleared"]);
    let out = grafi_store()
        .args(["--store", "memory:", "clear", "--yes", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(
        one_json_document(&out.stdout),
        serde_json::json!({"store": "memory:", "cleared": true})
    );
}

/// A file as Notepad or PowerShell writes it: a UTF-8 byte order mark, CRLF line endings.
fn corpus_with_bom() -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"\xEF\xBB\xBF").unwrap();
    for line in CORPUS.lines() {
        write!(file, "{line}\r\n").unwrap();
    }
    file.flush().unwrap();
    file
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    let file = corpus_with_bom();
    let bytes = std::fs::read(file.path()).unwrap();
    grafi_store()
        .arg("validate")
        .arg(file.path())
        .assert()
        .success()
        .stdout("211 valid (grafi 0.0.24: 211), 0 invalid\n")
        .stderr("");
    grafi_store()
        .args(["validate", "-"])
        .write_stdin(bytes.clone())
        .assert()
        .success()
        .stdout("211 valid (grafi 0.0.24: 211), 0 invalid\n");
    for input in [Some(file.path()), None] {
        let mut cmd = grafi_store();
        cmd.args(["--store", "memory:", "import"]);
        match input {
            Some(path) => cmd.arg(path),
            None => cmd.arg("-").write_stdin(bytes.clone()),
        };
        cmd.assert()
            .success()
            .stdout(predicate::str::starts_with(
                "imported 211, duplicates 0, invalid 0 in ",
            ))
            .stderr("");
    }
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = grafi_store()
            .args(["completions", shell])
            .assert()
            .success()
            .stderr("")
            .get_output()
            .clone();
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("import"), "{shell}: {script}");
        assert!(script.contains("batch-size"), "{shell}");
    }
    grafi_store().args(["completions", "tcsh"]).assert().code(2);
}

/// Sends `signal` (`INT`, `TERM`) to `pid`.
#[cfg(unix)]
fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {signal} {pid}");
}

/// Waits for `child` to exit, at most `limit`; kills it and fails after that.
#[cfg(unix)]
fn wait_at_most(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> std::process::Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Lines of `child`'s stderr as they come, on a thread.
#[cfg(unix)]
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;

    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Lines of `child`'s stdout as they come, on a thread.
#[cfg(unix)]
fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;

    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a stderr line containing `text`; returns every line seen until then.
#[cfg(unix)]
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, text: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(text);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {text:?}; stderr so far: {seen:?}"),
        }
    }
}

/// SIGTERM while `import -` waits for more input: it stops at once with the summary,
/// exit 130, and names the last line handled and how to resume.
#[cfg(unix)]
#[test]
fn sigterm_while_import_waits_for_input_prints_the_summary_and_exits_130() {
    let mut child = spawn_grafi_store(&[
        "--store",
        "memory:",
        "-vv",
        "import",
        "--batch-size",
        "211",
        "-",
    ]);
    let lines = stderr_lines(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(CORPUS.as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_for_line(&lines, "last_line=211");
    send_signal(child.id(), "TERM");
    let out = wait_at_most(child, std::time::Duration::from_secs(30));
    drop(stdin);
    let stderr: Vec<String> = lines.iter().collect();
    let stderr = stderr.join("\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("imported 211, duplicates 0, invalid 0 in "),
        "{stdout}"
    );
    assert!(stderr.contains("lines 1 to 211 are handled"), "{stderr}");
    assert!(stderr.contains("tail -n +212"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ----------------------------------------------------------------------------------------
// PostgreSQL: a scratch database per test.
// Without the `postgres` feature the binary has no PostgreSQL store: nothing to test.

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use std::collections::HashSet;

    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use grafi_events::Event;

    fn corpus_events() -> Vec<Event> {
        CORPUS
            .lines()
            .map(|l| grafi_events::decode_str(l).unwrap())
            .collect()
    }

    /// A new database gets the dialect of the file `import` reads: the real grafi 0.0.36
    /// corpus creates grafi 0.0.36's table, comes back byte for byte, and `stats` counts it;
    /// a command that names the other dialect is refused; a 0.0.24 file is refused line by
    /// line, naming each event, and nothing of it is stored.
    #[test]
    fn import_creates_the_table_of_its_files_dialect_and_says_so() {
        let db = ScratchDb::new();
        let corpus36 = include_str!("../../../fixtures/grafi-0.0.36/events.jsonl");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), corpus36).unwrap();
        db.cmd()
            .arg("import")
            .arg(file.path())
            .assert()
            .success()
            .stdout(predicates::str::contains("; read grafi 0.0.36: 201"));
        let columns = block_on(async {
            use diesel_async::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Column {
                #[diesel(sql_type = diesel::sql_types::Text)]
                column_name: String,
            }
            let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
            let rows: Vec<Column> = diesel::sql_query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = 'events' ORDER BY ordinal_position",
            )
            .load(&mut conn)
            .await
            .unwrap();
            rows.into_iter().map(|c| c.column_name).collect::<Vec<_>>()
        });
        assert!(columns.contains(&"event_data".to_owned()), "{columns:?}");
        assert!(
            !columns.contains(&"event_context".to_owned()),
            "{columns:?}"
        );
        let exported = db
            .cmd()
            .args(["-v", "export"])
            .assert()
            .success()
            .get_output()
            .clone();
        assert_eq!(String::from_utf8(exported.stdout).unwrap(), corpus36);
        let said = String::from_utf8_lossy(&exported.stderr);
        assert!(said.contains("grafi 0.0.36: 201"), "{said}");
        let doc = db.stats_json();
        assert_eq!(
            doc["by_dialect"],
            serde_json::json!({"0.0.24": 0, "0.0.36": 201, "other": 0})
        );

        let refused = db
            .cmd()
            .args(["--dialect", "0.0.24", "stats"])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let refused = String::from_utf8_lossy(&refused);
        assert!(refused.contains("grafi 0.0.36's layout"), "{refused}");

        let out = db
            .cmd()
            .args(["import", "--json"])
            .arg(corpus_path())
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        let doc = one_json_document(&out);
        assert_eq!(
            (doc["imported"].as_u64(), doc["invalid"].as_u64()),
            (Some(0), Some(211))
        );
        let first = &doc["problems"][0];
        assert_eq!(first["line"], 1);
        assert!(
            first["message"]
                .as_str()
                .unwrap()
                .contains("grafi 0.0.24 document"),
            "{first}"
        );
        assert_eq!(db.export(&[]).len(), 201);
    }

    /// `demo --dialect 0.0.36` creates grafi 0.0.36's table and fills it with 0.0.36 events;
    /// a later demo without --dialect writes what the table holds.
    #[test]
    fn demo_writes_the_dialect_named_then_the_tables() {
        let db = ScratchDb::new();
        db.cmd()
            .args(["--dialect", "0.0.36", "demo", "--conversations", "2"])
            .assert()
            .success()
            .stdout(predicates::str::contains("in grafi 0.0.36's format"));
        db.cmd()
            .args(["demo", "--conversations", "1"])
            .assert()
            .success()
            .stdout(predicates::str::contains("in grafi 0.0.36's format"));
        let doc = db.stats_json();
        let events = doc["events"].as_u64().unwrap();
        assert!(events > 100, "{doc}");
        assert_eq!(
            doc["by_dialect"],
            serde_json::json!({"0.0.24": 0, "0.0.36": events, "other": 0})
        );
        assert!(doc["by_type"].get("OutputTopic").is_none(), "{doc}");
    }

    /// `migrate run --dialect 0.0.36` on an empty database creates grafi 0.0.36's table with
    /// every migration; naming the other dialect afterwards is refused, and nothing changes.
    #[test]
    fn migrate_run_creates_the_table_of_the_dialect_named() {
        let db = ScratchDb::new();
        db.cmd()
            .args(["--dialect", "0.0.36", "migrate", "run"])
            .assert()
            .failure()
            .stdout(predicates::str::contains("grafi 0.0.36's layout"));
        db.cmd()
            .args(["--dialect", "0.0.36", "migrate", "run", "--yes"])
            .assert()
            .success()
            .stdout(predicates::str::contains(
                "created table events in grafi 0.0.36's layout",
            ));
        db.cmd()
            .args(["migrate", "status"])
            .assert()
            .success()
            .stdout(predicates::str::contains("pending: (none)"))
            .stdout(predicates::str::contains("grafi 0.0.36's layout"));
        let refused = db
            .cmd()
            .args(["--dialect", "0.0.24", "migrate", "run", "--yes"])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let refused = String::from_utf8_lossy(&refused);
        assert!(refused.contains("grafi 0.0.36's layout"), "{refused}");
        db.cmd()
            .arg("import")
            .arg(corpus_path())
            .assert()
            .code(1)
            .stdout(predicates::str::contains("imported 0,"));
    }

    #[test]
    fn unreachable_database_names_host_and_port_but_not_the_password() {
        // Port 1 on localhost: nothing listens there.
        let out = grafi_store()
            .args([
                "--store",
                "postgres://grafi:hunter22@127.0.0.1:1/db",
                "stats",
            ])
            .timeout(std::time::Duration::from_secs(30))
            .assert()
            .code(3)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
        assert!(
            stderr.contains("postgres://grafi:***@127.0.0.1:1/db"),
            "{stderr}"
        );
        assert!(!stderr.contains("hunter22"), "{stderr}");
    }

    // ------------------------------------------------------------------------------------
    // tail: these need a table that keeps positions (the `grafi_tx` column).

    /// `tail` with `args` to its end: what it printed, and the cursor it said to resume from.
    fn tail(db: &ScratchDb, args: &[&str]) -> (String, String) {
        let out = db
            .cmd()
            .arg("tail")
            .args(args)
            .assert()
            .success()
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        (
            String::from_utf8(out.stdout).unwrap(),
            resume_cursor(&stderr),
        )
    }

    /// Waits until every row's position is final, so that a `tail` without `--follow` (which
    /// stops at what is final) sees them all: on PostgreSQL a row is final once every older
    /// transaction on the server has ended, and other tests, in other databases, keep short
    /// ones open all the time.
    fn wait_until_final(db: &ScratchDb) {
        let started = std::time::Instant::now();
        while scalar(
            &db.url,
            "SELECT coalesce(bool_and(grafi_tx < pg_snapshot_xmin(pg_current_snapshot())), true) \
             FROM events",
        ) != "true"
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "rows still not final after 60 s: a transaction on the server stays open"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `export` with `args`: its stdout.
    fn export_text(db: &ScratchDb, args: &[&str]) -> String {
        let out = db.cmd().arg("export").args(args).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    fn decode_lines(text: &str) -> Vec<Event> {
        text.lines()
            .map(|l| grafi_events::decode_str(l).expect("a grafi document"))
            .collect()
    }

    /// `n` new tool calls in `conversation` (one request), as a JSONL file, and the events.
    fn new_events_file(
        dir: &tempfile::TempDir,
        conversation: &str,
        n: usize,
    ) -> (PathBuf, Vec<Event>) {
        use grafi_events::{ComponentInfo, InvokeContext, Message};
        let ctx = InvokeContext::new(conversation, grafi_events::new_id());
        let events: Vec<Event> = (0..n)
            .map(|i| {
                Event::tool_invoke(
                    ctx.clone(),
                    ComponentInfo::new("Search", "FunctionCallTool"),
                    &[Message::user(format!("query {i}"))],
                )
            })
            .collect();
        let path = dir.path().join(format!("{conversation}.jsonl"));
        let text: String = events.iter().map(|e| e.to_json() + "\n").collect();
        std::fs::write(&path, text).unwrap();
        (path, events)
    }

    /// `tail --json` writes the documents `export` writes, byte for byte (a grafi 0.0.24
    /// table gives `event_context` back as `jsonb` prints it, so the file's bytes are not
    /// the reference there; its events are); `--from` the cursor it printed gives exactly
    /// the events imported since, and then nothing, with the same cursor. `| head -1` ends
    /// it quietly.
    #[test]
    fn tail_json_writes_what_export_writes_and_resumes_after_the_last_event() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        wait_until_final(&db);
        let exported = export_text(&db, &[]);
        let (printed, cursor) = tail(&db, &["--json"]);
        assert_eq!(printed, exported);
        assert_same_events(&decode_lines(&printed), &corpus_events());
        assert!(cursor.starts_with("g1."), "{cursor}");

        let dir = tempfile::tempdir().unwrap();
        let (file, new) = new_events_file(&dir, "tail-new", 3);
        db.cmd().arg("import").arg(&file).assert().success();
        wait_until_final(&db);
        let (printed, next) = tail(&db, &["--json", "--from", &cursor]);
        assert_same_events(&decode_lines(&printed), &new);
        let request = new[0].assistant_request_id();
        assert_eq!(printed, export_text(&db, &["--request", request]));
        assert_ne!(next, cursor);
        let (printed, again) = tail(&db, &["--json", "--from", &next]);
        assert_eq!((printed.as_str(), again.as_str()), ("", next.as_str()));

        // The timeline: one line per event.
        let (timeline, _) = tail(&db, &["--from", &cursor]);
        let lines: Vec<&str> = timeline.lines().collect();
        assert_eq!(lines.len(), 3, "{timeline}");
        for line in lines {
            assert!(
                line.contains("ToolInvoke") && line.contains("Search"),
                "{line}"
            );
        }

        let (first, out) = first_line_then_close(&["--store", &db.url, "tail", "--json"]);
        assert_eq!(first.trim_end(), exported.lines().next().unwrap());
        assert_quiet_success("tail --json | head -1", &out);
    }

    /// On a grafi 0.0.36 table the documents come back as grafi wrote them: `tail --json`
    /// is the corpus file, byte for byte.
    #[test]
    fn tail_json_gives_a_0_0_36_table_back_byte_for_byte() {
        let db = ScratchDb::new();
        let corpus36 = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/grafi-0.0.36/events.jsonl");
        db.cmd().arg("import").arg(&corpus36).assert().success();
        wait_until_final(&db);
        let (printed, _) = tail(&db, &["--json"]);
        assert_eq!(printed, std::fs::read_to_string(&corpus36).unwrap());
    }

    /// Each filter prints exactly the corpus events it names, in order, and its resume
    /// cursor is the last one's: an unfiltered tail from it prints exactly the corpus events
    /// after that one.
    #[test]
    fn tail_filters_print_exactly_the_matching_events() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        wait_until_final(&db);
        let corpus = corpus_events();
        let conversation = corpus[0].conversation_id().to_owned();
        let request = corpus[3].assistant_request_id().to_owned();
        type Pick<'a> = Box<dyn Fn(&Event) -> bool + 'a>;
        let cases: Vec<(Vec<&str>, Pick)> = vec![
            (
                vec!["--conversation", &conversation],
                Box::new(|e: &Event| e.conversation_id() == conversation),
            ),
            (
                vec!["--request", &request],
                Box::new(|e: &Event| e.assistant_request_id() == request),
            ),
            (
                vec!["--type", "ToolInvoke", "--type", "ToolRespond"],
                Box::new(|e: &Event| ["ToolInvoke", "ToolRespond"].contains(&e.event_type())),
            ),
            (
                vec!["--topic", "agent_input_topic"],
                Box::new(|e: &Event| e.topic().map(|t| t.0) == Some("agent_input_topic")),
            ),
            (
                vec!["--conversation", &conversation, "--type", "NodeRespond"],
                Box::new(|e: &Event| {
                    e.conversation_id() == conversation && e.event_type() == "NodeRespond"
                }),
            ),
        ];
        for (args, pick) in cases {
            let chosen: Vec<usize> = (0..corpus.len()).filter(|&i| pick(&corpus[i])).collect();
            assert!(
                !chosen.is_empty() && chosen.len() < corpus.len(),
                "{args:?}"
            );
            let expected: Vec<Event> = chosen.iter().map(|&i| corpus[i].clone()).collect();
            let mut json = vec!["--json"];
            json.extend(&args);
            let (printed, cursor) = tail(&db, &json);
            assert_same_events(&decode_lines(&printed), &expected);
            let (after, _) = tail(&db, &["--json", "--from", &cursor]);
            let last = *chosen.last().unwrap();
            assert_same_events(&decode_lines(&after), &corpus[last + 1..]);
            let (timeline, _) = tail(&db, &args);
            assert_eq!(timeline.lines().count(), chosen.len(), "{args:?}");
        }
    }

    /// `tail --follow --from end` with a filter prints an event recorded after it started
    /// (and not the one recorded just before it in another conversation), keeps running,
    /// and on Ctrl-C exits 0 with the cursor of that event.
    #[cfg(unix)]
    #[test]
    fn tail_follow_prints_what_is_recorded_after_it_started_until_sigint() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        let mut child = std_grafi_store()
            .args(["--store", &db.url, "-v", "tail", "--follow", "--json"])
            .args(["--from", "end", "--conversation", "tail-followed"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = stderr_lines(&mut child);
        let stdout = stdout_lines(&mut child);
        wait_for_line(&stderr, "tail started");

        let dir = tempfile::tempdir().unwrap();
        let (other, _) = new_events_file(&dir, "tail-other", 2);
        let (followed, events) = new_events_file(&dir, "tail-followed", 1);
        db.cmd().arg("import").arg(&other).assert().success();
        db.cmd().arg("import").arg(&followed).assert().success();
        let line = stdout
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the event recorded after tail started");
        assert_same_events(&decode_lines(&line), &events);
        assert!(
            child.try_wait().unwrap().is_none(),
            "--follow ended by itself"
        );

        send_signal(child.id(), "INT");
        let out = wait_at_most(child, std::time::Duration::from_secs(30));
        let stderr = stderr.iter().collect::<Vec<_>>().join("\n");
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let rest: Vec<String> = stdout.iter().collect();
        assert!(rest.is_empty(), "printed more: {rest:?}");
        let cursor = resume_cursor(&stderr);
        let (after, _) = tail(&db, &["--json", "--from", &cursor]);
        assert_eq!(after, "", "the resume cursor is not the followed event's");
    }

    /// grafi's own table, which keeps no positions: `export` reads it all the same (a plain
    /// read), `tail` fails with a message naming the migration, and after that migration
    /// `tail --json` prints what `export` printed.
    #[test]
    fn tail_on_grafis_own_table_names_the_migration_and_export_still_reads_it() {
        let db = ScratchDb::new();
        grafi_table(&db, 50);
        let exported = export_text(&db, &[]);
        assert_eq!(exported.lines().count(), 50);
        let out = db
            .cmd()
            .args(["tail", "--json"])
            .assert()
            .code(3)
            .stdout("")
            .get_output()
            .clone();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("grafi-store migrate run"), "{said}");
        db.cmd()
            .args(["migrate", "run", "--yes"])
            .assert()
            .success();
        let (printed, _) = tail(&db, &["--json"]);
        assert_eq!(printed, exported);
    }

    // ------------------------------------------------------------------------------------
    // erase, purge, audit, export --user.

    /// One JSON document on stdout of a successful command.
    fn json_of(cmd: &mut Command) -> serde_json::Value {
        let out = cmd.assert().success().get_output().clone();
        one_json_document(&out.stdout)
    }

    /// A user erased: the dry run counts what the real run removes, the export then holds
    /// none of their lines and the rest of the corpus, and the audit trail one record that
    /// does not name them. Recording their events again stores none of them.
    #[test]
    fn postgres_erase_user_removes_what_the_dry_run_counted_and_audits_without_the_id() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        let user = "u_7f3a9c";
        let erase = |extra: &str| {
            let mut cmd = db.cmd();
            cmd.args(["erase", "--user", user, "--json", extra]);
            cmd
        };
        let dry = json_of(&mut erase("--dry-run"));
        assert_eq!(dry["dry_run"], true);
        assert_eq!(db.export(&[]).len(), 211, "the dry run changed nothing");
        let real = json_of(&mut erase("--yes"));
        assert_eq!(real["dry_run"], false);
        for field in ["action", "events", "conversations", "requests"] {
            assert_eq!(dry[field], real[field], "{field}: {dry} {real}");
        }
        let named = CORPUS.lines().filter(|l| l.contains(user)).count();
        assert_eq!(real["events"], named as u64, "{real}");

        let exported = export_text(&db, &[]);
        assert!(!exported.contains(user));
        let expected: Vec<Event> = CORPUS
            .lines()
            .filter(|l| !l.contains(user))
            .map(|l| grafi_events::decode_str(l).unwrap())
            .collect();
        assert_same_events(&decode_lines(&exported), &expected);

        let trail = db
            .cmd()
            .args(["audit", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let record = one_json_document(&trail);
        assert_eq!(keys(&record), AUDIT_FIELDS);
        assert_eq!(record["action"], "erase_user");
        assert_eq!(record["events"], real["events"]);
        assert!(record["subject_hash"]
            .as_str()
            .is_some_and(|h| !h.is_empty()));
        assert!(!String::from_utf8_lossy(&trail).contains(user));
        let human = db
            .cmd()
            .arg("audit")
            .assert()
            .success()
            .get_output()
            .clone();
        let human = String::from_utf8(human.stdout).unwrap();
        assert_eq!(human.lines().count(), 1, "{human}");
        assert!(human.contains("  erase_user  events="), "{human}");
        assert!(!human.contains(user), "{human}");

        // Importing the corpus again stores none of the erased events, and says so.
        let again = json_of(db.cmd().args(["import", "--json"]).arg(corpus_path()));
        assert_eq!(
            (&again["imported"], &again["erased"], &again["duplicates"]),
            (
                &serde_json::json!(0),
                &real["events"],
                &serde_json::json!(211 - named)
            ),
            "{again}"
        );
        assert!(
            !export_text(&db, &[]).contains(user),
            "an erased event came back"
        );
        db.cmd()
            .arg("import")
            .arg(corpus_path())
            .assert()
            .success()
            .stdout(contains(format!("erased {named},")));
    }

    /// `purge --older-than` removes what its dry run counted: the whole corpus (recorded in
    /// 1970 and 2025), and none of the events recorded now.
    #[test]
    fn postgres_purge_older_than_removes_what_the_dry_run_counted() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        let dir = tempfile::tempdir().unwrap();
        let (fresh, fresh_events) = new_events_file(&dir, "purge-fresh", 5);
        db.cmd().arg("import").arg(&fresh).assert().success();
        let purge = |extra: &str| {
            let mut cmd = db.cmd();
            cmd.args(["purge", "--older-than", "90d", "--json", extra]);
            cmd
        };
        let dry = json_of(&mut purge("--dry-run"));
        assert_eq!(dry["events"], 211, "{dry}");
        assert_eq!(db.export(&[]).len(), 216, "the dry run changed nothing");
        let real = json_of(&mut purge("--yes"));
        assert_eq!(
            (&real["dry_run"], &real["events"]),
            (&false.into(), &dry["events"])
        );
        assert_same_events(&db.export(&[]), &fresh_events);

        let trail = db.cmd().args(["audit", "--json"]).assert().success();
        let record = one_json_document(&trail.get_output().stdout);
        assert_eq!(record["action"], "purge");
        assert_eq!(record["events"], 211);
        assert_eq!(record["subject_hash"], serde_json::Value::Null);
        assert_eq!(record["before"], real["before"]);
    }

    /// `export --user` is the corpus lines that name the user or one of their conversations
    /// (a conversation they share with another user included), and changes nothing.
    #[test]
    fn postgres_export_user_is_the_corpus_lines_naming_them_or_their_conversation() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        let user = "cust_dana_w";
        let conversations: HashSet<String> = CORPUS
            .lines()
            .filter(|l| l.contains(&format!("\"user_id\": \"{user}\"")))
            .map(|l| {
                grafi_events::decode_str(l)
                    .unwrap()
                    .conversation_id()
                    .to_owned()
            })
            .collect();
        assert!(!conversations.is_empty());
        let expected: Vec<Event> = CORPUS
            .lines()
            .filter(|l| l.contains(user) || conversations.iter().any(|c| l.contains(c.as_str())))
            .map(|l| grafi_events::decode_str(l).unwrap())
            .collect();
        assert!(
            expected.len() > CORPUS.lines().filter(|l| l.contains(user)).count(),
            "the conversation holds another user's events too"
        );
        assert_same_events(&db.export(&["--user", user]), &expected);
        assert_eq!(db.export(&["--user", "nobody"]).len(), 0);
        assert_eq!(db.export(&[]).len(), 211);
        db.cmd().args(["audit"]).assert().success().stdout("");
    }

    fn admin_url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    /// `url` with its database replaced by `database`.
    fn with_database(url: &str, database: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let after_scheme = base.find("://").map_or(0, |i| i + 3);
        let base = match base[after_scheme..].find('/') {
            Some(slash) => &base[..after_scheme + slash],
            None => base,
        };
        match query {
            Some(q) => format!("{base}/{database}?{q}"),
            None => format!("{base}/{database}"),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    struct ScratchDb {
        name: String,
        url: String,
    }

    impl ScratchDb {
        fn new() -> Self {
            let name = format!("grafi_cli_test_{}", uuid::Uuid::new_v4().simple());
            block_on(async {
                let mut admin = AsyncPgConnection::establish(&admin_url()).await.expect(
                    "PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)",
                );
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the scratch database");
            });
            let url = with_database(&admin_url(), &name);
            Self { name, url }
        }

        fn cmd(&self) -> Command {
            let mut cmd = grafi_store();
            cmd.args(["--store", &self.url]);
            cmd
        }

        /// `stats --json`, parsed.
        fn stats_json(&self) -> serde_json::Value {
            let out = self.cmd().args(["stats", "--json"]).assert().success();
            one_json_document(&out.get_output().stdout)
        }

        fn export(&self, filter: &[&str]) -> Vec<Event> {
            let out = self
                .cmd()
                .arg("export")
                .args(filter)
                .assert()
                .success()
                .get_output()
                .clone();
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| grafi_events::decode_str(l).expect("export writes grafi documents"))
                .collect()
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            let name = self.name.clone();
            let dropped = std::thread::spawn(move || {
                block_on(async {
                    let mut admin = AsyncPgConnection::establish(&admin_url()).await.ok()?;
                    admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .ok()
                })
            })
            .join();
            if !matches!(dropped, Ok(Some(()))) {
                eprintln!("could not drop scratch database {}", self.name);
            }
        }
    }

    fn assert_same_events(actual: &[Event], expected: &[Event]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            // The conformance suite's comparison: only key order, number spelling and the
            // timestamp's offset may differ.
            grafi_store_core::conformance::assert_same_event(a, e);
        }
    }

    #[test]
    fn reading_commands_never_create_or_migrate_the_table() {
        let db = ScratchDb::new();
        for command in [&["stats"][..], &["export"][..]] {
            let out = db.cmd().args(command).assert().code(3).get_output().clone();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("never create the table"), "{stderr}");
        }
        let tables: i64 = block_on(async {
            use diesel_async::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
            let found: N = diesel::sql_query(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'events'",
            )
            .get_result(&mut conn)
            .await
            .unwrap();
            found.n
        });
        assert_eq!(tables, 0, "a reading command created the events table");
        // A writing command migrates; then reading works.
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        db.cmd().arg("stats").assert().success();
    }

    #[test]
    fn postgres_import_export_round_trips_the_corpus_across_processes() {
        let db = ScratchDb::new();
        db.cmd()
            .arg("import")
            .arg(corpus_path())
            .assert()
            .success()
            .stdout(predicate::str::starts_with(
                "imported 211, duplicates 0, invalid 0 in ",
            ))
            .stderr("");
        // Idempotent: a second import stores nothing new.
        db.cmd()
            .args(["import", "--batch-size", "50"])
            .arg(corpus_path())
            .assert()
            .success()
            .stdout(predicate::str::starts_with(
                "imported 0, duplicates 211, invalid 0 in ",
            ));

        let corpus = corpus_events();
        // Everything, streamed in recording order = file order.
        assert_same_events(&db.export(&[]), &corpus);

        // Each filter gives what the corpus says it should, in recording order.
        let conversation = corpus[0].conversation_id().to_owned();
        let expected: Vec<Event> = corpus
            .iter()
            .filter(|e| e.conversation_id() == conversation)
            .cloned()
            .collect();
        assert_same_events(&db.export(&["--conversation", &conversation]), &expected);

        let request = corpus[0].assistant_request_id().to_owned();
        let expected: Vec<Event> = corpus
            .iter()
            .filter(|e| e.assistant_request_id() == request)
            .cloned()
            .collect();
        assert_same_events(&db.export(&["--request", &request]), &expected);

        let last = corpus.last().unwrap();
        assert_same_events(
            &db.export(&["--event", last.event_id()]),
            std::slice::from_ref(last),
        );

        let topic = db.export(&["--topic", "agent_input_topic", "--offsets", "0,1"]);
        let expected = corpus
            .iter()
            .filter(|e| e.is_topic_record())
            .filter(|e| matches!(e.topic(), Some(("agent_input_topic", 0 | 1))))
            .count();
        assert!(expected > 0);
        assert_eq!(topic.len(), expected);
        let offsets: Vec<i64> = topic
            .iter()
            .filter_map(|e| e.topic())
            .map(|t| t.1)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] <= w[1]),
            "offset order: {offsets:?}"
        );

        // Stats over the same database, from yet another process.
        db.cmd().arg("stats").assert().success().stdout(
            contains("events: 211")
                .and(contains("conversations: 4"))
                .and(contains("requests: 13"))
                .and(contains("ConsumeFromTopic        29"))
                .and(contains("success rate: ")),
        );

        db.cmd().args(["clear", "--yes"]).assert().success();
        assert!(db.export(&[]).is_empty());
    }

    #[test]
    fn postgres_import_of_bad_input_keeps_the_valid_lines() {
        let db = ScratchDb::new();
        let (file, valid_ids) = bad_input();
        let out = db
            .cmd()
            .args(["import", "--batch-size", "3"])
            .arg(file.path())
            .assert()
            .code(1)
            .stdout(predicate::str::starts_with(
                "imported 4, duplicates 1, invalid 4 in ",
            ))
            .get_output()
            .clone();
        assert_bad_lines_reported(&String::from_utf8_lossy(&out.stderr));

        let stored: Vec<String> = db
            .export(&[])
            .iter()
            .map(|e| e.event_id().to_owned())
            .collect();
        assert_eq!(stored, valid_ids);
        assert_eq!(stored.iter().collect::<HashSet<_>>().len(), 4);
    }

    #[test]
    fn postgres_demo_persists_its_runs() {
        let db = ScratchDb::new();
        let out = db
            .cmd()
            .args(["demo", "--conversations", "2"])
            .assert()
            .success()
            .get_output()
            .clone();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("events stay in the store"), "{stdout}");
        assert!(
            !stdout.contains("differs from what was recorded"),
            "{stdout}"
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let events = db.export(&[]);
        assert_eq!(events.len(), 81);
        db.cmd().arg("stats").assert().success().stdout(
            contains("events: 81")
                .and(contains("conversations: 2"))
                .and(contains("requests: 4")),
        );
        // What export wrote, validate accepts and import takes back as duplicates.
        let mut dump = tempfile::NamedTempFile::new().unwrap();
        for e in &events {
            writeln!(dump, "{}", e.to_json()).unwrap();
        }
        grafi_store()
            .arg("validate")
            .arg(dump.path())
            .assert()
            .success()
            .stdout("81 valid (grafi 0.0.24: 81), 0 invalid\n");
        db.cmd()
            .arg("import")
            .arg(dump.path())
            .assert()
            .success()
            .stdout(predicate::str::starts_with(
                "imported 0, duplicates 81, invalid 0",
            ));
    }

    #[test]
    fn database_url_selects_postgres_when_no_store_is_given() {
        let db = ScratchDb::new();
        // A writing command creates the table (reading commands never do).
        grafi_store()
            .env("DATABASE_URL", &db.url)
            .args(["clear", "--yes"])
            .assert()
            .success();
        grafi_store()
            .env("DATABASE_URL", &db.url)
            .arg("stats")
            .assert()
            .success()
            .stdout(contains(format!("store: {}", db.url)).and(contains("events: 0")))
            .stderr("");
    }

    /// One text value of `sql` on `url`.
    fn scalar(url: &str, sql: &str) -> String {
        block_on(async {
            use diesel_async::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct V {
                #[diesel(sql_type = diesel::sql_types::Text)]
                v: String,
            }
            let mut conn = AsyncPgConnection::establish(url).await.unwrap();
            diesel::sql_query(format!("SELECT ({sql})::text AS v"))
                .get_result::<V>(&mut conn)
                .await
                .unwrap()
                .v
        })
    }

    /// grafi 0.0.24's own table holding `rows` rows, as grafi's DDL makes it.
    fn grafi_table(db: &ScratchDb, rows: u64) {
        let schema = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/grafi-0.0.24/schema.sql"),
        )
        .unwrap();
        let fill = format!(
            "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, \
             event_context, data, \"timestamp\") \
             SELECT 'live-' || i, 'conv-' || (i / 100), 'req-' || (i / 10), 'ToolInvoke', \
             jsonb_build_object('invoke_context', jsonb_build_object('conversation_id', \
             'conv-' || (i / 100), 'invoke_id', 'inv-' || i, 'assistant_request_id', \
             'req-' || (i / 10), 'kwargs', '{{}}'::jsonb, 'user_id', ''), 'tool_id', 'tool', \
             'tool_name', 'Search', 'tool_type', 'FunctionCallTool'), \
             json_build_object('input_data', repeat('x', 600)), \
             '2025-07-08 09:00:00'::timestamp + i * interval '1 ms' \
             FROM generate_series(1, {rows}) AS i; ANALYZE events;"
        );
        let url = db.url.clone();
        block_on(async move {
            // pg_dump's script empties search_path for its session: fill on another.
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            conn.batch_execute(&schema).await.unwrap();
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            conn.batch_execute(&fill).await.unwrap();
        });
    }

    /// Rows another client wrote with plain SQL (ids of 0 and below, `infinity`, an `extra`
    /// this store never writes, a lone surrogate in `data`): `export` writes exactly
    /// `SELECT count(*)` documents, names the undecodable ones, and `stats` counts them all.
    #[test]
    fn export_and_stats_agree_with_count_star_whatever_the_rows() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        let url = db.url.clone();
        block_on(async move {
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            for (id, event_id, column, value) in [
                ("0", "hostile-zero", "data", "data"),
                ("-7", "hostile-negative", "data", "data"),
                ("-9223372036854775808", "hostile-min", "data", "data"),
                ("9000001", "hostile-infinity", "\"timestamp\"", "'infinity'"),
                ("9000002", "hostile-extra", "extra", "'[1]'"),
                (
                    "9000003",
                    "hostile-surrogate",
                    "data",
                    "'{\"t\": \"\\ud800\"}'::json",
                ),
            ] {
                conn.batch_execute(&format!(
                    "INSERT INTO events (id, event_id, conversation_id, assistant_request_id, \
                     event_type, event_context, data, \"timestamp\") SELECT {id}, '{event_id}', \
                     conversation_id, assistant_request_id, event_type, event_context, data, \
                     \"timestamp\" FROM events ORDER BY id LIMIT 1; \
                     UPDATE events SET {column} = {value} WHERE event_id = '{event_id}'"
                ))
                .await
                .unwrap();
            }
        });
        let count: usize = scalar(&db.url, "SELECT count(*) FROM events")
            .parse()
            .unwrap();
        assert_eq!(count, CORPUS.lines().count() + 6);
        let out = db
            .cmd()
            .arg("export")
            .assert()
            .success()
            .get_output()
            .clone();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stdout.lines().count(), count, "export lost rows");
        for id in ["hostile-zero", "hostile-negative", "hostile-min"] {
            assert!(
                stdout.contains(&format!("\"event_id\": \"{id}\"")),
                "{id} missing"
            );
        }
        assert!(stdout.contains(r#""timestamp": "infinity""#));
        assert!(
            stdout.contains(r#""data": {"t": "\ud800"}"#),
            "lone surrogate lost its type"
        );
        for id in ["hostile-infinity", "hostile-extra", "hostile-surrogate"] {
            assert!(
                stderr.contains(&format!("event \"{id}\"")),
                "{id} not named: {stderr}"
            );
        }
        assert!(stderr.contains("3 events do not decode"), "{stderr}");
        let stats = db
            .cmd()
            .arg("stats")
            .assert()
            .success()
            .get_output()
            .clone();
        let stats = String::from_utf8(stats.stdout).unwrap();
        assert!(stats.contains(&format!("events: {count}\n")), "{stats}");
        assert!(
            stats.contains("do not decode (kept as stored): 3"),
            "{stats}"
        );
    }

    /// Events PostgreSQL cannot store are refused by `validate` and by `import` on their own
    /// line, and the rest of the file is stored, whatever the batch: an id above the index
    /// entry limit, a number `numeric` cannot hold, and a row a `CHECK` constraint refuses
    /// (which only the database knows).
    #[test]
    fn import_pins_what_the_database_cannot_store_to_its_line_and_stores_the_rest() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        db.cmd().args(["clear", "--yes"]).assert().success();
        let url = db.url.clone();
        block_on(async move {
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            conn.batch_execute(
                "ALTER TABLE events ADD CONSTRAINT not_this_one \
                 CHECK (event_id <> 'refused-by-check')",
            )
            .await
            .unwrap();
        });
        let mut lines: Vec<String> = CORPUS.lines().map(str::to_owned).collect();
        let with_id = |line: &str, id: &str| {
            let mut doc: serde_json::Value = serde_json::from_str(line).unwrap();
            doc["event_id"] = serde_json::Value::String(id.to_owned());
            grafi_events::decode_str(&doc.to_string())
                .unwrap()
                .to_json()
        };
        lines[10] = with_id(&lines[10], &"k".repeat(3000));
        lines[20] = lines[20].replacen("\"kwargs\": {", "\"kwargs\": {\"n\": 1e200000, ", 1);
        assert!(lines[20].contains("1e200000"));
        lines[150] = with_id(&lines[150], "refused-by-check");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("limits.jsonl");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();

        let out = grafi_store()
            .arg("validate")
            .arg(&path)
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("line 11: ") && stderr.contains("3000 bytes"),
            "{stderr}"
        );
        assert!(
            stderr.contains("line 21: ") && stderr.contains("200000"),
            "{stderr}"
        );

        for _ in 0..2 {
            // The second run finds everything stored: re-running is safe, and says the same.
            let out = db
                .cmd()
                .args(["import", "--batch-size", "100"])
                .arg(&path)
                .assert()
                .code(1)
                .get_output()
                .clone();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("line 11: "), "{stderr}");
            assert!(stderr.contains("line 21: "), "{stderr}");
            assert!(
                stderr.contains("line 151: event \"refused-by-check\"") && stderr.contains("23514"),
                "{stderr}"
            );
        }
        let stored: usize = scalar(&db.url, "SELECT count(*) FROM events")
            .parse()
            .unwrap();
        assert_eq!(stored, lines.len() - 3);
    }

    /// Events to import, as a JSONL file.
    fn events_file(dir: &tempfile::TempDir, count: usize) -> PathBuf {
        let mut lines = String::new();
        let mut n = 0;
        let mut conversation = 0;
        while n < count {
            conversation += 1;
            for event in grafi_store_core::conformance::agent_trace(
                &format!("import-beside-reader-{conversation}"),
                2,
                0,
            ) {
                if n < count {
                    lines.push_str(&event.to_json());
                    lines.push('\n');
                    n += 1;
                }
            }
        }
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, lines).unwrap();
        path
    }

    /// `import -` from a pipe that delivers 2,500 lines and then pauses: what arrived is
    /// stored while the pipe is still open (the batch of 2,000 at once, the 500 left after
    /// `--flush-after`), not when the input ends.
    #[test]
    fn import_from_a_pipe_that_pauses_stores_what_has_arrived() {
        let db = ScratchDb::new();
        let dir = tempfile::tempdir().unwrap();
        let lines = std::fs::read(events_file(&dir, 2500)).unwrap();
        let mut child =
            spawn_grafi_store(&["--store", &db.url, "import", "--batch-size", "2000", "-"]);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&lines).unwrap();
        stdin.flush().unwrap();

        let started = std::time::Instant::now();
        let mut stored = String::new();
        while started.elapsed() < std::time::Duration::from_secs(15) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if scalar(&db.url, "to_regclass('events') IS NOT NULL") == "true" {
                stored = scalar(&db.url, "SELECT count(*) FROM events");
                if stored == "2500" {
                    break;
                }
            }
        }
        eprintln!(
            "{stored} of 2500 events stored {:?} after the lines were written",
            started.elapsed()
        );
        assert_eq!(
            stored, "2500",
            "stdin still open: the last lines are not stored"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended early"
        );

        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.starts_with("imported 2500, duplicates 0, invalid 0 in "),
            "{stdout}"
        );
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events"), "2500");
    }

    /// A Python grafi service keeps its table busy (here: a transaction that read it and
    /// stays open, holding its ACCESS SHARE lock). `import` opens the table as it is, writes
    /// beside the reader, and leaves the table's file and id type unchanged; `migrate run`
    /// gives up after its lock timeout and changes nothing; once the reader is gone it
    /// widens the table. `GRAFI_LIVE_TABLE_ROWS` sets the table size (default 100,000;
    /// docs/operations.md reports 1,000,000).
    #[test]
    fn import_beside_a_long_reader_never_touches_grafis_table() {
        let rows: u64 = std::env::var("GRAFI_LIVE_TABLE_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let db = ScratchDb::new();
        grafi_table(&db, rows);
        let file_of = "SELECT relfilenode FROM pg_class WHERE oid = 'events'::regclass";
        let id_type = "SELECT data_type FROM information_schema.columns \
                       WHERE table_name = 'events' AND column_name = 'id'";
        let file_before = scalar(&db.url, file_of);
        assert_eq!(scalar(&db.url, id_type), "integer");

        // The long reader, until dropped.
        let reader = HeldTransaction::open(&db, "BEGIN; SELECT count(*) FROM events");

        let dir = tempfile::tempdir().unwrap();
        let file = events_file(&dir, 1000);
        let started = std::time::Instant::now();
        db.cmd()
            .arg("import")
            .arg(&file)
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .success()
            .stdout(contains("imported 1000,"));
        let import_took = started.elapsed();
        eprintln!("import of 1,000 events beside a long reader on {rows} rows: {import_took:?}");
        assert_eq!(
            scalar(&db.url, file_of),
            file_before,
            "the table was rewritten"
        );
        assert_eq!(scalar(&db.url, id_type), "integer");
        assert_eq!(
            scalar(&db.url, "SELECT count(*) FROM events"),
            (rows + 1000).to_string()
        );

        // `migrate run` cannot get its lock while the reader is open: it gives up, unchanged.
        let out = db
            .cmd()
            .args(["migrate", "run", "--yes", "--lock-timeout", "1s"])
            .timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(3)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("raise --lock-timeout"), "{stderr}");
        assert_eq!(scalar(&db.url, file_of), file_before);
        assert_eq!(scalar(&db.url, id_type), "integer");

        drop(reader);
        let started = std::time::Instant::now();
        // (The first migration, a no-op on grafi's table, may already be recorded by the
        // attempt that gave up: it needs no lock.)
        db.cmd()
            .args(["migrate", "run", "--yes"])
            .assert()
            .success()
            .stdout(contains("applied").and(contains("20250701000002")));
        eprintln!("migrate run on {rows} rows: {:?}", started.elapsed());
        assert_eq!(scalar(&db.url, id_type), "bigint");
        assert_ne!(scalar(&db.url, file_of), file_before);
        assert_eq!(
            scalar(&db.url, "SELECT count(*) FROM events"),
            (rows + 1000).to_string()
        );
        db.cmd()
            .args(["migrate", "status"])
            .assert()
            .success()
            .stdout(contains("pending: (none)"));
    }

    /// The three roles' grants, on a real server: the writer records and reads but may not
    /// UPDATE, DELETE or TRUNCATE (42501), `clear` under it fails as a permission error and
    /// deletes nothing, the reader only reads; the owner migrates.
    #[test]
    fn roles_grant_exactly_what_they_say() {
        let db = ScratchDb::new();
        let roles = RolesGuard::new(&db, "r");
        let as_role = |who: &str| roles.command(who);
        // The owner creates the table (the migrations), nobody else can.
        as_role("owner")
            .args(["migrate", "run", "--yes"])
            .assert()
            .success();
        assert_eq!(
            scalar(
                &db.url,
                "SELECT tableowner FROM pg_tables WHERE tablename = 'events'"
            ),
            format!("{}_owner", roles.prefix)
        );
        // The writer records and reads.
        as_role("writer")
            .arg("import")
            .arg(corpus_path())
            .assert()
            .success()
            .stdout(contains("imported 211,"));
        as_role("writer").arg("stats").assert().success();
        // …but may not clear: a permission error, not retried, nothing deleted.
        let out = as_role("writer")
            .args(["clear", "--yes"])
            .assert()
            .code(3)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("permission denied"), "{stderr}");
        assert!(stderr.contains("lacks DELETE"), "{stderr}");
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events"), "211");
        // The reader reads and may not write.
        as_role("reader").arg("export").assert().success();
        let out = as_role("reader")
            .arg("import")
            .arg(corpus_path())
            .assert()
            .code(3)
            .get_output()
            .clone();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("lacks INSERT"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Each role's grants, as the server enforces them (SQLSTATE 42501).
        roles.expect_denied("writer", "UPDATE events SET event_type = event_type");
        roles.expect_denied("writer", "DELETE FROM events");
        roles.expect_denied("writer", "TRUNCATE events");
        roles.expect_denied("writer", "ALTER TABLE events ADD COLUMN x int");
        roles.expect_denied("reader", "INSERT INTO events (event_id, conversation_id, assistant_request_id, event_type, event_context, data, \"timestamp\") VALUES ('x', 'c', 'r', 'T', '{}', '{}', now())");
        roles.expect_denied("reader", "DELETE FROM events");
        // Only the owner writes the erasure tables: no forged audit record, no blocked id.
        roles.expect_denied(
            "writer",
            "INSERT INTO grafi_rs_audit (action, events) VALUES ('purge', 0)",
        );
        roles.expect_denied(
            "writer",
            "INSERT INTO grafi_rs_erased (id_hash) VALUES ('\\x00')",
        );
        roles.expect_denied("writer", "DELETE FROM grafi_rs_erased");
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events"), "211");
    }

    /// The roles script run on a database already migrated (migration 4's tables exist): the
    /// writer records (it may read the erased-id ledger and its key) but may not erase; the
    /// owner erases; the reader reads the audit trail.
    #[test]
    fn roles_after_migrating_let_the_writer_record_and_the_owner_erase() {
        let db = ScratchDb::new();
        db.cmd()
            .args(["migrate", "run", "--yes"])
            .assert()
            .success();
        let roles = RolesGuard::new(&db, "m");
        let as_role = |who: &str| roles.command(who);
        as_role("writer")
            .arg("import")
            .arg(corpus_path())
            .assert()
            .success()
            .stdout(contains("imported 211,"));
        as_role("writer")
            .args(["erase", "--user", "bob", "--yes"])
            .assert()
            .code(3)
            .stderr(contains("permission denied"));
        as_role("owner")
            .args(["erase", "--user", "bob", "--yes"])
            .assert()
            .success();
        as_role("reader")
            .arg("audit")
            .assert()
            .success()
            .stdout(contains("erase_user"));
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events"), "200");
    }

    /// `url` with `key=value` added to its query string.
    fn with_param(url: &str, param: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{param}")
    }

    /// The roles of one test (cluster-wide objects), with a login role in each, dropped on
    /// drop.
    struct RolesGuard {
        url: String,
        prefix: String,
    }

    impl RolesGuard {
        /// Runs `grafi-store roles --print-sql` for a prefix unique to `db` (starting with
        /// `letter`), and adds a login role to each group.
        fn new(db: &ScratchDb, letter: &str) -> Self {
            let prefix = format!("{letter}{}", &db.name[db.name.len() - 12..]);
            let sql = String::from_utf8(
                grafi_store()
                    .args(["roles", "--print-sql", "--prefix", &prefix])
                    .assert()
                    .success()
                    .get_output()
                    .stdout
                    .clone(),
            )
            .unwrap();
            let guard = Self {
                url: db.url.clone(),
                prefix: prefix.clone(),
            };
            let logins = ["owner", "writer", "reader"]
                .iter()
                .map(|who| {
                    format!("CREATE ROLE {prefix}_{who}_login LOGIN IN ROLE {prefix}_{who};")
                })
                .collect::<String>();
            let url = db.url.clone();
            let sql = sql.to_owned();
            block_on(async move {
                let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
                conn.batch_execute(&sql).await.unwrap();
                conn.batch_execute(&logins).await.unwrap();
            });
            guard
        }

        /// `grafi-store` logged in as `PREFIX_who_login`. The owner's login acts as the
        /// owner role, so what it creates is the owner's (and gets the default privileges).
        fn command(&self, who: &str) -> Command {
            let mut url = with_param(&self.url, &format!("user={}_{who}_login", self.prefix));
            if who == "owner" {
                url.push_str(&format!("&options=-c%20role%3D{}_owner", self.prefix));
            }
            let mut cmd = grafi_store();
            cmd.args(["--store", &url]);
            cmd
        }

        /// `sql` run as `PREFIX_who_login` fails with SQLSTATE 42501.
        fn expect_denied(&self, who: &str, sql: &str) {
            let url = with_param(&self.url, &format!("user={}_{who}_login", self.prefix));
            let statement = sql.to_owned();
            let code = block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client
                    .batch_execute(&statement)
                    .await
                    .err()
                    .and_then(|e| e.code().cloned())
            });
            assert_eq!(
                code,
                Some(tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{who}: {sql}"
            );
        }
    }

    impl Drop for RolesGuard {
        fn drop(&mut self) {
            let prefix = self.prefix.clone();
            let url = self.url.clone();
            let _ = std::thread::spawn(move || {
                block_on(async move {
                    let Ok(mut conn) = AsyncPgConnection::establish(&url).await else {
                        return;
                    };
                    // Roles outlive databases: drop what they own here, then the roles.
                    for who in ["owner", "writer", "reader"] {
                        for role in [format!("{prefix}_{who}_login"), format!("{prefix}_{who}")] {
                            let _ = conn
                                .batch_execute(&format!("DROP OWNED BY {role} CASCADE"))
                                .await;
                            let _ = conn
                                .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
                                .await;
                        }
                    }
                });
            })
            .join();
        }
    }

    /// `| head` on a real store: stats, export and migrate status stop quietly with exit 0
    /// when the reader is gone; export, whose output is larger than a pipe holds, really
    /// meets the closed pipe after the first line.
    #[test]
    fn postgres_closed_stdout_ends_commands_quietly() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        let conversation = corpus_events()[0].conversation_id().to_owned();
        let commands: &[&[&str]] = &[
            &["stats"],
            &["stats", "--json"],
            &["export"],
            &["export", "--conversation", &conversation],
            &["migrate", "status"],
            &["clear", "--yes"],
        ];
        for args in commands {
            let out =
                output_with_closed_stdout(std_grafi_store().args(["--store", &db.url]).args(*args));
            assert_quiet_success(&args.join(" "), &out);
        }
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events"), "0");

        db.cmd().arg("import").arg(corpus_path()).assert().success();
        assert!(
            CORPUS.len() > 4 * 65_536,
            "the export must outgrow the pipe"
        );
        let (first, out) = first_line_then_close(&["--store", &db.url, "export"]);
        grafi_events::decode_str(first.trim_end()).unwrap();
        assert_quiet_success("export | head -1", &out);
    }

    /// `-v` and `RUST_LOG=debug` show what the PostgreSQL store does (connecting, the
    /// table), on stderr, with the password scrubbed; stdout stays one JSON document.
    #[test]
    fn postgres_logging_shows_the_store_at_work_without_the_password() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        // Trust authentication ignores the password; the store is given one all the same.
        let url = db.url.replacen("://postgres@", "://postgres:hunter22@", 1);
        let with_password = url != db.url;
        for (flags, rust_log) in [
            (&["-v"][..], None),
            (&["-vv"][..], None),
            (&[][..], Some("debug")),
        ] {
            let mut cmd = grafi_store();
            if let Some(filter) = rust_log {
                cmd.env("RUST_LOG", filter);
            }
            let out = cmd
                .args(flags)
                .args(["--store", &url, "stats", "--json"])
                .assert()
                .success()
                .get_output()
                .clone();
            let doc = one_json_document(&out.stdout);
            assert_eq!(doc["events"], 211);
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(stderr.contains("event store ready"), "{stderr}");
            assert!(stderr.contains("grafi_store_connect"), "{stderr}");
            // The driver's debug lines (every statement and its parameters) only when
            // asked for: RUST_LOG=debug or -vvv, not -vv.
            let driver = stderr.contains("tokio_postgres::query");
            assert_eq!(driver, rust_log.is_some(), "{flags:?}: {stderr}");
            if rust_log.is_some() {
                assert!(stderr.contains(" DEBUG "), "{stderr}");
            }
            if with_password {
                assert!(!stderr.contains("hunter22"), "{stderr}");
                assert!(!doc.to_string().contains("hunter22"), "{doc}");
                assert!(stderr.contains(":***@"), "{stderr}");
            }
        }
    }

    #[test]
    fn postgres_stats_json_agrees_with_the_corpus() {
        let db = ScratchDb::new();
        db.cmd().arg("import").arg(corpus_path()).assert().success();
        let out = db
            .cmd()
            .args(["stats", "--json"])
            .assert()
            .success()
            .stderr("")
            .get_output()
            .clone();
        let doc = one_json_document(&out.stdout);
        assert_eq!(keys(&doc), STATS_FIELDS);
        assert_eq!(doc["events"], 211);
        assert_eq!(doc["undecodable"], 0);
        assert_eq!(doc["conversations"], 4);
        assert_eq!(doc["requests"], 13);
        assert_eq!(doc["by_type"]["ConsumeFromTopic"], 29);
        let by_type: u64 = doc["by_type"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(by_type, 211);
        assert_eq!(doc["unknown_types"], serde_json::json!([]));
        let outcomes: u64 = [
            "requests_succeeded",
            "requests_failed",
            "requests_without_outcome",
        ]
        .iter()
        .map(|k| doc[*k].as_u64().unwrap())
        .sum();
        assert_eq!(outcomes, 13);
        let rate = doc["success_rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&rate), "{rate}");
        let first = doc["first_timestamp"].as_str().unwrap();
        let last = doc["last_timestamp"].as_str().unwrap();
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        assert!(parse(first) <= parse(last), "{first} {last}");
        assert!(first.ends_with('Z'), "{first}");
        assert!(doc["store"].as_str().unwrap().starts_with("postgres"));
    }

    /// Ctrl-C in the middle of a large import: the batch being written completes, no other
    /// starts; the summary counts exactly what is in the table, names the last line handled
    /// (exit 130), and importing what follows that line completes the table.
    #[cfg(unix)]
    #[test]
    fn sigint_during_a_large_import_stops_at_a_batch_boundary() {
        let db = ScratchDb::new();
        let dir = tempfile::tempdir().unwrap();
        let total = 20_000;
        let file = events_file(&dir, total);
        let child = std_grafi_store()
            .args(["--store", &db.url, "import", "--json", "--batch-size", "20"])
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "nothing was stored"
            );
            if scalar(&db.url, "to_regclass('events') IS NOT NULL") == "true"
                && scalar(&db.url, "SELECT count(*) > 0 FROM events") == "true"
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        send_signal(child.id(), "INT");
        let out = wait_at_most(child, std::time::Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        let doc = one_json_document(&out.stdout);
        assert_eq!(keys(&doc), IMPORT_FIELDS);
        assert_eq!(doc["status"], "interrupted");
        let imported = doc["imported"].as_u64().unwrap() as usize;
        let stored: usize = scalar(&db.url, "SELECT count(*) FROM events")
            .parse()
            .unwrap();
        assert_eq!(stored, imported, "the summary counts what is committed");
        assert!(imported > 0 && imported < total, "{imported}");
        // Every line is a new valid event: the lines handled are the events stored.
        assert_eq!(doc["last_line"], imported);
        assert_eq!(
            (&doc["duplicates"], &doc["invalid"]),
            (&0.into(), &0.into())
        );
        assert!(
            stderr.contains(&format!("tail -n +{} ", imported + 1)),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");

        // Resuming after the last line handled stores the rest, nothing twice.
        let rest: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .skip(imported)
            .map(|l| format!("{l}\n"))
            .collect();
        db.cmd()
            .args(["import", "-"])
            .write_stdin(rest)
            .assert()
            .success()
            .stdout(predicate::str::starts_with(format!(
                "imported {}, duplicates 0, invalid 0 in ",
                total - imported
            )));
        assert_eq!(
            scalar(&db.url, "SELECT count(*) FROM events"),
            total.to_string()
        );
    }

    /// A transaction of another connection, opened with `begin` (e.g. a lock, or a long
    /// read) and held on a thread of its own until dropped, then committed.
    struct HeldTransaction {
        release: Option<std::sync::mpsc::Sender<()>>,
        holder: Option<std::thread::JoinHandle<()>>,
    }

    impl HeldTransaction {
        fn open(db: &ScratchDb, begin: &'static str) -> Self {
            let (release, released) = std::sync::mpsc::channel::<()>();
            let (held, is_held) = std::sync::mpsc::channel::<()>();
            let url = db.url.clone();
            let holder = std::thread::spawn(move || {
                block_on(async move {
                    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
                    conn.batch_execute(begin).await.unwrap();
                    held.send(()).unwrap();
                    let _ = released.recv();
                    conn.batch_execute("COMMIT").await.unwrap();
                })
            });
            is_held.recv().unwrap();
            Self {
                release: Some(release),
                holder: Some(holder),
            }
        }

        /// An ACCESS EXCLUSIVE lock on `events`: writes wait for it.
        fn lock_table(db: &ScratchDb) -> Self {
            Self::open(db, "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        }
    }

    impl Drop for HeldTransaction {
        fn drop(&mut self) {
            drop(self.release.take());
            if let Some(holder) = self.holder.take() {
                let _ = holder.join();
            }
        }
    }

    /// Waits until a session of `db` other than the lock holder waits for a lock.
    #[cfg(unix)]
    fn wait_for_a_blocked_writer(db: &ScratchDb) {
        let started = std::time::Instant::now();
        while scalar(
            &db.url,
            "SELECT count(*) > 0 FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ) != "true"
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "no write is waiting for the lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `import -` of `lines` (5 a batch), started and waiting for its batch to be written
    /// behind a table lock.
    #[cfg(unix)]
    fn import_behind_a_lock(
        db: &ScratchDb,
        lines: &[&str],
    ) -> (
        std::process::Child,
        std::process::ChildStdin,
        std::sync::mpsc::Receiver<String>,
        HeldTransaction,
    ) {
        let mut child = spawn_grafi_store(&[
            "--store",
            &db.url,
            "-v",
            "import",
            "--json",
            "--batch-size",
            "5",
            "-",
        ]);
        let stderr = stderr_lines(&mut child);
        // The store is open (and the signals taken over) before the table is locked.
        wait_for_line(&stderr, "event store ready");
        let lock = HeldTransaction::lock_table(db);
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
        stdin.flush().unwrap();
        wait_for_a_blocked_writer(db);
        (child, stdin, stderr, lock)
    }

    /// After Ctrl-C the batch being written is not abandoned: it completes once the
    /// database lets it, and the summary counts it. A second Ctrl-C does not wait.
    #[cfg(unix)]
    #[test]
    fn ctrl_c_lets_the_batch_in_flight_complete_and_a_second_one_exits_at_once() {
        let db = ScratchDb::new();
        db.cmd()
            .args(["migrate", "run", "--yes"])
            .assert()
            .success();
        let corpus: Vec<&str> = CORPUS.lines().collect();

        let (child, stdin, stderr, lock) = import_behind_a_lock(&db, &corpus[..5]);
        send_signal(child.id(), "INT");
        std::thread::sleep(std::time::Duration::from_millis(500));
        let mut child = child;
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import left its batch behind"
        );
        drop(lock);
        let out = wait_at_most(child, std::time::Duration::from_secs(30));
        drop(stdin);
        let stderr: String = stderr.iter().collect::<Vec<_>>().join("\n");
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        let doc = one_json_document(&out.stdout);
        assert_eq!(doc["status"], "interrupted");
        assert_eq!(doc["imported"], 5);
        assert_eq!(doc["last_line"], 5);
        assert!(stderr.contains("lines 1 to 5 are handled"), "{stderr}");
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events"), "5");

        let (child, stdin, stderr, lock) = import_behind_a_lock(&db, &corpus[5..10]);
        send_signal(child.id(), "INT");
        std::thread::sleep(std::time::Duration::from_millis(300));
        send_signal(child.id(), "INT");
        // It exits while the lock is still held.
        let out = wait_at_most(child, std::time::Duration::from_secs(10));
        drop(stdin);
        let stderr: String = stderr.iter().collect::<Vec<_>>().join("\n");
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("interrupted again"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        drop(lock);
        // The batch in flight may or may not have been stored, as the message says.
        let stored = scalar(&db.url, "SELECT count(*) FROM events");
        assert!(stored == "5" || stored == "10", "{stored}");
    }

    /// `demo` never writes into the database DATABASE_URL names (it says so, once); with
    /// GRAFI_STORE_URL or --store it does.
    #[test]
    fn demo_ignores_database_url() {
        let db = ScratchDb::new();
        let out = grafi_store()
            .env("DATABASE_URL", &db.url)
            .args(["demo", "--conversations", "2"])
            .assert()
            .success()
            .get_output()
            .clone();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("store memory:"), "{stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("demo ignores DATABASE_URL"), "{stderr}");
        assert!(!stderr.contains(&db.name), "{stderr}");
        assert_eq!(
            scalar(&db.url, "to_regclass('events') IS NULL"),
            "true",
            "the demo touched DATABASE_URL's database"
        );

        grafi_store()
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env("GRAFI_STORE_URL", &db.url)
            .args(["demo", "--conversations", "2"])
            .assert()
            .success()
            .stdout(contains("events stay in the store"))
            .stderr("");
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM events"), "81");
    }
}
