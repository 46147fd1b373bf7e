//! Which `api-version`s each emulated resource type answers, and the 400 ARM sends for any
//! other, word for word as seen from the real service:
//!
//! - resource providers (registries, managedClusters, networkSecurityGroups):
//!   `NoRegisteredProviderFound` "No registered resource provider found for location '…'
//!   and API version '…' for type '…'. The supported api-versions are 'a, b'. The
//!   supported locations are '…'."
//! - `Microsoft.Authorization` extension resources: `InvalidResourceType` "The resource
//!   type '…' could not be found in the namespace 'Microsoft.Authorization' for api version
//!   '…'. The supported api-versions are 'a,b'."
//!
//! The lists are the real services' published versions; an SDK or `az` release in use
//! today sends one of them (the lab serves one shape for all).

use super::ArmError;

/// A resource type the lab serves, for the api-version check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceType {
    Registries,
    ManagedClusters,
    NetworkSecurityGroups,
    /// `roleAssignments`, `roleDefinitions`, `permissions`.
    Authorization(&'static str),
}

const REGISTRIES: &[&str] = &[
    "2017-03-01",
    "2017-10-01",
    "2019-05-01",
    "2019-12-01-preview",
    "2020-11-01-preview",
    "2021-06-01-preview",
    "2021-08-01-preview",
    "2021-09-01",
    "2021-12-01-preview",
    "2022-02-01-preview",
    "2022-12-01",
    "2023-01-01-preview",
    "2023-06-01-preview",
    "2023-07-01",
    "2023-08-01-preview",
    "2023-11-01-preview",
    "2024-11-01-preview",
    "2025-03-01-preview",
    "2025-04-01",
    "2025-05-01-preview",
    "2025-06-01-preview",
    "2025-11-01",
];

const MANAGED_CLUSTERS: &[&str] = &[
    "2023-01-01",
    "2023-02-01",
    "2023-03-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-07-01",
    "2023-08-01",
    "2023-09-01",
    "2023-10-01",
    "2023-11-01",
    "2024-01-01",
    "2024-02-01",
    "2024-05-01",
    "2024-06-01",
    "2024-07-01",
    "2024-08-01",
    "2024-09-01",
    "2024-10-01",
    "2025-01-01",
    "2025-02-01",
    "2025-03-01",
    "2025-04-01",
    "2025-05-01",
    "2025-06-01",
    "2025-07-01",
    "2025-08-01",
    "2025-09-01",
    "2025-10-01",
];

const NETWORK: &[&str] = &[
    "2022-01-01",
    "2022-05-01",
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-02-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
];

const AUTHORIZATION: &[&str] = &[
    "2015-07-01",
    "2017-05-01",
    "2018-01-01-preview",
    "2018-07-01",
    "2018-09-01-preview",
    "2020-03-01-preview",
    "2020-04-01-preview",
    "2020-08-01-preview",
    "2020-10-01-preview",
    "2021-04-01-preview",
    "2022-01-01-preview",
    "2022-04-01",
    "2022-05-01-preview",
];

impl ResourceType {
    fn supported(self) -> &'static [&'static str] {
        match self {
            Self::Registries => REGISTRIES,
            Self::ManagedClusters => MANAGED_CLUSTERS,
            Self::NetworkSecurityGroups => NETWORK,
            Self::Authorization(_) => AUTHORIZATION,
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Self::Registries => "registries",
            Self::ManagedClusters => "managedClusters",
            Self::NetworkSecurityGroups => "networkSecurityGroups",
            Self::Authorization(t) => t,
        }
    }

    /// `Ok` when `api_version` is one this type answers (case-insensitive, as ARM).
    pub(crate) fn check(self, api_version: &str, location: &str) -> Result<(), ArmError> {
        let supported = self.supported();
        if supported.iter().any(|v| v.eq_ignore_ascii_case(api_version)) {
            return Ok(());
        }
        Err(match self {
            Self::Authorization(t) => ArmError::bad_request(
                "InvalidResourceType",
                format!(
                    "The resource type '{t}' could not be found in the namespace 'Microsoft.Authorization' for api version '{api_version}'. The supported api-versions are '{}'.",
                    supported.join(",")
                ),
            ),
            _ => ArmError::bad_request(
                "NoRegisteredProviderFound",
                format!(
                    "No registered resource provider found for location '{location}' and API version '{api_version}' for type '{}'. The supported api-versions are '{}'. The supported locations are '{location}'.",
                    self.type_name(),
                    supported.join(", ")
                ),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_our_own_clients_send_are_supported() {
        use ResourceType::*;
        for (t, v) in [
            (Registries, "2025-04-01"),
            (Registries, "2025-11-01"),
            (ManagedClusters, "2025-10-01"),
            (NetworkSecurityGroups, "2025-05-01"),
            (Authorization("roleAssignments"), "2022-04-01"),
        ] {
            assert!(t.check(v, "westeurope").is_ok(), "{t:?} {v}");
        }
    }

    #[test]
    fn unsupported_versions_are_refused_in_arms_words() {
        let e = ResourceType::Registries.check("2016-01-01", "westeurope").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code.as_str()), (400, "NoRegisteredProviderFound"));
        assert!(
            e.message.starts_with("No registered resource provider found for location 'westeurope' and API version '2016-01-01' for type 'registries'. The supported api-versions are '2017-03-01, 2017-10-01, "),
            "{}",
            e.message
        );
        let e =
            ResourceType::Authorization("roleDefinitions").check("2099-01-01", "x").unwrap_err();
        assert_eq!(e.code, "InvalidResourceType");
        assert!(
            e.message.starts_with("The resource type 'roleDefinitions' could not be found in the namespace 'Microsoft.Authorization' for api version '2099-01-01'. The supported api-versions are '2015-07-01,2017-05-01,"),
            "{}",
            e.message
        );
    }
}
