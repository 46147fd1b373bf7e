//! Kubelet release profiles: what the emulated node does differently per Kubernetes minor
//! on the image-pull failure path, and the version it claims in `status.nodeInfo`.
//!
//! Only differences a user upgrading AKS sees with default settings are modelled, each
//! with its source (kubernetes/kubernetes unless named otherwise):
//!
//! | behaviour | up to | from | source |
//! |---|---|---|---|
//! | `rpc error: code = Unknown desc = ` kept in pull errors (events, waiting message) | 1.27 | 1.28 strips it | PR #117612 "Fix image pull error type `ErrRegistryUnavailable`" (merged 2023-04, first in v1.28.0): `staging/src/k8s.io/cri-client/pkg/remote_image.go` `PullImage` returns `errors.New(statusErr.Message())` when the code is `Unknown`; other codes (`NotFound`) keep the prefix |
//! | back-off waiting message carries the last pull error (`Back-off pulling image "<i>": ErrImagePull: <err>`) | 1.31 bare | 1.32 | PR #127918 "Use image pull error in `message` during back-off" (first in v1.32.0): `pkg/kubelet/images/image_manager.go` stores `prevPullErrMsg` as `fmt.Sprintf("%s: %s", err, msg)` and appends it to `Back-off pulling image %q`; the `BackOff` *event* text is unchanged |
//! | AKS node credential provider for `*.azurecr.*` | 1.29 in-tree | 1.30 exec plugin | in-tree `pkg/credentialprovider/azure/azure_credentials.go` (`--azure-container-registry-config`; a 1.30 kubelet rejects the flag as unknown, Azure/karpenter-provider-azure PR #370; removal tracked in PR #122595); AKS switches to kubernetes-sigs/cloud-provider-azure `acr-credential-provider` at 1.30 (Azure/karpenter-provider-azure PR #456 mirrors the AKS bootstrap: `CredentialProviderURL` is empty below minor 30) |
//!
//! Provider failure path (what the lab emulates): the in-tree provider logs `error getting
//! credentials from ACR for <login server> <err>` and still returns its anonymous entry
//! `*.azurecr.*` with an empty user name and password, so the kubelet sends an empty
//! `AuthConfig`; the exec plugin (`pkg/credentialprovider/azure_credentials.go`,
//! cloud-provider-azure commit cddf3dd1) returns an error, the kubelet logs `Failed
//! getting credential from external registry credential provider` and sends no
//! `AuthConfig`. containerd's CRI `ParseAuth` treats both as anonymous ("An empty auth
//! config is valid for anonymous registry"), so the pod sees the same anonymous 401: an
//! upgrade across 1.30 must not show drift there, and the lab proves it.
//!
//! Unchanged in every profile (checked, so not a profile field): image pull back-off 10 s
//! doubling to 300 s (`pkg/kubelet/kubelet.go`: `backOffPeriod`/`MaxContainerBackOff` up to
//! 1.32, `imageBackOffPeriod = 10s`/`MaxImageBackOff = 300s` after KEP-4603's split in
//! PR #128369; KEP-4603 shortens only the crash-loop back-off, behind alpha gates), the
//! `Failed to pull image "<i>": <err>`, `Error: ErrImagePull`, `Back-off pulling image
//! "<i>"` event texts, and the credential aggregation `[e1, e2]`. Not modelled because off
//! by default on the releases here: `KubeletEnsureSecretPulledImages` (KEP-2535, alpha in
//! 1.33) and `KubeletServiceAccountTokenForCredentialProviders` (KEP-4412, alpha in 1.33).
//! Shared simplifications (identical in all profiles, so they cannot cause drift): the
//! provider's answer is not cached (in-tree: 10 min per login server; exec plugin: the
//! kubelet caches the response for its `cacheDuration`, 5 min) and the anonymous
//! `*.azurecr.*` entry both providers add next to a *successful* credential is not sent.
//!
//! The containerd part of every message comes from the lab's real containerd, whatever
//! the profile; `containerRuntimeVersion` reports that containerd.

use std::time::Duration;

/// Env var selecting the profile of an embedded lab (`acr-chaos run` without a target).
pub const PROFILE_ENV: &str = "ACR_CHAOS_LAB_KUBELET_PROFILE";

/// The profile a lab runs when none is chosen: the kubelet the lab always emulated.
pub const DEFAULT_PROFILE: &str = "1.33";

/// Which node credential provider answers for ACR images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialProviderKind {
    /// The kubelet's built-in Azure provider (AKS up to 1.29).
    InTree,
    /// `acr-credential-provider` run by the kubelet as an exec plugin (AKS 1.30+).
    ExecPlugin,
}

