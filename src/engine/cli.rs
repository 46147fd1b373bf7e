//! `acr-chaos run` and `acr-chaos recover`.

use super::connect::{Connected, Overrides, connect, resolve_env, static_env};
use super::holder::HolderProcess;
use super::journal::{self, Journal, TargetIdentity};
use super::lease::{self, Acquire};
use super::plan::{self, Planned};
use super::probe::KubeProber;
use super::recover;
use super::scenario::{self as stage, Services, SharedSink};
use super::signals::{self, Canceller};
use crate::ExitCode;
use crate::clients::ClientError;
use crate::clients::retry::RetryPolicy;
use crate::events::{Event, EventKind, Sink, Verdict};
use crate::faults::{self, Env};
use crate::report::{self, Reporter, Terminal};
use crate::scenario::Target;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Target file (`kind: Target`). Without it, the embedded lab is started.
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// How many scenarios may run at once (conflicting ones still run one at a time).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// Only scenarios with this tag (repeatable; any match).
    #[arg(long)]
    pub only: Vec<String>,
    /// Print the exact ARM and Kubernetes changes; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where `<run-id>/` report folders go.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// No progress on the terminal.
    #[arg(long)]
    pub quiet: bool,
    /// Diff the run against this baseline file (`acr-chaos baseline accept`); writes
    /// diff.json, diff.md and diff-junit.xml next to the run's reports. Exit 4 when
    /// there are regressions (see the README's exit codes).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// The run to recover (default: every run with unfinished undos).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Target file; needed to reach the cluster copy of the journal and to undo.
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Replay `--run-id` even if its lease looks live or its journal names another (or
    /// no) cluster. For a human who has checked; needs --run-id.
    #[arg(long)]
    pub force: bool,
    /// How long to wait for a live holder of the lease to finish before refusing
    /// (default: refuse at once).
    #[arg(long)]
    pub wait: Option<crate::scenario::duration::Duration>,
    /// How long the replay may take, transient API failures included.
    #[arg(long, default_value = "10m")]
    pub deadline: crate::scenario::duration::Duration,
    /// Also write every event (what was replayed, what remains) as JSON Lines to FILE,
    /// in the format of a run's `events.jsonl`: the record a pipeline keeps.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

fn load_target_file(path: &Path) -> Result<Target, ExitCode> {
    crate::scenario::load_target(path).map_err(|diags| {
        for d in diags {
            eprintln!("{d}");
        }
        ExitCode::InvalidInput
    })
}

/// `acr-chaos run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    crate::clients::install_crypto_provider();
    runtime()?.block_on(run_async(args))
}

/// Forwards events to reporters kept for `finish`.
#[derive(Debug)]
struct Forward<R>(Arc<Mutex<R>>);
impl<R: Sink> Sink for Forward<R> {
    fn event(&mut self, e: &Event) {
        if let Ok(mut r) = self.0.lock() {
            r.event(e);
        }
    }
}

async fn run_async(args: RunArgs) -> anyhow::Result<ExitCode> {
    let paths =
        if args.paths.is_empty() { vec![PathBuf::from("scenarios")] } else { args.paths.clone() };
    let mut scenarios = match crate::scenario::load_scenarios(&paths) {
        Ok(s) => s,
        Err(diags) => {
            for d in diags {
                eprintln!("{d}");
            }
            return Ok(ExitCode::InvalidInput);
        }
    };
    if !args.only.is_empty() {
        scenarios.retain(|s| s.tags.iter().any(|t| args.only.iter().any(|o| o == t.as_str())));
    }
    if scenarios.is_empty() {
        eprintln!("error: no scenario to run under {paths:?} (tags {:?})", args.only);
        return Ok(ExitCode::InvalidInput);
    }
    let Some(target_path) = &args.target else {
        return run_on_embedded_lab(&args, &scenarios).await;
    };
    let target = match load_target_file(target_path) {
        Ok(t) => t,
        Err(c) => return Ok(c),
    };
    // a lab target (`lab up`) paces ARM polling like the embedded lab run
    let lro_interval = match target.lab.as_ref().and_then(|l| l.valid_time_scale()) {
        Some(scale) => Duration::from_secs(2).mul_f64(scale).max(Duration::from_millis(100)),
        None => Duration::from_secs(2),
    };
    run_on_target(
        &args,
        &scenarios,
        &target,
        RetryPolicy::default(),
        lro_interval,
        Overrides::default(),
    )
    .await
}

