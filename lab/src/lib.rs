//! The acr-chaos lab: an emulated AKS + ACR on one machine, over a real CNCF registry
//! and a real containerd. See ../shared/design/architecture.md §6.
//!
//! The public surface is a small facade: [`Lab`] / [`LabBuilder`] to start one, the typed
//! [`LabFacts`] a target is built from, the documented least-privilege [`Runner`], the
//! `lab` subcommand ([`cli`]) and the [`bench`] entry points. Everything else is
//! `pub(crate)`. The `testing` feature (enabled only by dev-dependencies, never by the
//! product) opens the internals to this crate's and the product's integration tests, which
//! need to look at emulator state the way no client of a real AKS could.

/// Internal modules: `pub(crate)`, or `pub` under the `testing` feature.
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "testing")]
            pub mod $name;
            #[cfg(not(feature = "testing"))]
            #[allow(
                dead_code,
                reason = "what only tests reach (through `testing`) is unused without it"
            )]
            pub(crate) mod $name;
        )*
    };
}

internal_modules!(
    acr, arm, containerd, cri, entra, hub, jwt, knobs, kube, kubelet, metrics, monitoring, nft,
    oci, registry, server, state, tls, world,
);

pub mod bench;
mod child;
pub mod cli;
pub mod lab;

pub use kubelet::{KubeletProfile, profile::PROFILE_ENV as KUBELET_PROFILE_ENV};
pub use lab::{Lab, LabBuilder, LabError, LabFacts, LabLogin, Runner, RunnerSpec, render_env};
pub use monitoring::{ALERTMANAGER_BIN, PROMETHEUS_BIN};
