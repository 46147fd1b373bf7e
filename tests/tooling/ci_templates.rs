//! The CI templates users copy (ci-templates/): linted with the published schemas and
//! linters from the tool environment (`make tools`: actionlint + shellcheck,
//! check-jsonschema's vendored GitHub and Azure Pipelines schemas), and every shell step
//! run, with the template's own commands and arguments, against the lab. Cloud CLIs the
//! steps call (`az aks get-credentials`, `kubelogin`) and the CI systems' OIDC token
//! endpoints are small fakes that check their arguments; acr-chaos itself is the real
//! binary against the real lab, so a renamed flag or a moved report file fails here.

use crate::ci_support::*;
use acr_chaos::engine::lab::{LAB_JOURNAL_NAMESPACE, LabFacts, write_target};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const GITHUB: &str = "ci-templates/github/acr-chaos.yml";
const GITHUB_CALLER: &str = "ci-templates/github/nightly-clusters.yml";
const AZURE: &str = "ci-templates/azure-pipelines/acr-chaos.yml";

// ---- linters -------------------------------------------------------------------------

fn lint_tools() -> Option<(PathBuf, PathBuf)> {
    let tools = tool("actionlint")
        .and_then(|a| tool("shellcheck").map(|_| a))
        .and_then(|a| tool("check-jsonschema").map(|c| (a, c)));
    match tools {
        Ok(t) => Some(t),
        Err(e) => {
            require("CI template linters", Some(e));
            None
        }
    }
}

/// A throw-away repository with the GitHub templates where users put them.
fn github_repo(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    for (name, text) in files {
        std::fs::write(wf.join(name), text).unwrap();
    }
    dir
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap()
}

fn actionlint(actionlint: &Path, repo: &Path) -> std::process::Output {
    // shellcheck from the same environment checks every `run:` script.
    let path = format!("{}:{}", tools_bin().display(), std::env::var("PATH").unwrap_or_default());
    Command::new(actionlint)
        .current_dir(repo)
        .env("PATH", path)
        .arg("-no-color")
        .output()
        .expect("run actionlint")
}

fn check_jsonschema(bin: &Path, schema: &str, files: &[PathBuf]) -> std::process::Output {
    // The Azure Pipelines schema's patterns are not valid in unicode mode.
    Command::new(bin)
        .args(["--regex-variant", "nonunicode", "--builtin-schema", schema])
        .args(files)
        .output()
        .expect("run check-jsonschema")
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn github_workflows_pass_actionlint_and_the_published_schema() {
    let Some((al, cj)) = lint_tools() else { return };
    let repo = github_repo(&[
        ("acr-chaos.yml", read(GITHUB)),
        ("nightly-clusters.yml", read(GITHUB_CALLER)),
    ]);
    let out = actionlint(&al, repo.path());
    assert!(out.status.success(), "actionlint:\n{}", text(&out));
    let files = [GITHUB, GITHUB_CALLER].map(|f| repo_root().join(f));
    let out = check_jsonschema(&cj, "vendor.github-workflows", &files);
    assert!(out.status.success(), "check-jsonschema:\n{}", text(&out));
}

/// The linters do look: a broken copy of each template is refused.
#[test]
fn the_linters_catch_a_broken_template() {
    let Some((al, cj)) = lint_tools() else { return };
    // a shell mistake (shellcheck through actionlint) and an undefined input
    let broken = read(GITHUB)
        .replace(
            r#"acr-chaos recover --target "$ACR_CHAOS_TARGET""#,
            "acr-chaos recover --target $ACR_CHAOS_TARGET",
        )
        .replace("inputs.parallel || 1", "inputs.paralel || 1");
    let repo = github_repo(&[("acr-chaos.yml", broken)]);
    let out = actionlint(&al, repo.path());
    let t = text(&out);
    assert!(!out.status.success(), "actionlint accepted a broken workflow");
    assert!(t.contains("SC2086"), "shellcheck ran on the run: scripts:\n{t}");
    assert!(t.contains("paralel"), "the undefined input is reported:\n{t}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("azure-pipelines.yml");
    std::fs::write(
        &bad,
        read(AZURE).replace("testResultsFormat: JUnit", "testResultsFormat: JUnitXml"),
    )
    .unwrap();
    let out = check_jsonschema(&cj, "vendor.azure-pipelines", &[bad]);
    assert!(!out.status.success(), "the schema accepted a bad task input:\n{}", text(&out));
}

#[test]
fn azure_pipeline_passes_the_published_schema() {
    let Some((_, cj)) = lint_tools() else { return };
    let out = check_jsonschema(&cj, "vendor.azure-pipelines", &[repo_root().join(AZURE)]);
    assert!(out.status.success(), "check-jsonschema:\n{}", text(&out));
}

/// What the issue asks of the templates, read from the YAML (not from comments).
#[test]
fn templates_have_what_a_nightly_needs() {
    let gh = yaml(&repo_root().join(GITHUB));
    let on = &gh["on"];
    assert!(on.get("workflow_call").is_some() && on.get("schedule").is_some());
    for input in ["target", "scenarios", "only", "parallel"] {
        assert!(on["workflow_call"]["inputs"].get(input).is_some(), "workflow_call input {input}");
    }
    let job = &gh["jobs"]["acr-chaos"];
    assert_eq!(job["permissions"]["id-token"], "write");
    assert_eq!(job["concurrency"]["cancel-in-progress"], false);
    assert!(job["concurrency"]["group"].as_str().unwrap().contains("inputs.target"));
    let steps = job["steps"].as_array().unwrap();
    let recover = steps.iter().find(|s| run_of(s).contains("acr-chaos recover")).unwrap();
    assert_eq!(recover["if"], "always()");
    assert!(!run_of(recover).contains("||"), "recover's exit code must reach the job");
    assert!(
        steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("azure/login@")))
    );
    assert!(
        steps
            .iter()
            .any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact@"))
                && s["if"] == "always()")
    );
    assert!(steps.iter().any(|s| run_of(s).contains("GITHUB_STEP_SUMMARY")));
    assert!(!read(GITHUB).contains("client-secret"), "no client secret in the template");

    let az = yaml(&repo_root().join(AZURE));
    assert!(az["schedules"].as_array().is_some_and(|s| !s.is_empty()));
    let steps = azure_steps(&az);
    let task = |name: &'static str| steps.iter().filter(move |s| s["task"] == name);
    assert_eq!(
        task("PublishTestResults@2").next().unwrap()["inputs"]["testResultsFormat"],
        "JUnit"
    );
    assert_eq!(task("PublishPipelineArtifact@1").next().unwrap()["condition"], "always()");
    let recover = task("AzureCLI@2")
        .find(|s| s["displayName"].as_str().unwrap().starts_with("Recover"))
        .unwrap();
    assert_eq!(recover["condition"], "always()");
    assert!(task("AzureCLI@2").all(|s| s["inputs"]["addSpnToEnvironment"] == true));
}

