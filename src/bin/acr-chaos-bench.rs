//! `make bench`: measures what the issues set targets for and writes the figures to
//! `reports/bench.json` (one object per section, each figure with its target when it has
//! one). Speed targets live here, never in timed tests.
//!
//! Usage: `acr-chaos-bench [--out FILE] [--only SECTION]...`; the sections and their
//! figures are described in docs/bench.md.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    let mut out = PathBuf::from("reports/bench.json");
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--only" => only.extend(args.next()),
            "-h" | "--help" => {
                println!(
                    "acr-chaos-bench [--out FILE] [--only classify|lab|kube|engine|overhead|validate|diff]..."
                );
                return std::process::ExitCode::SUCCESS;
            }
            other => {
                eprintln!("acr-chaos-bench: unknown argument {other:?} (try --help)");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let want = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");

    let mut sections = serde_json::Map::new();
    if want("classify") {
        sections.insert("classify".into(), bench_classify());
    }
    if want("lab") {
        sections.insert("lab".into(), rt.block_on(bench_lab()));
    }
    if want("kube") {
        sections.insert("kube".into(), rt.block_on(bench_kube()));
    }
    if want("engine") {
        sections.insert("engine".into(), rt.block_on(bench_engine()));
    }
    if want("overhead") {
        sections.insert(
            "overhead".into(),
            with_product(|exe, dir| {
                acr_chaos::engine::bench::overhead::bench(exe, dir, OVERHEAD_REPETITIONS)
            }),
        );
    }
    if want("validate") {
        sections.insert(
            "validate".into(),
            with_product(|exe, dir| {
                acr_chaos::engine::bench::overhead::bench_validate(exe, dir, VALIDATE_REPETITIONS)
            }),
        );
    }
    if want("diff") {
        let dir = tempdir().join("diff");
        sections.insert("diff".into(), acr_chaos::diff::bench::bench(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }

    write_figures(&out, sections)
}

/// Merge `sections` into `out` (so that `--only` refreshes one section) and print them.
fn write_figures(out: &Path, sections: serde_json::Map<String, Value>) -> std::process::ExitCode {
    let mut doc = std::fs::read_to_string(out)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let obj = doc.as_object_mut().expect("object");
    obj.insert("schemaVersion".into(), json!("acr-chaos.bench/v1"));
    obj.insert("measuredAt".into(), json!(chrono::Utc::now().to_rfc3339()));
    obj.insert("machine".into(), machine());
    for (k, v) in sections {
        println!("{k}: {}", serde_json::to_string_pretty(&v).unwrap_or_default());
        obj.insert(k, v);
    }
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n") {
        Ok(()) => {
            println!("wrote {}", out.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("acr-chaos-bench: cannot write {}: {e}", out.display());
            std::process::ExitCode::from(2)
        }
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
    });
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu": cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Classifier throughput: 10,000 messages (target: well under 1 s).
fn bench_classify() -> Value {
    let corpus = acr_chaos::classify::bench_corpus();
    let messages: Vec<&str> = corpus.iter().map(String::as_str).cycle().take(10_000).collect();
    // Warm up (regex compilation happens once, on first use).
    let mut causes = 0usize;
    for m in messages.iter().take(100) {
        causes += acr_chaos::classify::classify(m).len();
    }
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for m in &messages {
            causes += std::hint::black_box(acr_chaos::classify::classify(m)).len();
        }
        best = best.min(t.elapsed());
    }
    json!({
        "messages": messages.len(),
        "distinctMessages": corpus.len(),
        "bestOf5Ms": ms(best),
        "messagesPerSecond": (messages.len() as f64 / best.as_secs_f64()).round(),
        "target": "10,000 messages well under 1 s",
        "met": best < Duration::from_millis(500),
        "causesFound": causes,
    })
}

/// Lab start-up to ready (target < 2 s) and ACR token grants per second (target ≥ 2,000).
async fn bench_lab() -> Value {
    let dir = tempdir();
    let mut startups = Vec::new();
    let mut error = None;
    for i in 0..3 {
        let t = Instant::now();
        match acr_chaos_lab::Lab::builder().state_dir(dir.join(format!("lab{i}"))).start().await {
            Ok(lab) => {
                startups.push(ms(t.elapsed()));
                lab.stop().await;
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let grants = acr_chaos_lab::bench::acr_token_grants(20_000).await;
    let best = startups.iter().copied().fold(f64::INFINITY, f64::min);
    json!({
        "startupMs": startups,
        "startupBestMs": if best.is_finite() { json!(best) } else { Value::Null },
        "startupTarget": "< 2000 ms to ready",
        "startupMet": best.is_finite() && best < 2000.0,
        "startupError": error,
        "tokenGrantsPerSecond": grants.round(),
        "tokenGrantsTarget": ">= 2000/s",
        "tokenGrantsMet": grants >= 2000.0,
    })
}

async fn bench_kube() -> Value {
    // Watch latency p50/p99, get/list requests per second and memory with 1,000 pods
    // (issue 4, "Done when"): figures from the lab's API emulator over HTTPS.
    match acr_chaos_lab::bench::kube_api(1000).await {
        Ok(v) => v["kube_api"].clone(),
        Err(e) => json!({"error": e.to_string()}),
    }
}

async fn bench_engine() -> Value {
    // the built-in suite through the real `acr-chaos` binary next to this one
    tokio::task::spawn_blocking(|| with_product(acr_chaos::engine::bench::bench))
        .await
        .unwrap_or_else(|e| json!({"error": e.to_string()}))
}

/// Runs of one scenario against an already running lab (median and p90 of these).
const OVERHEAD_REPETITIONS: usize = 15;
/// Runs of `acr-chaos validate scenarios` (and of `--version`).
const VALIDATE_REPETITIONS: usize = 30;

/// `f` with the `acr-chaos` binary built next to this one and the built-in scenarios.
fn with_product(f: impl FnOnce(&Path, &Path) -> Value) -> Value {
    let exe = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("acr-chaos")));
    let scenarios = std::fs::canonicalize("scenarios").unwrap_or_else(|_| "scenarios".into());
    match exe {
        Some(exe) if exe.is_file() => f(&exe, &scenarios),
        _ => json!({"error": "the acr-chaos binary is not built next to acr-chaos-bench"}),
    }
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("acr-chaos-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}
