//! Real Prometheus and Alertmanager (Debian `prometheus`, `prometheus-alertmanager`) as
//! child processes of the lab: Prometheus scrapes the lab's kube-state-metrics endpoint
//! and evaluates the shipped alert rules (`docs/alerting/prometheus-rule.yaml`, `for:`
//! scaled by the lab time scale); Alertmanager receives its alerts and notifies a webhook
//! served by the lab, which records every notification (evidence for tests).
//!
//! Both bind free 127.0.0.1 ports, keep their data under `<state-dir>/monitoring/`, run
//! in their own process groups and are killed when the handle drops (and by the kernel
//! if the lab dies: PR_SET_PDEATHSIG).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::registry::free_loopback_addr;
use crate::server::{Served, serve_http};

/// The Prometheus binary (Debian package `prometheus`).
pub const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
/// The Alertmanager binary (Debian package `prometheus-alertmanager`).
pub const ALERTMANAGER_BIN: &str = "/usr/bin/prometheus-alertmanager";
/// The rules shipped to users (a PrometheusRule manifest); the lab runs the same rules.
pub const SHIPPED_RULES: &str = include_str!("../../docs/alerting/prometheus-rule.yaml");
/// Path of the webhook Alertmanager notifies, on the lab's recorder.
pub const WEBHOOK_PATH: &str = "/alertmanager/webhook";

