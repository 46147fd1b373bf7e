//! The resource kinds the emulator serves.

/// A resource kind known to the emulator. `EventV1` is the read-only
/// `events.k8s.io/v1` view of core `Event` objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    Namespace,
    Pod,
    Secret,
    ServiceAccount,
    Event,
    ConfigMap,
    Lease,
    EventV1,
    Node,
    Deployment,
    ReplicaSet,
    Job,
    CronJob,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
    /// `authorization.k8s.io/v1` self reviews: create-only, answered, never stored.
    SelfSubjectAccessReview,
    SelfSubjectRulesReview,
    PersistentVolumeClaim,
}

impl Kind {
    pub const ALL: [Kind; 20] = [
        Kind::Namespace,
        Kind::Pod,
        Kind::Secret,
        Kind::ServiceAccount,
        Kind::Event,
        Kind::ConfigMap,
        Kind::Node,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Job,
        Kind::CronJob,
        Kind::Lease,
        Kind::EventV1,
        Kind::Role,
        Kind::ClusterRole,
        Kind::RoleBinding,
        Kind::ClusterRoleBinding,
        Kind::SelfSubjectAccessReview,
        Kind::SelfSubjectRulesReview,
        Kind::PersistentVolumeClaim,
    ];

    /// API group ("" for core).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Lease => "coordination.k8s.io",
            Kind::EventV1 => "events.k8s.io",
            Kind::Deployment | Kind::ReplicaSet => "apps",
            Kind::Job | Kind::CronJob => "batch",
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                "rbac.authorization.k8s.io"
            }
            Kind::SelfSubjectAccessReview | Kind::SelfSubjectRulesReview => "authorization.k8s.io",
            _ => "",
        }
    }

    pub fn version(self) -> &'static str {
        "v1"
    }

    /// `apiVersion` as written in objects (`v1`, `coordination.k8s.io/v1`).
    pub fn api_version(self) -> &'static str {
        match self.group() {
            "coordination.k8s.io" => "coordination.k8s.io/v1",
            "events.k8s.io" => "events.k8s.io/v1",
            "apps" => "apps/v1",
            "batch" => "batch/v1",
            "rbac.authorization.k8s.io" => "rbac.authorization.k8s.io/v1",
            "authorization.k8s.io" => "authorization.k8s.io/v1",
            _ => "v1",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Pod => "pods",
            Kind::Secret => "secrets",
            Kind::ServiceAccount => "serviceaccounts",
            Kind::Event | Kind::EventV1 => "events",
            Kind::ConfigMap => "configmaps",
            Kind::Lease => "leases",
            Kind::Node => "nodes",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRoleBinding => "clusterrolebindings",
            Kind::SelfSubjectAccessReview => "selfsubjectaccessreviews",
            Kind::SelfSubjectRulesReview => "selfsubjectrulesreviews",
            Kind::PersistentVolumeClaim => "persistentvolumeclaims",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Pod => "pod",
            Kind::Secret => "secret",
            Kind::ServiceAccount => "serviceaccount",
            Kind::Event | Kind::EventV1 => "event",
            Kind::ConfigMap => "configmap",
            Kind::Lease => "lease",
            Kind::Node => "node",
            Kind::Deployment => "deployment",
            Kind::ReplicaSet => "replicaset",
            Kind::Job => "job",
            Kind::CronJob => "cronjob",
            Kind::Role => "role",
            Kind::ClusterRole => "clusterrole",
            Kind::RoleBinding => "rolebinding",
            Kind::ClusterRoleBinding => "clusterrolebinding",
            Kind::SelfSubjectAccessReview => "selfsubjectaccessreview",
            Kind::SelfSubjectRulesReview => "selfsubjectrulesreview",
            Kind::PersistentVolumeClaim => "persistentvolumeclaim",
        }
    }

    /// The `kind` field value (`Pod`).
    pub fn kind_name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Secret => "Secret",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Event | Kind::EventV1 => "Event",
            Kind::ConfigMap => "ConfigMap",
            Kind::Lease => "Lease",
            Kind::Node => "Node",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
            Kind::SelfSubjectAccessReview => "SelfSubjectAccessReview",
            Kind::SelfSubjectRulesReview => "SelfSubjectRulesReview",
            Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace
                | Kind::Node
                | Kind::ClusterRole
                | Kind::ClusterRoleBinding
                | Kind::SelfSubjectAccessReview
                | Kind::SelfSubjectRulesReview
        )
    }

    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Pod => &["po"],
            Kind::ServiceAccount => &["sa"],
            Kind::Event | Kind::EventV1 => &["ev"],
            Kind::ConfigMap => &["cm"],
            Kind::Node => &["no"],
            Kind::Deployment => &["deploy"],
            Kind::ReplicaSet => &["rs"],
            Kind::CronJob => &["cj"],
            Kind::PersistentVolumeClaim => &["pvc"],
            _ => &[],
        }
    }

    /// Kinds whose `status` is written only through the `/status` subresource.
    pub fn has_status_subresource(self) -> bool {
        matches!(
            self,
            Kind::Pod
                | Kind::Namespace
                | Kind::Node
                | Kind::Deployment
                | Kind::ReplicaSet
                | Kind::Job
                | Kind::CronJob
                | Kind::PersistentVolumeClaim
        )
    }

    /// Read-only views accept only get/list/watch.
    pub fn read_only(self) -> bool {
        matches!(self, Kind::EventV1)
    }

    /// The kind whose objects back this one in the store.
    pub fn storage(self) -> Kind {
        match self {
            Kind::EventV1 => Kind::Event,
            k => k,
        }
    }

    /// Create-only kinds that are answered and never stored (self reviews).
    pub fn is_review(self) -> bool {
        matches!(self, Kind::SelfSubjectAccessReview | Kind::SelfSubjectRulesReview)
    }

    pub fn verbs(self) -> &'static [&'static str] {
        if self.is_review() {
            &["create"]
        } else if self.read_only() {
            &["get", "list", "watch"]
        } else {
            &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        }
    }

    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Pod | Kind::Deployment | Kind::ReplicaSet | Kind::Job | Kind::CronJob => &["all"],
            _ => &[],
        }
    }

    /// Look a kind up by group, version and plural.
    pub fn from_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
        if version != "v1" {
            return None;
        }
        Kind::ALL.into_iter().find(|k| k.group() == group && k.plural() == plural)
    }

    /// Look a kind up by `apiVersion` and `kind` fields.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.api_version() == api_version && k.kind_name() == kind)
    }

    /// The `(group, version)` pairs served, core first.
    pub fn group_versions() -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<(&str, &str)> = Vec::new();
        for k in Kind::ALL {
            let gv = (k.group(), k.version());
            if !v.contains(&gv) {
                v.push(gv);
            }
        }
        v
    }
}
