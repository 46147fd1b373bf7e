//! `acr-chaos run` and `acr-chaos recover`.

use super::connect::{Connected, Overrides, connect, resolve_env, static_env};
use super::journal::{self, EntryState, Journal, JournalDoc};
use super::lease::{self, Acquire};
use super::plan::{self, Planned};
use super::probe::KubeProber;
use super::scenario::{self as stage, Services, SharedSink};
use crate::ExitCode;
use crate::clients::retry::RetryPolicy;
use crate::events::{Event, EventKind, Sink, Verdict};
use crate::faults::{self, Ctx, Env};
use crate::report::{self, Reporter, Terminal};
use crate::scenario::Target;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
struct Forward(Arc<Mutex<report::StandardReporters>>);
impl Sink for Forward {
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
    if let Some(b) = &args.baseline
        && let Err(e) = crate::diff::cli::check_before_run(b, target.name.as_str())
    {
        eprintln!("error: {e}");
        return Ok(ExitCode::InvalidInput);
    }
    let run_id = report::new_run_id();
    let mut planned: Vec<Planned> = Vec::new();
    for s in scenarios {
        match plan::plan(s, target) {
            Ok(p) => planned.push(p),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::InvalidInput);
            }
        }
    }
    let mut env0 = static_env(target, &run_id);
    env0.time_scale = over
        .time_scale
        .or_else(|| target.lab.as_ref().and_then(|l| l.valid_time_scale()))
        .unwrap_or(1.0);
    // guard rails, checked before anything is touched (kubelet id not needed for ids)
    let refusals = plan::guard(target, &env0, &planned);
    if !refusals.is_empty() {
        for r in &refusals {
            eprintln!("refused: {r}");
        }
        eprintln!("guard rails refused the run; nothing was changed");
        return Ok(ExitCode::InvalidInput);
    }
    let terminal = if args.quiet { Terminal::Quiet } else { Terminal::Stderr };
    let reporters =
        Arc::new(Mutex::new(report::standard_reporters(&args.report_dir, &run_id, terminal)));
    let sink = SharedSink::new(Box::new(Forward(reporters.clone())));
    sink.emit(Event::run(EventKind::RunStarted {
        run_id: run_id.clone(),
        target: target.name.to_string(),
        scenarios: planned.iter().map(|p| p.plan.name.clone()).collect(),
        dry_run: args.dry_run,
    }));

    let code = if args.dry_run {
        dry_run(&sink, target, &env0, &planned);
        ExitCode::Success
    } else {
        match live_run(args, target, env0, planned, &sink, &run_id, retry, lro_interval, &over)
            .await
        {
            Ok(c) => c,
            Err(msg) => {
                sink.emit(Event::run(EventKind::Note { message: msg.clone() }));
                eprintln!("error: {msg}");
                ExitCode::InvalidInput
            }
        }
    };
    let model_code = reporters.lock().map(|r| r.exit_code()).unwrap_or(ExitCode::Success);
    let code = code.worst(model_code);
    sink.emit(Event::run(EventKind::RunFinished { exit_code: code.code() }));
    let finished = reporters.lock().map(|mut r| r.finish());
    if let Ok(Err(e)) = finished {
        eprintln!("error: writing reports: {e}");
    }
    Ok(match &args.baseline {
        Some(b) if !args.dry_run => {
            crate::diff::cli::after_run(b, &args.report_dir.join(&run_id), code, args.quiet)
        }
        _ => code,
    })
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
        for c in &changes {
            println!("{}: {c}", p.plan.name);
        }
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

/// SIGINT/SIGTERM flip the returned channel to true (the engine restores, then exits 130).
pub fn signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let sigterm = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm => {}
        }
        eprintln!("interrupted: restoring every change before exiting");
        let _ = tx.send(true);
    });
    rx
}