/// The repository variables the GitHub workflow reads (`vars.NAME`).
fn github_variables() -> std::collections::BTreeSet<String> {
    let re = regex::Regex::new(r"\bvars\.([A-Z][A-Z0-9_]*)").unwrap();
    re.captures_iter(&read(GITHUB)).map(|c| c[1].to_string()).collect()
}

/// The pipeline variables a user sets for the Azure pipeline: `$(NAME)` macros that are
/// neither the agent's (`Agent.X`) nor defined by the pipeline itself.
fn azure_user_variables() -> std::collections::BTreeSet<String> {
    let az = yaml(&repo_root().join(AZURE));
    let own: Vec<&String> = az["variables"].as_object().unwrap().keys().collect();
    let re = regex::Regex::new(r"\$\(([A-Z][A-Z0-9_]*)\)").unwrap();
    re.captures_iter(&read(AZURE)).map(|c| c[1].to_string()).filter(|v| !own.contains(&v)).collect()
}

/// README's "Nightly, unattended" section.
fn readme_nightly() -> String {
    let readme = read("README.md");
    let start = readme.find("## Nightly, unattended").expect("README: ## Nightly, unattended");
    let end = readme[start + 3..].find("\n## ").map_or(readme.len(), |e| e + start + 3);
    readme[start..end].to_string()
}

