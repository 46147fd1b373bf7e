//! One run per cluster: a coordination.k8s.io/v1 Lease `acr-chaos` in the journal
//! namespace. A lease whose `renewTime + leaseDurationSeconds` has passed is stale; it
//! is taken over only after the holder's journal was recovered (the caller does that
//! between [`acquire`] returning [`Acquire::Stale`] and [`take_over`]).

use crate::clients::ClientError;
use crate::clients::kube::{Kube, k8s_now};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use std::time::Duration;

pub const LEASE_NAME: &str = "acr-chaos";
pub const LEASE_SECONDS: i32 = 60;

#[derive(Debug)]
pub enum Acquire {
    /// We hold it now.
    Acquired,
    /// Another live run holds it.
    Held { holder: String },
    /// Another run held it and stopped renewing: recover `holder`, then [`take_over`].
    Stale { holder: String, lease: Box<Lease> },
}

fn expired(l: &Lease) -> bool {
    let Some(spec) = &l.spec else { return true };
    let dur = spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS) as i64;
    match &spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) {
        Some(MicroTime(t)) => {
            let until = t.as_second() + dur;
            k8s_now().as_second() > until
        }
        None => true,
    }
}

pub async fn acquire(kube: &Kube, ns: &str, run_id: &str) -> Result<Acquire, ClientError> {
    match kube.get_lease(ns, LEASE_NAME).await? {
        None => match kube.create_lease(ns, LEASE_NAME, run_id, LEASE_SECONDS).await {
            Ok(_) => Ok(Acquire::Acquired),
            Err(e) if e.status() == Some(409) => {
                let holder = kube
                    .get_lease(ns, LEASE_NAME)
                    .await?
                    .and_then(|l| l.spec.and_then(|s| s.holder_identity))
                    .unwrap_or_default();
                Ok(Acquire::Held { holder })
            }
            Err(e) => Err(e),
        },
        Some(l) => {
            let holder =
                l.spec.as_ref().and_then(|s| s.holder_identity.clone()).unwrap_or_default();
            if holder.is_empty() {
                return take_over(kube, ns, run_id, l).await.map(|_| Acquire::Acquired);
            }
            if holder == run_id {
                return Ok(Acquire::Acquired);
            }
            if expired(&l) {
                Ok(Acquire::Stale { holder, lease: Box::new(l) })
            } else {
                Ok(Acquire::Held { holder })
            }
        }
    }
}

/// Take a (stale or released) lease over; 409 if someone else was faster.
pub async fn take_over(
    kube: &Kube,
    ns: &str,
    run_id: &str,
    mut l: Lease,
) -> Result<(), ClientError> {
    let now = MicroTime(k8s_now());
    let spec = l.spec.get_or_insert_default();
    spec.holder_identity = Some(run_id.to_string());
    spec.lease_duration_seconds = Some(LEASE_SECONDS);
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    kube.replace_lease(ns, &l).await.map(|_| ())
}

/// Renew our lease; stops when it is no longer ours.
pub async fn renew(kube: &Kube, ns: &str, run_id: &str) -> Result<bool, ClientError> {
    let Some(mut l) = kube.get_lease(ns, LEASE_NAME).await? else {
        return Ok(false);
    };
    let spec = l.spec.get_or_insert_default();
    if spec.holder_identity.as_deref() != Some(run_id) {
        return Ok(false);
    }
    spec.renew_time = Some(MicroTime(k8s_now()));
    kube.replace_lease(ns, &l).await?;
    Ok(true)
}

/// Renew every third of the lease duration until the task is aborted.
pub fn spawn_renewer(kube: Kube, ns: String, run_id: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs((LEASE_SECONDS / 3) as u64);
        loop {
            tokio::time::sleep(every).await;
            match renew(&kube, &ns, &run_id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("the acr-chaos lease is no longer ours");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
            }
        }
    })
}

/// Release: delete the lease if it is ours.
pub async fn release(kube: &Kube, ns: &str, run_id: &str) -> Result<(), ClientError> {
    if let Some(l) = kube.get_lease(ns, LEASE_NAME).await?
        && l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(run_id)
    {
        kube.delete_lease(ns, LEASE_NAME).await?;
    }
    Ok(())
}
