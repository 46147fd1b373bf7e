//! `acr-chaos classify` end to end: the built binary, with arguments and with stdin,
//! text and JSON output.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_acr-chaos");

const NOT_FOUND: &str = r#"Failed to pull image "acrchaos.azurecr.io/probe/pause:9.9": rpc error: code = NotFound desc = failed to pull and unpack image "acrchaos.azurecr.io/probe/pause:9.9": failed to resolve reference "acrchaos.azurecr.io/probe/pause:9.9": acrchaos.azurecr.io/probe/pause:9.9: not found"#;
const AGGREGATE: &str = r#"Failed to pull image "acrchaos.azurecr.io/probe/pause:9.9": [rpc error: code = NotFound desc = failed to pull and unpack image "acrchaos.azurecr.io/probe/pause:9.9": failed to resolve reference "acrchaos.azurecr.io/probe/pause:9.9": acrchaos.azurecr.io/probe/pause:9.9: not found, rpc error: code = Unknown desc = failed to pull and unpack image "acrchaos.azurecr.io/probe/pause:9.9": failed to resolve reference "acrchaos.azurecr.io/probe/pause:9.9": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized]"#;
const FIREWALL: &str = "  Warning  Failed  3s (x2 over 20s)  kubelet  Failed to pull image \"acrchaos.azurecr.io/probe/pause:3.10\": rpc error: code = Unknown desc = failed to pull and unpack image \"acrchaos.azurecr.io/probe/pause:3.10\": failed to resolve reference \"acrchaos.azurecr.io/probe/pause:3.10\": failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden";
const BACKOFF: &str = r#"Back-off pulling image "acrchaos.azurecr.io/probe/pause:3.10""#;

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("classify").args(args).env_remove("ACR_CHAOS_LOG");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run acr-chaos");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.code().is_some(), "killed by a signal: {out:?}");
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

fn json(out: &Output) -> Vec<serde_json::Value> {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    v.as_array().expect("a JSON array").clone()
}

fn causes(entry: &serde_json::Value) -> Vec<&str> {
    entry["causes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect()
}

#[test]
fn text_from_arguments() {
    let out = run(&[NOT_FOUND, BACKOFF], None);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("Failed to pull image"), "{text}");
    assert!(lines[0].ends_with('…'), "a long message is truncated: {text}");
    assert_eq!(lines[1], "  → not-found");
    assert_eq!(lines[2], BACKOFF);
    assert_eq!(lines[3], "  → (no cause)");
}

#[test]
fn text_from_stdin_with_explanations() {
    let out = run(&["--explain"], Some(&format!("{AGGREGATE}\n{FIREWALL}\n")));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("  → not-found, unauthorized-anonymous\n"), "{text}");
    assert!(text.contains("  → forbidden-network\n"), "{text}");
    assert!(text.contains("az aks check-acr"), "{text}");
    assert!(text.contains("az acr network-rule add"), "{text}");
}

#[test]
fn json_from_arguments_in_order() {
    let v = json(&run(&["--output", "json", BACKOFF, AGGREGATE, FIREWALL], None));
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["message"], BACKOFF);
    assert_eq!(v[1]["message"], AGGREGATE, "messages are not truncated in JSON");
    assert_eq!(causes(&v[0]), Vec::<&str>::new());
    assert_eq!(causes(&v[1]), ["not-found", "unauthorized-anonymous"]);
    assert_eq!(causes(&v[2]), ["forbidden-network"]);
    let details = v[1]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(details[0]["cause"], "not-found");
    assert_eq!(details[1]["cause"], "unauthorized-anonymous");
    assert!(details[1]["explanation"].as_str().unwrap().contains("AcrPull"));
    assert!(details[1]["remediation"].as_str().unwrap().contains("--attach-acr"));
}

#[test]
fn json_from_stdin_one_object_per_line() {
    let input = format!("{FIREWALL}\r\n\nError: ErrImagePull\n{NOT_FOUND}");
    let v = json(&run(&["-o", "json"], Some(&input)));
    let got: Vec<(String, Vec<&str>)> =
        v.iter().map(|e| (e["message"].as_str().unwrap().to_owned(), causes(e))).collect();
    assert_eq!(
        got,
        [
            (FIREWALL.to_owned(), vec!["forbidden-network"]),
            (String::new(), vec![]),
            ("Error: ErrImagePull".to_owned(), vec![]),
            (NOT_FOUND.to_owned(), vec!["not-found"]),
        ]
    );
}

#[test]
fn empty_stdin_gives_an_empty_array() {
    let v = json(&run(&["--output", "json"], Some("")));
    assert!(v.is_empty());
}

#[test]
fn unknown_output_format_is_rejected() {
    let out = run(&["--output", "yaml", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("yaml") && err.contains("text") && err.contains("json"), "{err}");
}