/// "Copy one file, set three or four variables": the variables the GitHub workflow reads
/// are named, identically, in the file's own header, in the README's table and in the
/// workflow's settings check; the Azure pipeline's in its header and the README; the
/// README's GitHub part fits a screen; no placeholder host is left for a user to trip
/// over, and the placeholder convention is stated.
#[test]
fn a_newcomer_sets_the_documented_variables() {
    let vars = github_variables();
    assert!((3..=4).contains(&vars.len()), "{vars:?}");
    assert!(!read(GITHUB).contains("secrets."), "the GitHub workflow needs no secret");
    let header: String =
        read(GITHUB).lines().take_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let readme = readme_nightly();
    let doc = yaml(&repo_root().join(GITHUB));
    let check = doc["jobs"]["acr-chaos"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Check the settings")
        .map(|s| run_of(s).to_string())
        .expect("a settings check step");
    for v in &vars {
        assert!(header.contains(&format!("#   {v} ")), "{GITHUB} header: {v}");
        assert!(readme.contains(&format!("| `{v}` |")), "README table: {v}");
        assert!(check.contains(v.as_str()), "settings check: {v}");
    }
    let az_header: String =
        read(AZURE).lines().take_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
    for v in azure_user_variables() {
        assert!(az_header.contains(&format!("#   {v} ")), "{AZURE} header: {v}");
        assert!(readme.contains(&format!("`{v}`")), "README: {v}");
    }
    let github_part = readme
        .split("**GitHub Actions**")
        .nth(1)
        .and_then(|r| r.split("**Azure Pipelines**").next())
        .expect("README: the GitHub Actions part");
    assert!(github_part.lines().count() <= 30, "README's GitHub part is longer than a screen");
    assert!(readme.contains("Placeholders"), "README states the placeholder convention");
    for f in [
        "README.md",
        "Cargo.toml",
        GITHUB,
        GITHUB_CALLER,
        AZURE,
        "docs/azure.md",
        "docs/in-cluster.md",
    ] {
        let text = read(f);
        for host in ["example.invalid", "example.com", "example.org"] {
            assert!(!text.contains(host), "{f}: placeholder host {host}");
        }
    }
}

/// A first run without the variables (or without a target file) stops in the first step,
/// naming what to set.
#[test]
fn github_settings_check_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().display().to_string();
    let run_check = |client: &str, repo: &str| {
        let values: BTreeMap<&str, String> = BTreeMap::from([
            ("inputs.target || 'acr-chaos/target.yaml'", "acr-chaos/target.yaml".into()),
            ("inputs.scenarios || 'acr-chaos-src/scenarios'", "acr-chaos-src/scenarios".into()),
            ("inputs.only", String::new()),
            ("inputs.parallel || 1", "1".into()),
            ("inputs.baseline || 'acr-chaos/baseline.yaml'", "acr-chaos/baseline.yaml".into()),
            ("github.workspace", w.clone()),
            ("inputs.client-id || vars.AZURE_CLIENT_ID", client.into()),
            ("inputs.tenant-id || vars.AZURE_TENANT_ID", "t".into()),
            ("inputs.subscription-id || vars.AZURE_SUBSCRIPTION_ID", "s".into()),
            ("inputs.acr-chaos-repository || vars.ACR_CHAOS_REPOSITORY", repo.into()),
        ]);
        let (env, steps) = github_shell_steps(&yaml(&repo_root().join(GITHUB)), &values);
        let check: Vec<Step> =
            steps.into_iter().filter(|s| s.name == "Check the settings").collect();
        let mut agent = Agent {
            cwd: dir.path().to_path_buf(),
            env,
            path_prefix: vec![],
            groups: vec![],
            shell: vec!["bash", "--noprofile", "--norc", "-eo", "pipefail"],
            log: String::new(),
        };
        let code = agent.run(&check)[0].code;
        (code, agent.log.clone())
    };
    let (code, log) = run_check("", "");
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("::error::set the repository variables AZURE_CLIENT_ID ACR_CHAOS_REPOSITORY"),
        "{log}"
    );
    let (code, log) = run_check("c", "contoso/acr-chaos");
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("no target file at acr-chaos/target.yaml"), "{log}");
    std::fs::create_dir_all(dir.path().join("acr-chaos")).unwrap();
    std::fs::write(dir.path().join("acr-chaos/target.yaml"), "kind: Target\n").unwrap();
    let (code, log) = run_check("c", "contoso/acr-chaos");
    assert_eq!(code, Some(0), "{log}");
}

fn run_of(step: &Value) -> &str {
    step["run"].as_str().unwrap_or("")
}

fn azure_steps(doc: &Value) -> Vec<Value> {
    doc["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
        .as_array()
        .or_else(|| doc["jobs"][0]["steps"].as_array())
        .expect("the pipeline's steps")
        .clone()
}

// ---- the shell steps against the lab ---------------------------------------------------

/// One shell step as the CI system would run it.
struct Step {
    name: String,
    script: String,
    env: BTreeMap<String, String>,
    always: bool,
}

/// Replace every `${{ expr }}` (and, for Azure Pipelines, `$(Macro.Name)`) in an env value
/// by the test's value for that exact expression: a new expression in a template fails
/// here until the test knows what the CI system would put there.
fn expand(value: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    loop {
        let gh = rest.find("${{");
        let mac = rest.find("$(").filter(|&i| {
            rest[i + 2..].split(')').next().is_some_and(|m| {
                !m.is_empty() && m.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '_')
            })
        });
        let (start, open, close) = match (gh, mac) {
            (Some(g), Some(m)) if m < g => (m, 2, ")"),
            (Some(g), _) => (g, 3, "}}"),
            (None, Some(m)) => (m, 2, ")"),
            (None, None) => break,
        };
        out.push_str(&rest[..start]);
        let end = rest[start..].find(close).expect("unterminated expression") + start;
        let expr = rest[start + open..end].trim();
        let v = values.get(expr).unwrap_or_else(|| {
            panic!("the template uses `{expr}`: give the test the value the CI system would use")
        });
        out.push_str(v);
        rest = &rest[end + close.len()..];
    }
    out.push_str(rest);
    out
}

fn env_map(v: &Value, values: &BTreeMap<&str, String>) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), expand(&s, values))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn script_has_no_ci_expressions(name: &str, script: &str) {
    assert!(
        !script.contains("${{"),
        "step {name}: pass values through env:, not ${{{{ }}}} in the script"
    );
    let re = regex::Regex::new(r"\$\([A-Za-z_][A-Za-z0-9_.]*\)").unwrap();
    assert!(!re.is_match(script), "step {name}: a $(Macro) in the script (use env:)");
}

