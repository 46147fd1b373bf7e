//! Shared by the CI-template and deployment tests: the repository root, the tool
//! environment `make tools` prepares (.venv), and "skip loudly, or fail under CI=true".

#![allow(dead_code, reason = "shared by several test binaries, each using a part")]

use std::path::{Path, PathBuf};

/// Extra `cargo build` arguments that give acr-chaos built without its lab the feature set
/// the test build's dependencies have (the lab crate itself and the dev-dependencies that
/// switch features on: tokio-test, tokio's test-util; tempfile, fastrand's default), so
/// that build reuses the test build's dependency artifacts (tests/tooling/image.rs, the
/// install step in tests/tooling/ci_templates.rs). A stale list costs time (dependencies
/// compile again), never correctness.
pub const SHARE_TEST_BUILD: &str = "-p acr-chaos-lab -p tokio-test -p tempfile";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// `None` after a loud SKIPPED line; a panic under CI=true (a missing tool must fail there).
pub fn require(what: &str, why_missing: Option<String>) -> bool {
    match why_missing {
        None => true,
        Some(why) if in_ci() => panic!("{what}: {why}"),
        Some(why) => {
            eprintln!("SKIPPED: {what}: {why}");
            false
        }
    }
}

/// The tool environment's bin directory (`make tools`): actionlint, shellcheck,
/// check-jsonschema from PyPI.
pub fn tools_bin() -> PathBuf {
    std::env::var_os("ACR_CHAOS_TOOLS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin"))
}

/// A tool from the tool environment, or why it is missing.
pub fn tool(name: &str) -> Result<PathBuf, String> {
    let p = tools_bin().join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("{} not found: run `make tools` (the tool environment from PyPI)", p.display()))
    }
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// First of `candidates` that exists, or on PATH.
pub fn find_bin(name: &str) -> Option<PathBuf> {
    for d in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let p = Path::new(d).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()))
}

/// Parse YAML into JSON values (the templates and manifests are plain YAML).
pub fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a multi-document YAML file.
pub fn yaml_docs(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