#[expect(
    clippy::too_many_arguments,
    clippy::too_many_lines,
    reason = "to be split into typed stages (issue #12 item 1)"
)]
async fn live_run(
    args: &RunArgs,
    target: &Target,
    env0: Env,
    planned: Vec<Planned>,
    sink: &SharedSink,
    run_id: &str,
    retry: RetryPolicy,
    lro_interval: Duration,
    over: &Overrides,
) -> Result<ExitCode, String> {
    let cancel = signals();
    let c = connect(target, retry.clone(), lro_interval, over)
        .await
        .map_err(|e| format!("target {}: {e}", target.name))?;
    c.kube
        .version()
        .await
        .map_err(|e| format!("target {}: Kubernetes API unreachable: {e}", target.name))?;
    if let Some(code) = super::permissions::preflight(&c, target, &env0, &planned, sink).await? {
        return Ok(code);
    }
    let env = resolve_env(&c, env0).await.map_err(|e| format!("target {}: {e}", target.name))?;
    let environment = super::environment::observe(&c, &env.registry_id, &env.cluster_id).await;
    sink.emit(Event::run(EventKind::EnvironmentObserved { environment }));
    let jns = target.journal_namespace.to_string();
    c.kube
        .ensure_namespace(&jns, run_id)
        .await
        .map_err(|e| format!("journal namespace {jns}: {e}"))?;
    for s in &over.secrets {
        c.kube.put_secret(&jns, s).await.map_err(|e| format!("pull secret in {jns}: {e}"))?;
    }

    // one run per cluster
    match lease::acquire(&c.kube, &jns, run_id).await.map_err(|e| format!("lease: {e}"))? {
        Acquire::Acquired => {}
        Acquire::Held { holder } => {
            return Err(format!(
                "another acr-chaos run ({holder}) holds the lease {jns}/{}; wait for it or, if it died, wait {}s and retry",
                lease::LEASE_NAME,
                lease::LEASE_SECONDS
            ));
        }
        Acquire::Stale { holder, lease: l } => {
            sink.emit(Event::run(EventKind::Note {
                message: format!("stale lease of run {holder}: recovering its journal first"),
            }));
            let failed = recover_run(
                &c,
                target,
                &jns,
                Some(&holder),
                &std::env::current_dir().unwrap_or_default(),
            )
            .await?;
            if failed > 0 {
                return Err(format!(
                    "run {holder} left {failed} undo(s) that could not be replayed; fix them and run `acr-chaos recover --run-id {holder}`"
                ));
            }
            // recovery releases the dead run's lease when everything was undone; else it
            // is still there, stale: take it over (a 409 means another run was faster)
            drop(l);
            match lease::acquire(&c.kube, &jns, run_id).await.map_err(|e| format!("lease: {e}"))? {
                Acquire::Acquired => {}
                Acquire::Stale { lease: l, .. } => lease::take_over(&c.kube, &jns, run_id, *l)
                    .await
                    .map_err(|e| format!("taking over the lease: {e}"))?,
                Acquire::Held { holder } => {
                    return Err(format!("another acr-chaos run ({holder}) took the lease first"));
                }
            }
        }
    }
    let renewer = lease::spawn_renewer(c.kube.clone(), jns.clone(), run_id.to_string());

    let work_dir = std::env::current_dir().unwrap_or_default();
    let journal = Arc::new(Journal::new(
        run_id,
        target.name.as_str(),
        Journal::standard_files(&args.report_dir, &work_dir, run_id),
        Some((c.kube.clone(), jns.clone())),
    ));
    let prober = Arc::new(KubeProber {
        kube: c.kube.clone(),
        secret_source_namespace: jns.clone(),
        settle: Duration::from_secs(3),
        reprobe_interval: super::probe::REPROBE_INTERVAL.mul_f64(env.time_scale.clamp(0.001, 1.0)),
    });
    let all_alerts: Vec<crate::scenario::Alert> =
        planned.iter().flat_map(|p| p.plan.alerts.iter().cloned()).collect();
    let alerts = if all_alerts.is_empty() {
        None
    } else {
        let ca = match &over.ca_pem {
            Some(p) => Some(p.clone()),
            None => super::connect::extra_ca().map_err(|e| e.to_string())?,
        };
        let http =
            crate::clients::credential::http_client(ca.as_deref()).map_err(|e| e.to_string())?;
        let cred =
            over.credential.clone().or_else(|| super::connect::credential_config(target).ok());
        let mut ctx = crate::alerts::connect::from_target(
            target,
            &all_alerts,
            http,
            cred.as_ref(),
            env.time_scale,
            retry.clone(),
        )
        .map_err(|e| format!("alert clients: {e}"))?;
        ctx.cancel = Some(cancel.clone());
        Some(ctx)
    };
    let svc = Arc::new(Services {
        arm: c.arm.clone(),
        kube: c.kube.clone(),
        prober,
        journal,
        sink: sink.clone(),
        run_id: run_id.to_string(),
        namespace_prefix: target.namespace_prefix.to_string(),
        preflight_deadline: target.timeouts.preflight.into(),
        cancel: cancel.clone(),
        alerts,
    });
    let env = Arc::new(env);
    let jobs: Vec<_> = planned
        .into_iter()
        .map(|p| {
            let locks: BTreeSet<_> = p.fault.locks(&env).into_iter().collect();
            let svc = svc.clone();
            let env = env.clone();
            (locks, move || async move {
                if *svc.cancel.borrow() {
                    return None;
                }
                Some(stage::run(&svc, &p.plan, p.fault.as_ref(), &env).await)
            })
        })
        .collect();
    let outcomes = plan::schedule(args.parallel, jobs).await;
    sink.emit(Event::run(EventKind::Note {
        message: format!("ARM requests: {}", c.arm.request_count()),
    }));
    if let Err(e) = svc.journal.close().await {
        tracing::warn!(error = %e, "removing the journal's cluster copy");
    }
    renewer.abort();
    if let Err(e) = lease::release(&c.kube, &jns, run_id).await {
        tracing::warn!(error = %e, "releasing the lease");
    }
    let mut code = ExitCode::Success;
    for o in outcomes.iter().flatten() {
        if o.restore_failed {
            code = code.worst(ExitCode::RestoreFailed);
        }
        if o.verdict == Verdict::Failed {
            code = code.worst(ExitCode::ExpectationFailed);
        }
    }
    if *cancel.borrow() {
        code = code.worst(ExitCode::Interrupted);
    }
    Ok(code)
}