/// The `run:` steps of the reusable workflow's job, in order.
fn github_shell_steps(
    doc: &Value,
    values: &BTreeMap<&str, String>,
) -> (BTreeMap<String, String>, Vec<Step>) {
    let job = &doc["jobs"]["acr-chaos"];
    let job_env = env_map(&job["env"], values);
    let steps = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("run").is_some())
        .map(|s| {
            let name = s["name"].as_str().unwrap_or("?").to_string();
            let script = run_of(s).to_string();
            script_has_no_ci_expressions(&name, &script);
            let cond = s["if"].as_str();
            assert!(
                matches!(cond, None | Some("always()")),
                "step {name}: teach the test `if: {cond:?}`"
            );
            Step { name, script, env: env_map(&s["env"], values), always: cond.is_some() }
        })
        .collect();
    (job_env, steps)
}

/// The `bash:` steps and the AzureCLI@2 inline scripts of the pipeline, in order.
fn azure_shell_steps(
    doc: &Value,
    values: &BTreeMap<&str, String>,
) -> (BTreeMap<String, String>, Vec<Step>) {
    let vars = env_map(&doc["variables"], values);
    let steps = azure_steps(doc)
        .iter()
        .filter_map(|s| {
            let script = match (s.get("bash"), s["task"].as_str()) {
                (Some(b), _) => b.as_str().unwrap().to_string(),
                (None, Some("AzureCLI@2")) => {
                    assert_eq!(s["inputs"]["scriptType"], "bash");
                    s["inputs"]["inlineScript"].as_str().unwrap().to_string()
                }
                _ => return None,
            };
            let name = s["displayName"].as_str().unwrap_or("?").to_string();
            script_has_no_ci_expressions(&name, &script);
            let cond = s["condition"].as_str();
            assert!(
                matches!(cond, None | Some("always()")),
                "step {name}: teach the test `condition: {cond:?}`"
            );
            Some(Step { name, script, env: env_map(&s["env"], values), always: cond.is_some() })
        })
        .collect();
    (vars, steps)
}

/// A fake OIDC token endpoint (GitHub's ACTIONS_ID_TOKEN_REQUEST_URL, Azure DevOps'
/// System.OidcRequestUri): answers `{field: token}` to a request carrying the bearer, and
/// records the request lines.
struct TokenEndpoint {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TokenEndpoint {
    fn start(bearer: &'static str, field: &'static str, token: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let (mut authorized, mut len) = (false, 0usize);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if lower.starts_with("authorization:") && h.trim_end().ends_with(bearer) {
                        authorized = true;
                    }
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                seen.lock().unwrap().push(line.trim_end().to_string());
                let (status, body) = if authorized {
                    ("200 OK", format!("{{\"{field}\":\"{token}\"}}"))
                } else {
                    ("401 Unauthorized", "{}".to_string())
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenEndpoint { url, requests }
    }
}

/// Fakes of the cloud CLIs: they check their arguments, log them, and do the local part
/// (`az aks get-credentials` writes the lab's kubeconfig where it was asked to).
fn fake_clis(dir: &Path, cluster_id: &str, kubeconfig: &Path) -> PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("fake-cli.log");
    let az = format!(
        r#"#!/bin/bash
echo "az $*" >> '{log}'
[ "$1 $2" = "aks get-credentials" ] || {{ echo "fake az: unexpected command: $*" >&2; exit 2; }}
shift 2
ids= file= overwrite=
while [ $# -gt 0 ]; do
  case "$1" in
    --ids) ids=$2; shift 2;;
    --file|-f) file=$2; shift 2;;
    --overwrite-existing) overwrite=1; shift;;
    *) echo "fake az: unknown argument $1" >&2; exit 2;;
  esac