/// Errors starting or driving the monitoring stack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitoringError {
    #[error("{path} not found: install the Debian package `{package}` (apt-get install {package})")]
    BinaryMissing { path: PathBuf, package: &'static str },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("alert rules: {0}")]
    Rules(String),
    #[error("{what} exited during start-up ({status}); see its log {log}")]
    Exited { what: &'static str, status: String, log: PathBuf },
    #[error("{what} did not become ready on {addr} within {waited:?}; see its log {log}")]
    Timeout { what: &'static str, addr: SocketAddr, waited: Duration, log: PathBuf },
    #[error("reloading Prometheus: {0}")]
    Reload(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MonitoringError + '_ {
    move |source| MonitoringError::Io { path: path.to_path_buf(), source }
}

/// Parse a Prometheus duration (`1h30m`, `2m`, `500ms`, `1.5s` is not valid there).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            "w" => Duration::from_secs(7 * 86_400),
            "y" => Duration::from_secs(365 * 86_400),
            _ => return None,
        };
        total += unit.checked_mul(u32::try_from(n).ok()?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// A duration as Prometheus writes it, in whole milliseconds (`1500ms`).
pub fn format_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The rule groups of a PrometheusRule manifest (or of a plain rules file), as a
/// Prometheus rules file (`{"groups": [...]}`), with every `for:` multiplied by
/// `time_scale` (at least one evaluation interval is left to Prometheus itself).
pub fn rules_file(manifest_yaml: &str, time_scale: f64) -> Result<Value, MonitoringError> {
    let doc: Value = serde_saphyr::from_str(manifest_yaml)
        .map_err(|e| MonitoringError::Rules(format!("not valid YAML: {e}")))?;
    let groups = doc
        .pointer("/spec/groups")
        .or_else(|| doc.get("groups"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            MonitoringError::Rules(
                "expected a PrometheusRule (spec.groups) or a rules file (groups)".into(),
            )
        })?;
    let mut groups = groups.clone();
    for (gi, g) in groups.iter_mut().enumerate() {
        let rules = g.get_mut("rules").and_then(Value::as_array_mut).ok_or_else(|| {
            MonitoringError::Rules(format!("groups[{gi}]: `rules` must be a list"))
        })?;
        for (ri, r) in rules.iter_mut().enumerate() {
            let Some(f) = r.get("for").and_then(Value::as_str) else { continue };
            let d = parse_duration(f).ok_or_else(|| {
                MonitoringError::Rules(format!(
                    "groups[{gi}].rules[{ri}].for: {f:?} is not a Prometheus duration (e.g. 2m, 30s)"
                ))
            })?;
            r["for"] = Value::String(format_duration(d.mul_f64(time_scale)));
        }
    }
    Ok(json!({ "groups": groups }))
}

/// Scrape and rule-evaluation interval for a time scale: 30 s scaled, within 0.5–30 s.
pub fn interval_for(time_scale: f64) -> Duration {
    let scaled = Duration::from_secs(30).mul_f64(time_scale.clamp(0.0, 1.0));
    scaled.clamp(Duration::from_millis(500), Duration::from_secs(30))
}

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct MonitoringOptions {
    /// Config, rules, data and logs go under this directory (created).
    pub dir: PathBuf,
    /// `host:port` of the kube-state-metrics endpoint to scrape (`/metrics`).
    pub scrape_target: SocketAddr,
    /// The lab's time scale (1.0 = real time).
    pub time_scale: f64,
    /// The PrometheusRule manifest whose rules run (default: [`SHIPPED_RULES`]).
    pub rules: Option<String>,
    pub start_timeout: Duration,
}

impl MonitoringOptions {
    pub fn new(dir: impl Into<PathBuf>, scrape_target: SocketAddr, time_scale: f64) -> Self {
        Self {
            dir: dir.into(),
            scrape_target,
            time_scale,
            rules: None,
            start_timeout: Duration::from_secs(30),
        }
    }
}

/// A child process in its own process group, killed on drop.
#[derive(Debug)]
struct Proc {
    what: &'static str,
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Proc {
    fn spawn(
        what: &'static str,
        bin: &str,
        package: &'static str,
        args: &[String],
        addr: SocketAddr,
        log: PathBuf,
    ) -> Result<Proc, MonitoringError> {
        let bin_path = PathBuf::from(bin);
        if !bin_path.exists() {
            return Err(MonitoringError::BinaryMissing { path: bin_path, package });
        }
        let out = std::fs::File::create(&log).map_err(io_err(&log))?;
        let err = out.try_clone().map_err(io_err(&log))?;
        let mut cmd = Command::new(&bin_path);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        crate::child::die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(io_err(&bin_path))?;
        Ok(Proc { what, child: Some(child), addr, log })
    }

    async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<(), MonitoringError> {
        let began = Instant::now();
        let url = format!("http://{}/-/ready", self.addr);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(MonitoringError::Exited {
                    what: self.what,
                    status: status.to_string(),
                    log: self.log.clone(),
                });
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if began.elapsed() > timeout {
                return Err(MonitoringError::Timeout {
                    what: self.what,
                    addr: self.addr,
                    waited: timeout,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Notifications Alertmanager sent to the lab's webhook (JSON bodies, in order).
#[derive(Debug, Clone, Default)]
pub struct Notifications(Arc<Mutex<Vec<Value>>>);

impl Notifications {
    pub fn all(&self) -> Vec<Value> {
        self.0.lock().clone()
    }
    /// Alerts (`alerts[]` entries) notified with this `alertname` and `status`
    /// (`firing` / `resolved`).
    pub fn alerts(&self, alertname: &str, status: &str) -> Vec<Value> {
        self.0
            .lock()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
            .collect()
    }
}

async fn record(State(n): State<Notifications>, body: axum::body::Bytes) -> &'static str {
    let v = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String("<not JSON>".into()));
    n.0.lock().push(v);
    "ok"
}

/// Running Prometheus + Alertmanager + the notification recorder.
#[derive(Debug)]
pub struct Monitoring {
    // Drop order: Prometheus first (it sends to Alertmanager), then Alertmanager.
    prometheus: Proc,
    alertmanager: Proc,
    webhook: Served,
    notifications: Notifications,
    dir: PathBuf,
    rules_path: PathBuf,
    time_scale: f64,
    interval: Duration,
    http: reqwest::Client,
}

impl Monitoring {
    /// Writes the configs and rules, starts both processes and waits until both are ready.
    pub async fn start(opts: MonitoringOptions) -> Result<Monitoring, MonitoringError> {
        let dir = opts.dir.clone();
        for sub in ["prometheus-data", "alertmanager-data"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let manifest = opts.rules.as_deref().unwrap_or(SHIPPED_RULES);
        let rules = rules_file(manifest, opts.time_scale)?;
        let rules_path = dir.join("rules.yml");
        write_json(&rules_path, &rules)?;
        let interval = interval_for(opts.time_scale);

        let notifications = Notifications::default();
        let router =
            Router::new().route(WEBHOOK_PATH, post(record)).with_state(notifications.clone());
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("valid");
        let webhook = serve_http(router, loopback).await.map_err(io_err(&dir))?;

        let am_config = dir.join("alertmanager.yml");
        let group = format_duration(interval);
        let am = json!({
            "route": {
                "receiver": "lab-webhook",
                "group_by": ["alertname", "namespace", "pod"],
                "group_wait": group,
                "group_interval": group,
                "repeat_interval": "1h",
            },
            "receivers": [{
                "name": "lab-webhook",
                "webhook_configs": [{
                    "url": format!("http://{}{WEBHOOK_PATH}", webhook.addr),
                    "send_resolved": true,
                }],
            }],
        });
        write_json(&am_config, &am)?;
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| {
                MonitoringError::Io { path: dir.clone(), source: std::io::Error::other(e) }
            })?;
        // A port picked free can be taken by another process before the child binds it
        // (parallel labs): a child that exits before it is ready is started again on a
        // fresh port, at most three times.
        let am_data = dir.join("alertmanager-data");
        let am_log = dir.join("alertmanager.log");
        let (alertmanager, am_addr) = start_retrying(&http, opts.start_timeout, |addr| {
            let args = vec![
                format!("--config.file={}", am_config.display()),
                format!("--storage.path={}", am_data.display()),
                format!("--web.listen-address={addr}"),
                "--cluster.listen-address=".to_string(),
                "--log.level=warn".to_string(),
            ];
            Proc::spawn(
                "alertmanager",
                ALERTMANAGER_BIN,
                "prometheus-alertmanager",
                &args,
                addr,
                am_log.clone(),
            )
        })
        .await
        .map_err(|e| e.unwrap_or_else(|io| io_err(&dir)(io)))?;

        let prom_config = dir.join("prometheus.yml");
        let iv = format_duration(interval);
        let prom = json!({
            "global": {
                "scrape_interval": iv,
                "scrape_timeout": iv,
                "evaluation_interval": iv,
            },
            "rule_files": [rules_path.display().to_string()],
            "alerting": {
                "alertmanagers": [{
                    "api_version": "v2",
                    "static_configs": [{ "targets": [am_addr.to_string()] }],
                }],
            },
            "scrape_configs": [{
                "job_name": "kube-state-metrics",
                "honor_labels": true,
                "static_configs": [{ "targets": [opts.scrape_target.to_string()] }],
            }],
        });
        write_json(&prom_config, &prom)?;
        let prom_data = dir.join("prometheus-data");
        let prom_log = dir.join("prometheus.log");
        let (prometheus, prom_addr) = start_retrying(&http, opts.start_timeout, |addr| {
            let args = vec![
                format!("--config.file={}", prom_config.display()),
                format!("--storage.tsdb.path={}", prom_data.display()),
                format!("--web.listen-address={addr}"),
                "--web.enable-lifecycle".to_string(),
                // Firing alerts are re-sent every interval (default 1 m): an alert that
                // found no Alertmanager (e.g. right after a reload) reaches it within one
                // interval.
                format!("--rules.alert.resend-delay={iv}"),
                "--storage.tsdb.retention.time=1d".to_string(),
                "--log.level=warn".to_string(),
            ];
            Proc::spawn("prometheus", PROMETHEUS_BIN, "prometheus", &args, addr, prom_log.clone())
        })
        .await
        .map_err(|e| e.unwrap_or_else(|io| io_err(&dir)(io)))?;
        tracing::info!(prometheus = %prom_addr, alertmanager = %am_addr, ?interval, "monitoring ready");
        Ok(Monitoring {
            prometheus,
            alertmanager,
            webhook,
            notifications,
            dir,
            rules_path,
            time_scale: opts.time_scale,
            interval,
            http,
        })
    }

    /// `http://127.0.0.1:port` of Prometheus.
    pub fn prometheus_url(&self) -> String {
        format!("http://{}", self.prometheus.addr)
    }
    /// `http://127.0.0.1:port` of Alertmanager.
    pub fn alertmanager_url(&self) -> String {
        format!("http://{}", self.alertmanager.addr)
    }
    /// The webhook URL Alertmanager notifies.
    pub fn webhook_url(&self) -> String {
        format!("http://{}{WEBHOOK_PATH}", self.webhook.addr)
    }
    /// What Alertmanager has notified so far.
    pub fn notifications(&self) -> &Notifications {
        &self.notifications
    }
    /// The rules file Prometheus evaluates.
    pub fn rules_path(&self) -> &Path {
        &self.rules_path
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Scrape and evaluation interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
    pub fn pids(&self) -> Vec<u32> {
        self.prometheus.pid().into_iter().chain(self.alertmanager.pid()).collect()
    }

    /// Replace the running rules with those of `manifest_yaml` (a PrometheusRule or a
    /// rules file; `for:` scaled as at start) and make Prometheus reload them.
    pub async fn set_rules(&self, manifest_yaml: &str) -> Result<(), MonitoringError> {
        let rules = rules_file(manifest_yaml, self.time_scale)?;
        write_json(&self.rules_path, &rules)?;
        let url = format!("{}/-/reload", self.prometheus_url());
        let r = self
            .http
            .post(&url)
            .send()
            .await
            .map_err(|e| MonitoringError::Reload(e.to_string()))?;
        if !r.status().is_success() {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            return Err(MonitoringError::Reload(format!("HTTP {status}: {}", body.trim())));
        }
        Ok(())
    }

    /// Variables for `lab.env`.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ACR_CHAOS_LAB_PROMETHEUS_URL", self.prometheus_url()),
            ("ACR_CHAOS_LAB_ALERTMANAGER_URL", self.alertmanager_url()),
        ]
    }

    /// Kills both processes and stops the webhook (the same happens on drop).
    pub async fn stop(mut self) {
        self.prometheus.stop();
        self.alertmanager.stop();
        let Monitoring { webhook, .. } = self;
        webhook.shutdown().await;
    }
}

fn write_json(path: &Path, v: &Value) -> Result<(), MonitoringError> {
    // JSON is valid YAML: both Prometheus and Alertmanager read it as their config.
    let text = serde_json::to_string_pretty(v).expect("JSON value serializes");
    std::fs::write(path, text).map_err(io_err(path))
}

/// Start a child on a free loopback port and wait until it is ready; when it exits before
/// that (its port was taken meanwhile), start it again on a fresh port (three attempts).
/// `Err(Err(io))` is a failure to find a port.
async fn start_retrying(
    http: &reqwest::Client,
    timeout: Duration,
    spawn: impl Fn(SocketAddr) -> Result<Proc, MonitoringError>,
) -> Result<(Proc, SocketAddr), Result<MonitoringError, std::io::Error>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let addr = free_loopback_addr().map_err(Err)?;
        let mut proc = spawn(addr).map_err(Ok)?;
        match proc.wait_ready(http, timeout).await {
            Ok(()) => return Ok((proc, addr)),
            Err(MonitoringError::Exited { what, .. }) if attempt < 3 => {
                tracing::warn!(what, %addr, attempt, "exited before it was ready; retrying on another port");
            }
            Err(e) => return Err(Ok(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(Duration::from_millis(6000)), "6000ms");
    }

    #[test]
    fn shipped_rules_scale_their_for() {
        let r = rules_file(SHIPPED_RULES, 0.05).unwrap();
        let rule = &r["groups"][0]["rules"][0];
        assert_eq!(rule["alert"], "KubePodImagePullFailing");
        assert_eq!(rule["for"], "6000ms");
        assert!(
            rule["expr"].as_str().unwrap().contains("kube_pod_container_status_waiting_reason")
        );
        assert_eq!(
            rules_file(SHIPPED_RULES, 1.0).unwrap()["groups"][0]["rules"][0]["for"],
            "120000ms"
        );
    }

    #[test]
    fn bad_rules_are_named() {
        let e = rules_file("groups: 3", 1.0).unwrap_err().to_string();
        assert!(e.contains("spec.groups"), "{e}");
        let e = rules_file("groups: [{name: g, rules: [{alert: A, expr: up, for: soon}]}]", 1.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("groups[0].rules[0].for") && e.contains("soon"), "{e}");
    }

    #[test]
    fn intervals_follow_the_time_scale() {
        assert_eq!(interval_for(1.0), Duration::from_secs(30));
        assert_eq!(interval_for(0.05), Duration::from_millis(1500));
        assert_eq!(interval_for(0.001), Duration::from_millis(500));
    }
}
