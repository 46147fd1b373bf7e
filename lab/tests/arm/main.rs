//! The Azure control-plane emulators (ARM, Entra ID, NSG rules) and the lab's runtime
//! state, one binary (one link instead of 6); each module is one former test file. The
//! ManagedIdentityCredential test stays a binary of its own (entra_managed_identity.rs):
//! it sets process environment variables.

#[path = "../arm_support/mod.rs"]
mod arm_support;

mod auth_and_roles;
mod entra;
mod nsg;
mod registry;
mod state;
mod world;
