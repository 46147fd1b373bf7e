//! NSG → nftables: outbound Deny security rules that cover the lab registry become real
//! `drop` rules for TCP to the registry front door's loopback port(s), so containerd's
//! dial times out for real (`dial tcp 127.0.0.1:PORT: i/o timeout`).
//!
//! The lab owns one table, `inet acr_chaos_lab_<pid>_<n>`, created on demand and deleted
//! when the [`NftTable`] drops (or when no rule blocks anything any more).

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::state::{SecurityRule, SecurityRuleProperties, State};

/// Failure running `nft`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NftError {
    #[error("cannot run `nft` (is the nftables package installed and are we root?): {0}")]
    Spawn(#[source] std::io::Error),
    #[error("`nft` failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
}

/// Whether the `nft` binary can be run.
#[cfg(feature = "testing")]
pub fn nft_available() -> bool {
    Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// An nftables table owned by this process; removed on drop.
#[derive(Debug)]
pub struct NftTable {
    name: String,
    blocked: Vec<u16>,
}

impl NftTable {
    /// Create `inet acr_chaos_lab_<pid>_<n>` with an output chain.
    pub fn create() -> Result<Self, NftError> {
        remove_stale_tables();
        let name =
            format!("acr_chaos_lab_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        run_nft(&format!(
            "add table inet {name}\nadd chain inet {name} output {{ type filter hook output priority 0; policy accept; }}\nadd chain inet {name} input {{ type filter hook input priority 0; policy accept; }}\n"
        ))?;
        Ok(Self { name, blocked: Vec::new() })
    }

    /// Ports currently dropped.
    pub fn blocked_ports(&self) -> &[u16] {
        &self.blocked
    }

    /// Replace the drop rules: TCP to `ip` (where the front doors listen) on each of
    /// `ports` is dropped, from this host (output) and from others, e.g. kind nodes (input).
    pub fn set_blocked_ports(&mut self, ip: IpAddr, ports: &[u16]) -> Result<(), NftError> {
        let name = &self.name;
        let mut script = format!("flush chain inet {name} output\nflush chain inet {name} input\n");
        if !ports.is_empty() {
            let list = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
            let family = if ip.is_ipv4() { "ip" } else { "ip6" };
            for chain in ["output", "input"] {
                script.push_str(&format!(
                    "add rule inet {name} {chain} {family} daddr {ip} tcp dport {{ {list} }} counter drop\n"
                ));
            }
        }
        run_nft(&script)?;
        self.blocked = ports.to_vec();
        Ok(())
    }
}

impl Drop for NftTable {
    fn drop(&mut self) {
        if let Err(e) = run_nft(&format!("delete table inet {}\n", self.name)) {
            tracing::warn!(table = %self.name, error = %e, "could not remove the lab's nftables table");
        }
    }
}

/// Delete `acr_chaos_lab_<pid>_<n>` tables left behind by lab processes that no longer
/// run (a crashed lab cannot drop its table). Best effort.
pub fn remove_stale_tables() {
    let Ok(out) = Command::new("nft").args(["list", "tables"]).stderr(Stdio::null()).output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.trim().strip_prefix("table inet ") else {
            continue;
        };
        let Some(pid) = name.strip_prefix("acr_chaos_lab_").and_then(|rest| rest.split('_').next())
        else {
            continue;
        };
        let alive =
            pid.parse::<u32>().is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive && let Err(e) = run_nft(&format!("delete table inet {name}\n")) {
            tracing::warn!(table = %name, error = %e, "could not remove a stale lab nftables table");
        }
    }
}