/// Start the embedded lab, run `scenarios` against it, stop it.
#[cfg(feature = "lab")]
async fn run_on_embedded_lab(
    args: &RunArgs,
    scenarios: &[crate::scenario::Scenario],
) -> anyhow::Result<ExitCode> {
    let lab = match super::lab::LabHandle::start().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::InvalidInput);
        }
    };
    let fast = Duration::from_millis(100);
    let code =
        run_on_target(args, scenarios, lab.target(), RetryPolicy::fast(), fast, lab.overrides())
            .await;
    lab.stop().await;
    code
}

/// Without the `lab` feature there is no default target.
#[cfg(not(feature = "lab"))]
async fn run_on_embedded_lab(
    _args: &RunArgs,
    _scenarios: &[crate::scenario::Scenario],
) -> anyhow::Result<ExitCode> {
    eprintln!(
        "error: this build has no embedded lab (built without the `lab` feature): pass --target FILE"
    );
    Ok(ExitCode::InvalidInput)
}

/// Run `scenarios` against a loaded target (shared by `--target` and the lab).
pub async fn run_on_target(
    args: &RunArgs,
    scenarios: &[crate::scenario::Scenario],
    target: &Target,
    retry: RetryPolicy,
    lro_interval: Duration,
    over: Overrides,
) -> anyhow::Result<ExitCode> {
    let run_id = report::new_run_id();
    // the reporters exist before the first check, so that a refused run still leaves its
    // junit.xml and report.json, with the reason
    let terminal = if args.quiet { Terminal::Quiet } else { Terminal::Stderr };
    let mut reporters = report::standard_reporters(&args.report_dir, &run_id, terminal);
    reporters.push(Box::new(report::terminal::DryRunPlan::default()));
    let reporters = Arc::new(Mutex::new(reporters));
    let sink = SharedSink::new(Box::new(Forward(reporters.clone())));
    sink.emit(Event::run(EventKind::RunStarted {
        run_id: run_id.clone(),
        target: target.name.to_string(),
        scenarios: scenarios.iter().map(|s| s.name.to_string()).collect(),
        dry_run: args.dry_run,
    }));
    let checked = checked_plan(args, scenarios, target, &run_id, &over);
    let refused = checked.is_err();
    match checked {
        Err(reasons) => {
            for reason in reasons {
                sink.emit(Event::run(EventKind::RunRefused { reason }));
            }
        }
        Ok((env0, planned)) if args.dry_run => dry_run(&sink, target, &env0, &planned),
        Ok((env0, planned)) => {
            let live = Live {
                args,
                target,
                sink: &sink,
                run_id: &run_id,
                retry,
                lro_interval,
                over: &over,
                cancel: Canceller::new(),
            };
            live.run(env0, planned).await;
        }
    }
    // The one place a run's exit code comes from: the events (see report::model::exit_code).
    // A reporter that panicked leaves the outcome unknown: never report that as a pass.
    let code = reporters.lock().map_or(ExitCode::RestoreFailed, |r| r.exit_code());
    sink.emit(Event::run(EventKind::RunFinished { exit_code: code.code() }));
    let finished = reporters.lock().map(|mut r| r.finish());
    if let Ok(Err(e)) = finished {
        eprintln!("error: writing reports: {e}");
    }
    Ok(match &args.baseline {
        Some(b) if !args.dry_run && !refused => {
            crate::diff::cli::after_run(b, &args.report_dir.join(&run_id), code, args.quiet)
        }
        _ => code,
    })
}

