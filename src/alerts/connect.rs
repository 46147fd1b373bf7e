//! An [`AlertContext`] from a target file: Prometheus and Alertmanager from
//! `endpoints.prometheus` / `endpoints.alertmanager`, Log Analytics from
//! `azure.logAnalyticsWorkspaceId` (+ `endpoints.logAnalytics`) with a token from the
//! target's credential for `https://api.loganalytics.io/.default`.

use super::AlertContext;
use crate::clients::ClientError;
use crate::clients::alertmanager::AlertmanagerClient;
use crate::clients::credential::CredentialConfig;
use crate::clients::loganalytics::{LogAnalyticsClient, log_analytics_token};
use crate::clients::prometheus::PrometheusClient;
use crate::clients::retry::RetryPolicy;
use crate::scenario::{Alert, Target};
use std::time::Duration;

/// Poll interval at real time; scaled down in the lab.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Whether any alert of `alerts` needs the given kind of client (so that tokens are
/// only asked for when needed).
fn needs(alerts: &[Alert], f: fn(&Alert) -> bool) -> bool {
    alerts.iter().any(f)
}

/// Build the clients the `alerts` need from the target. `http`: the run's HTTP client
/// (with any extra CA); `credential`: the target's credential (for Log Analytics);
/// `time_scale`: the lab's time scale (1.0 on real targets) for the poll interval.
pub fn from_target(
    t: &Target,
    alerts: &[Alert],
    http: reqwest::Client,
    credential: Option<&CredentialConfig>,
    time_scale: f64,
    retry: RetryPolicy,
) -> Result<AlertContext, ClientError> {
    let scale = if time_scale.is_finite() && time_scale > 0.0 { time_scale.min(1.0) } else { 1.0 };
    let mut ctx = AlertContext {
        poll_interval: POLL_INTERVAL.mul_f64(scale).max(Duration::from_millis(200)),
        ..AlertContext::default()
    };
    if let Some(u) = &t.endpoints.prometheus {
        ctx.prometheus =
            Some(PrometheusClient::new(http.clone(), u.as_ref())?.with_retry(retry.clone()));
    }
    if let Some(u) = &t.endpoints.alertmanager {
        ctx.alertmanager =
            Some(AlertmanagerClient::new(http.clone(), u.as_ref())?.with_retry(retry.clone()));
    }
    if let Some(ws) = &t.azure.log_analytics_workspace_id
        && needs(alerts, |a| matches!(a, Alert::LogAnalytics(_)))
    {
        let cred = credential.ok_or_else(|| {
            ClientError::Config("log-analytics alerts need the target's credential".into())
        })?;
        let token =
            log_analytics_token(cred, Some(t.endpoints.authority_host.as_ref()), http.clone())?;
        ctx.log_analytics = Some(
            LogAnalyticsClient::new(http, t.endpoints.log_analytics.as_ref(), ws.as_ref(), token)?
                .with_retry(retry),
        );
    }
    Ok(ctx)
}

/// The alerts this context can check, and one warning line per alert it cannot (its
/// kind's endpoint is not in the target): those are skipped, so scenarios with
/// `alerts:` still run on clusters without Prometheus / Alertmanager / Log Analytics.
pub fn checkable<'a>(ctx: &AlertContext, alerts: &'a [Alert]) -> (Vec<&'a Alert>, Vec<String>) {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for a in alerts {
        match ctx.missing(a) {
            None => ok.push(a),
            Some(why) => skipped.push(format!("alert {} not checked: {why}", a.common().name)),
        }
    }
    (ok, skipped)
}
