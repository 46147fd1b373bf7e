//! Engine figures for `make bench` (`acr-chaos-bench --only engine`): the built-in suite's
//! fast scenarios on the embedded lab, serial and `--parallel 3`, through the real binary.
//! Per scenario: engine overhead (wall time minus baseline pull, time-to-effect and
//! time-to-recover, i.e. minus what the kubelet spent pulling and backing off), the time
//! from the last probe observation to the verdict, ARM requests; peak RSS of the process
//! (the embedded lab runs in it too). The fixed overhead of one run against a lab that is
//! already up (`--only overhead`) is in [`overhead`].

#[cfg(feature = "lab")]
pub mod overhead;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Scenarios whose timing is dominated by the engine (no multi-second propagation).
pub const FAST: [&str; 5] = [
    "image-tag-missing",
    "private-registry-no-secret",
    "pull-secret-missing",
    "registry-firewall-deny",
    "registry-public-access-disabled",
];

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// `acr-chaos run` of the [`FAST`] scenarios on the embedded lab, in `dir`.
fn suite_command(
    exe: &Path,
    scenarios_dir: &Path,
    dir: &Path,
    parallel: usize,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    cmd.current_dir(dir).arg("run");
    for s in FAST {
        cmd.arg(scenarios_dir.join(format!("{s}.yaml")));
    }
    cmd.args(["--quiet", "--report-dir", "reports", "--parallel", &parallel.to_string()])
        .env("ACR_CHAOS_LAB_TIME_SCALE", "0.05")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Wait for `child`, sampling its peak RSS (KiB) every 10 ms.
fn wait_sampling_rss(child: &mut Child) -> std::io::Result<(ExitStatus, u64)> {
    let pid = child.id();
    let mut peak = 0u64;
    loop {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(s) = child.try_wait()? {
            return Ok((s, peak));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `report.json` of the one run folder under `reports`.
fn read_report(reports: &Path) -> Value {
    std::fs::read_dir(reports)
        .ok()
        .and_then(|mut rd| rd.next())
        .and_then(|e| e.ok())
        .and_then(|e| std::fs::read_to_string(e.path().join("report.json")).ok())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .unwrap_or(Value::Null)
}

/// Per scenario: wall time, and wall time minus what the kubelet spent.
fn per_scenario(report: &Value) -> Vec<Value> {
    let mut per = Vec::new();
    for s in report["scenarios"].as_array().into_iter().flatten() {
        let d = s["duration"].as_f64().unwrap_or(0.0);
        let waited = [&s["baselinePull"], &s["timeToEffect"], &s["timeToRecover"]]
            .iter()
            .filter_map(|v| v.as_f64())
            .sum::<f64>();
        per.push(json!({
            "name": s["name"],
            "verdict": s["verdict"],
            "wall_ms": (d * 1000.0).round(),
            "engine_overhead_ms": ((d - waited).max(0.0) * 1000.0).round(),
        }));
    }
    per
}

/// Last probe observation -> verdict, per scenario, from the event stream (ms).
fn observation_to_verdict(report: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    let mut last_obs: Option<chrono::DateTime<chrono::Utc>> = None;
    for e in report["events"].as_array().into_iter().flatten() {
        let at = e["at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        match e["event"].as_str() {
            Some("probe-observed") => last_obs = at,
            Some("asserted") => {
                if let (Some(o), Some(a)) = (last_obs, at) {
                    out.push((a - o).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                }
            }
            _ => {}
        }
    }
    out
}

fn arm_requests(report: &Value) -> Option<u64> {
    report["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|e| e["message"].as_str()?.strip_prefix("ARM requests: ")?.parse().ok())
}

fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acr-chaos-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Run the suite once; figures as JSON.
pub fn measure(exe: &Path, scenarios_dir: &Path, parallel: usize) -> Value {
    let dir = scratch_dir(&format!("engine-{parallel}"));
    let t0 = Instant::now();
    let mut child = match suite_command(exe, scenarios_dir, &dir, parallel).spawn() {
        Ok(c) => c,
        Err(e) => return json!({ "error": format!("{}: {e}", exe.display()) }),
    };
    let (status, peak) = match wait_sampling_rss(&mut child) {
        Ok(r) => r,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let wall = t0.elapsed();
    let report = read_report(&dir.join("reports"));
    let per = per_scenario(&report);
    let n = per.len().max(1) as f64;
    let _ = std::fs::remove_dir_all(&dir);
    json!({
        "parallel": parallel,
        "exit_code": status.code(),
        "wall_s": wall.as_secs_f64(),
        "mean_engine_overhead_ms": per.iter().filter_map(|p| p["engine_overhead_ms"].as_f64()).sum::<f64>() / n,
        "scenarios": per,
        "observation_to_verdict_ms": observation_to_verdict(&report),
        "arm_requests_per_scenario": arm_requests(&report).map(|r| r as f64 / n),
        "peak_rss_mib": peak as f64 / 1024.0,
        "note": "engine overhead = scenario wall time - baseline pull - time-to-effect - time-to-recover; RSS includes the embedded lab (same process)",
    })
}

/// Both runs; `exe` is the `acr-chaos` binary.
pub fn bench(exe: &Path, scenarios_dir: &Path) -> Value {
    let scenarios_dir =
        &std::fs::canonicalize(scenarios_dir).unwrap_or_else(|_| scenarios_dir.to_path_buf());
    json!({
        "serial": measure(exe, scenarios_dir, 1),
        "parallel_3": measure(exe, scenarios_dir, 3),
        "targets": { "engine_overhead_ms": 100, "observation_to_verdict_ms": 100, "peak_rss_mib": 64 },
    })
}
