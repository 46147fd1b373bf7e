//! `acr-chaos validate` on bad input: every problem is reported, located at
//! file:line:column with the field path and what would be valid; and the shipped
//! scenarios pass.

use acr_chaos::scenario::load::check_paths;
use acr_chaos::scenario::{Diagnostic, load_path};
use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid").join(rel)
}

fn diagnostics(rels: &[&str]) -> Vec<Diagnostic> {
    let paths: Vec<PathBuf> = rels.iter().map(|r| data(r)).collect();
    match load_path(&paths) {
        Ok(l) => panic!("{rels:?} should be invalid, loaded {} scenario(s)", l.scenarios.len()),
        Err(d) => d,
    }
}

/// One bad input, one diagnostic: its position, field, message and hint.
#[rstest]
#[case::unknown_field(
    "unknown-field.yaml",
    4,
    1,
    "descripton",
    "unknown field `descripton`",
    "did you mean `description`?"
)]
#[case::unknown_fault_kind(
    "unknown-fault-kind.yaml",
    5,
    9,
    "fault.kind",
    "unknown fault kind \"acr-detatch\"",
    "acr-detach, role-assignment-delete, registry-firewall-deny, pull-secret-expired, pull-secret-wrong, pull-secret-missing, image-tag-missing, private-registry-no-secret, network-path-cut"
)]
#[case::missing_fault_kind(
    "missing-fault-kind.yaml",
    5,
    3,
    "fault.kind",
    "missing required field `kind`",
    "image-tag-missing"
)]
#[case::bad_duration(
    "bad-duration.yaml",
    11,
    13,
    "expect.deadline",
    "invalid duration \"10 minutes\"",
    "e.g. 500ms, 30s, 5m, 1h30m"
)]
#[case::bad_regex(
    "bad-regex.yaml",
    11,
    17,
    "expect.messageRegex",
    "regex does not compile: unclosed group",
    "a Rust regex"
)]
#[case::bad_image(
    "bad-image.yaml",
    8,
    10,
    "probe.image",
    "path component \"Probe\" must be lowercase",
    "target:<alias>"
)]
#[case::missing_required(
    "missing-required.yaml",
    2,
    1,
    "probe",
    "missing required field `probe`",
    "a mapping with fields image, nodeSelector, pullSecrets"
)]
#[case::wrong_type(
    "wrong-type.yaml",
    9,
    16,
    "probe.pullSecrets",
    "expected a list, found a string",
    "a list of a Kubernetes object name"
)]
#[case::unknown_cause(
    "unknown-cause.yaml",
    10,
    36,
    "expect.causes[1]",
    "unknown cause id \"unauthorised\"",
    "unauthorized-anonymous, unauthorized-credentials"
)]
#[case::unknown_waiting_reason(
    "unknown-waiting-reason.yaml",
    11,
    7,
    "expect.waitingReasons[1]",
    "unknown waiting reason \"ImagePullBackoff\"",
    "did you mean `ImagePullBackOff`?"
)]
#[case::bad_api_version(
    "bad-api-version.yaml",
    1,
    13,
    "apiVersion",
    "unsupported apiVersion \"acr-chaos/v2\"",
    "acr-chaos/v1"
)]
#[case::unknown_kind(
    "unknown-kind.yaml",
    2,
    7,
    "kind",
    "unknown kind \"Scenarios\"",
    "Scenario, Target"
)]
#[case::bad_url(
    "bad-url.yaml",
    11,
    18,
    "endpoints.authorityHost",
    "invalid URL \"login.microsoftonline.com\"",
    "an absolute http(s) URL"
)]
#[case::empty_allowlist(
    "empty-allowlist.yaml",
    12,
    13,
    "allowlist.clusters",
    "must list at least 1 item",
    "an AKS cluster ARM id, or its name"
)]
#[case::yaml_syntax("yaml-syntax.yaml", 7, 10, "", "YAML syntax error: unclosed quote", "")]
#[case::label_value(
    "bad-node-selector.yaml",
    11,
    16,
    "probe.nodeSelector.agentpool",
    "\"user pool\" is not a label value",
    "at most 63 characters"
)]
#[case::cross_field(
    "firewall-allow-ips.yaml",
    7,
    13,
    "fault.allowIps",
    "allowIps only applies with mode selected-networks",
    "use mode: selected-networks"
)]
fn one_bad_input(
    #[case] file: &str,
    #[case] line: usize,
    #[case] column: usize,
    #[case] field: &str,
    #[case] message: &str,
    #[case] hint: &str,
) {
    let d = diagnostics(&[file]);
    assert_eq!(d.len(), 1, "exactly one problem in {file}: {d:#?}");
    let d = &d[0];
    assert_eq!(d.file, data(file));
    assert_eq!((d.line, d.column), (line, column), "{d}");
    assert_eq!(d.field, field, "{d}");
    assert!(d.message.contains(message), "message of {d}");
    if hint.is_empty() {
        assert_eq!(d.hint, None, "{d}");
    } else {
        assert!(d.hint.as_deref().unwrap_or("").contains(hint), "hint of {d}");
    }
}

