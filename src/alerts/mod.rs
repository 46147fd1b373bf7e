//! Alert assertions: a scenario's `alerts:` entries checked against Prometheus,
//! Alertmanager or Log Analytics, each with its own deadline, in up to three phases:
//!
//! - [`AlertPhase::Baseline`] (before the fault, when `notFiringDuringBaseline`): one
//!   check; passes when the alert is NOT firing.
//! - [`AlertPhase::Faulted`] (after the fault took effect; always): polled until the
//!   alert fires or its deadline passes.
//! - [`AlertPhase::Restored`] (after the restore, when `resolveAfterRestore`): polled
//!   until the alert is no longer firing or its deadline passes.
//!
//! These are remote query APIs without watch, so polling with a bounded interval is the
//! mechanism here. Every outcome carries the observed series/alerts/rows as evidence and
//! becomes one [`EventKind::AlertChecked`] (JUnit case `<scenario>/alert/<name>[/phase]`).
//!
//! Queries, Alertmanager label values and KQL may use `${namespace}` (the scenario's
//! probe namespace) and `${scenario}` (its name), so that concurrent scenarios on one
//! cluster do not satisfy each other's assertions.

pub mod connect;

use crate::clients::ClientError;
use crate::clients::alertmanager::AlertmanagerClient;
use crate::clients::loganalytics::LogAnalyticsClient;
use crate::clients::prometheus::PrometheusClient;
use crate::events::EventKind;
use crate::scenario::Alert;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How many series / alerts / rows an evidence text shows.
const EVIDENCE_ITEMS: usize = 10;

/// When a check runs, relative to the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertPhase {
    Baseline,
    Faulted,
    Restored,
}

impl AlertPhase {
    /// Suffix of the reported name (`""`, `/baseline`, `/resolved`).
    pub fn suffix(self) -> &'static str {
        match self {
            AlertPhase::Baseline => "/baseline",
            AlertPhase::Faulted => "",
            AlertPhase::Restored => "/resolved",
        }
    }
    /// Whether the alert must be firing in this phase.
    pub fn wants_firing(self) -> bool {
        self == AlertPhase::Faulted
    }
}

/// The phases an alert asks for, in order.
pub fn phases(alert: &Alert) -> Vec<AlertPhase> {
    let c = alert.common();
    let mut v = Vec::new();
    if c.not_firing_during_baseline {
        v.push(AlertPhase::Baseline);
    }
    v.push(AlertPhase::Faulted);
    if c.resolve_after_restore {
        v.push(AlertPhase::Restored);
    }
    v
}

/// Clients and settings the checks use. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertContext {
    pub prometheus: Option<PrometheusClient>,
    pub alertmanager: Option<AlertmanagerClient>,
    pub log_analytics: Option<LogAnalyticsClient>,
    /// Time between two checks while polling (default 5 s).
    pub poll_interval: Duration,
    /// Log Analytics query timespan (default 1 h).
    pub log_timespan: Duration,
    /// Values of `${namespace}` and `${scenario}`.
    pub vars: BTreeMap<&'static str, String>,
    /// Set to true to stop polling (the run was interrupted).
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for AlertContext {
    fn default() -> Self {
        Self {
            prometheus: None,
            alertmanager: None,
            log_analytics: None,
            poll_interval: Duration::from_secs(5),
            log_timespan: Duration::from_secs(3600),
            vars: BTreeMap::new(),
            cancel: None,
        }
    }
}

impl AlertContext {
    /// This context with `${scenario}` and `${namespace}` set.
    pub fn for_scenario(&self, scenario: &str, namespace: &str) -> Self {
        let mut c = self.clone();
        c.vars.insert("scenario", scenario.to_string());
        c.vars.insert("namespace", namespace.to_string());
        c
    }

