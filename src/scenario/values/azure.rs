//! Azure-side values: GUIDs, ARM ids, CIDRs, ACR token names, principals, roles, scopes.

use super::{Invalid, JsonSchema, Schema, SchemaGenerator, chars, json_schema};
use std::fmt;
use std::str::FromStr;

string_newtype!(
    /// A GUID (subscription, tenant, object or role definition id).
    Guid
);
impl FromStr for Guid {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if chars::guid(s) {
            Ok(Guid(s.to_ascii_lowercase()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not a GUID"),
                "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex)",
            ))
        }
    }
}
string_value!(Guid, "guid", "A GUID, xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.");

string_newtype!(
    /// An Azure Resource Manager id: `/subscriptions/<guid>[/resourceGroups/<rg>[/providers/…]]`.
    ArmId
);
impl ArmId {
    /// The provider type, e.g. `Microsoft.ContainerRegistry/registries`.
    pub fn resource_type(&self) -> Option<String> {
        let segs: Vec<&str> = self.0.split('/').collect();
        let p = segs.iter().position(|s| s.eq_ignore_ascii_case("providers"))?;
        Some(format!("{}/{}", segs.get(p + 1)?, segs.get(p + 2)?))
    }
    /// The last path segment (the resource's name).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }
    /// Case-insensitive comparison, as ARM compares ids.
    pub fn same_as(&self, other: &str) -> bool {
        self.0.trim_end_matches('/').eq_ignore_ascii_case(other.trim_end_matches('/'))
    }
    /// Check the provider type, e.g. `Microsoft.ContainerRegistry/registries`.
    pub fn expect_type(&self, ty: &str) -> Result<(), Invalid> {
        match self.resource_type() {
            Some(t) if t.eq_ignore_ascii_case(ty) && self.0.split('/').count() == 9 => Ok(()),
            _ => Err(Invalid::new(
                format!("{:?} is not a {ty} resource id", self.0),
                format!("/subscriptions/<guid>/resourceGroups/<rg>/providers/{ty}/<name>"),
            )),
        }
    }
}
impl FromStr for ArmId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if chars::arm_id(s) {
            Ok(ArmId(s.to_string()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not an ARM resource id"),
                "/subscriptions/<guid>[/resourceGroups/<rg>[/providers/<namespace>/<type>/<name>]]",
            ))
        }
    }
}
string_value!(
    ArmId,
    "arm-id",
    "An ARM id, /subscriptions/<guid>/resourceGroups/<rg>/providers/<ns>/<type>/<name>."
);

string_newtype!(
    /// An IPv4/IPv6 address or CIDR range, as ACR network rules take them.
    Cidr
);
impl FromStr for Cidr {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(
                format!("{s:?} is not an IP address or CIDR"),
                "an address or CIDR, e.g. 203.0.113.0/24",
            )
        };
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if prefix.is_some_and(|p| p > max) {
            return Err(bad());
        }
        Ok(Cidr(s.to_string()))
    }
}
string_value!(Cidr, "cidr", "An IP address or CIDR range, e.g. 203.0.113.0/24.");

string_newtype!(
    /// An ACR token name (5-50 letters, digits, '-').
    AcrTokenName
);
impl FromStr for AcrTokenName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if chars::acr_token(s) {
            Ok(AcrTokenName(s.to_string()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not an ACR token name"),
                "5 to 50 letters, digits or '-'",
            ))
        }
    }
}
string_value!(AcrTokenName, "acr-token-name", "An ACR token name: 5 to 50 letters, digits or '-'.");

string_newtype!(
    /// An allowlisted cluster: an ARM id, or a cluster (or kubeconfig context) name.
    ClusterRef
);
impl FromStr for ClusterRef {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s.starts_with('/') {
            ArmId::from_str(s)?;
        } else if s.trim().is_empty() || s.contains(char::is_whitespace) {
            return Err(Invalid::new(
                format!("{s:?} is not a cluster name"),
                "an AKS cluster ARM id, or its name",
            ));
        }
        Ok(ClusterRef(s.to_string()))
    }
}
string_value!(ClusterRef, "cluster-ref", "An AKS cluster: its ARM id, or its name.");

/// Whose role assignment to delete.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The cluster's kubelet identity (what `--attach-acr` grants AcrPull to).
    Kubelet,
    /// An Entra object id.
    ObjectId(Guid),
}
impl FromStr for Principal {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s == "kubelet" {
            return Ok(Principal::Kubelet);
        }
        Guid::from_str(s).map(Principal::ObjectId).map_err(|_| {
            Invalid::new(format!("unknown principal {s:?}"), "kubelet, or an object id (GUID)")
        })
    }
}
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Kubelet => f.write_str("kubelet"),
            Principal::ObjectId(g) => write!(f, "{g}"),
        }
    }
}
string_value!(
    Principal,
    "principal",
    "kubelet (the cluster's kubelet identity), or an Entra object id."
);

/// A role: a built-in name or a role definition GUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    AcrPull,
    AcrPush,
    Owner,
    Contributor,
    Reader,
    Definition(Guid),
}
impl Role {
    pub const BUILT_IN: [Role; 5] =
        [Role::AcrPull, Role::AcrPush, Role::Owner, Role::Contributor, Role::Reader];

