//! `cargo xtask bench-report`: criterion's results as one table, with the ratios the
//! performance targets are stated in (each measured in the same run, so machine noise
//! largely cancels).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One benchmark's result.
struct Result {
    median_ns: f64,
    mean_ns: f64,
    elements: Option<f64>,
    bytes: Option<f64>,
}

impl Result {
    fn per_second(&self) -> Option<f64> {
        self.elements.map(|n| n / (self.mean_ns / 1e9))
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn collect(dir: &Path, out: &mut BTreeMap<String, Result>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let (Some(bench), Some(estimates)) = (
                read_json(&path.join("benchmark.json")),
                read_json(&path.join("estimates.json")),
            ) else {
                continue;
            };
            let Some(id) = bench["full_id"].as_str() else {
                continue;
            };
            out.insert(
                id.to_owned(),
                Result {
                    median_ns: estimates["median"]["point_estimate"]
                        .as_f64()
                        .unwrap_or(f64::NAN),
                    mean_ns: estimates["mean"]["point_estimate"]
                        .as_f64()
                        .unwrap_or(f64::NAN),
                    elements: bench["throughput"]["Elements"].as_f64(),
                    bytes: bench["throughput"]["Bytes"].as_f64(),
                },
            );
        } else {
            collect(&path, out);
        }
    }
}

fn human_time(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.1} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

fn human_rate(r: f64) -> String {
    match r {
        r if r >= 1e6 => format!("{:.2} M/s", r / 1e6),
        r if r >= 1e3 => format!("{:.1} k/s", r / 1e3),
        r => format!("{r:.0} /s"),
    }
}

pub fn run(target_dir: &Path) -> std::result::Result<(), String> {
    let root: PathBuf = target_dir.join("criterion");
    let mut results = BTreeMap::new();
    collect(&root, &mut results);
    let subscriptions = read_subscriptions(&root.join("subscriptions"));
    let removals = read_removals(&root.join("lifecycle"));
    if results.is_empty() && subscriptions.is_empty() && removals.is_empty() {
        return Err(format!(
            "no criterion results under {} (run `cargo bench` first)",
            root.display()
        ));
    }
    if !results.is_empty() {
        println!("| benchmark | median | events/s (mean) | MB/s |");
        println!("|---|---:|---:|---:|");
    }
    for (id, r) in &results {
        let rate = r.per_second().map(human_rate).unwrap_or_default();
        let mbs = r
            .bytes
            .map(|b| format!("{:.0}", b / (r.mean_ns / 1e9) / 1e6))
            .unwrap_or_default();
        println!("| `{id}` | {} | {rate} | {mbs} |", human_time(r.median_ns));
    }

    let mut ratios = ratio_lines(&results);
    ratios.extend(read_paired(&root.join("paired")).iter().map(Paired::line));
    print_table("ratio (same run)", &ratios);
    print_table(
        "subscriptions (same run)",
        &subscription_lines(&results, &subscriptions),
    );
    let lines: Vec<String> = removals.iter().flat_map(Removal::lines).collect();
    print_table("erasure and retention (same run)", &lines);
    Ok(())
}

/// A table of `| {title} | value | target |` rows, after a blank line; nothing without rows.
fn print_table(title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    println!();
    println!("| {title} | value | target |");
    println!("|---|---:|---|");
    for line in lines {
        println!("{line}");
    }
}

/// A paired measurement the PostgreSQL bench wrote (`criterion/paired/{name}.json`): the
/// store's calls and the raw baseline's alternating one by one, medians per round.
#[derive(Debug, PartialEq)]
struct Paired {
    of: String,
    to: String,
    calls_per_round: u64,
    /// The store's median ÷ the raw median, per round.
    ratios: Vec<f64>,
}

impl Paired {
    fn from_json(json: &Value) -> Option<Self> {
        let ratios = json["rounds_p50_ns"]
            .as_array()?
            .iter()
            .map(|round| Some(round[0].as_f64()? / round[1].as_f64()?))
            .collect::<Option<Vec<f64>>>()?;
        (!ratios.is_empty()).then_some(())?;
        Some(Self {
            of: json["of"].as_str()?.to_owned(),
            to: json["to"].as_str()?.to_owned(),
            calls_per_round: json["calls_per_round"].as_u64()?,
            ratios,
        })
    }