    /// Replace `${name}` placeholders by their values (unknown ones stay as written).
    pub fn expand(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.vars {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        out
    }

    /// Why this context cannot check `alert` (a missing endpoint), if it cannot.
    pub fn missing(&self, alert: &Alert) -> Option<String> {
        match alert {
            Alert::Prometheus(_) if self.prometheus.is_none() => {
                Some("no Prometheus endpoint: set endpoints.prometheus in the target".to_string())
            }
            Alert::Alertmanager(_) if self.alertmanager.is_none() => Some(
                "no Alertmanager endpoint: set endpoints.alertmanager in the target".to_string(),
            ),
            Alert::LogAnalytics(_) if self.log_analytics.is_none() => Some(
                "no Log Analytics workspace: set azure.logAnalyticsWorkspaceId in the target"
                    .to_string(),
            ),
            _ => None,
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| *c.borrow())
    }
}

/// The result of one alert check.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOutcome {
    /// Reported name: the alert's name plus the phase suffix.
    pub name: String,
    pub phase: AlertPhase,
    pub passed: bool,
    /// What was observed last (series, alerts, rows), or the last error.
    pub evidence: String,
    pub failure: Option<String>,
    /// Time from the start of the check to its verdict.
    pub elapsed: Duration,
    /// Queries made.
    pub checks: u32,
}

impl AlertOutcome {
    /// The event the reporters turn into a JUnit case.
    pub fn event(&self) -> EventKind {
        EventKind::AlertChecked {
            name: self.name.clone(),
            passed: self.passed,
            evidence: self.evidence.clone(),
            failure: self.failure.clone(),
        }
    }
}

/// One observation: firing or not, and what was seen.
#[derive(Debug, Clone)]
struct Seen {
    firing: bool,
    evidence: String,
}

