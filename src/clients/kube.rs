//! Kubernetes client: a `kube::Client` from the target's kubeconfig/context, and typed
//! helpers for what the engine touches: the run namespace, probe pods and their events,
//! pull secrets, the journal ConfigMap and the run Lease. Watches use
//! `kube::runtime::watcher` (no sleep-polling).

use super::ClientError;
use futures::{Stream, StreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Event as K8sEvent, LocalObjectReference, Namespace, Pod, PodSpec,
    ResourceRequirements, Secret,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::path::Path;

/// Label every object acr-chaos creates carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "acr-chaos");
pub const LABEL_RUN_ID: &str = "acr-chaos/run-id";
pub const LABEL_SCENARIO: &str = "acr-chaos/scenario";

/// What a probe pod looks like.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeSpec {
    pub name: String,
    pub namespace: String,
    pub image: String,
    pub pull_secrets: Vec<String>,
    pub node_selector: BTreeMap<String, String>,
    pub run_id: String,
    pub scenario: String,
}

/// One change seen on a watched probe.
#[derive(Debug, Clone)]
pub enum ProbeUpdate {
    Pod(Box<Pod>),
    Event(Box<K8sEvent>),
}

/// The Kubernetes side of a target.
#[derive(Clone)]
pub struct Kube {
    client: kube::Client,
    /// The context used (for the guard rails and reports).
    pub context: String,
    /// The API server URL (for the guard rails and reports).
    pub server: String,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Kube {
    /// Connect with a kubeconfig file and context; with neither, `$KUBECONFIG` or
    /// `~/.kube/config`, and inside a pod its service account (in-cluster config).
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<Self, ClientError> {
        super::install_crypto_provider();
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                    ClientError::Config(format!("kubeconfig {}: {e}", path.display()))
                })?;
                kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| {
                    ClientError::Config(format!("kubeconfig {}: {e}", path.display()))
                })?
            }
            None if context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| ClientError::Config(format!("kubeconfig: {e}")))?,
            // $KUBECONFIG or ~/.kube/config, else the pod's service account
            // (KUBERNETES_SERVICE_HOST and the mounted token): a CronJob needs no flag.
            None => kube::Config::infer().await.map_err(|e| {
                ClientError::Config(format!("no kubeconfig and not in a cluster: {e}"))
            })?,
        };
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config)
            .map_err(|e| ClientError::Config(format!("kubernetes client: {e}")))?;
        Ok(Self { client, context: context.unwrap_or("").to_string(), server })
    }

    /// Wrap an existing client (tests use a tower-test mock service).
    pub fn from_client(client: kube::Client) -> Self {
        Self { client, context: String::new(), server: String::new() }
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Reachability check: the API server's version.
    /// Whether the caller may `verb` `resource` of API `group` (in `namespace`, or at
    /// cluster scope) — a SelfSubjectAccessReview, the API server's own RBAC answer.
    pub async fn can_i(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<bool, ClientError> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
                    namespace: namespace.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let r = api.create(&PostParams::default(), &review).await?;
        Ok(r.status.is_some_and(|s| s.allowed))
    }

    /// The RBAC rules the caller holds in `namespace` (cluster-wide bindings included) — a
    /// SelfSubjectRulesReview. What a rule grants is granted; what no rule grants may still
    /// be granted by an authorizer the review cannot list (`status.incomplete`), so a
    /// "no" from the rules is only a "maybe": ask [`Kube::can_i`].
    pub async fn rules_in(
        &self,
        namespace: &str,
    ) -> Result<Vec<k8s_openapi::api::authorization::v1::ResourceRule>, ClientError> {
        use k8s_openapi::api::authorization::v1::{
            SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
        };
        let review = SelfSubjectRulesReview {
            spec: SelfSubjectRulesReviewSpec { namespace: Some(namespace.to_string()) },
            ..Default::default()
        };
        let api: Api<SelfSubjectRulesReview> = Api::all(self.client.clone());
        let r = api.create(&PostParams::default(), &review).await?;
        Ok(r.status.map(|s| s.resource_rules).unwrap_or_default())
    }

    pub async fn version(&self) -> Result<String, ClientError> {
        Ok(self.client.apiserver_version().await?.git_version)
    }

    /// The API server's `/version` document (environment facts).
    pub async fn server_info(
        &self,
    ) -> Result<k8s_openapi::apimachinery::pkg::version::Info, ClientError> {
        Ok(self.client.apiserver_version().await?)
    }

    /// Every node (environment facts: `nodeInfo`, AKS labels).
    pub async fn list_nodes(&self) -> Result<Vec<k8s_openapi::api::core::v1::Node>, ClientError> {
        let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(self.client.clone());
        Ok(api.list(&ListParams::default()).await?.items)
    }

    // ---- namespaces -------------------------------------------------------------------

    /// Create a namespace labelled as ours; fine if it already exists.
    pub async fn ensure_namespace(&self, name: &str, run_id: &str) -> Result<(), ClientError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(labels(run_id, None)),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a namespace; fine if it is gone.
    pub async fn delete_namespace(&self, name: &str) -> Result<(), ClientError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        ignore_404(api.delete(name, &DeleteParams::default()).await.map(|_| ()))
    }

    /// True when the namespace is gone or terminating.
    pub async fn namespace_gone(&self, name: &str) -> Result<bool, ClientError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        Ok(match api.get_opt(name).await? {
            None => true,
            Some(ns) => {
                ns.metadata.deletion_timestamp.is_some()
                    || ns.status.and_then(|s| s.phase).as_deref() == Some("Terminating")
            }
        })
    }

    // ---- probe pods -------------------------------------------------------------------

    pub async fn create_probe(&self, spec: &ProbeSpec) -> Result<Pod, ClientError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &spec.namespace);
        Ok(api.create(&PostParams::default(), &probe_pod(spec)).await?)
    }

    pub async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), ClientError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let dp = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
        ignore_404(api.delete(name, &dp).await.map(|_| ()))
    }

    /// Watch one pod and its events, merged into one stream. Watch errors are yielded
    /// (the watcher itself retries with back-off); the engine applies its own deadline.
    pub fn watch_probe(
        &self,
        namespace: &str,
        pod: &str,
    ) -> impl Stream<Item = Result<ProbeUpdate, ClientError>> + Send + 'static {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let pod_cfg = watcher::Config::default().fields(&format!("metadata.name={pod}"));
        let ev_cfg = watcher::Config::default()
            .fields(&format!("involvedObject.kind=Pod,involvedObject.name={pod}"));
        let p = watcher(pods, pod_cfg).filter_map(|e| async move {
            match e {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    Some(Ok(ProbeUpdate::Pod(Box::new(p))))
                }
                Ok(_) => None,
                Err(e) => Some(Err(ClientError::Config(format!("pod watch: {e}")))),
            }
        });
        let e = watcher(events, ev_cfg).filter_map(|e| async move {
            match e {
                Ok(watcher::Event::Apply(ev) | watcher::Event::InitApply(ev)) => {
                    Some(Ok(ProbeUpdate::Event(Box::new(ev))))
                }
                Ok(_) => None,
                Err(e) => Some(Err(ClientError::Config(format!("event watch: {e}")))),
            }
        });
        futures::stream::select(p, e)
    }

    // ---- secrets ----------------------------------------------------------------------

    pub async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Secret>, ClientError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        Ok(api.get_opt(name).await?)
    }

    /// Create or replace a secret (its resourceVersion is ignored on replace).
    pub async fn put_secret(&self, namespace: &str, secret: &Secret) -> Result<(), ClientError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let name = secret.metadata.name.clone().unwrap_or_default();
        let mut s = secret.clone();
        s.metadata.namespace = Some(namespace.to_string());
        s.metadata.resource_version = None;
        s.metadata.uid = None;
        s.metadata.creation_timestamp = None;
        s.metadata.managed_fields = None;
        match api.get_opt(&name).await? {
            None => {
                api.create(&PostParams::default(), &s).await?;
            }
            Some(cur) => {
                s.metadata.resource_version = cur.metadata.resource_version;
                api.replace(&name, &PostParams::default(), &s).await?;
            }
        }
        Ok(())
    }

    pub async fn delete_secret(&self, namespace: &str, name: &str) -> Result<(), ClientError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        ignore_404(api.delete(name, &DeleteParams::default()).await.map(|_| ()))
    }

    // ---- config maps (journal copy) ---------------------------------------------------

    pub async fn get_config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, ClientError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        Ok(api.get_opt(name).await?)
    }

    /// Create or replace a config map holding `data`.
    pub async fn put_config_map(
        &self,
        namespace: &str,
        name: &str,
        run_id: &str,
        data: BTreeMap<String, String>,
    ) -> Result<(), ClientError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(labels(run_id, None)),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        match api.get_opt(name).await? {
            None => {
                api.create(&PostParams::default(), &cm).await?;
            }
            Some(cur) => {
                cm.metadata.resource_version = cur.metadata.resource_version;
                api.replace(name, &PostParams::default(), &cm).await?;
            }
        }
        Ok(())
    }

    pub async fn delete_config_map(&self, namespace: &str, name: &str) -> Result<(), ClientError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        ignore_404(api.delete(name, &DeleteParams::default()).await.map(|_| ()))
    }

    /// Config maps in `namespace` carrying our managed-by label.
    pub async fn list_our_config_maps(
        &self,
        namespace: &str,
    ) -> Result<Vec<ConfigMap>, ClientError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let lp = ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        Ok(api.list(&lp).await?.items)
    }

    // ---- leases -----------------------------------------------------------------------

    pub async fn get_lease(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Lease>, ClientError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        Ok(api.get_opt(name).await?)
    }

    /// Create a lease held by `holder`. A 409 (someone else created it) is an error.
    pub async fn create_lease(
        &self,
        namespace: &str,
        name: &str,
        holder: &str,
        duration_secs: i32,
        annotations: BTreeMap<String, String>,
    ) -> Result<Lease, ClientError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let now = MicroTime(k8s_now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([(MANAGED_BY.0.into(), MANAGED_BY.1.into())])),
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.to_string()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        Ok(api.create(&PostParams::default(), &lease).await?)
    }

    /// Replace a lease (optimistic concurrency through its resourceVersion: 409 on a race).
    pub async fn replace_lease(
        &self,
        namespace: &str,
        lease: &Lease,
    ) -> Result<Lease, ClientError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let name = lease.metadata.name.clone().unwrap_or_default();
        Ok(api.replace(&name, &PostParams::default(), lease).await?)
    }

    pub async fn delete_lease(&self, namespace: &str, name: &str) -> Result<(), ClientError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        ignore_404(api.delete(name, &DeleteParams::default()).await.map(|_| ()))
    }

    /// Delete a lease only if it is still the version we read (uid and resourceVersion
    /// preconditions): a lease another process took over in between is left alone.
    pub async fn delete_lease_pinned(
        &self,
        namespace: &str,
        lease: &Lease,
    ) -> Result<(), ClientError> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let name = lease.metadata.name.clone().unwrap_or_default();
        let dp = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: lease.metadata.uid.clone(),
                resource_version: lease.metadata.resource_version.clone(),
            }),
            ..Default::default()
        };
        ignore_404(api.delete(&name, &dp).await.map(|_| ()))
    }

    /// UID of the `kube-system` namespace: the cluster's stable identity (it lives as long
    /// as the cluster and differs between clusters).
    pub async fn cluster_uid(&self) -> Result<String, ClientError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = api.get("kube-system").await?;
        ns.metadata.uid.filter(|u| !u.is_empty()).ok_or_else(|| ClientError::Decode {
            path: "/api/v1/namespaces/kube-system".into(),
            message: "the kube-system namespace has no uid".into(),
        })
    }
}