    /// The table row: the median round's ratio and the range, with the target of the
    /// criterion ratio of the same two benchmarks.
    fn line(&self) -> String {
        let mut sorted = self.ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let median = median(&sorted);
        let target = comparisons()
            .into_iter()
            .find(|(of, to, ..)| *of == self.of && *to == self.to)
            .map_or("(context)", |(.., target)| target);
        format!(
            "| {} p50 ÷ {} p50, paired: {} rounds of {} alternating calls | {median:.2}× ({:.2}–{:.2}×) | {target} |",
            self.of,
            self.to,
            sorted.len(),
            self.calls_per_round,
            sorted[0],
            sorted[sorted.len() - 1],
        )
    }
}

/// The JSON documents of the `*.json` files in `dir` that parse, by file name (none if `dir`
/// does not exist): what the benches write besides criterion's groups.
fn json_files(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| read_json(path))
        .collect()
}

/// Every paired measurement under `dir`, by file name.
fn read_paired(dir: &Path) -> Vec<Paired> {
    json_files(dir)
        .iter()
        .filter_map(Paired::from_json)
        .collect()
}

/// What the subscriptions bench wrote besides criterion's groups
/// (`criterion/subscriptions/*.json`).
#[derive(Debug, PartialEq)]
enum Subscription {
    /// Commit-to-delivery latency of one subscriber under a steady writer.
    Latency(Latency),
    /// A subscriber's catch-up and the raw read of the same rows, alternated.
    CatchUp(CatchUp),
}

/// Percentiles, over `events` events, of the time from a writer's `record_event` returning
/// to a subscriber receiving the event.
#[derive(Debug, PartialEq)]
struct Latency {
    id: String,
    /// Whether the writer sent its `NOTIFY` (else the subscriber saw events by polling).
    notify: bool,
    poll_interval_ns: f64,
    /// The rate the writer kept, events/s.
    achieved_per_s: f64,
    events: u64,
    p50_ns: f64,
    p99_ns: f64,
    max_ns: f64,
}

impl Latency {
    fn from_json(json: &Value) -> Option<Self> {
        Some(Self {
            id: json["id"].as_str()?.to_owned(),
            notify: json["notify"].as_bool()?,
            poll_interval_ns: json["poll_interval_ns"].as_f64()?,
            achieved_per_s: json["achieved_per_s"].as_f64()?,
            events: json["events"].as_u64()?,
            p50_ns: json["p50_ns"].as_f64()?,
            p99_ns: json["p99_ns"].as_f64()?,
            max_ns: json["max_ns"].as_f64()?,
        })
    }

    fn line(&self) -> String {
        let wakeups = if self.notify {
            "NOTIFY".to_owned()
        } else {
            format!("polling only, every {}", human_time(self.poll_interval_ns))
        };
        format!(
            "| `{}` ({wakeups}): commit → delivery, {} events at {:.0}/s | p50 {}, p99 {}, max {} | (context) |",
            self.id,
            self.events,
            self.achieved_per_s,
            human_time(self.p50_ns),
            human_time(self.p99_ns),
            human_time(self.max_ns),
        )
    }
}

/// A subscriber's full catch-up (`of`) and the raw read of the same rows (`to`), one of each
/// per round, alternating which goes first.
#[derive(Debug, PartialEq)]
struct CatchUp {
    of: String,
    to: String,
    /// The subscriber's rate ÷ the raw read's, per round.
    ratios: Vec<f64>,
}

impl CatchUp {
    fn from_json(json: &Value) -> Option<Self> {
        let ratios = json["rounds_ns"]
            .as_array()?
            .iter()
            .map(|round| Some(round[1].as_f64()? / round[0].as_f64()?))
            .collect::<Option<Vec<f64>>>()?;
        (!ratios.is_empty()).then_some(())?;
        Some(Self {
            of: json["of"].as_str()?.to_owned(),
            to: json["to"].as_str()?.to_owned(),
            ratios,
        })
    }

