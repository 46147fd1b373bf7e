//! Done-when of issue 6 item 3: `diagnose` names the right cause and fix for each
//! built-in fault injected in the lab. One lab (real docker-registry + containerd, the
//! kubelet emulator); for each fault: inject it with the engine's own fault
//! implementation (ARM API / secrets), create a probe pod, watch it reach
//! ErrImagePull/ImagePullBackOff, run `diagnose` (library call, context built from the
//! lab's `lab.env` as the CLI does), check the cause, the failed check and the fix
//! command, then restore. Needs root + containerd + docker-registry (loud SKIP otherwise;
//! a panic under CI=true).

use acr_chaos::classify::Cause;
use acr_chaos::clients::arm::ACR_PULL_ROLE;
use acr_chaos::clients::kube::{ProbeSpec, docker_config_secret};
use acr_chaos::diagnose::{self, Diagnosis, Status, names};
use acr_chaos::engine::connect::{Connected, resolve_env, static_env};
use acr_chaos::engine::lab::{LAB_PRIVATE_SECRET, LabFacts, write_target};
use acr_chaos::faults::{Ctx, Fault, Phase, ProbePlan, undo};
use acr_chaos_lab::lab::Lab;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use std::path::Path;
use std::time::Duration;

fn prerequisites(test: &str) -> bool {
    let bins = [acr_chaos_lab::containerd::CONTAINERD_BIN, "/usr/bin/docker-registry"];
    let mut missing: Vec<String> =
        bins.iter().filter(|b| !Path::new(b).exists()).map(|b| b.to_string()).collect();
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
        missing.push("root privileges".into());
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{test}: needs {} (containerd, docker-registry; root)", missing.join(", "));
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and prerequisites are missing: {msg}");
    }
    eprintln!("SKIPPED: ***** {msg} *****");
    false
}

/// A fault, its probe, and what diagnose must say.
struct Case {
    name: &'static str,
    /// Injected in order (restored in reverse).
    faults: Vec<Box<dyn Fault>>,
    private: bool,
    extra_secrets: Vec<String>,
    /// Any of these causes is right (the lab's containerd words a refused token request
    /// as `failed to fetch oauth token: 401` once the credential provider sent one).
    causes: &'static [Cause],
    check: &'static str,
    fix: String,
}

fn waiting_reason(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

/// Watch the probe until it fails to pull (and its event carries a classified message);
/// `None` when it ran (the fault has not propagated yet).
async fn wait_pull_failure(
    kube: &acr_chaos::clients::kube::Kube,
    ns: &str,
    pod: &str,
) -> Option<String> {
    let stream = kube.watch_probe(ns, pod);
    futures::pin_mut!(stream);
    let mut reason = None;
    let mut classified = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    while reason.is_none() || !classified {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        match next {
            Ok(Some(Ok(faults_update))) => match faults_update {
                acr_chaos::clients::kube::ProbeUpdate::Pod(p) => {
                    if let Some(r) = waiting_reason(&p)
                        && diagnose::pod::PULL_REASONS.contains(&r.as_str())
                    {
                        reason = Some(r);
                    }
                    let phase = p.status.as_ref().and_then(|s| s.phase.clone());
                    if phase.as_deref() == Some("Running") {
                        return None;
                    }
                }
                acr_chaos::clients::kube::ProbeUpdate::Event(e) => {
                    if e.message
                        .as_deref()
                        .is_some_and(|m| !acr_chaos::classify::classify(m).is_empty())
                    {
                        classified = true;
                    }
                }
            },
            Ok(Some(Err(e))) => eprintln!("watch: {e}"),
            Ok(None) => panic!("{pod}: watch ended"),
            Err(_) => panic!("{pod}: no image-pull failure in 150s (reason {reason:?})"),
        }
    }
    reason
}

fn verdict(c: &Case, d: &Diagnosis) -> Result<(), String> {
    let mut errs = Vec::new();
    if !c.causes.iter().any(|&x| d.has_cause(x)) {
        errs.push(format!(
            "none of the causes {:?} found in {:?}",
            c.causes,
            d.causes.iter().map(|c| c.id).collect::<Vec<_>>()
        ));
    }
    match d.check(c.check) {
        _ if c.check.is_empty() => {}
        Some(ch) if ch.status == Status::Fail => {}
        other => errs.push(format!("check {} should fail: {other:?}", c.check)),
    }
    if !d.fixes.iter().any(|f| f.command.contains(&c.fix)) {
        errs.push(format!(
            "no fix contains {:?}: {:#?}",
            c.fix,
            d.fixes.iter().map(|f| &f.command).collect::<Vec<_>>()
        ));
    }
    if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::too_many_lines, reason = "a table of built-in faults, then one loop over it")]