/// One kubelet release as the emulator plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletProfile {
    /// Kubernetes minor, e.g. `1.33`.
    pub name: &'static str,
    /// `status.nodeInfo.kubeletVersion` (a released patch of that minor).
    pub kubelet_version: &'static str,
    /// Strip `rpc error: code = Unknown desc = ` from pull errors (1.28+).
    pub strip_unknown_rpc_prefix: bool,
    /// Append `: ErrImagePull: <err>` to the back-off waiting message (1.32+).
    pub backoff_message_with_error: bool,
    pub credential_provider: CredentialProviderKind,
    /// Image pull back-off (the same on every release here; kept with the profile so a
    /// future release that changes it is one table entry).
    pub image_backoff_initial: Duration,
    pub image_backoff_max: Duration,
}

const fn profile(
    name: &'static str,
    kubelet_version: &'static str,
    strip_unknown_rpc_prefix: bool,
    backoff_message_with_error: bool,
    credential_provider: CredentialProviderKind,
) -> KubeletProfile {
    KubeletProfile {
        name,
        kubelet_version,
        strip_unknown_rpc_prefix,
        backoff_message_with_error,
        credential_provider,
        image_backoff_initial: Duration::from_secs(10),
        image_backoff_max: Duration::from_secs(300),
    }
}

/// Every profile, oldest first.
pub const PROFILES: &[KubeletProfile] = &[
    profile("1.27", "v1.27.16", false, false, CredentialProviderKind::InTree),
    profile("1.31", "v1.31.10", true, false, CredentialProviderKind::ExecPlugin),
    profile("1.32", "v1.32.6", true, true, CredentialProviderKind::ExecPlugin),
    profile("1.33", "v1.33.2", true, true, CredentialProviderKind::ExecPlugin),
];

impl KubeletProfile {
    /// The profile named `name` (`1.33`, `v1.33` or a patch such as `1.33.2`). The error
    /// lists the valid names.
    pub fn named(name: &str) -> Result<&'static KubeletProfile, String> {
        let trimmed = name.trim().trim_start_matches('v');
        let minor = trimmed.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
        PROFILES.iter().find(|p| p.name == minor).ok_or_else(|| {
            format!(
                "unknown kubelet profile {name:?}; valid profiles: {}",
                PROFILES.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
            )
        })
    }

    pub fn default_profile() -> &'static KubeletProfile {
        Self::named(DEFAULT_PROFILE).expect("the default profile is in PROFILES")
    }
}

impl Default for KubeletProfile {
    fn default() -> Self {
        Self::default_profile().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_accepts_minor_v_prefix_and_patch() {
        assert_eq!(KubeletProfile::named("1.27").unwrap().kubelet_version, "v1.27.16");
        assert_eq!(KubeletProfile::named("v1.32").unwrap().name, "1.32");
        assert_eq!(KubeletProfile::named("1.33.2").unwrap().name, "1.33");
        let err = KubeletProfile::named("1.30").unwrap_err();
        assert!(err.contains("\"1.30\"") && err.contains("1.27, 1.31, 1.32, 1.33"), "{err}");
        assert!(KubeletProfile::named("").is_err());
    }

    #[test]
    fn default_is_the_emulator_as_it_always_was() {
        let d = KubeletProfile::default();
        assert_eq!(d.name, DEFAULT_PROFILE);
        // The API emulator's discovery answers the same release.
        assert_eq!(d.kubelet_version, crate::kube::discovery::GIT_VERSION);
        assert!(d.strip_unknown_rpc_prefix && d.backoff_message_with_error);
        assert_eq!(d.credential_provider, CredentialProviderKind::ExecPlugin);
    }

    #[test]
    fn versions_match_their_minor_and_the_table_is_ordered() {
        for p in PROFILES {
            assert!(p.kubelet_version.starts_with(&format!("v{}.", p.name)), "{p:?}");
        }
        let minors: Vec<u32> =
            PROFILES.iter().map(|p| p.name.split('.').nth(1).unwrap().parse().unwrap()).collect();
        assert!(minors.windows(2).all(|w| w[0] < w[1]), "{minors:?}");
    }

    #[test]
    fn release_history() {
        let p = |n| KubeletProfile::named(n).unwrap();
        // PR #117612 (v1.28.0).
        assert!(!p("1.27").strip_unknown_rpc_prefix);
        assert!(p("1.31").strip_unknown_rpc_prefix);
        // PR #127918 (v1.32.0).
        assert!(!p("1.31").backoff_message_with_error);
        assert!(p("1.32").backoff_message_with_error);
        // AKS: in-tree provider below 1.30, exec plugin from 1.30.
        assert_eq!(p("1.27").credential_provider, CredentialProviderKind::InTree);
        assert_eq!(p("1.31").credential_provider, CredentialProviderKind::ExecPlugin);
        // Image pull back-off did not change.
        for q in PROFILES {
            assert_eq!(
                (q.image_backoff_initial, q.image_backoff_max),
                (Duration::from_secs(10), Duration::from_secs(300))
            );
        }
        // 1.32 -> 1.33: nothing on this path changes with default feature gates.
        let (a, b) = (p("1.32"), p("1.33"));
        assert_eq!(
            (a.strip_unknown_rpc_prefix, a.backoff_message_with_error, a.credential_provider),
            (b.strip_unknown_rpc_prefix, b.backoff_message_with_error, b.credential_provider)
        );
    }
}