#[test]
fn display_is_file_line_column_field_message_hint() {
    let d = diagnostics(&["unknown-kind.yaml"]);
    assert_eq!(
        d[0].to_string(),
        format!(
            "{}:2:7: kind: unknown kind \"Scenarios\" (valid: Scenario, Target; did you mean `Scenario`?)",
            data("unknown-kind.yaml").display()
        )
    );
}

#[test]
fn two_errors_in_one_file_are_both_reported() {
    let d = diagnostics(&["two-errors.yaml"]);
    let got: Vec<(usize, usize, &str)> =
        d.iter().map(|d| (d.line, d.column, d.field.as_str())).collect();
    assert_eq!(got, vec![(7, 9, "fault.role"), (16, 13, "recovery.deadline")], "{d:#?}");
    assert!(d[0].message.contains("unknown role \"AcrPuller\""));
    assert!(d[0].hint.as_deref().unwrap().contains("AcrPull, AcrPush, Owner, Contributor, Reader"));
    assert!(d[1].message.contains("invalid duration \"soon\""));
}

#[test]
fn errors_in_two_files_are_both_reported() {
    let d = diagnostics(&["two-files"]);
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!(d[0].file, data("two-files/one.yaml"));
    assert_eq!((d[0].line, d[0].column, d[0].field.as_str()), (12, 3, "expect.extra"));
    assert_eq!(d[0].hint.as_deref(), Some("causes, deadline, messageRegex, waitingReasons"));
    assert_eq!(d[1].file, data("two-files/two.yaml"));
    assert_eq!((d[1].line, d[1].column, d[1].field.as_str()), (6, 39, "fault.nsgRule.priority"));
    assert_eq!(d[1].hint.as_deref(), Some("100 to 4096"));
}

#[test]
fn duplicate_scenario_names_across_files() {
    let d = diagnostics(&["duplicate"]);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].file, data("duplicate/second.yaml"));
    assert_eq!((d[0].line, d[0].column, d[0].field.as_str()), (4, 7, "name"));
    let first = format!("{}:3:7", data("duplicate/first.yaml").display());
    assert!(d[0].message.contains(&first), "{}", d[0]);
}

#[test]
fn every_document_of_a_file_is_checked() {
    let paths = [data("multi-document.yaml")];
    let (loaded, d) = check_paths(&paths);
    assert_eq!(loaded.scenarios.len(), 1, "the valid first document still loads");
    assert_eq!(loaded.scenarios[0].scenario.name.as_str(), "multi-document-ok");
    let got: Vec<(usize, usize, &str)> =
        d.iter().map(|d| (d.line, d.column, d.field.as_str())).collect();
    assert_eq!(got, vec![(9, 1, ""), (15, 43, "fault.token")], "{d:#?}");
    assert!(d[0].message.contains("expected a mapping"));
}

