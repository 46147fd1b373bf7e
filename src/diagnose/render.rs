//! Printing a [`Diagnosis`]: text for people, JSON (the documented object) for tools.

use super::{Diagnosis, Status};
use std::fmt::Write as _;

/// The text form.
pub fn text(d: &Diagnosis) -> String {
    let mut s = String::new();
    let _ =
        writeln!(s, "Pod {}/{} (container {}), image {}", d.namespace, d.pod, d.container, d.image);
    match (&d.waiting_reason, &d.message) {
        (Some(r), Some(m)) => {
            let _ = writeln!(s, "Waiting: {r}: {m}");
        }
        (Some(r), None) => {
            let _ = writeln!(s, "Waiting: {r}");
        }
        _ => {
            let _ = writeln!(s, "The container is not waiting on an image pull.");
        }
    }
    let failed: Vec<_> = d.checks.iter().filter(|c| c.status == Status::Fail).collect();
    if !failed.is_empty() {
        s.push_str("\nDiagnosis:\n");
        for c in &failed {
            let _ = writeln!(s, "  * {} ({})", c.summary, c.name);
        }
    }
    s.push_str("\nCauses (from the pod's status and events):\n");
    if d.causes.is_empty() {
        s.push_str("  none recognised in the messages\n");
    }
    for c in &d.causes {
        let _ = writeln!(s, "  - {}: {}", c.id, c.explanation);
    }
    s.push_str("\nChecks (on the target):\n");
    for c in &d.checks {
        let _ = writeln!(s, "  [{}] {}: {}", c.status.label(), c.name, c.summary);
        if c.status != Status::Skipped || !c.evidence.is_empty() {
            for e in &c.evidence {
                let _ = writeln!(s, "         {e}");
            }
        }
    }
    s.push_str("\nFix:\n");
    if d.fixes.is_empty() {
        match d.causes.first() {
            Some(c) => {
                let _ = writeln!(s, "  {}", c.remediation);
            }
            None => s.push_str("  no check failed and no cause was recognised\n"),
        }
    }
    for (i, f) in d.fixes.iter().enumerate() {
        let _ = writeln!(s, "  {}. {} [{}]", i + 1, f.reason, f.for_);
        let _ = writeln!(s, "     $ {}", f.command);
    }
    s
}

/// The JSON form (pretty-printed).
pub fn json(d: &Diagnosis) -> String {
    serde_json::to_string_pretty(d).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