/// The baseline, every scenario's plan and the guard rails, checked before anything is
/// touched; `Err` holds every reason to refuse.
fn checked_plan(
    args: &RunArgs,
    scenarios: &[crate::scenario::Scenario],
    target: &Target,
    run_id: &str,
    over: &Overrides,
) -> Result<(Env, Vec<Planned>), Vec<String>> {
    if let Some(b) = &args.baseline
        && let Err(e) = crate::diff::cli::check_before_run(b, target.name.as_str())
    {
        return Err(vec![e.to_string()]);
    }
    let planned: Vec<Planned> = scenarios
        .iter()
        .map(|s| plan::plan(s, target))
        .collect::<Result<_, _>>()
        .map_err(|e| vec![e.to_string()])?;
    let mut env0 = static_env(target, run_id);
    env0.time_scale = over
        .time_scale
        .or_else(|| target.lab.as_ref().and_then(|l| l.valid_time_scale()))
        .unwrap_or(1.0);
    // the kubelet identity is not needed for the ids the guard rails check
    let refusals = plan::guard(target, &env0, &planned);
    if refusals.is_empty() { Ok((env0, planned)) } else { Err(refusals) }
}

fn dry_run(sink: &SharedSink, target: &Target, env: &Env, planned: &[Planned]) {
    for p in planned {
        let mut env = env.clone();
        env.scenario = p.plan.name.clone();
        env.run_namespace =
            stage::scenario_namespace(target.namespace_prefix.as_str(), &env.run_id, &p.plan.name);
        let mut changes = vec![format!(
            "Kubernetes: create Namespace {} (labels app.kubernetes.io/managed-by=acr-chaos); delete it at the end",
            env.run_namespace
        )];
        for phase in [faults::Phase::Baseline, faults::Phase::Faulted, faults::Phase::Recovery] {
            let pr = p.fault.probe(&env, &p.plan.probe, phase);
            changes.push(format!(
                "Kubernetes: create Pod {}/probe-* ({phase:?}) image {} imagePullPolicy Always imagePullSecrets [{}]",
                env.run_namespace,
                pr.image,
                pr.pull_secrets.join(", ")
            ));
        }
        changes.push(format!(
            "Kubernetes: write ConfigMap {}/{} (journal) and Lease {}/{}",
            target.journal_namespace,
            journal::config_map_name(&env.run_id),
            target.journal_namespace,
            lease::LEASE_NAME
        ));
        changes.extend(p.fault.describe(&env).into_iter().map(|c| format!("fault: {c}")));
        sink.emit(Event::scenario(
            &p.plan.name,
            EventKind::ScenarioStarted {
                fault: p.fault.kind().into(),
                description: p.plan.description.clone(),
                tags: p.plan.tags.clone(),
                changes,
            },
        ));
        sink.emit(Event::scenario(
            &p.plan.name,
            EventKind::ScenarioFinished { verdict: Verdict::Skipped },
        ));
    }
}

/// Why a live run stopped before its first change. Each becomes a `run-refused` event;
/// for [`RunError::EarlierFaultsRemain`] the replay has already announced each change not
/// known to be undone (`undo-pending`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The plan or configuration does not allow the run (nothing was changed).
    #[error("{0}")]
    Refused(String),
    /// Another live process holds the run lease.
    #[error(
        "another acr-chaos process ({holder}) holds the lease {namespace}/{lease} ({detail}); wait for it to finish, or if it died on another machine, wait {seconds}s for the lease to expire and retry",
        lease = lease::LEASE_NAME,
        seconds = lease::LEASE_SECONDS
    )]
    LeaseHeld { holder: String, namespace: String, detail: String },
    /// The target could not be reached, identified or prepared.
    #[error("{what}: {source}")]
    Target {
        what: String,
        #[source]
        source: Box<ClientError>,
    },
    #[error(transparent)]
    Permissions(#[from] super::permissions::PermissionCheckError),
    /// An earlier run may have left a fault that could not be undone.
    #[error(
        "an earlier run may have left a fault on this cluster that could not be undone; nothing was changed by this run. Fix the following, then run `acr-chaos recover --target FILE`:\n  {}",
        .0.join("\n  ")
    )]
    EarlierFaultsRemain(Vec<String>),
}

impl RunError {
    fn target(what: impl Into<String>) -> impl FnOnce(ClientError) -> Self {
        let what = what.into();
        move |source| RunError::Target { what, source: Box::new(source) }
    }
}

/// The target connected, identified, and its run-wide facts resolved.
struct Prepared {
    c: Connected,
    env: Env,
    here: TargetIdentity,
    jns: String,
}