fn run_nft(script: &str) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(NftError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(NftError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError::Failed {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Service tags and prefixes that cover the lab registry (served on `registry`).
fn destination_covers_registry(p: &SecurityRuleProperties, registry: IpAddr) -> bool {
    let prefixes: Vec<&str> = p
        .destination_address_prefix
        .iter()
        .map(String::as_str)
        .chain(p.destination_address_prefixes.iter().map(String::as_str))
        .collect();
    prefixes.iter().any(|prefix| {
        let prefix = prefix.trim();
        if prefix == "*" || prefix.eq_ignore_ascii_case("Internet") {
            return true;
        }
        let lower = prefix.to_ascii_lowercase();
        if lower == "azurecontainerregistry" || lower.starts_with("azurecontainerregistry.") {
            return true;
        }
        if let Ok(net) = prefix.parse::<ipnet::IpNet>() {
            return net.contains(&registry);
        }
        prefix.parse::<IpAddr>().is_ok_and(|ip| ip == registry)
    })
}

fn port_range_covers(range: &str, port: u16) -> bool {
    let range = range.trim();
    if range == "*" {
        return true;
    }
    match range.split_once('-') {
        Some((lo, hi)) => match (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) {
            (Ok(lo), Ok(hi)) => (lo..=hi).contains(&port),
            _ => false,
        },
        None => range.parse::<u16>().is_ok_and(|p| p == port),
    }
}

/// Whether the rule matches outbound TCP from a node to the registry on `port`. Port
/// 443 in a rule stands for every registry port (the lab serves "443" on a high port).
fn rule_matches(p: &SecurityRuleProperties, registry: IpAddr, port: u16) -> bool {
    if !p.direction.eq_ignore_ascii_case("Outbound") {
        return false;
    }
    if !(p.protocol == "*" || p.protocol.eq_ignore_ascii_case("Tcp")) {
        return false;
    }
    if !destination_covers_registry(p, registry) {
        return false;
    }
    let ranges: Vec<&str> = p
        .destination_port_range
        .iter()
        .map(String::as_str)
        .chain(p.destination_port_ranges.iter().map(String::as_str))
        .collect();
    ranges.iter().any(|r| port_range_covers(r, port) || port_range_covers(r, 443))
}

/// Registry ports that the NSG blocks: for each port, the highest-priority (lowest
/// number) matching rule decides; no matching rule means allowed (AllowInternetOutBound).
pub fn blocked_ports(rules: &[SecurityRule], ports: &[u16]) -> Vec<u16> {
    blocked_ports_at(rules, IpAddr::from([127, 0, 0, 1]), ports)
}

/// [`blocked_ports`] for front doors listening on `registry`.
pub fn blocked_ports_at(rules: &[SecurityRule], registry: IpAddr, ports: &[u16]) -> Vec<u16> {
    let mut sorted: Vec<&SecurityRule> = rules.iter().collect();
    sorted.sort_by_key(|r| r.properties.priority);
    let mut out: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|&port| {
            sorted
                .iter()
                .find(|r| rule_matches(&r.properties, registry, port))
                .is_some_and(|r| r.properties.access.eq_ignore_ascii_case("Deny"))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Bring nftables in line with the state's NSG rules: create the table when something
/// must be blocked, update it, and delete it when nothing is blocked any more.
pub fn sync(state: &mut State) -> Result<(), NftError> {
    let want = blocked_ports_at(&state.nsg_rules, state.registry_ip, &state.registry_ports);
    if want.is_empty() {
        state.firewall = None; // Drop deletes the table
        return Ok(());
    }
    if state.firewall.as_ref().is_some_and(|t| t.blocked_ports() == want.as_slice()) {
        return Ok(());
    }
    let mut table = match state.firewall.take() {
        Some(t) => t,
        None => NftTable::create()?,
    };
    let result = table.set_blocked_ports(state.registry_ip, &want);
    state.firewall = Some(table);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: i32, access: &str, dest: &str, port: &str) -> SecurityRule {
        SecurityRule {
            name: format!("r{priority}"),
            etag: String::new(),
            properties: SecurityRuleProperties {
                protocol: "Tcp".into(),
                destination_port_range: Some(port.into()),
                destination_address_prefix: Some(dest.into()),
                access: access.into(),
                priority,
                direction: "Outbound".into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn deny_towards_registry_blocks_its_ports() {
        let ports = [5443, 5444];
        assert_eq!(
            blocked_ports(&[rule(100, "Deny", "AzureContainerRegistry", "443")], &ports),
            vec![5443, 5444]
        );
        assert_eq!(blocked_ports(&[rule(100, "Deny", "127.0.0.1/32", "5443")], &ports), vec![5443]);
        assert_eq!(blocked_ports(&[rule(100, "Deny", "*", "*")], &ports), vec![5443, 5444]);
        assert!(blocked_ports(&[rule(100, "Deny", "10.0.0.0/8", "*")], &ports).is_empty());
        assert!(blocked_ports(&[rule(100, "Deny", "*", "80")], &ports).is_empty());
        let mut inbound = rule(100, "Deny", "*", "*");
        inbound.properties.direction = "Inbound".into();
        assert!(blocked_ports(&[inbound], &ports).is_empty());
    }

    #[test]
    fn priority_decides() {
        let ports = [5443];
        let allow_first =
            [rule(200, "Deny", "*", "*"), rule(100, "Allow", "AzureContainerRegistry", "443")];
        assert!(blocked_ports(&allow_first, &ports).is_empty());
        let deny_first =
            [rule(100, "Deny", "*", "*"), rule(200, "Allow", "AzureContainerRegistry", "443")];
        assert_eq!(blocked_ports(&deny_first, &ports), vec![5443]);
    }
}
