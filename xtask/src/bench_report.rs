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
    if results.is_empty() {
        return Err(format!(
            "no criterion results under {} (run `cargo bench` first)",
            root.display()
        ));
    }
    println!("| benchmark | median | events/s (mean) | MB/s |");
    println!("|---|---:|---:|---:|");
    for (id, r) in &results {
        let rate = r.per_second().map(human_rate).unwrap_or_default();
        let mbs = r
            .bytes
            .map(|b| format!("{:.0}", b / (r.mean_ns / 1e9) / 1e6))
            .unwrap_or_default();
        println!("| `{id}` | {} | {rate} | {mbs} |", human_time(r.median_ns));
    }

    println!();
    println!("| ratio (same run) | value | target |");
    println!("|---|---:|---|");
    for line in ratio_lines(&results) {
        println!("{line}");
    }
    for paired in read_paired(&root.join("paired")) {
        println!("{}", paired.line());
    }
    Ok(())
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
        let mid = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
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

/// Every paired measurement under `dir`, by file name.
fn read_paired(dir: &Path) -> Vec<Paired> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| Paired::from_json(&read_json(path)?))
        .collect()
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
}
