//! The CronJob controller (`pkg/controller/cronjob`): a Job per scheduled time on the
//! lab clock (sped up by the lab's time scale), named `<cronjob>-<minutes since epoch>`;
//! `concurrencyPolicy`, `startingDeadlineSeconds`, `suspend`, history limits; status
//! `active`, `lastScheduleTime`, `lastSuccessfulTime`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::{Value, json};

use super::Ctx;
use super::util::{
    controlled_by, event, has_condition, int, owner_ref, parse_ts, s, ts, write_status,
};
use crate::kube::Kind;

const COMPONENT: &str = "cronjob-controller";
const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Parse a schedule as Kubernetes does (five fields or a `@` descriptor; croner's default
/// parser would also take seconds and years, which Kubernetes refuses).
pub(crate) fn parse_schedule(schedule: &str) -> Result<Cron, String> {
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let trimmed = schedule.trim();
    if let Some(tz) = trimmed.strip_prefix("TZ=").or_else(|| trimmed.strip_prefix("CRON_TZ=")) {
        return Err(format!("unsupported time zone in schedule ({tz}); use spec.timeZone"));
    }
    parser.parse(trimmed).map_err(|e| e.to_string())
}

fn finished(job: &Value) -> Option<&'static str> {
    if has_condition(job, "Complete") {
        Some("Complete")
    } else if has_condition(job, "Failed") {
        Some("Failed")
    } else {
        None
    }
}

/// One sync; `Some(d)`: the next scheduled time is `d` away (real time).
pub(super) fn sync(ctx: &Ctx, ns: &str, name: &str) -> Option<Duration> {
    let store = &ctx.store;
    let cj = store.get(&Kind::CronJob, Some(ns), name).ok()?;
    let uid = s(&cj, "/metadata/uid").to_string();
    let (jobs, _) = store.list(&Kind::Job, Some(ns), None, None).ok()?;
    let mut jobs: Vec<Value> = jobs.into_iter().filter(|j| controlled_by(j, &uid)).collect();
    let mut status = cj.get("status").cloned().unwrap_or(json!({}));
    for j in jobs.iter().filter(|j| finished(j) == Some("Complete")) {
        let t = s(j, "/status/completionTime");
        if !t.is_empty() && s(&status, "/lastSuccessfulTime") < t {
            status["lastSuccessfulTime"] = json!(t);
        }
    }
    let cron = match parse_schedule(s(&cj, "/spec/schedule")) {
        Ok(c) => c,
        Err(e) => {
            let m = format!("invalid schedule: {}: {e}", s(&cj, "/spec/schedule"));
            event(store, Kind::CronJob, &cj, true, "UnparseableSchedule", &m, COMPONENT);
            return None;
        }
    };
    let now = ctx.clock.now();
    let created = parse_ts(s(&cj, "/metadata/creationTimestamp")).unwrap_or_else(Utc::now);
    let created = ctx.clock.lab_time(created.max(ctx.clock.epoch()));
    let last = parse_ts(s(&status, "/lastScheduleTime")).unwrap_or(created);
    let due = most_recent(&cron, last, now);
    let suspended = cj.pointer("/spec/suspend") == Some(&Value::Bool(true));
    if let Some(at) = due
        && !suspended
        && !too_late(&cj, at, now)
        && let Some(job) = run(ctx, &cj, &jobs, at)
    {
        jobs.push(job);
        status["lastScheduleTime"] = json!(ts(at));
    }
    history(ctx, &cj, &mut jobs);
    let active: Vec<Value> = jobs
        .iter()
        .filter(|j| finished(j).is_none())
        .map(|j| {
            json!({"apiVersion": "batch/v1", "kind": "Job", "name": s(j, "/metadata/name"),
                   "namespace": ns, "uid": s(j, "/metadata/uid"),
                   "resourceVersion": s(j, "/metadata/resourceVersion")})
        })
        .collect();
    if active.is_empty() {
        status.as_object_mut().map(|m| m.remove("active"));
    } else {
        status["active"] = json!(active);
    }
    write_status(store, Kind::CronJob, &cj, status);
    let next = cron.find_next_occurrence(&now, false).ok()?;
    Some(ctx.clock.real_until(next) + Duration::from_millis(5))
}

/// The latest scheduled time in `(after, now]`.
fn most_recent(cron: &Cron, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let first = cron.find_next_occurrence(&after, false).ok()?;
    if first > now {
        return None;
    }
    cron.find_previous_occurrence(&now, true).ok().filter(|t| *t > after).or(Some(first))
}

