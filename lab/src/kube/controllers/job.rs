//! The Job controller (`pkg/controller/job`, NonIndexed completion mode): up to
//! `parallelism` active pods until `completions` succeeded; failed pods count against
//! `backoffLimit`; `activeDeadlineSeconds`; `suspend`; the conditions and counters
//! `kubectl get jobs` and `kubectl wait --for=condition=complete` read.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::Ctx;
use super::util::{
    conditions_of, create_pod, event, has_condition, int, now_ts, owned_pods, parse_ts, pod_active,
    pod_ready, s, selector_string, set_condition, write_status,
};
use crate::kube::Kind;

const COMPONENT: &str = "job-controller";

fn condition(ty: &str, reason: &str, message: &str) -> Value {
    let now = now_ts();
    json!({"type": ty, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

/// One sync; `Some(d)`: sync again after `d` (`activeDeadlineSeconds`).
pub(super) fn sync(ctx: &Ctx, ns: &str, name: &str) -> Option<Duration> {
    let store = &ctx.store;
    let job = store.get(&Kind::Job, Some(ns), name).ok()?;
    let sel = selector_string(job.pointer("/spec/selector").unwrap_or(&Value::Null))?;
    let uid = s(&job, "/metadata/uid").to_string();
    let pods = owned_pods(store, ns, &sel, &uid);
    let finished = has_condition(&job, "Complete") || has_condition(&job, "Failed");
    let suspended = job.pointer("/spec/suspend") == Some(&Value::Bool(true));
    let count = |phase: &str| pods.iter().filter(|p| s(p, "/status/phase") == phase).count() as i64;
    // Finished pods stay (nothing deletes them but the user); never count backwards.
    let succeeded = count("Succeeded").max(int(&job, "/status/succeeded", 0));
    let failed = count("Failed").max(int(&job, "/status/failed", 0));
    let mut conds = conditions_of(&job);
    let mut status = job.get("status").cloned().unwrap_or(json!({}));
    let mut recheck = None;
    let active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let mut remove_active = finished || suspended;
    if !finished && !suspended {
        if status.get("startTime").is_none() {
            status["startTime"] = json!(now_ts());
        }
        let completions = job.pointer("/spec/completions").and_then(Value::as_i64);
        let done = match completions {
            Some(c) => succeeded >= c,
            None => succeeded >= 1 && active.is_empty(),
        };
        let deadline = job.pointer("/spec/activeDeadlineSeconds").and_then(Value::as_i64);
        let started = parse_ts(s(&status, "/startTime")).unwrap_or_else(Utc::now);
        let elapsed = (Utc::now() - started).to_std().unwrap_or_default();
        let over = deadline.map(|secs| ctx.scaled(secs as f64));
        if done {
            let m = "Reached expected number of succeeded pods";
            set_condition(&mut conds, condition("SuccessCriteriaMet", "CompletionsReached", m));
            set_condition(&mut conds, condition("Complete", "CompletionsReached", m));
            status["completionTime"] = json!(now_ts());
            event(store, Kind::Job, &job, false, "Completed", "Job completed", COMPONENT);
            remove_active = true;
        } else if failed > int(&job, "/spec/backoffLimit", 6) {
            fail(
                ctx,
                &job,
                &mut conds,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
            remove_active = true;
        } else if let Some(limit) = over
            && elapsed >= limit
        {
            fail(
                ctx,
                &job,
                &mut conds,
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            );
            remove_active = true;
        } else {
            let parallelism = int(&job, "/spec/parallelism", 1).max(0);
            let want = match completions {
                Some(c) => parallelism.min(c - succeeded).max(0),
                None if succeeded > 0 => 0,
                None => parallelism,
            };
            reconcile_active(ctx, &job, &active, want);
            recheck = over.map(|limit| limit.saturating_sub(elapsed) + Duration::from_millis(5));
        }
    }
    if remove_active {
        for p in &active {
            let _ = store.delete(&Kind::Pod, Some(ns), s(p, "/metadata/name"));
        }
    }
    if suspended && !finished {
        let c = json!({"type": "Suspended", "status": "True", "reason": "JobSuspended",
            "message": "Job suspended", "lastProbeTime": now_ts(), "lastTransitionTime": now_ts()});
        set_condition(&mut conds, c);
    } else {
        conds.retain(|c| c["type"] != "Suspended");
    }
    let pods = owned_pods(store, ns, &sel, &uid);
    let active_now: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    status["active"] = json!(active_now.len());
    status["ready"] = json!(active_now.iter().filter(|p| pod_ready(p)).count());
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["terminating"] = json!(0);
    status["uncountedTerminatedPods"] = json!({});
    for f in ["active", "succeeded", "failed"] {
        if status[f] == 0 {
            status.as_object_mut().map(|m| m.remove(f));
        }
    }
    if conds.is_empty() {
        status.as_object_mut().map(|m| m.remove("conditions"));
    } else {
        status["conditions"] = json!(conds);
    }
    write_status(store, Kind::Job, &job, status);
    recheck
}

fn fail(ctx: &Ctx, job: &Value, conds: &mut Vec<Value>, reason: &str, message: &str) {
    set_condition(conds, condition("FailureTarget", reason, message));
    set_condition(conds, condition("Failed", reason, message));
    event(&ctx.store, Kind::Job, job, true, reason, message, COMPONENT);
}

fn reconcile_active(ctx: &Ctx, job: &Value, active: &[&Value], want: i64) {
    let store = &ctx.store;
    let ns = s(job, "/metadata/namespace");
    let have = active.len() as i64;
    let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let prefix = format!("{}-", s(job, "/metadata/name"));
    for _ in have..want {
        match create_pod(store, Kind::Job, job, &template, &prefix) {
            Ok(p) => {
                let m = format!("Created pod: {}", s(&p, "/metadata/name"));
                event(store, Kind::Job, job, false, "SuccessfulCreate", &m, COMPONENT);
            }
            Err(e) => {
                let m = format!("Error creating: {}", e.message);
                event(store, Kind::Job, job, true, "FailedCreate", &m, COMPONENT);
                return;
            }
        }
    }
    for p in active.iter().skip(want.max(0) as usize) {
        let pname = s(p, "/metadata/name");
        if store.delete(&Kind::Pod, Some(ns), pname).is_ok() {
            let m = format!("Deleted pod: {pname}");
            event(store, Kind::Job, job, false, "SuccessfulDelete", &m, COMPONENT);
        }
    }
}
