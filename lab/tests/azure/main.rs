//! The Azure side of the lab: the ARM emulator (role assignments, registries, NSG rules),
//! Entra ID, the lab's runtime state and world file, and the ACR front door over HTTPS
//! (real docker-registry behind it), one binary (one link instead of 8); each module is
//! one former test file. The ManagedIdentityCredential test stays a binary of its own
//! (entra_managed_identity.rs): it sets process environment variables.

#[path = "../acr_common/mod.rs"]
mod acr_common;
#[path = "../arm_support/mod.rs"]
mod arm_support;

mod acr_front_door;
mod acr_team;
mod arm_auth_and_roles;
mod arm_registry;
mod arm_state;
mod arm_world;
mod entra;
mod nsg;
