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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn target(extra_endpoints: &str) -> Target {
        let path =
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/targets/aks-example.yaml"));
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("endpoints:\n", &format!("endpoints:\n{extra_endpoints}"));
        let loaded = crate::scenario::load_str(path, &text).unwrap();
        loaded.targets.into_iter().next().unwrap().target
    }

    fn alerts(kind: &str) -> Vec<Alert> {
        let a = match kind {
            "log-analytics" => {
                serde_json::json!({"kind": kind, "name": "k", "deadline": "1m", "query": "KubeEvents"})
            }
            _ => {
                serde_json::json!({"kind": "prometheus", "name": "p", "deadline": "1m", "query": "up"})
            }
        };
        vec![serde_json::from_value(a).unwrap()]
    }

    #[test]
    fn endpoints_become_clients() {
        let t = target(
            "  prometheus: http://prom.monitoring:9090\n  alertmanager: http://am.monitoring:9093/am\n",
        );
        let ctx = from_target(
            &t,
            &alerts("prometheus"),
            reqwest::Client::new(),
            None,
            0.05,
            RetryPolicy::fast(),
        )
        .unwrap();
        assert_eq!(ctx.prometheus.as_ref().unwrap().base(), "http://prom.monitoring:9090/");
        assert!(ctx.alertmanager.is_some());
        assert!(ctx.log_analytics.is_none(), "no log-analytics alert: no token asked for");
        assert_eq!(ctx.poll_interval, Duration::from_millis(250));
        let la = alerts("log-analytics");
        let (ok, skipped) = checkable(&ctx, &la);
        assert!(ok.is_empty());
        assert!(skipped[0].contains("logAnalyticsWorkspaceId"), "{skipped:?}");
    }

    #[test]
    fn log_analytics_needs_a_credential() {
        let t = target("");
        assert!(t.endpoints.prometheus.is_none());
        let e = from_target(
            &t,
            &alerts("log-analytics"),
            reqwest::Client::new(),
            None,
            1.0,
            RetryPolicy::fast(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("credential"), "{e}");
        let cred = CredentialConfig::Static(crate::clients::SecretString::new("t"));
        let ctx = from_target(
            &t,
            &alerts("log-analytics"),
            reqwest::Client::new(),
            Some(&cred),
            1.0,
            RetryPolicy::fast(),
        )
        .unwrap();
        assert!(ctx.log_analytics.is_some());
        assert!(ctx.prometheus.is_none());
        let prom = alerts("prometheus");
        let (ok, skipped) = checkable(&ctx, &prom);
        assert!(ok.is_empty() && skipped[0].contains("endpoints.prometheus"), "{skipped:?}");
    }
}