/// The prefix of the note that marks the end of `connect_target` (`make bench` splits a
/// run's fixed overhead at it).
pub const CONNECTED_NOTE: &str = "connected to ";

/// Connected, and the Kubernetes API answers; says so with the time it took (client
/// configuration, the first TLS handshake and the first API answer).
async fn connect_target(
    target: &Target,
    retry: RetryPolicy,
    lro_interval: Duration,
    over: &Overrides,
    sink: &SharedSink,
) -> Result<Connected, RunError> {
    let name = target.name.as_str();
    let started = std::time::Instant::now();
    let c = connect(target, retry, lro_interval, over)
        .await
        .map_err(RunError::target(format!("target {name}")))?;
    let version = c
        .kube
        .version()
        .await
        .map_err(RunError::target(format!("target {name}: Kubernetes API unreachable")))?;
    let message = format!(
        "{CONNECTED_NOTE}{} (Kubernetes {version}) in {:.1} ms",
        c.kube.server,
        started.elapsed().as_secs_f64() * 1000.0
    );
    sink.note(message);
    Ok(c)
}

/// The cluster's identity, the facts that need ARM and the journal namespace with the
/// pull secrets. The two reads are independent and asked at once.
async fn prepare(
    c: &Connected,
    target: &Target,
    env0: Env,
    run_id: &str,
    over: &Overrides,
) -> Result<(Env, TargetIdentity, String), RunError> {
    let name = target.name.as_str();
    let (here, env) =
        tokio::join!(recover::identify(c, target, Duration::from_secs(30)), resolve_env(c, env0));
    let here = here.map_err(RunError::target(format!("target {name}: cluster identity")))?;
    let env = env.map_err(RunError::target(format!("target {name}")))?;
    let jns = target.journal_namespace.to_string();
    c.kube
        .ensure_namespace(&jns, run_id)
        .await
        .map_err(RunError::target(format!("journal namespace {jns}")))?;
    for s in &over.secrets {
        c.kube
            .put_secret(&jns, s)
            .await
            .map_err(RunError::target(format!("pull secret in {jns}")))?;
    }
    Ok((env, here, jns))
}

/// Take the run lease, then replay whatever earlier runs of this cluster left unfinished.
/// Holding the lease makes every other journal of this cluster a dead process's, so this
/// is the one safe moment to replay them; anything that cannot be undone or read refuses
/// the run before its first change.
async fn take_cluster(
    p: &Prepared,
    target: &Target,
    sink: &SharedSink,
    run_id: &str,
) -> Result<(), RunError> {
    let me = HolderProcess::this_process("run");
    match lease::acquire(&p.c.kube, &p.jns, run_id, &me).await.map_err(RunError::target("lease"))? {
        Acquire::Held { holder, detail } => {
            return Err(RunError::LeaseHeld { holder, namespace: p.jns.clone(), detail });
        }
        Acquire::Acquired { took_over: Some((holder, why)) } => {
            sink.note(format!(
                "stale lease of run {holder} ({why}): taken over; recovering its journal first"
            ));
        }
        Acquire::Acquired { took_over: None } => {}
    }
    let work_dir = std::env::current_dir().unwrap_or_default();
    let replayer = recover::Replayer {
        c: &p.c,
        target,
        here: &p.here,
        jns: &p.jns,
        work_dir: &work_dir,
        deadline: target.timeouts.restore.into(),
        sink,
    };
    let scope = recover::Scope { exclude: Some(run_id.to_string()), ..Default::default() };
    let rec = replayer.recover(&scope).await;
    if rec.clean() {
        return Ok(());
    }
    if let Err(e) = lease::release(&p.c.kube, &p.jns, run_id).await {
        tracing::warn!(error = %e, "releasing the lease");
    }
    Err(RunError::EarlierFaultsRemain(rec.problems().collect()))
}

/// What a live run needs besides the plan.
struct Live<'a> {
    args: &'a RunArgs,
    target: &'a Target,
    sink: &'a SharedSink,
    run_id: &'a str,
    retry: RetryPolicy,
    lro_interval: Duration,
    over: &'a Overrides,
    /// Flipped by a signal or a lost lease; the receiver is what the waits watch.
    cancel: (Canceller, watch::Receiver<bool>),
}

