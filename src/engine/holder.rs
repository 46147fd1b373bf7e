//! Who holds the run lease, and whether that process still lives.
//!
//! A lease whose holder stopped renewing is stale after its duration. That alone would
//! make `recover` right after a killed run wait a minute; but when the holder ran on this
//! very machine (same kernel boot) we can ask the kernel: a holder whose process is gone,
//! or whose pid now belongs to another process (start time differs), is dead at once.
//! A holder on another machine is only ever judged by the lease's own clock.

use std::collections::BTreeMap;

const ANN_HOST: &str = "acr-chaos/holder-host";
const ANN_BOOT: &str = "acr-chaos/holder-boot-id";
const ANN_PID: &str = "acr-chaos/holder-pid";
const ANN_START: &str = "acr-chaos/holder-start";
const ANN_KIND: &str = "acr-chaos/holder-kind";

/// The process behind a lease holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderProcess {
    pub host: String,
    /// The kernel's boot id: the same value means the same machine and the same boot.
    pub boot_id: String,
    pub pid: u32,
    /// Start time of the process in clock ticks since boot (`/proc/<pid>/stat` field 22),
    /// so that a recycled pid is not mistaken for the holder.
    pub start: u64,
    /// `run` or `recover`.
    pub kind: String,
}

impl HolderProcess {
    pub fn this_process(kind: &str) -> Self {
        let pid = std::process::id();
        Self {
            host: hostname(),
            boot_id: boot_id().unwrap_or_default(),
            pid,
            start: process_start(pid).unwrap_or(0),
            kind: kind.to_string(),
        }
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ANN_HOST.to_string(), self.host.clone()),
            (ANN_BOOT.to_string(), self.boot_id.clone()),
            (ANN_PID.to_string(), self.pid.to_string()),
            (ANN_START.to_string(), self.start.to_string()),
            (ANN_KIND.to_string(), self.kind.clone()),
        ])
    }

    pub fn from_annotations(a: &BTreeMap<String, String>) -> Option<Self> {
        Some(Self {
            host: a.get(ANN_HOST)?.clone(),
            boot_id: a.get(ANN_BOOT)?.clone(),
            pid: a.get(ANN_PID)?.parse().ok()?,
            start: a.get(ANN_START)?.parse().ok()?,
            kind: a.get(ANN_KIND).cloned().unwrap_or_default(),
        })
    }

    /// `Some(reason)` when the holder ran on this machine and its process is gone.
    /// `None` when it lives, or when this machine cannot tell (another host).
    pub fn dead_here(&self) -> Option<String> {
        let ours = boot_id()?;
        if self.boot_id.is_empty() || self.boot_id != ours {
            return None;
        }
        match process_start(self.pid) {
            Some(start) if start == self.start => None,
            Some(_) => Some(format!(
                "its process {} on {} has exited (the pid now belongs to another process)",
                self.pid, self.host
            )),
            None => Some(format!("its process {} on {} has exited", self.pid, self.host)),
        }
    }
}

/// The machine's host name (for the reader of a lease or journal).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Field 22 of `/proc/<pid>/stat` (the comm field may hold spaces and parentheses, so
/// count from the last `)`).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // after the comm: state is field 3, starttime field 22 → index 19 here
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_round_trips() {
        let me = HolderProcess::this_process("run");
        assert!(me.start > 0, "start time read from /proc");
        assert_eq!(HolderProcess::from_annotations(&me.annotations()), Some(me.clone()));
        assert_eq!(me.dead_here(), None);
    }

    #[test]
    fn an_exited_process_is_dead_here() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = process_start(pid);
        child.wait().unwrap();
        let h =
            HolderProcess { pid, start: start.unwrap_or(1), ..HolderProcess::this_process("run") };
        assert!(h.dead_here().is_some());
    }

    #[test]
    fn a_recycled_pid_is_dead_here() {
        let me = HolderProcess::this_process("run");
        let h = HolderProcess { start: me.start + 1, ..me };
        assert!(h.dead_here().unwrap().contains("another process"));
    }

    #[test]
    fn another_machine_cannot_be_judged() {
        let h = HolderProcess {
            boot_id: "other-boot".into(),
            pid: 1,
            ..HolderProcess::this_process("run")
        };
        assert_eq!(h.dead_here(), None);
    }
}