async fn diagnose_names_cause_and_fix_for_each_builtin_fault() {
    if !prerequisites("diagnose_lab") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::builder()
        .state_dir(tmp.path())
        .time_scale(0.02)
        .with_kubelet(true)
        .start()
        .await
        .expect("lab starts");
    let facts = LabFacts::from_lab(&lab);
    let (_, target) = write_target(&facts, tmp.path()).expect("lab target");
    // The context exactly as `acr-chaos diagnose --lab-state DIR` builds it.
    let mut ctx = diagnose::cli::context_from_lab_env(&lab.state_dir().join("lab.env"))
        .await
        .expect("context from lab.env");
    ctx.nsg_id = Some(facts.nsg_id.clone());
    let conn =
        Connected { arm: ctx.arm.clone(), kube: ctx.kube.clone(), http: reqwest::Client::new() };
    let base_env = resolve_env(&conn, static_env(&target, "diag")).await.expect("resolve env");
    let kubelet_oid = base_env.kubelet_object_id.clone().unwrap();
    let (acr, _) = diagnose::arm_name_rg(&facts.registry_id);
    let (cluster, cluster_rg) = diagnose::arm_name_rg(&facts.cluster_id);
    let (nsg, nsg_rg) = diagnose::arm_name_rg(&facts.nsg_id);
    let (hub_user, hub_pass) = {
        let st = lab.state().read();
        (st.world.private_registry.username.clone(), st.world.private_registry.password.clone())
    };
    use acr_chaos::faults::{
        acr_detach::AcrDetach, image_tag_missing::ImageTagMissing,
        network_path_cut::NetworkPathCut, private_registry_no_secret::PrivateRegistryNoSecret,
        pull_secret_expired::PullSecretExpired, pull_secret_missing::PullSecretMissing,
        pull_secret_wrong::PullSecretWrong, registry_firewall_deny::RegistryFirewallDeny,
        role_assignment_delete::RoleAssignmentDelete,
    };
    let mut cases = vec![
        Case {
            name: "acr-detach",
            faults: vec![Box::new(AcrDetach { registry_id: None })],
            private: false,
            extra_secrets: vec![],
            causes: &[
                Cause::UnauthorizedAnonymous,
                Cause::UnauthorizedCredentials,
                Cause::Unauthorized,
            ],
            check: names::KUBELET_IDENTITY_ROLE,
            fix: format!("az aks update -n {cluster} -g {cluster_rg} --attach-acr {acr}"),
        },
        Case {
            name: "role-assignment-delete",
            faults: vec![Box::new(RoleAssignmentDelete {
                principal: None,
                role_guid: ACR_PULL_ROLE.into(),
                role_name: "AcrPull".into(),
                scope: acr_chaos::scenario::values::Scope::Registry,
            })],
            private: false,
            extra_secrets: vec![],
            causes: &[
                Cause::UnauthorizedAnonymous,
                Cause::UnauthorizedCredentials,
                Cause::Unauthorized,
            ],
            check: names::KUBELET_IDENTITY_ROLE,
            fix: format!(
                "az role assignment create --assignee {kubelet_oid} --role AcrPull --scope {}",
                facts.registry_id
            ),
        },
        Case {
            name: "registry-firewall-deny",
            faults: vec![Box::new(RegistryFirewallDeny {
                public_access_disabled: false,
                allow_ips: vec!["203.0.113.10/32".into()],
            })],
            private: false,
            extra_secrets: vec![],
            causes: &[Cause::ForbiddenNetwork],
            check: names::REGISTRY_NETWORK,
            fix: format!("az acr network-rule add --name {acr} --ip-address"),
        },
        Case {
            name: "registry-public-access-disabled",
            faults: vec![Box::new(RegistryFirewallDeny {
                public_access_disabled: true,
                allow_ips: vec![],
            })],
            private: false,
            extra_secrets: vec![],
            causes: &[Cause::ForbiddenNetwork],
            check: names::REGISTRY_NETWORK,
            fix: format!("az acr update --name {acr} --public-network-enabled true"),
        },
        Case {
            name: "image-tag-missing",
            faults: vec![Box::new(ImageTagMissing { tag: "does-not-exist-acr-chaos".into() })],
            private: false,
            extra_secrets: vec![],
            causes: &[Cause::NotFound],
            check: names::IMAGE_TAG,
            fix: format!("az acr repository show-tags --name {acr} --repository probe/hello"),
        },
        Case {
            name: "private-registry-no-secret",
            faults: vec![Box::new(PrivateRegistryNoSecret)],
            private: true,
            extra_secrets: vec![],
            causes: &[Cause::AccessDenied],
            check: names::PULL_SECRET,
            fix: format!("kubectl create secret docker-registry {} ", "regcred"),
        },
        Case {
            name: "pull-secret-missing",
            faults: vec![Box::new(PullSecretMissing { secret: "acr-chaos-missing-secret".into() })],
            private: true,
            extra_secrets: vec!["acr-chaos-missing-secret".into()],
            causes: &[Cause::PullSecretMissing],
            check: names::PULL_SECRET,
            fix: "kubectl create secret docker-registry acr-chaos-missing-secret".into(),
        },
        Case {
            name: "pull-secret-wrong",
            faults: vec![Box::new(PullSecretWrong { secret: None })],
            private: true,
            extra_secrets: vec![],
            causes: &[Cause::UnauthorizedCredentials],
            check: names::PULL_SECRET_CREDENTIALS,
            fix: format!("kubectl delete secret {LAB_PRIVATE_SECRET}"),
        },
        Case {
            name: "pull-secret-expired",
            // attached clusters fall back to the kubelet identity when a pull secret is
            // refused (as the kubelet does), so the cluster is detached as well
            faults: vec![
                Box::new(AcrDetach { registry_id: None }),
                Box::new(PullSecretExpired {
                    token: "probe-pull".into(),
                    expiry: Duration::from_secs(2),
                    registry_id: None,
                }),
            ],
            private: false,
            extra_secrets: vec![],
            causes: &[Cause::UnauthorizedCredentials],
            check: names::PULL_SECRET_CREDENTIALS,
            fix: format!("az acr token credential generate --name probe-pull --registry {acr}"),
        },
        Case {
            name: "network-path-cut",
            faults: vec![Box::new(NetworkPathCut {
                rule_name: "acr-chaos-deny-registry".into(),
                priority: 100,
            })],
            private: false,
            extra_secrets: vec![],
            causes: &[Cause::NetworkUnreachable],
            check: "",
            fix: format!("az network nsg rule list -g {nsg_rg} --nsg-name {nsg}"),
        },
    ];
    if let Ok(only) = std::env::var("DIAGNOSE_CASE") {
        cases.retain(|c| c.name == only);
    }
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let ns = format!("diag-{i}-{}", case.name);
        ctx.kube.ensure_namespace(&ns, "diag").await.unwrap();
        let mut env = base_env.clone();
        env.run_namespace = ns.clone();
        env.scenario = case.name.into();
        env.time_scale = 0.02;
        ctx.kube
            .put_secret(
                &ns,
                &docker_config_secret(
                    LAB_PRIVATE_SECRET,
                    &facts.private_host,
                    &hub_user,
                    &hub_pass,
                    "diag",
                ),
            )
            .await
            .unwrap();
        let base = if case.private {
            ProbePlan {
                image: facts.private_image.clone().unwrap(),
                pull_secrets: vec![LAB_PRIVATE_SECRET.into()],
            }
        } else {
            ProbePlan { image: facts.acr_image.clone(), pull_secrets: case.extra_secrets.clone() }
        };
        let fctx = Ctx { arm: &ctx.arm, kube: &ctx.kube, env: &env };
        let mut undos = Vec::new();
        let mut plan = base.clone();
        for f in &case.faults {
            let snapshot =
                f.snapshot(&fctx).await.unwrap_or_else(|e| panic!("{}: snapshot: {e}", case.name));
            undos.extend(snapshot.clone());
            f.inject(&fctx, &snapshot)
                .await
                .unwrap_or_else(|e| panic!("{}: inject: {e}", case.name));
            plan = f.probe(&env, &plan, Phase::Faulted);
        }
        for s in &case.extra_secrets {
            if !plan.pull_secrets.contains(s) {
                plan.pull_secrets.push(s.clone());
            }
        }
        // Like the engine: re-probe until the fault has propagated (ARM → data plane,
        // the credential provider's token cache).
        let mut attempt = 0;
        let (pod, reason) = loop {
            attempt += 1;
            let pod = format!("probe-{attempt}");
            ctx.kube
                .create_probe(&ProbeSpec {
                    name: pod.clone(),
                    namespace: ns.clone(),
                    image: plan.image.clone(),
                    pull_secrets: plan.pull_secrets.clone(),
                    run_id: "diag".into(),
                    scenario: case.name.into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            match wait_pull_failure(&ctx.kube, &ns, &pod).await {
                Some(r) => break (pod, r),
                None => {
                    assert!(
                        attempt < 30,
                        "{}: the probe still pulls after {attempt} tries",
                        case.name
                    );
                    ctx.kube.delete_pod(&ns, &pod).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let pod = pod.as_str();
        let started = std::time::Instant::now();
        let d = diagnose::diagnose(&ctx, &ns, pod).await.expect("diagnosis");
        eprintln!("{}: diagnosed in {:?}", case.name, started.elapsed());
        let text = diagnose::render::text(&d);
        eprintln!("===== {} ({reason}) =====\n{text}", case.name);
        let mut result = verdict(case, &d);
        // no credential ever reaches the output
        let json = diagnose::render::json(&d);
        for secret in [
            hub_pass.as_str(),
            "lab-token-password-1-not-a-secret",
            "lab-runner-secret-not-a-real-secret",
        ] {
            if json.contains(secret) || text.contains(secret) {
                result = Err(format!("a secret leaked into the output of {}", case.name));
            }
        }
        if let Err(e) = result {
            failures.push(format!("{}: {e}", case.name));
        }
        for u in undos.iter().rev() {
            undo::apply(&fctx, u).await.unwrap_or_else(|e| panic!("{}: undo: {e}", case.name));
        }
        ctx.kube.delete_pod(&ns, pod).await.unwrap();
        ctx.kube.delete_namespace(&ns).await.unwrap();
    }
    lab.stop().await;
    assert!(
        failures.is_empty(),
        "diagnose got {} case(s) wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