impl Live<'_> {
    /// The run under signal handling. Everything it has to say (a refusal, an
    /// interruption, changes not known to be undone) becomes an event: the exit code is
    /// read from the events.
    async fn run(&self, env0: Env, planned: Vec<Planned>) {
        let canceller = &self.cancel.0;
        signals::spawn_handler(canceller.clone());
        // the replay already announced each change an earlier run left (`undo-pending`)
        if let Err(e) = self.run_live(env0, planned).await {
            self.sink.emit(Event::run(EventKind::RunRefused { reason: e.to_string() }));
        }
        if let Some(signal) = canceller.reason() {
            self.sink.emit(Event::run(EventKind::RunInterrupted { signal }));
        }
    }

    async fn run_live(&self, env0: Env, planned: Vec<Planned>) -> Result<(), RunError> {
        let (target, sink, run_id) = (self.target, self.sink, self.run_id);
        let c =
            connect_target(target, self.retry.clone(), self.lro_interval, self.over, sink).await?;
        if super::permissions::preflight(&c, target, &env0, &planned, sink).await? {
            return Ok(());
        }
        let (environment, prepared) = tokio::join!(
            super::environment::observe(&c, &env0.registry_id, &env0.cluster_id),
            prepare(&c, target, env0.clone(), run_id, self.over)
        );
        let (env, here, jns) = prepared?;
        let p = Prepared { c, env, here, jns };
        sink.emit(Event::run(EventKind::EnvironmentObserved { environment }));
        take_cluster(&p, target, sink, run_id).await?;
        let lost = self.cancel.0.clone();
        let lost_sink = sink.clone();
        let renewer =
            lease::spawn_renewer(p.c.kube.clone(), p.jns.clone(), run_id.to_string(), move |why| {
                let message = format!("stopping: {why}; restoring every change");
                lost_sink.note(message);
                lost.cancel("lease-lost");
            });
        let result = self.run_scenarios(&p, planned).await;
        renewer.abort();
        if let Err(e) = lease::release(&p.c.kube, &p.jns, run_id).await {
            tracing::warn!(error = %e, "releasing the lease");
        }
        result
    }

    async fn run_scenarios(&self, p: &Prepared, planned: Vec<Planned>) -> Result<(), RunError> {
        let svc = Arc::new(self.services(p, &planned)?);
        let env = Arc::new(p.env.clone());
        let jobs: Vec<_> = planned
            .into_iter()
            .map(|pl| {
                let locks: BTreeSet<_> = pl.fault.locks(&env).into_iter().collect();
                let svc = svc.clone();
                let env = env.clone();
                (locks, move || async move {
                    if *svc.cancel.borrow() {
                        return;
                    }
                    stage::run(&svc, &pl.plan, pl.fault.as_ref(), &env).await;
                })
            })
            .collect();
        plan::schedule(self.args.parallel, jobs).await;
        self.sink.emit(Event::run(EventKind::Note {
            message: format!("ARM requests: {}", p.c.arm.request_count()),
        }));
        if let Err(e) = svc.journal.close().await {
            tracing::warn!(error = %e, "removing the journal's cluster copy");
        }
        // an undo the scenarios did not get to (interrupted between journal and inject),
        // or one whose journal update failed: the events alone would not show it
        for entry in svc.journal.snapshot().await.unfinished() {
            let change = entry.undo.describe();
            self.sink.emit(Event::run(EventKind::UndoPending { change }));
        }
        Ok(())
    }

    /// The run-wide services the scenarios share.
    fn services(&self, p: &Prepared, planned: &[Planned]) -> Result<Services, RunError> {
        let (args, run_id, target) = (self.args, self.run_id, self.target);
        let work_dir = std::env::current_dir().unwrap_or_default();
        let mut files = Journal::standard_files(&args.report_dir, &work_dir, run_id);
        if self.over.ephemeral {
            files.truncate(1);
        }
        let journal = Arc::new(Journal::new(
            run_id,
            p.here.clone(),
            files,
            Some((p.c.kube.clone(), p.jns.clone())),
        ));
        let prober = Arc::new(KubeProber {
            kube: p.c.kube.clone(),
            secret_source_namespace: p.jns.clone(),
            settle: Duration::from_secs(3),
            reprobe_interval: super::probe::REPROBE_INTERVAL
                .mul_f64(p.env.time_scale.clamp(0.001, 1.0)),
        });
        let cancel = self.cancel.1.clone();
        let http = p.c.http.clone();
        let alerts =
            alert_context(http, target, planned, &p.env, self.retry.clone(), self.over, &cancel)
                .map_err(RunError::target("alert clients"))?;
        Ok(Services {
            arm: p.c.arm.clone(),
            kube: p.c.kube.clone(),
            prober,
            journal,
            sink: self.sink.clone(),
            run_id: run_id.to_string(),
            namespace_prefix: target.namespace_prefix.to_string(),
            preflight_deadline: target.timeouts.preflight.into(),
            restore_deadline: target.timeouts.restore.into(),
            cancel,
            alerts,
            lease: Some(stage::LeaseGuard {
                kube: p.c.kube.clone(),
                namespace: p.jns.clone(),
                holder: run_id.to_string(),
            }),
        })
    }
}

