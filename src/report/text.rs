//! Small text helpers shared by the reporters: one-line event descriptions, durations,
//! verdict words and emoji.

use crate::events::{EventKind, Observation, Stage, Verdict};
use std::time::Duration;

/// A duration for people: `850 ms`, `12.3 s`, `4m 05s`, `1h 02m`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let s = d.as_secs();
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// `fmt_duration`, or `-` when absent.
pub fn fmt_opt_duration(d: Option<Duration>) -> String {
    d.map(fmt_duration).unwrap_or_else(|| "-".to_owned())
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

pub fn verdict_emoji(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "✅",
        Verdict::Failed => "❌",
        Verdict::Error => "⚠️",
        Verdict::Skipped => "⏭️",
    }
}

pub fn stage_word(s: Stage) -> &'static str {
    match s {
        Stage::Preflight => "preflight",
        Stage::Inject => "inject",
        Stage::Observe => "observe",
        Stage::Assert => "assert",
        Stage::Restore => "restore",
        Stage::Recover => "recover",
        Stage::Cleanup => "cleanup",
    }
}

/// `a, b` or `none`.
pub fn join_or_none<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() { "none".to_owned() } else { crate::classify::join(items, ", ") }
}

/// One observation on one line: `ImagePullBackOff [unauthorized-anonymous]: <message>`.
pub fn describe_observation(o: &Observation) -> String {
    let mut s = match &o.waiting_reason {
        Some(r) => r.clone(),
        None if o.running => "running: the image was pulled".to_owned(),
        None => "no waiting reason".to_owned(),
    };
    if !o.causes.is_empty() {
        s.push_str(&format!(" [{}]", crate::classify::join(&o.causes, ", ")));
    }
    if let Some(m) = &o.message {
        s.push_str(": ");
        s.push_str(m);
    }
    s
}

/// One line describing an event (timeline, progress, system-out). Not redacted: callers
/// pass events that already went through the model's redaction, or redact the result.
pub fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::RunStarted { run_id, target, scenarios, dry_run } => format!(
            "run {run_id} started against {target} ({} scenario{}{})",
            scenarios.len(),
            if scenarios.len() == 1 { "" } else { "s" },
            if *dry_run { ", dry run" } else { "" }
        ),
        EventKind::ScenarioStarted { fault, description, .. } => {
            format!("started (fault {fault}): {description}")
        }
        EventKind::PreflightPassed { baseline_pull } => {
            format!("preflight passed (baseline pull {})", fmt_duration(*baseline_pull))
        }
        EventKind::Journaled { change } => format!("journaled: {change}"),
        EventKind::FaultInjected { description } => format!("fault injected: {description}"),
        EventKind::ProbeCreated { pod, namespace, image } => {
            format!("probe created: {namespace}/{pod} ({image})")
        }
        EventKind::ProbeObserved { observation } => {
            format!("probe {}: {}", observation.pod, describe_observation(observation))
        }
        EventKind::FaultEffective { time_to_effect, observation } => format!(
            "fault effective after {}: {}",
            fmt_duration(*time_to_effect),
            describe_observation(observation)
        ),
        EventKind::Asserted { passed: true, .. } => "assertion passed".to_owned(),
        EventKind::Asserted { passed: false, failures, .. } => {
            format!("assertion failed: {}", failures.join("; "))
        }
        EventKind::AlertChecked { name, passed: true, evidence, .. } => {
            format!("alert {name} passed: {evidence}")
        }
        EventKind::AlertChecked { name, passed: false, failure, evidence } => {
            format!("alert {name} failed: {}", failure.clone().unwrap_or_else(|| evidence.clone()))
        }
        EventKind::RestoreFinished { undos } => {
            let ok = undos.iter().filter(|u| u.ok).count();
            let mut s = format!("restore finished: {ok}/{} undos ok", undos.len());
            for u in undos.iter().filter(|u| !u.ok) {
                s.push_str(&format!(
                    "; FAILED {} ({})",
                    u.description,
                    u.error.as_deref().unwrap_or("no error text")
                ));
            }
            s
        }
        EventKind::RecoveryFinished { ok: true, time_to_recover, .. } => {
            format!("recovered: a fresh probe pulled after {}", fmt_opt_duration(*time_to_recover))
        }
        EventKind::RecoveryFinished { ok: false, error, .. } => {
            format!("recovery failed: {}", error.as_deref().unwrap_or("no error text"))
        }
        EventKind::ScenarioError { stage, error } => {
            format!("error in {}: {error}", stage_word(*stage))
        }
        EventKind::ScenarioFinished { verdict } => format!("finished: {}", verdict_word(*verdict)),
        EventKind::EnvironmentObserved { environment } => describe_environment(environment),
        EventKind::Note { message } => message.clone(),
        EventKind::RunRefused { reason } => format!("run refused: {reason}"),
        EventKind::RunInterrupted { signal } => {
            format!("run interrupted by {signal}: restoring changes")
        }
        EventKind::UndoPending { change } => {
            format!("not known to be undone: {change} (run `acr-chaos recover`)")
        }
        EventKind::UndoReplayed { run, change } => {
            format!("restored for earlier run {run}: {change} (replayed and checked)")
        }
        EventKind::RunFinished { exit_code } => format!("run finished: exit code {exit_code}"),
    }
}

/// `environment: Kubernetes v1.33.2; kubelet v1.33.2; containerd://1.6.20 (2 nodes)...`.
fn describe_environment(env: &crate::environment::Environment) -> String {
    let mut parts = Vec::new();
    if let Some(k) = &env.kubernetes {
        parts.push(format!("Kubernetes {}", k.server_version));
    }
    let mut distinct = |f: fn(&crate::environment::NodeFacts) -> &str| {
        let mut v: Vec<&str> = env.nodes.iter().map(f).filter(|s| !s.is_empty()).collect();
        v.sort_unstable();
        v.dedup();
        if !v.is_empty() {
            parts.push(v.join(" / "));
        }
    };
    distinct(|n| n.kubelet_version.as_str());
    distinct(|n| n.container_runtime_version.as_str());
    distinct(|n| n.node_image.as_deref().unwrap_or(""));
    parts.push(format!("{} node{}", env.nodes.len(), if env.nodes.len() == 1 { "" } else { "s" }));
    if let Some(sku) = env.registry.as_ref().and_then(|r| r.sku.as_deref()) {
        parts.push(format!("registry {sku}"));
    }
    let mut s = format!("environment: {}", parts.join("; "));
    if !env.unavailable.is_empty() {
        s.push_str(&format!(" (unavailable: {})", env.unavailable.join("; ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(fmt_duration(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(fmt_duration(Duration::from_secs(245)), "4m 05s");
        assert_eq!(fmt_duration(Duration::from_secs(3720)), "1h 02m");
    }
}
