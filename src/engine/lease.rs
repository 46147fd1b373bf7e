//! One run per cluster: a coordination.k8s.io/v1 Lease `acr-chaos` in the journal
//! namespace, held by a run (holder = its run id) or by `recover` (holder `recover-…`).
//!
//! A lease is live while it is renewed within its duration and, when its holder ran on
//! this machine, while the holder's process exists ([`super::holder`]). A stale lease is
//! taken over atomically (a replace pinned to the resourceVersion we read: a racing
//! taker gets 409 and sees the lease held). Whoever holds the lease is alone on the
//! cluster, so every other unfinished journal of this cluster belongs to a dead process
//! and may be replayed; that is the caller's job right after [`acquire`].

use super::holder::HolderProcess;
use crate::clients::ClientError;
use crate::clients::kube::{Kube, k8s_now};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use std::time::Duration;

pub const LEASE_NAME: &str = "acr-chaos";
pub const LEASE_SECONDS: i32 = 60;

/// The outcome of [`acquire`].
#[derive(Debug, PartialEq, Eq)]
pub enum Acquire {
    /// We hold it now; `took_over` names the stale holder we replaced and why it was stale.
    Acquired { took_over: Option<(String, String)> },
    /// Another live process holds it.
    Held { holder: String, detail: String },
}

/// Whether a lease is live, and why (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    Free,
    Live { holder: String, detail: String },
    Stale { holder: String, why: String },
}

pub fn liveness(l: &Lease) -> Liveness {
    let Some(spec) = &l.spec else { return Liveness::Free };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder.is_empty() {
        return Liveness::Free;
    }
    let process = l.metadata.annotations.as_ref().and_then(HolderProcess::from_annotations);
    if let Some(why) = process.as_ref().and_then(HolderProcess::dead_here) {
        return Liveness::Stale { holder, why };
    }
    let dur = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    let Some(MicroTime(t)) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return Liveness::Stale { holder, why: "it was never renewed".into() };
    };
    let age = k8s_now().as_second() - t.as_second();
    let place = process.map(|p| format!(" by {} process {} on {}", p.kind, p.pid, p.host));
    if age > dur {
        Liveness::Stale {
            holder,
            why: format!("not renewed for {age}s (duration {dur}s){}", place.unwrap_or_default()),
        }
    } else {
        Liveness::Live {
            holder,
            detail: format!("renewed {age}s ago (duration {dur}s){}", place.unwrap_or_default()),
        }
    }
}

/// Take the lease for `holder` if it is free or stale.
pub async fn acquire(
    kube: &Kube,
    ns: &str,
    holder: &str,
    me: &HolderProcess,
) -> Result<Acquire, ClientError> {
    // a few rounds: a create or takeover that loses a race re-reads the lease
    for _ in 0..3 {
        let Some(l) = kube.get_lease(ns, LEASE_NAME).await? else {
            match kube.create_lease(ns, LEASE_NAME, holder, LEASE_SECONDS, me.annotations()).await {
                Ok(_) => return Ok(Acquire::Acquired { took_over: None }),
                Err(e) if e.status() == Some(409) => continue,
                Err(e) => return Err(e),
            }
        };
        let took_over = match liveness(&l) {
            Liveness::Live { holder: h, .. } if h == holder => {
                return Ok(Acquire::Acquired { took_over: None });
            }
            Liveness::Live { holder, detail } => return Ok(Acquire::Held { holder, detail }),
            Liveness::Free => None,
            Liveness::Stale { holder, why } => Some((holder, why)),
        };
        match take_over(kube, ns, holder, me, l).await {
            Ok(()) => return Ok(Acquire::Acquired { took_over }),
            Err(e) if e.status() == Some(409) => continue,
            Err(e) => return Err(e),
        }
    }
    let detail = "the lease changed hands while we tried to take it".to_string();
    let holder = kube
        .get_lease(ns, LEASE_NAME)
        .await?
        .and_then(|l| l.spec.and_then(|s| s.holder_identity))
        .unwrap_or_default();
    Ok(Acquire::Held { holder, detail })
}