/// Alert clients, when any scenario has alerts; on the run's HTTP client (same roots).
fn alert_context(
    http: reqwest::Client,
    target: &Target,
    planned: &[Planned],
    env: &Env,
    retry: RetryPolicy,
    over: &Overrides,
    cancel: &watch::Receiver<bool>,
) -> Result<Option<crate::alerts::AlertContext>, ClientError> {
    let all_alerts: Vec<crate::scenario::Alert> =
        planned.iter().flat_map(|p| p.plan.alerts.iter().cloned()).collect();
    if all_alerts.is_empty() {
        return Ok(None);
    }
    let cred = over.credential.clone().or_else(|| super::connect::credential_config(target).ok());
    let mut ctx = crate::alerts::connect::from_target(
        target,
        &all_alerts,
        http,
        cred.as_ref(),
        env.time_scale,
        retry,
    )?;
    ctx.cancel = Some(cancel.clone());
    Ok(Some(ctx))
}

/// `acr-chaos recover`. Everything it has to say is an event: lines on the terminal
/// ([`report::terminal::RecoverLines`]), JSON Lines with `--events`, and the exit code
/// read from them as for a run.
pub fn recover(args: RecoverArgs) -> anyhow::Result<ExitCode> {
    crate::clients::install_crypto_provider();
    let target = match args.target.as_deref().map(load_target_file).transpose() {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let work_dir = std::env::current_dir()?;
    let lines = report::terminal::RecoverLines::stdio();
    let reporters = Arc::new(Mutex::new(report::recover_reporters(args.events.as_deref(), lines)));
    let sink = SharedSink::new(Box::new(Forward(reporters.clone())));
    let run_id = format!("recover-{}", uuid::Uuid::new_v4().simple());
    sink.emit(Event::run(EventKind::RunStarted {
        run_id: run_id.clone(),
        target: target.as_ref().map(|t| t.name.to_string()).unwrap_or_default(),
        scenarios: Vec::new(),
        dry_run: false,
    }));
    match (&target, args.force && args.run_id.is_none()) {
        (_, true) => refuse(
            &sink,
            "--force needs --run-id: force one run you have checked, never all".into(),
        ),
        (None, false) => list_local_only(&sink, &work_dir, args.run_id.as_deref()),
        (Some(t), false) => {
            runtime()?.block_on(recover_target(&args, t, &work_dir, &sink, &run_id));
        }
    }
    let code = reporters.lock().map_or(ExitCode::RestoreFailed, |r| r.exit_code());
    sink.emit(Event::run(EventKind::RunFinished { exit_code: code.code() }));
    if let Ok(Err(e)) = reporters.lock().map(|mut r| r.finish()) {
        eprintln!("error: writing events: {e}");
    }
    Ok(code)
}

fn refuse(sink: &SharedSink, reason: String) {
    sink.emit(Event::run(EventKind::RunRefused { reason }));
}

/// Changes that may remain because nothing could be replayed (exit 3).
fn not_replayed(sink: &SharedSink, why: String) {
    sink.emit(Event::run(EventKind::UndoPending {
        change: format!("nothing was replayed: {why}"),
    }));
}

/// Without a target only the local journals can be read: list what is unfinished.
fn list_local_only(sink: &SharedSink, work_dir: &Path, run_id: Option<&str>) {
    let lines = recover::list_local(work_dir, run_id);
    if lines.is_empty() {
        return sink.note("nothing to recover".into());
    }
    for change in lines {
        sink.emit(Event::run(EventKind::UndoPending { change }));
    }
    refuse(
        sink,
        "unfinished or unreadable journals found; pass --target FILE so that they can be replayed"
            .into(),
    );
}

async fn recover_target(
    args: &RecoverArgs,
    target: &Target,
    work_dir: &Path,
    sink: &SharedSink,
    holder: &str,
) {
    let deadline: Duration = args.deadline.into();
    let over = Overrides::default();
    let c = match connect(target, RetryPolicy::default(), Duration::from_secs(2), &over).await {
        Ok(c) => c,
        Err(e) => return refuse(sink, format!("target {}: {e}", target.name)),
    };
    let here = match recover::identify(&c, target, deadline).await {
        Ok(h) => h,
        Err(e) => {
            let why = format!("target {}: cannot identify the cluster ({e})", target.name);
            return not_replayed(sink, why);
        }
    };
    let jns = target.journal_namespace.to_string();
    let Some(held) = hold_for_recover(&c, &jns, holder, args, sink).await else { return };
    let replayer =
        recover::Replayer { c: &c, target, here: &here, jns: &jns, work_dir, deadline, sink };
    let scope =
        recover::Scope { run_id: args.run_id.clone(), force: args.force, ..Default::default() };
    let rec = replayer.recover(&scope).await;
    if held && let Err(e) = lease::release(&c.kube, &jns, holder).await {
        sink.note(format!("warning: releasing the lease: {e}"));
    }
    say_outcome(sink, &rec, args.run_id.as_deref());
}

/// Hold the lease while replaying, so that no run starts in the middle and no second
/// `recover` replays the same undos. `Some(false)`: proceeding without it (`--force`);
/// `None`: not replaying (said why).
async fn hold_for_recover(
    c: &Connected,
    jns: &str,
    holder: &str,
    args: &RecoverArgs,
    sink: &SharedSink,
) -> Option<bool> {
    let me = HolderProcess::this_process("recover");
    let until = tokio::time::Instant::now() + args.wait.map(Duration::from).unwrap_or_default();
    loop {
        match lease::acquire(&c.kube, jns, holder, &me).await {
            Ok(Acquire::Acquired { took_over }) => {
                if let Some((h, why)) = took_over {
                    sink.note(format!("took over the stale lease of {h} ({why})"));
                }
                return Some(true);
            }
            Ok(Acquire::Held { holder: h, detail }) if args.force => {
                sink.note(format!(
                    "warning: --force: replaying although {h} holds the lease ({detail})"
                ));
                return Some(false);
            }
            Ok(Acquire::Held { holder: h, detail }) => {
                if tokio::time::Instant::now() >= until {
                    not_replayed(
                        sink,
                        format!(
                            "{h} is alive (lease {jns}/{}: {detail}); recover never touches a live run. It restores its own changes when it ends; wait for it (--wait), or if you know it is dead, `--force --run-id {h}`",
                            lease::LEASE_NAME
                        ),
                    );
                    return None;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                not_replayed(sink, format!("lease {jns}/{}: {e}", lease::LEASE_NAME));
                return None;
            }
        }
    }
}

/// The last line: what was done, or how many problems remain (each already announced).
fn say_outcome(sink: &SharedSink, rec: &recover::Recovery, run_id: Option<&str>) {
    let line = match (run_id, rec.found, rec.restored.len()) {
        _ if !rec.clean() => format!(
            "{} problem(s): a fault may still be in place on this target",
            rec.problems().count()
        ),
        (Some(r), false, _) => format!("no journal for run {r}: nothing to recover"),
        (_, _, 0) => "nothing to recover".into(),
        (_, _, n) => format!("recovered: {n} undo(s) replayed and checked"),
    };
    sink.note(line);
}
