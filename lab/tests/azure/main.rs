//! The Azure side of the lab: the ARM emulator (role assignments, registries, NSG rules),
//! Entra ID (with the Azure SDK's credentials), the lab's runtime state and world file,
//! and the ACR front door over HTTPS (real docker-registry behind it), one binary (one
//! link instead of 9); each module is one former test file.

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
mod entra_managed_identity;
mod nsg;