/// `acr-chaos recover`.
pub fn recover(args: RecoverArgs) -> anyhow::Result<ExitCode> {
    crate::clients::install_crypto_provider();
    runtime()?.block_on(async move {
        let work_dir = std::env::current_dir()?;
        let Some(tp) = &args.target else {
            // without a target we can only report what is unfinished locally
            let mut any = false;
            for (p, doc) in journal::local_journals(&work_dir) {
                if args.run_id.as_deref().is_some_and(|r| r != doc.run_id) {
                    continue;
                }
                for e in doc.unfinished() {
                    any = true;
                    println!(
                        "{} ({}): {} [{:?}]",
                        doc.run_id,
                        p.display(),
                        e.undo.describe(),
                        e.state
                    );
                }
            }
            if any {
                eprintln!(
                    "error: unfinished undos found; pass --target FILE so that they can be replayed"
                );
                return Ok(ExitCode::RestoreFailed);
            }
            println!("nothing to recover");
            return Ok(ExitCode::Success);
        };
        let target = match load_target_file(tp) {
            Ok(t) => t,
            Err(c) => return Ok(c),
        };
        let c = match connect(
            &target,
            RetryPolicy::default(),
            Duration::from_secs(2),
            &Overrides::default(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: target {}: {e}", target.name);
                return Ok(ExitCode::InvalidInput);
            }
        };
        let jns = target.journal_namespace.to_string();
        match recover_run(&c, &target, &jns, args.run_id.as_deref(), &work_dir).await {
            Ok(0) => Ok(ExitCode::Success),
            Ok(n) => {
                eprintln!("{n} undo(s) failed; the environment may still be faulty");
                Ok(ExitCode::RestoreFailed)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::RestoreFailed)
            }
        }
    })
}

/// Replay the unfinished undos of one run (or every run) from the local files and the
/// cluster's ConfigMaps. Returns how many failed.
pub async fn recover_run(
    c: &Connected,
    target: &Target,
    jns: &str,
    run_id: Option<&str>,
    work_dir: &Path,
) -> Result<usize, String> {
    let mut docs: Vec<(JournalDoc, Vec<PathBuf>)> = Vec::new();
    for (p, d) in journal::local_journals(work_dir) {
        docs.push((d, vec![p]));
    }
    match journal::cluster_journals(&c.kube, jns).await {
        Ok(cluster) => {
            for d in cluster {
                match docs.iter_mut().find(|(l, _)| l.run_id == d.run_id) {
                    // merge: an entry is done if either copy says so
                    Some((l, _)) => {
                        for e in &d.entries {
                            match l.entries.iter_mut().find(|x| x.id == e.id) {
                                Some(x) if e.state == EntryState::Done => {
                                    x.state = EntryState::Done
                                }
                                Some(_) => {}
                                None => l.entries.push(e.clone()),
                            }
                        }
                    }
                    None => docs.push((d, vec![])),
                }
            }
        }
        Err(e) => eprintln!("warning: cluster journal copies unreadable: {e}"),
    }
    let env = static_env(target, run_id.unwrap_or("recover"));
    let ctx = Ctx { arm: &c.arm, kube: &c.kube, env: &env };
    let mut failed = 0;
    let mut found = false;
    for (doc, files) in docs {
        if run_id.is_some_and(|r| r != doc.run_id) {
            continue;
        }
        found = true;
        let pending: Vec<_> = doc.unfinished().cloned().collect();
        if pending.is_empty() {
            continue;
        }
        let j = Journal::resume(doc.clone(), files, Some((c.kube.clone(), jns.to_string())));
        for e in pending.iter().rev() {
            if let Some(id) = e.undo.arm_id()
                && !target.allows_resource(&id)
            {
                eprintln!("refused: {} (not in the allowlist)", e.undo.describe());
                failed += 1;
                continue;
            }
            let mut r = faults::undo::apply(&ctx, &e.undo).await;
            if r.is_ok() {
                r = faults::undo::verify(&ctx, &e.undo).await;
            }
            match r {
                Ok(()) => {
                    println!("{}: restored: {}", doc.run_id, e.undo.describe());
                    let _ = j.mark(e.id, EntryState::Done, None).await;
                }
                Err(err) => {
                    eprintln!("{}: FAILED: {}: {err}", doc.run_id, e.undo.describe());
                    let _ = j.mark(e.id, EntryState::Failed, Some(err.to_string())).await;
                    failed += 1;
                }
            }
        }
        if let Ok(true) = j.close().await {
            // the recovered run's lease (if it died holding it) is released too
            let _ = lease::release(&c.kube, jns, &doc.run_id).await;
        }
    }
    if let Some(r) = run_id
        && !found
    {
        println!("no journal for run {r}: nothing to recover");
    }
    Ok(failed)
}