    /// The table row: the median round's ratio and the range.
    fn line(&self) -> String {
        let mut sorted = self.ratios.clone();
        sorted.sort_by(f64::total_cmp);
        format!(
            "| {} ÷ {} (rate), paired: {} rounds of one read each, alternating | {:.2}× ({:.2}–{:.2}×) | {CATCH_UP_TARGET} |",
            self.of,
            self.to,
            sorted.len(),
            median(&sorted),
            sorted[0],
            sorted[sorted.len() - 1],
        )
    }
}

/// The median of sorted, non-empty `values`.
fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// A subscriber's catch-up rate against the raw read of the same rows.
const CATCH_UP_TARGET: &str = "≥ 0.5×";

/// Everything the subscriptions bench wrote under `dir`, by file name.
fn read_subscriptions(dir: &Path) -> Vec<Subscription> {
    json_files(dir)
        .iter()
        .filter_map(|json| {
            Latency::from_json(json)
                .map(Subscription::Latency)
                .or_else(|| CatchUp::from_json(json).map(Subscription::CatchUp))
        })
        .collect()
}

/// The subscriptions table: the latencies, then per table layout the catch-up ratio of the
/// criterion groups (by rate, shown as ×) and of the alternated rounds.
fn subscription_lines(
    results: &BTreeMap<String, Result>,
    subscriptions: &[Subscription],
) -> Vec<String> {
    let mut lines: Vec<String> = subscriptions
        .iter()
        .filter_map(|s| match s {
            Subscription::Latency(latency) => Some(latency.line()),
            Subscription::CatchUp(_) => None,
        })
        .collect();
    let rate = |id: &str| results.get(id).and_then(Result::per_second);
    for backend in POSTGRES_BACKENDS {
        let of = format!("catch_up/{backend}/100000");
        let to = format!("raw_catch_up/{backend}/100000");
        if let Some((a, b)) = rate(&of).zip(rate(&to)) {
            lines.push(format!(
                "| {of} ÷ {to} (rate) | {:.2}× | {CATCH_UP_TARGET} |",
                a / b
            ));
        }
        for s in subscriptions {
            if let Subscription::CatchUp(catch_up) = s {
                if catch_up.of == of && catch_up.to == to {
                    lines.push(catch_up.line());
                }
            }
        }
    }
    lines
}

/// A write call's latencies over one phase of a lifecycle run (`before` or `during`).
#[derive(Debug, PartialEq)]
struct WriterPhase {
    calls: u64,
    p50_ns: f64,
    p99_ns: f64,
    max_ns: f64,
    /// Calls that took longer than the run's threshold.
    over: u64,
}

impl WriterPhase {
    fn from_json(json: &Value) -> Option<Self> {
        Some(Self {
            calls: json["calls"].as_u64()?,
            p50_ns: json["p50_ns"].as_f64()?,
            p99_ns: json["p99_ns"].as_f64()?,
            max_ns: json["max_ns"].as_f64()?,
            over: json["over_threshold"].as_u64()?,
        })
    }
}

/// A purge or an erasure that the lifecycle bench ran beside a steady writer
/// (`criterion/lifecycle/*.json`): how long it took, and the writer's latencies before and
/// during it.
#[derive(Debug, PartialEq)]
struct Removal {
    id: String,
    table_events: u64,
    removed: u64,
    duration_ns: f64,
    writer_batch: u64,
    writer_interval_ns: f64,
    /// The target: no write call longer than this.
    threshold_ns: f64,
    before: WriterPhase,
    during: WriterPhase,
    /// The longest purge statement or erasure transaction seen (a lower bound).
    longest_transaction_ns: Option<f64>,
}

impl Removal {
    fn from_json(json: &Value) -> Option<Self> {
        Some(Self {
            id: json["id"].as_str()?.to_owned(),
            table_events: json["table_events"].as_u64()?,
            removed: json["removed"].as_u64()?,
            duration_ns: json["duration_ns"].as_f64()?,
            writer_batch: json["writer_batch"].as_u64()?,
            writer_interval_ns: json["writer_interval_ns"].as_f64()?,
            threshold_ns: json["threshold_ns"].as_f64()?,
            before: WriterPhase::from_json(&json["before"])?,
            during: WriterPhase::from_json(&json["during"])?,
            longest_transaction_ns: json["longest_transaction_ns"].as_f64(),
        })
    }