/// Why one alert query gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The target has no endpoint for this kind of alert.
    #[error("no {0} client")]
    NoClient(&'static str),
    #[error(transparent)]
    Query(#[from] ClientError),
}

/// What an alert is, for messages: ``query `up == 0` `` / `alert X{k="v"}`.
fn subject(alert: &Alert, ctx: &AlertContext) -> String {
    match alert {
        Alert::Prometheus(a) => format!("Prometheus query `{}`", ctx.expand(&a.query.0)),
        Alert::Alertmanager(a) => {
            let labels: Vec<String> = std::iter::once(format!("alertname={:?}", a.alertname.0))
                .chain(a.labels.iter().map(|(k, v)| format!("{k}={:?}", ctx.expand(v))))
                .collect();
            format!("Alertmanager alert {{{}}}", labels.join(","))
        }
        Alert::LogAnalytics(a) => {
            format!("Log Analytics query (≥ {} row(s)) `{}`", a.min_rows, ctx.expand(&a.query.0))
        }
    }
}

async fn observe(alert: &Alert, ctx: &AlertContext) -> Result<Seen, AlertError> {
    match alert {
        Alert::Prometheus(a) => {
            let c = ctx.prometheus.as_ref().ok_or(AlertError::NoClient("Prometheus"))?;
            let r = c.query(&ctx.expand(&a.query.0)).await?;
            Ok(Seen { firing: !r.is_empty(), evidence: r.describe(EVIDENCE_ITEMS) })
        }
        Alert::Alertmanager(a) => {
            let c = ctx.alertmanager.as_ref().ok_or(AlertError::NoClient("Alertmanager"))?;
            let labels: BTreeMap<String, String> =
                a.labels.iter().map(|(k, v)| (k.clone(), ctx.expand(v))).collect();
            let all = c.alerts(&a.alertname.0, &labels).await?;
            let matching: Vec<_> = all.iter().filter(|x| x.has_labels(&labels)).collect();
            let firing = matching.iter().filter(|x| x.is_firing()).count();
            let mut evidence = format!(
                "{} alert(s) named {} with the labels, {firing} active",
                matching.len(),
                a.alertname.0
            );
            for x in matching.iter().take(EVIDENCE_ITEMS) {
                evidence.push_str("\n  ");
                evidence.push_str(&x.describe());
            }
            Ok(Seen { firing: firing > 0, evidence })
        }
        Alert::LogAnalytics(a) => {
            let c = ctx.log_analytics.as_ref().ok_or(AlertError::NoClient("Log Analytics"))?;
            let r = c.query(&ctx.expand(&a.query.0), ctx.log_timespan).await?;
            let rows = r.row_count();
            let mut evidence = match r.primary() {
                Some(t) => t.describe(EVIDENCE_ITEMS),
                None => "no table".to_string(),
            };
            if let Some(p) = &r.partial_error {
                evidence.push_str(&format!("\n  partial error: {p}"));
            }
            Ok(Seen { firing: rows >= a.min_rows as usize, evidence })
        }
    }
}

/// Check one alert in one phase (see the module doc). Never panics; errors become a
/// failed outcome naming the alert, the phase and the last error.
pub async fn check_alert(alert: &Alert, ctx: &AlertContext, phase: AlertPhase) -> AlertOutcome {
    let common = alert.common();
    let began = Instant::now();
    let name = format!("{}{}", common.name, phase.suffix());
    let what = subject(alert, ctx);
    let outcome =
        |passed: bool, evidence: String, failure: Option<String>, checks: u32| AlertOutcome {
            name: name.clone(),
            phase,
            passed,
            evidence: format!("{what}: {evidence}"),
            failure,
            elapsed: began.elapsed(),
            checks,
        };
    if let Some(m) = ctx.missing(alert) {
        return outcome(false, "not checked".into(), Some(m), 0);
    }
    let deadline_d = common.deadline.get();
    let deadline = began + deadline_d;
    let want = phase.wants_firing();
    let mut checks = 0u32;
    let mut last_seen: Option<Seen> = None;
    let mut last_error: Option<AlertError>;
    loop {
        checks += 1;
        match observe(alert, ctx).await {
            Ok(seen) => {
                if seen.firing == want || phase == AlertPhase::Baseline {
                    let passed = seen.firing == want;
                    let failure =
                        (!passed).then(|| format!("{what} was already firing before the fault"));
                    return outcome(passed, seen.evidence, failure, checks);
                }
                last_seen = Some(seen);
                last_error = None;
            }
            Err(e) if phase == AlertPhase::Baseline => {
                return outcome(false, format!("error: {e}"), Some(format!("{what}: {e}")), checks);
            }
            Err(e) => last_error = Some(e),
        }
        let now = Instant::now();
        if now >= deadline || ctx.cancelled() {
            let verb = match (phase, ctx.cancelled()) {
                (_, true) => "interrupted before it".to_string(),
                (AlertPhase::Faulted, _) => format!("did not fire within {deadline_d:?}"),
                _ => format!("was still firing {deadline_d:?} after the restore"),
            };
            let mut failure = format!("{what} {verb} ({checks} check(s))");
            let evidence = match (&last_seen, &last_error) {
                (_, Some(e)) => {
                    failure.push_str(&format!("; last error: {e}"));
                    format!("error: {e}")
                }
                (Some(s), None) => {
                    failure.push_str(&format!("; last answer: {}", first_line(&s.evidence)));
                    s.evidence.clone()
                }
                (None, None) => "nothing observed".to_string(),
            };
            return outcome(false, evidence, Some(failure), checks);
        }
        let wait = ctx.poll_interval.min(deadline - now);
        match ctx.cancel.clone() {
            Some(mut c) => {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = c.wait_for(|v| *v) => {}
                }
            }
            None => tokio::time::sleep(wait).await,
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Check every alert of a scenario that applies to `phase` (in order) and return the
/// outcomes; alerts run concurrently, each with its own deadline.
pub async fn check_phase(
    alerts: &[Alert],
    ctx: &AlertContext,
    phase: AlertPhase,
) -> Vec<AlertOutcome> {
    let due: Vec<&Alert> = alerts.iter().filter(|a| phases(a).contains(&phase)).collect();
    futures::future::join_all(due.into_iter().map(|a| check_alert(a, ctx, phase))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(extra: serde_json::Value) -> Alert {
        let mut v =
            serde_json::json!({"kind": "prometheus", "name": "a", "deadline": "1s", "query": "up"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn phases_follow_the_flags() {
        assert_eq!(phases(&alert(serde_json::json!({}))), vec![AlertPhase::Faulted]);
        assert_eq!(
            phases(&alert(
                serde_json::json!({"notFiringDuringBaseline": true, "resolveAfterRestore": true})
            )),
            vec![AlertPhase::Baseline, AlertPhase::Faulted, AlertPhase::Restored]
        );
    }

    #[test]
    fn placeholders_expand() {
        let c = AlertContext::default().for_scenario("acr-detach", "acr-chaos-1-acr-detach");
        assert_eq!(
            c.expand(r#"x{namespace="${namespace}",s="${scenario}",o="${other}"}"#),
            r#"x{namespace="acr-chaos-1-acr-detach",s="acr-detach",o="${other}"}"#
        );
    }

    #[tokio::test]
    async fn missing_endpoint_fails_clearly_without_querying() {
        let o = check_alert(
            &alert(serde_json::json!({})),
            &AlertContext::default(),
            AlertPhase::Faulted,
        )
        .await;
        assert!(!o.passed);
        assert_eq!(o.checks, 0);
        assert!(o.failure.unwrap().contains("endpoints.prometheus"));
    }
}