done
[ "$ids" = '{cluster_id}' ] || {{ echo "fake az: ResourceNotFound: $ids" >&2; exit 3; }}
[ -n "$file" ] && [ -n "$overwrite" ] || {{ echo "fake az: --file and --overwrite-existing expected" >&2; exit 2; }}
cp '{kubeconfig}' "$file"
"#,
        log = log.display(),
        kubeconfig = kubeconfig.display(),
    );
    let kubelogin = format!(
        r#"#!/bin/bash
echo "kubelogin $*" >> '{log}'
[ "$1" = convert-kubeconfig ] && [ "$2 $3" = "-l workloadidentity" ] && [ "$4" = --kubeconfig ] && [ -s "$5" ] \
  || {{ echo "fake kubelogin: unexpected: $*" >&2; exit 2; }}
"#,
        log = log.display()
    );
    for (name, text) in [("az", az), ("kubelogin", kubelogin)] {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Runs steps in order like a CI agent: a failed step skips the later ones except those
/// that always run; GITHUB_ENV / GITHUB_PATH files and `##vso[task.prependpath]` lines
/// reach the later steps. Each step is its own process group (background loops a step
/// leaves are stopped at the end, as agents do).
struct Agent {
    cwd: PathBuf,
    env: BTreeMap<String, String>,
    path_prefix: Vec<String>,
    groups: Vec<i32>,
    shell: Vec<&'static str>,
    log: String,
}

struct StepResult {
    name: String,
    code: Option<i32>,
    skipped: bool,
}

impl Agent {
    fn run(&mut self, steps: &[Step]) -> Vec<StepResult> {
        let mut failed = false;
        let mut results = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if failed && !step.always {
                results.push(StepResult { name: step.name.clone(), code: None, skipped: true });
                continue;
            }
            let script = self.cwd.join(format!(".step-{i}.sh"));
            std::fs::write(&script, &step.script).unwrap();
            let mut env = self.env.clone();
            env.extend(step.env.clone());
            let path = self
                .path_prefix
                .iter()
                .rev()
                .cloned()
                .chain([std::env::var("PATH").unwrap_or_default()])
                .collect::<Vec<_>>()
                .join(":");
            let mut cmd = Command::new(self.shell[0]);
            cmd.args(&self.shell[1..])
                .arg(&script)
                .current_dir(&self.cwd)
                .env_clear()
                .envs(&env)
                .env("PATH", path)
                .stdin(Stdio::null());
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            self.groups.push(child.id() as i32);
            let out = wait_with_timeout(child, std::time::Duration::from_secs(900));
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            self.log.push_str(&format!(
                "=== step {}: exit {:?}\n{stdout}{}",
                step.name,
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
            for line in stdout.lines() {
                if let Some(p) = line.strip_prefix("##vso[task.prependpath]") {
                    self.path_prefix.push(p.to_string());
                }
            }
            self.absorb_github_files();
            if !out.status.success() {
                failed = true;
            }
            results.push(StepResult {
                name: step.name.clone(),
                code: out.status.code(),
                skipped: false,
            });
        }
        results
    }

    fn absorb_github_files(&mut self) {
        if let Some(f) = self.env.get("GITHUB_PATH").cloned() {
            let lines = std::fs::read_to_string(&f).unwrap_or_default();
            for l in lines.lines().filter(|l| !l.is_empty()) {
                if !self.path_prefix.iter().any(|p| p == l) {
                    self.path_prefix.push(l.to_string());
                }
            }
        }
        if let Some(f) = self.env.get("GITHUB_ENV").cloned() {
            let lines = std::fs::read_to_string(&f).unwrap_or_default();
            for l in lines.lines() {
                if let Some((k, v)) = l.split_once('=') {
                    self.env.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for g in &self.groups {
            kill_group(*g, "TERM");
        }
    }
}

/// Signal a process group this test started (background loops a step left behind).
fn kill_group(pgid: i32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

fn wait_with_timeout(
    child: std::process::Child,
    limit: std::time::Duration,
) -> std::process::Output {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            kill_group(pid, "KILL");
            panic!("a template step ran longer than {limit:?}");
        }
    }
}

fn lab_missing() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    for b in ["containerd", "docker-registry", "jq", "curl", "git"] {
        if find_bin(b).is_none() {
            return Some(format!("{b} not installed (make deps)"));
        }
    }
    None
}

/// A running lab, its target file in `<workspace>/acr-chaos/target.yaml` without the
/// `kubernetes.kubeconfig` line (the template's kubeconfig step provides the cluster), and
/// the environment its client-secret credential reads.
struct LabWorkspace {
    lab: acr_chaos_lab::Lab,
    dir: tempfile::TempDir,
    ws: PathBuf,
    cluster_id: String,
    kubeconfig: PathBuf,
    cred_env: BTreeMap<String, String>,
}

async fn lab_workspace() -> LabWorkspace {
    let dir = tempfile::tempdir().unwrap();
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(dir.path().join("lab"))
        .time_scale(0.05)
        .with_kubelet(true)
        .start()
        .await
        .expect("lab starts");
    let facts = LabFacts::from_lab(&lab);
    let (target, _) = write_target(&facts, dir.path()).unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("acr-chaos")).unwrap();
    let text = std::fs::read_to_string(&target).unwrap();
    let kube_lines = format!("kubernetes:\n  kubeconfig: {}\n", facts.kubeconfig.display());
    assert!(text.contains(&kube_lines));
    std::fs::write(ws.join("acr-chaos/target.yaml"), text.replace(&kube_lines, "")).unwrap();
    let kube =
        acr_chaos::clients::kube::Kube::connect(Some(&facts.kubeconfig), None).await.unwrap();
    kube.ensure_namespace(LAB_JOURNAL_NAMESPACE, "setup").await.unwrap();
    let p = lab.chaos_principal().unwrap();
    let cred_env = BTreeMap::from([
        ("ACR_CHAOS_LAB_CLIENT_ID".to_string(), p.client_id.clone()),
        ("ACR_CHAOS_LAB_CLIENT_SECRET".to_string(), p.secret.clone()),
        ("ACR_CHAOS_LAB_TENANT_ID".to_string(), lab.tenant_id()),
        ("ACR_CHAOS_LAB_CA".to_string(), lab.ca_path().display().to_string()),
        ("HOME".to_string(), dir.path().display().to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ]);
    LabWorkspace {
        lab,
        ws,
        cluster_id: facts.cluster_id,
        kubeconfig: facts.kubeconfig,
        dir,
        cred_env,
    }
}

/// `<dir>/bin/acr-chaos` -> the binary under test (a warm cache of the install step).
fn cached_binary(home: &Path) {
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_acr-chaos"), home.join("bin/acr-chaos"))
        .unwrap();
}

/// `cargo` for the templates' install step. `cargo install <flags> --path P --root R`:
/// every flag is checked against the real cargo's `cargo install --help` (a flag cargo
/// renames fails here), then the real cargo builds acr-chaos from P with those flags and the
/// binary is installed under R/bin. The build is the dev profile sharing the test build's
/// dependency artifacts, like tests/tooling/image.rs (whichever runs first compiles
/// acr-chaos without its lab, the other waits for cargo's lock on that target dir and finds
/// it fresh): `cargo install`'s release build would add minutes. Any other cargo command
/// goes to the real cargo.
fn cargo_shim(dir: &Path) -> PathBuf {
    let bin = dir.join("cargo-shim");
    std::fs::create_dir_all(&bin).unwrap();
    let real = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
    let rustup_home = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{home}/.rustup"));
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_default();
    let root = repo_root();
    let script = format!(
        r#"#!/bin/bash
set -euo pipefail
# the step's environment is the CI job's; cargo needs this machine's toolchain and crates
export CARGO_HOME='{cargo_home}' RUSTUP_HOME='{rustup_home}'
[ -z '{toolchain}' ] || export RUSTUP_TOOLCHAIN='{toolchain}'
echo "cargo $*" >> '{log}'
[ "${{1:-}}" = install ] || exec '{real}' "$@"
shift
help=$('{real}' install --help)
flags=() path= root=
while [ $# -gt 0 ]; do
  case $1 in
    --path) path=$2; shift 2;;
    --root) root=$2; shift 2;;
    --*) grep -qE -- "(^|[ ,])$1([ ,=]|$)" <<< "$help" || {{ echo "cargo install has no $1" >&2; exit 101; }}
         flags+=("$1"); shift;;
    *) echo "cargo shim: unexpected argument $1" >&2; exit 101;;
  esac
done
[ -n "$path" ] && [ -n "$root" ] || {{ echo "cargo shim: --path and --root expected" >&2; exit 101; }}
exe=$(CARGO_BUILD_BUILD_DIR='{root}/target' CARGO_TARGET_DIR='{root}/target/image/test-build'   '{real}' build "${{flags[@]}}" --manifest-path "$(realpath "$path")/Cargo.toml"   -p acr-chaos --bin acr-chaos --profile dev {share} --message-format json-render-diagnostics |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "acr-chaos" and .executable != null) | .executable')
install -D -m 0755 "$exe" "$root/bin/acr-chaos"
"#,
        log = dir.join("cargo-shim.log").display(),
        root = root.display(),
        share = SHARE_TEST_BUILD,
    );
    let p = bin.join("cargo");
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The one scenario the step tests run (quick and namespace-local on the lab).
const ONLY_TAG: &str = "image";

fn assert_steps_ok(results: &[StepResult], log: &str) {
    for r in results {
        assert!(
            !r.skipped && r.code == Some(0),
            "step `{}` {:?} (skipped: {}):\n{log}",
            r.name,
            r.code,
            r.skipped
        );
    }
}

/// The single run folder under `reports`, with its JUnit naming the selected scenario.
fn one_run_folder(reports: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(reports)
        .unwrap_or_else(|e| panic!("{}: {e}", reports.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let junit = std::fs::read_to_string(runs[0].join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"image-tag-missing\""), "{junit}");
    assert!(!junit.contains("name=\"acr-detach\""), "--only reached the run: {junit}");
    runs[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_workflow_shell_steps_run_against_the_lab() {
    if !require("GitHub template steps on the lab", lab_missing()) {
        return;
    }
    let lw = lab_workspace().await;
    let ws = lw.ws.clone();
    std::os::unix::fs::symlink(repo_root(), ws.join("acr-chaos-src")).unwrap();
    let oidc = TokenEndpoint::start("gh-request-token", "value", "gh.oidc.token");
    let runner_temp = lw.dir.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let summary = runner_temp.join("step-summary.md");
    let w = ws.display().to_string();
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("inputs.target || 'acr-chaos/target.yaml'", "acr-chaos/target.yaml".into()),
        ("inputs.scenarios || 'acr-chaos-src/scenarios'", "acr-chaos-src/scenarios".into()),
        ("inputs.only", ONLY_TAG.into()),
        ("inputs.parallel || 1", "2".into()),
        ("inputs.baseline || 'acr-chaos/baseline.yaml'", "acr-chaos/baseline.yaml".into()),
        ("github.workspace", w.clone()),
        ("inputs.client-id || vars.AZURE_CLIENT_ID", "00000000-0000-0000-0000-0000000000c1".into()),
        ("inputs.tenant-id || vars.AZURE_TENANT_ID", lw.lab.tenant_id()),
        ("inputs.subscription-id || vars.AZURE_SUBSCRIPTION_ID", lw.lab.subscription_id()),
        ("inputs.acr-chaos-repository || vars.ACR_CHAOS_REPOSITORY", "contoso/acr-chaos".into()),
    ]);
    let doc = yaml(&repo_root().join(GITHUB));
    let (job_env, steps) = github_shell_steps(&doc, &values);
    // The install step runs: its `cargo install` builds acr-chaos-src (this checkout).
    let fakes = fake_clis(lw.dir.path(), &lw.cluster_id, &lw.kubeconfig);
    let cargo = cargo_shim(lw.dir.path());
    let mut env = lw.cred_env.clone();
    env.extend(job_env.clone());
    env.extend([
        ("GITHUB_STEP_SUMMARY".to_string(), summary.display().to_string()),
        ("GITHUB_PATH".to_string(), runner_temp.join("path").display().to_string()),
        ("GITHUB_ENV".to_string(), runner_temp.join("env").display().to_string()),
        ("RUNNER_TEMP".to_string(), runner_temp.display().to_string()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL".to_string(),
            format!("{}/idtoken?api-version=2.0", oidc.url),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_string(), "gh-request-token".to_string()),
        ("CI".to_string(), "true".to_string()),
    ]);
    let mut agent = Agent {
        cwd: ws.clone(),
        env,
        path_prefix: vec![fakes.display().to_string(), cargo.display().to_string()],
        groups: vec![],
        // GitHub's `shell: bash`
        shell: vec!["bash", "--noprofile", "--norc", "-eo", "pipefail"],
        log: String::new(),
    };
    let results = agent.run(&steps);
    assert_steps_ok(&results, &agent.log);
    let names: Vec<_> = results.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"Run the scenarios") && names.contains(&"Recover anything left behind"),
        "{names:?}"
    );

    installed_without_the_lab(lw.dir.path(), &job_env, &agent.log);
    // OIDC: the federated token file holds the token GitHub handed out for Entra ID.
    let token = std::fs::read_to_string(&job_env["AZURE_FEDERATED_TOKEN_FILE"]).unwrap();
    assert_eq!(token.trim(), "gh.oidc.token");
    let reqs = oidc.requests.lock().unwrap().clone();
    assert!(reqs.iter().any(|r| r.contains("audience=api://AzureADTokenExchange")), "{reqs:?}");
    // The kubeconfig step asked for the target's cluster and converted for workload identity.
    let cli = std::fs::read_to_string(lw.dir.path().join("fake-cli.log")).unwrap();
    assert!(
        cli.contains(&format!(
            "az aks get-credentials --ids {} --file {w}/.kubeconfig",
            lw.cluster_id
        )),
        "{cli}"
    );
    assert!(cli.contains("kubelogin convert-kubeconfig -l workloadidentity"), "{cli}");
    // The run: reports where the later steps look, the summary in the job summary.
    let run = one_run_folder(Path::new(&job_env["ACR_CHAOS_REPORTS"]));
    let md = std::fs::read_to_string(&summary).unwrap();
    let own = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(md.contains(&own) && md.contains("image-tag-missing"), "{md}");
    assert!(agent.log.contains("no baseline at acr-chaos/baseline.yaml"), "{}", agent.log);

    // The next night, with night one accepted as the baseline: `run --baseline`, and its
    // diff.md in the job summary.
    github_night_with_baseline(&mut agent, &steps, &ws, &run, &job_env, &summary);
    lw.lab.stop().await;
}