    /// Three rows: the operation, the writer's latencies before → during it, and the calls
    /// above the threshold (the target: none during it).
    fn lines(&self) -> Vec<String> {
        let (before, during) = (&self.before, &self.during);
        let longest = self
            .longest_transaction_ns
            .map(|ns| format!("; longest transaction seen ≥ {}", human_time(ns)))
            .unwrap_or_default();
        let threshold = human_time(self.threshold_ns);
        vec![
            format!(
                "| `{}`: {} of {} events removed | {} ({}){longest} | (context) |",
                self.id,
                self.removed,
                self.table_events,
                human_time(self.duration_ns),
                human_rate(self.removed as f64 / (self.duration_ns / 1e9)),
            ),
            format!(
                "| the same: a writer's `record_events` of {} events every {}, before → during | p50 {} → {}, p99 {} → {}, max {} → {} | (context) |",
                self.writer_batch,
                human_time(self.writer_interval_ns),
                human_time(before.p50_ns),
                human_time(during.p50_ns),
                human_time(before.p99_ns),
                human_time(during.p99_ns),
                human_time(before.max_ns),
                human_time(during.max_ns),
            ),
            format!(
                "| the same: writer calls above {threshold}, before → during | {} of {} → {} of {} | none during |",
                before.over, before.calls, during.over, during.calls,
            ),
        ]
    }
}

/// Every purge and erasure the lifecycle bench wrote under `dir`: the purges first (the
/// erasure runs on the table a purge left), each kind by file name.
fn read_removals(dir: &Path) -> Vec<Removal> {
    let mut removals: Vec<Removal> = json_files(dir)
        .iter()
        .filter_map(Removal::from_json)
        .collect();
    removals.sort_by_key(|r| !r.id.starts_with("purge"));
    removals
}

/// What a ratio divides: throughputs (events/s, shown in %) or p50 times (shown as ×).
#[derive(Clone, Copy)]
enum By {
    Rate,
    Median,
}

/// The PostgreSQL backends: grafi 0.0.24's table layout, and grafi 0.0.36's (`…/postgres36/…`).
const POSTGRES_BACKENDS: [&str; 2] = ["postgres", "postgres36"];

/// The ratios the targets are stated in, each `(numerator, denominator, by, target)`. Each
/// PostgreSQL ratio comes for both table layouts, 0.0.36's row right after 0.0.24's.
fn comparisons() -> Vec<(String, String, By, &'static str)> {
    let mut rows = Vec::new();
    let postgres = [
        (
            "record_events/{}/1000",
            "copy_ceiling/{}/1000",
            By::Rate,
            "≥ 80 %",
        ),
        (
            "record_events/{}/10000",
            "copy_ceiling/{}/10000",
            By::Rate,
            "≥ 80 %",
        ),
        (
            "record_events_ledger_100k/{}/1000",
            "copy_ceiling/{}/1000",
            By::Rate,
            "≥ 80 %",
        ),
        (
            "record_events_ledger_100k/{}/10000",
            "copy_ceiling/{}/10000",
            By::Rate,
            "≥ 80 %",
        ),
        ("record_event/{}/1", "raw_insert/{}/1", By::Median, "≤ 1.3×"),
        (
            "get_event/{}/100000",
            "raw_get_event/{}/100000",
            By::Median,
            "≤ 1.3×",
        ),
        (
            "get_conversation_events/{}/100000",
            "raw_conversation/{}/100000",
            By::Rate,
            "≥ 50 %",
        ),
        (
            "get_conversation_events/{}/100000",
            "raw_conversation_client_sort/{}/100000",
            By::Rate,
            "(context)",
        ),
    ];
    for (of, to, by, target) in postgres {
        for backend in POSTGRES_BACKENDS {
            rows.push((
                of.replace("{}", backend),
                to.replace("{}", backend),
                by,
                target,
            ));
        }
    }
    // The same 1,000 events / 50 conversations at every store size (the target), then reads
    // scattered over the whole store (cache-cold; reported, no target).
    for (op, target) in [
        ("get_event", "≤ 1.5×"),
        ("get_conversation_events", "≤ 1.5×"),
        ("get_event_cold", "(context)"),
        ("get_conversation_events_cold", "(context)"),
    ] {
        rows.push((
            format!("{op}/memory/1000000"),
            format!("{op}/memory/10000"),
            By::Median,
            target,
        ));
    }
    rows
}