#[test]
fn target_field_types_and_secrets_not_echoed() {
    let d = diagnostics(&["target-types.yaml"]);
    let got: Vec<(usize, usize, &str)> =
        d.iter().map(|d| (d.line, d.column, d.field.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (5, 19, "azure.subscriptionId"),
            (6, 15, "azure.registryId"),
            (10, 16, "azure.credential.secretEnv"),
            (12, 3, "probeImages.ACR"),
        ],
        "{d:#?}"
    );
    assert!(d[1].message.contains("not a Microsoft.ContainerRegistry/registries resource id"));
    for x in &d {
        assert!(!x.to_string().contains("hunter2"), "a secret-looking value was echoed: {x}");
    }
}

#[test]
fn missing_path_is_reported() {
    let d = diagnostics(&["no-such-file.yaml"]);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].line, d[0].column), (0, 0));
    assert!(d[0].message.starts_with("cannot read"), "{}", d[0]);
}

fn acr_chaos(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run acr-chaos");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn binary_accepts_the_shipped_scenarios() {
    let (code, out) = acr_chaos(&["validate", "scenarios/"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 11 files checked, 10 scenario(s), 1 target(s)"), "{out}");
}

#[test]
fn binary_reports_every_error_and_exits_2() {
    let (code, out) = acr_chaos(&["validate", "tests/data/invalid"]);
    assert_eq!(code, 2, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let (errors, summary) = lines.split_at(lines.len() - 1);
    let files = walk(&data("")).len();
    assert_eq!(summary[0], format!("{files} files checked, {} errors", errors.len()));
    // Every bad file shows up (the first of two duplicates is itself valid).
    for f in walk(&data("")).into_iter().filter(|f| !f.ends_with("duplicate/first.yaml")) {
        let rel = f
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .to_string();
        assert!(
            errors.iter().any(|l| l.starts_with(&format!("{rel}:"))),
            "{rel} not reported:\n{out}"
        );
    }
}

#[test]
fn binary_prints_schema_for_editors() {
    let (code, out) = acr_chaos(&["schema"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["oneOf"].as_array().map(Vec::len), Some(2));
    let (code, out) = acr_chaos(&["schema", "--kind", "target"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["$ref"], "#/$defs/Target");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bin.yaml", b"apiVersion: acr-chaos/v1\nkind: Scen\xc3\x28rio\n");
    let (_, d) = check_paths(&[p]);
    assert_eq!((d[0].line, d[0].column), (2, 11), "{d:?}");
    assert!(d[0].message.contains("not valid UTF-8"), "{d:?}");
}

#[test]
fn empty_and_comment_only_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in
        [("empty.yaml", ""), ("comments.yaml", "# nothing here\n\n# still nothing\n")]
    {
        let p = write(dir.path(), name, text.as_bytes());
        let (_, d) = check_paths(&[p]);
        assert_eq!(d.len(), 1, "{name}: {d:?}");
        assert!(d[0].message.contains("holds no document"), "{name}: {d:?}");
    }
}

#[test]
fn a_target_must_be_alone_in_its_file_for_validate_as_for_run() {
    let target = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/targets/aks-example.yaml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "two.yaml", format!("{target}\n---\n{target}").as_bytes());
    let (_, d) = check_paths(std::slice::from_ref(&p));
    assert!(d.iter().any(|d| d.message.contains("must be the only document")), "{d:?}");
    let (code, out) = acr_chaos(&["validate", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(acr_chaos::scenario::load_target(&p).is_err(), "run refuses it too");
}

#[test]
fn errors_are_capped_with_a_count() {
    let mut text = String::from("apiVersion: acr-chaos/v1\nkind: Scenario\nname: capped\n");
    for i in 0..5000 {
        text.push_str(&format!("unknown{i}: 1\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "many.yaml", text.as_bytes());
    let (code, out) = acr_chaos(&["validate", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    let lines = out.lines().count();
    assert!(lines < 300, "{lines} lines printed");
    assert!(
        out.contains("more problems in this file are not listed"),
        "{}",
        &out[out.len() - 500..]
    );
}