/// The steps ran the binary the install step built: the product without the lab.
fn installed_without_the_lab(dir: &Path, job_env: &BTreeMap<String, String>, log: &str) {
    let installed = Path::new(&job_env["ACR_CHAOS_HOME"]).join("bin/acr-chaos");
    let cargo_log = std::fs::read_to_string(dir.join("cargo-shim.log")).unwrap();
    assert!(cargo_log.contains("cargo install --locked --no-default-features"), "{cargo_log}");
    assert!(installed.is_file() && !installed.is_symlink(), "{log}");
    let out = Command::new(&installed).args(["lab", "--help"]).output().unwrap();
    assert!(!out.status.success(), "the installed acr-chaos has the lab");
}

fn github_night_with_baseline(
    agent: &mut Agent,
    steps: &[Step],
    ws: &Path,
    night_one: &Path,
    job_env: &BTreeMap<String, String>,
    summary: &Path,
) {
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(["baseline", "accept"])
        .arg(night_one)
        .args(["--out", "acr-chaos/baseline.yaml"])
        .current_dir(ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "baseline accept: {}", String::from_utf8_lossy(&out.stderr));
    let reports = Path::new(&job_env["ACR_CHAOS_REPORTS"]);
    std::fs::remove_dir_all(reports).unwrap();
    std::fs::write(summary, "").unwrap();
    agent.log.clear();
    let results = agent.run(steps);
    assert_steps_ok(&results, &agent.log);
    assert!(!agent.log.contains("no baseline at"), "{}", agent.log);
    let run = one_run_folder(reports);
    assert!(run.join("diff-junit.xml").is_file(), "the comparison ran");
    let md = std::fs::read_to_string(summary).unwrap();
    let diff = std::fs::read_to_string(run.join("diff.md")).unwrap();
    assert!(!diff.is_empty() && md.contains(&diff), "diff.md in the job summary:\n{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_pipeline_shell_steps_run_against_the_lab() {
    if !require("Azure Pipelines template steps on the lab", lab_missing()) {
        return;
    }
    let lw = lab_workspace().await;
    let ws = lw.ws.clone();
    let agent_temp = lw.dir.path().join("agent-temp");
    let pipeline_ws = lw.dir.path().join("pipeline");
    let staging = pipeline_ws.join("a");
    std::fs::create_dir_all(&agent_temp).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    // The acr-chaos repository the pipeline clones: a small one with the shipped scenarios.
    let origin = lw.dir.path().join("origin");
    copy_dir(&repo_root().join("scenarios"), &origin.join("scenarios"));
    for args in [
        &["init", "-q"][..],
        &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
        &["add", "."],
        &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "scenarios"],
        &["tag", "v0.1.0"],
    ] {
        assert!(Command::new("git").args(args).current_dir(&origin).status().unwrap().success());
    }
    let ado = TokenEndpoint::start("ado-access-token", "oidcToken", "ado.oidc.token.fresh");
    let t = agent_temp.display().to_string();
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("parameters.target", "acr-chaos/target.yaml".into()),
        ("parameters.scenarios", format!("{t}/acr-chaos-src/scenarios")),
        ("parameters.only", ONLY_TAG.into()),
        ("parameters.parallel", "2".into()),
        ("parameters.baseline", "acr-chaos/baseline.yaml".into()),
        ("parameters.acrChaosRef", "v0.1.0".into()),
        ("ACR_CHAOS_REPOSITORY", format!("file://{}", origin.display())),
        ("ACR_CHAOS_SERVICE_CONNECTION_ID", "5e2f0000-0000-0000-0000-00000000c0c0".into()),
        ("Agent.TempDirectory", t.clone()),
        ("Pipeline.Workspace", pipeline_ws.display().to_string()),
        ("Build.ArtifactStagingDirectory", staging.display().to_string()),
        ("System.AccessToken", "ado-access-token".into()),
    ]);
    let doc = yaml(&repo_root().join(AZURE));
    let (vars, steps) = azure_shell_steps(&doc, &values);
    cached_binary(Path::new(&vars["ACR_CHAOS_HOME"]));
    let fakes = fake_clis(lw.dir.path(), &lw.cluster_id, &lw.kubeconfig);
    let mut env = lw.cred_env.clone();
    env.extend(vars.clone());
    env.extend([
        ("AGENT_TEMPDIRECTORY".to_string(), t.clone()),
        ("SYSTEM_OIDCREQUESTURI".to_string(), format!("{}/oidctoken", ado.url)),
        // what AzureCLI@2 with addSpnToEnvironment gives a workload-identity connection
        ("idToken".to_string(), "ado.oidc.token.initial".to_string()),
        ("servicePrincipalId".to_string(), "00000000-0000-0000-0000-0000000000c1".to_string()),
        ("tenantId".to_string(), lw.lab.tenant_id()),
        ("TF_BUILD".to_string(), "True".to_string()),
    ]);
    let mut agent = Agent {
        cwd: ws.clone(),
        env,
        path_prefix: vec![fakes.display().to_string()],
        groups: vec![],
        // Azure Pipelines' `bash:` and AzureCLI@2's bash script
        shell: vec!["bash", "--noprofile", "--norc"],
        log: String::new(),
    };
    let results = agent.run(&steps);
    assert_steps_ok(&results, &agent.log);
    assert!(results.iter().filter(|r| r.name.contains("Recover")).count() == 1);

    // The run step renewed the token through the OIDC request API at its start (the
    // recover step then wrote its own task's token).
    let token = std::fs::read_to_string(format!("{t}/azure-federated-token")).unwrap();
    assert_eq!(token.trim(), "ado.oidc.token.initial");
    let reqs = ado.requests.lock().unwrap().clone();
    assert!(
        reqs.iter().any(|r| r.starts_with("POST ")
            && r.contains("serviceConnectionId=5e2f0000-0000-0000-0000-00000000c0c0")),
        "{reqs:?}"
    );
    let cli = std::fs::read_to_string(lw.dir.path().join("fake-cli.log")).unwrap();
    assert!(cli.contains(&format!("az aks get-credentials --ids {}", lw.cluster_id)), "{cli}");
    let run = one_run_folder(Path::new(&vars["ACR_CHAOS_REPORTS"]));
    // The summary step hands summary.md to the Extensions tab.
    let upload = format!("##vso[task.uploadsummary]{}", run.join("summary.md").display());
    assert!(agent.log.contains(&upload), "{}", agent.log);
    lw.lab.stop().await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