/// The current time as Kubernetes' timestamp type.
pub fn k8s_now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// Our labels, with the run id and optionally the scenario.
pub fn labels(run_id: &str, scenario: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        (LABEL_RUN_ID.to_string(), label_value(run_id)),
    ]);
    if let Some(s) = scenario {
        l.insert(LABEL_SCENARIO.to_string(), label_value(s));
    }
    l
}

/// A valid label value (≤ 63 chars of `[A-Za-z0-9._-]`, alphanumeric at both ends).
pub fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

/// The probe pod: `imagePullPolicy: Always`, tiny requests, never restarted, no token.
pub fn probe_pod(spec: &ProbeSpec) -> Pod {
    let tiny = BTreeMap::from([
        ("cpu".to_string(), Quantity("1m".into())),
        ("memory".to_string(), Quantity("8Mi".into())),
    ]);
    Pod {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            namespace: Some(spec.namespace.clone()),
            labels: Some(labels(&spec.run_id, Some(&spec.scenario))),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "probe".into(),
                image: Some(spec.image.clone()),
                image_pull_policy: Some("Always".into()),
                resources: Some(ResourceRequirements {
                    requests: Some(tiny.clone()),
                    limits: Some(tiny),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            node_selector: (!spec.node_selector.is_empty()).then(|| spec.node_selector.clone()),
            image_pull_secrets: (!spec.pull_secrets.is_empty()).then(|| {
                spec.pull_secrets.iter().map(|n| LocalObjectReference { name: n.clone() }).collect()
            }),
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A `kubernetes.io/dockerconfigjson` secret for one registry.
pub fn docker_config_secret(
    name: &str,
    server: &str,
    username: &str,
    password: &str,
    run_id: &str,
) -> Secret {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let cfg = serde_json::json!({
        "auths": { server: { "username": username, "password": password, "auth": auth } }
    });
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels(run_id, None)),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(BTreeMap::from([(
            ".dockerconfigjson".to_string(),
            ByteString(cfg.to_string().into_bytes()),
        )])),
        ..Default::default()
    }
}

fn ignore_404(r: Result<(), kube::Error>) -> Result<(), ClientError> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other.map_err(Into::into),
    }
}