    /// The role definition's GUID (built-in roles have fixed ids in every tenant).
    pub fn definition_id(&self) -> &str {
        match self {
            Role::AcrPull => "7f951dda-4ed3-4680-a7ca-43fe172d538d",
            Role::AcrPush => "8311e382-0749-4cb8-b61a-304f252e45ec",
            Role::Owner => "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            Role::Contributor => "b24988ac-6180-42a0-ab88-20f7382dd24c",
            Role::Reader => "acdd72a7-3385-48ef-bd42-f606fba81ae7",
            Role::Definition(g) => g.as_str(),
        }
    }
}
impl FromStr for Role {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Ok(match s {
            "AcrPull" => Role::AcrPull,
            "AcrPush" => Role::AcrPush,
            "Owner" => Role::Owner,
            "Contributor" => Role::Contributor,
            "Reader" => Role::Reader,
            _ => Role::Definition(Guid::from_str(s).map_err(|_| {
                Invalid::new(
                    format!("unknown role {s:?}"),
                    "AcrPull, AcrPush, Owner, Contributor, Reader, or a role definition GUID",
                )
            })?),
        })
    }
}
impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::AcrPull => f.write_str("AcrPull"),
            Role::AcrPush => f.write_str("AcrPush"),
            Role::Owner => f.write_str("Owner"),
            Role::Contributor => f.write_str("Contributor"),
            Role::Reader => f.write_str("Reader"),
            Role::Definition(g) => write!(f, "{g}"),
        }
    }
}
string_value!(
    Role,
    "role",
    "AcrPull, AcrPush, Owner, Contributor, Reader, or a role definition GUID."
);

/// Where a role assignment lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The target's registry.
    Registry,
    /// The registry's resource group.
    ResourceGroup,
    /// The target's subscription.
    Subscription,
    /// An explicit ARM id.
    Id(ArmId),
}
impl FromStr for Scope {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Ok(match s {
            "registry" => Scope::Registry,
            "resource-group" => Scope::ResourceGroup,
            "subscription" => Scope::Subscription,
            _ if s.starts_with('/') => Scope::Id(ArmId::from_str(s)?),
            _ => {
                return Err(Invalid::new(
                    format!("unknown scope {s:?}"),
                    "registry, resource-group, subscription, or an ARM id",
                ));
            }
        })
    }
}
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Registry => f.write_str("registry"),
            Scope::ResourceGroup => f.write_str("resource-group"),
            Scope::Subscription => f.write_str("subscription"),
            Scope::Id(id) => write!(f, "{id}"),
        }
    }
}
string_value!(Scope, "scope", "registry, resource-group, subscription, or an ARM id.");

string_newtype!(
    /// An NSG security rule name (1-80 letters, digits, '_', '.', '-').
    NsgRuleName
);
impl FromStr for NsgRuleName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if chars::nsg_rule(s) {
            Ok(NsgRuleName(s.to_string()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not an NSG rule name"),
                "1 to 80 letters, digits, '_', '.' or '-', starting with a letter or digit and ending with a letter, digit or '_'",
            ))
        }
    }
}
string_value!(
    NsgRuleName,
    "nsg-rule-name",
    "An NSG rule name: 1 to 80 letters, digits, '_', '.', '-'."
);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    #[rstest]
    #[case("acr-chaos-deny-registry", true)]
    #[case("Deny_ACR_", true)]
    #[case("-bad", false)]
    #[case("bad-", false)]
    fn nsg_rule_names(#[case] s: &str, #[case] ok: bool) {
        assert_eq!(NsgRuleName::from_str(s).is_ok(), ok, "{s}");
    }

    #[test]
    fn arm_ids() {
        let id = ArmId::from_str("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myacr").unwrap();
        assert_eq!(id.resource_type().unwrap(), "Microsoft.ContainerRegistry/registries");
        assert_eq!(id.name(), "myacr");
        id.expect_type("Microsoft.ContainerRegistry/registries").unwrap();
        assert!(id.expect_type("Microsoft.ContainerService/managedClusters").is_err());
        assert!(ArmId::from_str("/subscriptions/nope").is_err());
        assert!(ArmId::from_str("subscriptions/00000000-0000-0000-0000-000000000000").is_err());
    }
    #[test]
    fn roles_scopes_principals() {
        assert_eq!(
            Role::from_str("AcrPull").unwrap().definition_id(),
            "7f951dda-4ed3-4680-a7ca-43fe172d538d"
        );
        assert!(Role::from_str("acrpull").is_err());
        assert_eq!(Scope::from_str("resource-group").unwrap(), Scope::ResourceGroup);
        assert!(Scope::from_str("tenant").unwrap_err().hint.unwrap().contains("registry"));
        assert_eq!(Principal::from_str("kubelet").unwrap(), Principal::Kubelet);
        assert!(Principal::from_str("me").is_err());
    }
    #[rstest]
    #[case("10.0.0.0/8", true)]
    #[case("203.0.113.7", true)]
    #[case("2001:db8::/32", true)]
    #[case("10.0.0.0/33", false)]
    #[case("10.0.0/8", false)]
    fn cidrs(#[case] s: &str, #[case] ok: bool) {
        assert_eq!(Cidr::from_str(s).is_ok(), ok, "{s}");
    }
}
