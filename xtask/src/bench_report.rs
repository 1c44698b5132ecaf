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
    let rate = |id: &str| results.get(id).and_then(Result::per_second);
    let median = |id: &str| results.get(id).map(|r| r.median_ns);
    let ratio = |label: &str, value: Option<f64>, target: &str, percent: bool| {
        if let Some(v) = value {
            let shown = if percent {
                format!("{:.0} %", v * 100.0)
            } else {
                format!("{v:.2}×")
            };
            println!("| {label} | {shown} | {target} |");
        }
    };
    for size in [1_000, 10_000] {
        ratio(
            &format!("record_events/postgres/{size} ÷ copy_ceiling/postgres/{size}"),
            rate(&format!("record_events/postgres/{size}"))
                .zip(rate(&format!("copy_ceiling/postgres/{size}")))
                .map(|(a, b)| a / b),
            "≥ 80 %",
            true,
        );
    }
    ratio(
        "record_event/postgres/1 p50 ÷ raw_insert/postgres/1 p50",
        median("record_event/postgres/1")
            .zip(median("raw_insert/postgres/1"))
            .map(|(a, b)| a / b),
        "≤ 1.3×",
        false,
    );
    ratio(
        "get_event/postgres/100000 p50 ÷ raw_get_event/postgres/100000 p50",
        median("get_event/postgres/100000")
            .zip(median("raw_get_event/postgres/100000"))
            .map(|(a, b)| a / b),
        "≤ 1.3×",
        false,
    );
    ratio(
        "get_conversation_events/postgres/100000 ÷ raw_conversation/postgres/100000 (rate)",
        rate("get_conversation_events/postgres/100000")
            .zip(rate("raw_conversation/postgres/100000"))
            .map(|(a, b)| a / b),
        "≥ 50 %",
        true,
    );
    ratio(
        "get_conversation_events/postgres/100000 ÷ raw_conversation_client_sort/postgres/100000 (rate)",
        rate("get_conversation_events/postgres/100000")
            .zip(rate("raw_conversation_client_sort/postgres/100000"))
            .map(|(a, b)| a / b),
        "(context)",
        true,
    );
    // The same 1,000 events / 50 conversations at every store size (the target), then reads
    // scattered over the whole store (cache-cold; reported, no target).
    for (op, target) in [
        ("get_event", "≤ 1.5×"),
        ("get_conversation_events", "≤ 1.5×"),
        ("get_event_cold", "(context)"),
        ("get_conversation_events_cold", "(context)"),
    ] {
        ratio(
            &format!("{op}/memory/1000000 p50 ÷ {op}/memory/10000 p50"),
            median(&format!("{op}/memory/1000000"))
                .zip(median(&format!("{op}/memory/10000")))
                .map(|(a, b)| a / b),
            target,
            false,
        );
    }
    ratio(
        "record_events/memory/1000 (events/s ÷ 2 M)",
        rate("record_events/memory/1000").map(|r| r / 2e6),
        "≥ 100 %",
        true,
    );
    Ok(())
}