/// One table row per ratio whose two benchmarks were both run.
fn ratio_lines(results: &BTreeMap<String, Result>) -> Vec<String> {
    let rate = |id: &str| results.get(id).and_then(Result::per_second);
    let median = |id: &str| results.get(id).map(|r| r.median_ns);
    let mut lines = Vec::new();
    for (of, to, by, target) in comparisons() {
        let (label, shown) = match by {
            By::Rate => (
                format!("{of} ÷ {to} (rate)"),
                rate(&of)
                    .zip(rate(&to))
                    .map(|(a, b)| format!("{:.0} %", a / b * 100.0)),
            ),
            By::Median => (
                format!("{of} p50 ÷ {to} p50"),
                median(&of)
                    .zip(median(&to))
                    .map(|(a, b)| format!("{:.2}×", a / b)),
            ),
        };
        if let Some(shown) = shown {
            lines.push(format!("| {label} | {shown} | {target} |"));
        }
    }
    if let Some(r) = rate("record_events/memory/1000") {
        lines.push(format!(
            "| record_events/memory/1000 (events/s ÷ 2 M) | {:.0} % | ≥ 100 % |",
            r / 2e6 * 100.0
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(median_ns: f64, mean_ns: f64, elements: f64) -> Result {
        Result {
            median_ns,
            mean_ns,
            elements: Some(elements),
            bytes: None,
        }
    }

    #[test]
    fn ratios_divide_rates_and_medians_and_skip_what_did_not_run() {
        let results: BTreeMap<String, Result> = [
            // 1,000 events in 40 ms (mean) against 1,000 in 32 ms: 80 % of the ceiling.
            ("record_events/postgres/1000", result(41e6, 40e6, 1000.0)),
            ("copy_ceiling/postgres/1000", result(33e6, 32e6, 1000.0)),
            ("get_event/postgres/100000", result(150e3, 1e9, 1.0)),
            ("raw_get_event/postgres/100000", result(120e3, 1.0, 1.0)),
            ("record_events/memory/1000", result(1.0, 0.4e6, 1000.0)),
        ]
        .into_iter()
        .map(|(id, r)| (id.to_owned(), r))
        .collect();
        assert_eq!(
            ratio_lines(&results),
            [
                "| record_events/postgres/1000 ÷ copy_ceiling/postgres/1000 (rate) | 80 % | ≥ 80 % |",
                "| get_event/postgres/100000 p50 ÷ raw_get_event/postgres/100000 p50 | 1.25× | ≤ 1.3× |",
                "| record_events/memory/1000 (events/s ÷ 2 M) | 125 % | ≥ 100 % |",
            ]
        );
    }

    #[test]
    fn the_036_layout_s_ratios_follow_the_024_layout_s() {
        let results: BTreeMap<String, Result> = [
            ("record_events/postgres/1000", result(41e6, 40e6, 1000.0)),
            ("copy_ceiling/postgres/1000", result(33e6, 32e6, 1000.0)),
            ("record_events/postgres36/1000", result(41e6, 45e6, 1000.0)),
            ("copy_ceiling/postgres36/1000", result(33e6, 36e6, 1000.0)),
            ("record_event/postgres36/1", result(500e3, 1.0, 1.0)),
            ("raw_insert/postgres36/1", result(400e3, 1.0, 1.0)),
        ]
        .into_iter()
        .map(|(id, r)| (id.to_owned(), r))
        .collect();
        assert_eq!(
            ratio_lines(&results),
            [
                "| record_events/postgres/1000 ÷ copy_ceiling/postgres/1000 (rate) | 80 % | ≥ 80 % |",
                "| record_events/postgres36/1000 ÷ copy_ceiling/postgres36/1000 (rate) | 80 % | ≥ 80 % |",
                "| record_event/postgres36/1 p50 ÷ raw_insert/postgres36/1 p50 | 1.25× | ≤ 1.3× |",
            ]
        );
        let paired = serde_json::json!({
            "of": "get_event/postgres36/100000",
            "to": "raw_get_event/postgres36/100000",
            "calls_per_round": 10,
            "rounds_p50_ns": [[120e3, 100e3]],
        });
        assert!(Paired::from_json(&paired)
            .unwrap()
            .line()
            .ends_with("| 1.20× (1.20–1.20×) | ≤ 1.3× |"));
    }

    #[test]
    fn paired_rounds_read_as_the_median_round_and_the_range_with_the_target() {
        let json = serde_json::json!({
            "of": "get_event/postgres/100000",
            "to": "raw_get_event/postgres/100000",
            "calls_per_round": 1000,
            "rounds_p50_ns": [[120e3, 100e3], [130e3, 100e3], [110e3, 100e3], [150e3, 100e3]],
        });
        let paired = Paired::from_json(&json).unwrap();
        assert_eq!(
            paired.line(),
            "| get_event/postgres/100000 p50 ÷ raw_get_event/postgres/100000 p50, paired: 4 rounds of 1000 alternating calls | 1.25× (1.10–1.50×) | ≤ 1.3× |"
        );
        let unknown = serde_json::json!({"of": "a", "to": "b", "calls_per_round": 1, "rounds_p50_ns": [[1.0, 2.0]]});
        assert!(Paired::from_json(&unknown)
            .unwrap()
            .line()
            .ends_with("| 0.50× (0.50–0.50×) | (context) |"));
        let empty =
            serde_json::json!({"of": "a", "to": "b", "calls_per_round": 1, "rounds_p50_ns": []});
        assert_eq!(Paired::from_json(&empty), None);
    }

    fn latency_json(mode: &str, notify: bool, p50_ns: f64) -> Value {
        serde_json::json!({
            "id": format!("subscribe_latency/postgres/{mode}"),
            "notify": notify,
            "poll_interval_ns": 500e6,
            "rate_per_s": 1000,
            "achieved_per_s": 999.6,
            "events": 5000,
            "p50_ns": p50_ns,
            "p99_ns": 4.2e6,
            "max_ns": 31e6,
            "received_before_return": 0,
        })
    }

    #[test]
    fn subscriptions_show_latency_percentiles_then_catch_up_ratios_per_layout() {
        let results: BTreeMap<String, Result> = [
            // 100,000 events in 4 s against 2 s: half the raw read's rate.
            ("catch_up/postgres/100000", result(4e9, 4e9, 100_000.0)),
            ("raw_catch_up/postgres/100000", result(2e9, 2e9, 100_000.0)),
            ("catch_up/postgres36/100000", result(6e9, 6e9, 100_000.0)),
            (
                "raw_catch_up/postgres36/100000",
                result(4.5e9, 4.5e9, 100_000.0),
            ),
        ]
        .into_iter()
        .map(|(id, r)| (id.to_owned(), r))
        .collect();
        let subscriptions = [
            CatchUp::from_json(&serde_json::json!({
                "of": "catch_up/postgres36/100000",
                "to": "raw_catch_up/postgres36/100000",
                "events": 100000,
                "rounds_ns": [[6e9, 4.5e9], [5e9, 4e9], [6e9, 3e9]],
            }))
            .map(Subscription::CatchUp)
            .unwrap(),
            Latency::from_json(&latency_json("notify", true, 1.5e6))
                .map(Subscription::Latency)
                .unwrap(),
            Latency::from_json(&latency_json("poll", false, 251e6))
                .map(Subscription::Latency)
                .unwrap(),
        ];
        assert_eq!(
            subscription_lines(&results, &subscriptions),
            [
                "| `subscribe_latency/postgres/notify` (NOTIFY): commit → delivery, 5000 events at 1000/s | p50 1.50 ms, p99 4.20 ms, max 31.00 ms | (context) |",
                "| `subscribe_latency/postgres/poll` (polling only, every 500.00 ms): commit → delivery, 5000 events at 1000/s | p50 251.00 ms, p99 4.20 ms, max 31.00 ms | (context) |",
                "| catch_up/postgres/100000 ÷ raw_catch_up/postgres/100000 (rate) | 0.50× | ≥ 0.5× |",
                "| catch_up/postgres36/100000 ÷ raw_catch_up/postgres36/100000 (rate) | 0.75× | ≥ 0.5× |",
                "| catch_up/postgres36/100000 ÷ raw_catch_up/postgres36/100000 (rate), paired: 3 rounds of one read each, alternating | 0.75× (0.50–0.80×) | ≥ 0.5× |",
            ]
        );
        assert!(subscription_lines(&BTreeMap::new(), &[]).is_empty());
    }

    #[test]
    fn subscription_files_are_told_apart_by_content_and_bad_ones_skipped() {
        let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let catch_up = serde_json::json!({
            "of": "catch_up/postgres/100000",
            "to": "raw_catch_up/postgres/100000",
            "events": 100000,
            "rounds_ns": [[4e9, 2e9]],
        });
        let no_rounds = serde_json::json!({"of": "a", "to": "b", "rounds_ns": []});
        for (name, json) in [
            ("catch_up_postgres.json", catch_up.to_string()),
            (
                "latency_notify.json",
                latency_json("notify", true, 1e6).to_string(),
            ),
            ("latency_poll.json", "{\"id\": \"cut short".to_owned()),
            ("empty.json", no_rounds.to_string()),
            ("notes.txt", "not json".to_owned()),
        ] {
            std::fs::write(dir.join(name), json).unwrap();
        }
        let read = read_subscriptions(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read.len(), 2);
        assert!(matches!(&read[0], Subscription::CatchUp(c) if c.ratios == [0.5]));
        assert!(matches!(&read[1], Subscription::Latency(l) if l.notify && l.p50_ns == 1e6));
        assert!(read_subscriptions(&dir).is_empty());
    }

    fn removal_json(id: &str, removed: u64, during_max_ns: f64, during_over: u64) -> Value {
        serde_json::json!({
            "id": id,
            "table_events": 1000000,
            "removed": removed,
            "duration_ns": 50e9,
            "writer_batch": 10,
            "writer_interval_ns": 10e6,
            "threshold_ns": 200e6,
            "before": {"calls": 900, "p50_ns": 1.5e6, "p99_ns": 4e6, "max_ns": 9e6,
                       "over_threshold": 0, "writer_seen": {"IO:WALSync": 3}},
            "during": {"calls": 4800, "p50_ns": 2.5e6, "p99_ns": 30e6, "max_ns": during_max_ns,
                       "over_threshold": during_over, "writer_seen": {}},
            "longest_transaction_ns": 1.25e9,
            "transactions_seen": 500,
            "wal_bytes": 1000000000,
            "checkpoints": 1,
        })
    }

    #[test]
    fn lifecycle_runs_show_the_operation_then_the_writer_before_and_during_it_purges_first() {
        let purge = Removal::from_json(&removal_json(
            "purge_under_writes/postgres/1000000",
            500_000,
            250e6,
            2,
        ))
        .unwrap();
        assert_eq!(
            purge.lines(),
            [
                "| `purge_under_writes/postgres/1000000`: 500000 of 1000000 events removed | 50.00 s (10.0 k/s); longest transaction seen ≥ 1.25 s | (context) |",
                "| the same: a writer's `record_events` of 10 events every 10.00 ms, before → during | p50 1.50 ms → 2.50 ms, p99 4.00 ms → 30.00 ms, max 9.00 ms → 250.00 ms | (context) |",
                "| the same: writer calls above 200.00 ms, before → during | 0 of 900 → 2 of 4800 | none during |",
            ]
        );

        let dir = std::env::temp_dir().join(format!("bench-report-lc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut unmeasured = removal_json("erase_user/postgres/1000000", 5_000, 40e6, 0);
        unmeasured["longest_transaction_ns"] = Value::Null;
        let mut cut_short = removal_json("erase_user/postgres/1000000", 5_000, 40e6, 0);
        cut_short["during"] = serde_json::json!({"calls": 10});
        for (name, json) in [
            ("erase_user.json", unmeasured.to_string()),
            (
                "purge_under_writes.json",
                removal_json("purge_under_writes/postgres/1000000", 500_000, 250e6, 2).to_string(),
            ),
            ("older.json", cut_short.to_string()),
        ] {
            std::fs::write(dir.join(name), json).unwrap();
        }
        let read = read_removals(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], purge);
        assert_eq!(read[1].longest_transaction_ns, None);
        assert!(read[1].lines()[0].ends_with("| 50.00 s (100 /s) | (context) |"));
        assert!(read_removals(&dir).is_empty());
    }
}