fn too_late(cj: &Value, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    cj.pointer("/spec/startingDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|secs| now - at > chrono::Duration::seconds(secs))
}

/// Create the Job for scheduled time `at`, honouring `concurrencyPolicy`.
fn run(ctx: &Ctx, cj: &Value, jobs: &[Value], at: DateTime<Utc>) -> Option<Value> {
    let store = &ctx.store;
    let ns = s(cj, "/metadata/namespace");
    let active: Vec<&Value> = jobs.iter().filter(|j| finished(j).is_none()).collect();
    match s(cj, "/spec/concurrencyPolicy") {
        "Forbid" if !active.is_empty() => {
            tracing::debug!(cronjob = s(cj, "/metadata/name"), "skipping run: a job is active");
            return None;
        }
        "Replace" => {
            for j in active {
                let jname = s(j, "/metadata/name");
                if store.delete(&Kind::Job, Some(ns), jname).is_ok() {
                    let m = format!("Deleted job {jname}");
                    event(store, Kind::CronJob, cj, false, "SuccessfulDelete", &m, COMPONENT);
                }
            }
        }
        _ => {}
    }
    let name = format!("{}-{}", s(cj, "/metadata/name"), at.timestamp() / 60);
    let tmpl = cj.pointer("/spec/jobTemplate").cloned().unwrap_or(json!({}));
    let mut annotations = tmpl.pointer("/metadata/annotations").cloned().unwrap_or(json!({}));
    annotations[SCHEDULED_AT] = json!(ts(at));
    let job = json!({
        "metadata": {
            "name": name, "namespace": ns,
            "labels": tmpl.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "annotations": annotations,
            "ownerReferences": [owner_ref(Kind::CronJob, cj)],
        },
        "spec": tmpl.get("spec").cloned().unwrap_or(json!({})),
    });
    match store.create(&Kind::Job, Some(ns), job) {
        Ok(j) => {
            let m = format!("Created job {name}");
            event(store, Kind::CronJob, cj, false, "SuccessfulCreate", &m, COMPONENT);
            Some(j)
        }
        Err(e) if e.code == 409 => None,
        Err(e) => {
            let m = format!("Error creating job: {}", e.message);
            event(store, Kind::CronJob, cj, true, "FailedCreate", &m, COMPONENT);
            None
        }
    }
}

/// Finished jobs beyond `successfulJobsHistoryLimit` (3) / `failedJobsHistoryLimit` (1)
/// are deleted, oldest first.
fn history(ctx: &Ctx, cj: &Value, jobs: &mut Vec<Value>) {
    let ns = s(cj, "/metadata/namespace");
    for (state, field, default) in
        [("Complete", "successfulJobsHistoryLimit", 3), ("Failed", "failedJobsHistoryLimit", 1)]
    {
        let limit = int(cj, &format!("/spec/{field}"), default).max(0) as usize;
        let mut done: Vec<Value> =
            jobs.iter().filter(|j| finished(j) == Some(state)).cloned().collect();
        if done.len() <= limit {
            continue;
        }
        done.sort_by_key(|j| s(j, "/metadata/creationTimestamp").to_string());
        for j in &done[..done.len() - limit] {
            let jname = s(j, "/metadata/name").to_string();
            if ctx.store.delete(&Kind::Job, Some(ns), &jname).is_ok() {
                let m = format!("Deleted job {jname}");
                event(&ctx.store, Kind::CronJob, cj, false, "SuccessfulDelete", &m, COMPONENT);
                jobs.retain(|x| s(x, "/metadata/name") != jname);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_like_kubernetes() {
        assert!(parse_schedule("*/5 * * * *").is_ok());
        assert!(parse_schedule("@hourly").is_ok());
        assert!(parse_schedule("0 0 * * * *").is_err(), "seconds are not allowed");
        assert!(parse_schedule("not a schedule").is_err());
    }

    #[test]
    fn most_recent_takes_the_latest_missed_time() {
        let cron = parse_schedule("* * * * *").unwrap();
        let t0 = parse_ts("2026-01-01T00:00:30Z").unwrap();
        let now = parse_ts("2026-01-01T00:05:10Z").unwrap();
        assert_eq!(ts(most_recent(&cron, t0, now).unwrap()), "2026-01-01T00:05:00Z");
        let early = parse_ts("2026-01-01T00:00:50Z").unwrap();
        assert_eq!(most_recent(&cron, t0, early), None);
    }
}
