//! Checks that span fields, run on the typed model after the structural pass.

use super::model::{Fault, FirewallMode, Scenario};
use super::target::Target;
use super::values::Invalid;
use super::yaml::{Node, Pos};

/// One problem: the field, its position when the field path alone cannot tell it, and why.
pub struct Found {
    pub field: String,
    pub pos: Option<Pos>,
    pub invalid: Invalid,
}

fn found(field: &str, message: impl Into<String>, hint: impl Into<String>) -> Found {
    Found { field: field.to_string(), pos: None, invalid: Invalid::new(message, hint) }
}

pub fn scenario(s: &Scenario) -> Vec<Found> {
    let mut out = Vec::new();
    if let Fault::RegistryFirewallDeny(f) = &s.fault
        && f.mode == FirewallMode::PublicAccessDisabled
        && !f.allow_ips.is_empty()
    {
        out.push(found(
            "fault.allowIps",
            "allowIps only applies with mode selected-networks (public-access-disabled admits no address)",
            "remove allowIps, or use mode: selected-networks",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in s.expect.causes.iter().enumerate() {
        if !seen.insert(*c) {
            out.push(found(
                &format!("expect.causes[{i}]"),
                format!("cause {c} is listed twice"),
                "each cause once",
            ));
        }
    }
    let mut names = std::collections::HashSet::new();
    for (i, a) in s.alerts.iter().enumerate() {
        let name = a.common().name;
        if !names.insert(name.to_string()) {
            out.push(found(
                &format!("alerts[{i}].name"),
                format!("alert name {name:?} is used twice"),
                "a name unique within the scenario",
            ));
        }
    }
    out
}

/// Checks of a target beyond the schema (none yet beyond the schema's own; kept so that
/// cross-field rules have one place).
pub fn target(_t: &Target, _root: &Node) -> Vec<Found> {
    Vec::new()
}