/// Replace the lease we read with ours; the resourceVersion we read pins the replace, so
/// a racing taker gets 409.
async fn take_over(
    kube: &Kube,
    ns: &str,
    holder: &str,
    me: &HolderProcess,
    mut l: Lease,
) -> Result<(), ClientError> {
    let now = MicroTime(k8s_now());
    l.metadata.annotations.get_or_insert_default().extend(me.annotations());
    let spec = l.spec.get_or_insert_default();
    spec.holder_identity = Some(holder.to_string());
    spec.lease_duration_seconds = Some(LEASE_SECONDS);
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    kube.replace_lease(ns, &l).await.map(|_| ())
}

/// Whether `holder` holds the lease right now.
pub async fn held_by(kube: &Kube, ns: &str, holder: &str) -> Result<bool, ClientError> {
    let l = kube.get_lease(ns, LEASE_NAME).await?;
    Ok(l.and_then(|l| l.spec).and_then(|s| s.holder_identity).as_deref() == Some(holder))
}

/// Renew our lease; `Ok(false)` when it is no longer ours.
pub async fn renew(kube: &Kube, ns: &str, holder: &str) -> Result<bool, ClientError> {
    let Some(mut l) = kube.get_lease(ns, LEASE_NAME).await? else {
        return Ok(false);
    };
    let spec = l.spec.get_or_insert_default();
    if spec.holder_identity.as_deref() != Some(holder) {
        return Ok(false);
    }
    spec.renew_time = Some(MicroTime(k8s_now()));
    match kube.replace_lease(ns, &l).await {
        Ok(_) => Ok(true),
        // someone replaced it between our read and write: read again next round
        Err(e) if e.status() == Some(409) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Renew every third of the lease duration. When the lease is lost (taken by another
/// process) or cannot be renewed for longer than its duration (another process may then
/// take it), `lost` is told once, and the renewer stops: the holder must stop changing
/// the cluster.
pub fn spawn_renewer(
    kube: Kube,
    ns: String,
    holder: String,
    lost: impl FnOnce(String) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs((LEASE_SECONDS / 3) as u64);
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(every).await;
            match renew(&kube, &ns, &holder).await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    lost(format!("the lease {ns}/{LEASE_NAME} was taken by another process"));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lease renewal failed");
                    if last_ok.elapsed() >= Duration::from_secs(LEASE_SECONDS as u64) {
                        lost(format!(
                            "the lease {ns}/{LEASE_NAME} could not be renewed for {LEASE_SECONDS}s: {e}"
                        ));
                        return;
                    }
                }
            }
        }
    })
}

/// Release: delete the lease if it is ours (pinned to the version we read, so a lease
/// another process just took over is never deleted).
pub async fn release(kube: &Kube, ns: &str, holder: &str) -> Result<(), ClientError> {
    if let Some(l) = kube.get_lease(ns, LEASE_NAME).await?
        && l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(holder)
    {
        kube.delete_lease_pinned(ns, &l).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn lease(holder: &str, renewed_secs_ago: i64, process: Option<HolderProcess>) -> Lease {
        let t = k8s_now()
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(renewed_secs_ago))
            .unwrap();
        Lease {
            metadata: ObjectMeta {
                annotations: process.map(|p| p.annotations()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(60),
                renew_time: Some(MicroTime(t)),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_renewed_lease_of_a_live_process_is_live() {
        let me = HolderProcess::this_process("run");
        assert!(matches!(liveness(&lease("r1", 5, Some(me))), Liveness::Live { .. }));
        // another machine: only the clock counts
        let far =
            HolderProcess { boot_id: "elsewhere".into(), ..HolderProcess::this_process("run") };
        assert!(matches!(liveness(&lease("r1", 5, Some(far.clone()))), Liveness::Live { .. }));
        assert!(matches!(liveness(&lease("r1", 61, Some(far))), Liveness::Stale { .. }));
    }

    #[test]
    fn a_fresh_lease_of_a_dead_local_process_is_stale() {
        let me = HolderProcess::this_process("run");
        let dead = HolderProcess { start: me.start + 7, ..me };
        match liveness(&lease("r1", 1, Some(dead))) {
            Liveness::Stale { why, .. } => assert!(why.contains("exited"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_holder_the_lease_is_free() {
        let mut l = lease("", 1, None);
        assert_eq!(liveness(&l), Liveness::Free);
        l.spec = None;
        assert_eq!(liveness(&l), Liveness::Free);
    }
}
