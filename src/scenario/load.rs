//! Finding, reading and checking scenario and target files.

use super::validate::{Checker, Issue};
use super::yaml::{self, Node, Pos, Value as Y};
use super::{Diagnostic, Scenario, Target, schema};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// The combined schema the validator walks (the one `acr-chaos schema` prints).
/// The shipped schema, `scenarios/acr-chaos.schema.json` (a test keeps it equal to the
/// generated one): parsing it costs a fraction of generating it, which every command that
/// reads a scenario or target paid at start-up.
static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../scenarios/acr-chaos.schema.json"))
        .unwrap_or_else(|_| schema::json_schema(schema::SchemaKind::All))
});

/// A scenario and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub file: PathBuf,
    /// Position of the scenario's `name` value.
    pub line: usize,
    pub column: usize,
    pub scenario: Scenario,
}

/// A target and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedTarget {
    pub file: PathBuf,
    pub line: usize,
    pub target: Target,
}

/// Everything found below the given paths.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// How many files were read.
    pub files: usize,
    pub scenarios: Vec<LoadedScenario>,
    pub targets: Vec<LoadedTarget>,
}

/// Check every document of every file below `paths` (directories recurse over
/// `*.yaml`/`*.yml`); `Err` holds every problem found, in file order.
pub fn load_path(paths: &[PathBuf]) -> Result<Loaded, Vec<Diagnostic>> {
    let (loaded, diags) = check_paths(paths);
    if diags.is_empty() { Ok(loaded) } else { Err(diags) }
}

/// Check YAML text as if read from `file` (for tests and generated files).
pub fn load_str(file: &Path, text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let mut loaded = Loaded { files: 1, ..Loaded::default() };
    let mut diags = Vec::new();
    check_text(file, text, &mut loaded, &mut diags);
    if diags.is_empty() { Ok(loaded) } else { Err(diags) }
}

/// The scenarios below `paths` (targets found there are skipped).
pub fn load_scenarios(paths: &[PathBuf]) -> Result<Vec<Scenario>, Vec<Diagnostic>> {
    load_path(paths).map(|l| l.scenarios.into_iter().map(|s| s.scenario).collect())
}

/// The one target in the file at `path`.
pub fn load_target(path: &Path) -> Result<Target, Vec<Diagnostic>> {
    let loaded = load_path(&[path.to_path_buf()])?;
    let found = loaded.targets.len();
    match <[LoadedTarget; 1]>::try_from(loaded.targets) {
        Ok([t]) => Ok(t.target),
        Err(_) => Err(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("expected exactly one `kind: Target` document, found {found}"),
            hint: Some(
                "a file with one document `apiVersion: acr-chaos/v1`, `kind: Target`".into(),
            ),
        }]),
    }
}

/// Check everything; returns what loaded and every problem (both, so that the caller can
/// count files even when some are invalid).
pub fn check_paths(paths: &[PathBuf]) -> (Loaded, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files, &mut diags);
    }
    let mut loaded = Loaded { files: files.len(), ..Loaded::default() };
    for f in &files {
        match read_text(f) {
            Ok(text) => check_text(f, &text, &mut loaded, &mut diags),
            Err(d) => diags.push(d),
        }
    }
    // Scenario names are unique across files.
    let mut first: HashMap<String, (PathBuf, usize, usize)> = HashMap::new();
    let mut dups = Vec::new();
    for (i, s) in loaded.scenarios.iter().enumerate() {
        let at = (s.file.clone(), s.line, s.column);
        if let Some((f, l, c)) = first.get(s.scenario.name.as_str()) {
            dups.push((i, format!("{}:{l}:{c}", f.display())));
        } else {
            first.insert(s.scenario.name.to_string(), at);
        }
    }
    for (i, other) in dups.iter().rev() {
        let s = loaded.scenarios.remove(*i);
        diags.push(Diagnostic {
            file: s.file.clone(),
            line: s.line,
            column: s.column,
            field: "name".into(),
            message: format!(
                "duplicate scenario name {:?}, first defined at {other}",
                s.scenario.name.as_str()
            ),
            hint: Some("a name used by no other scenario".into()),
        });
    }
    diags.sort_by(|a, b| {
        (a.file.as_path(), a.line, a.column).cmp(&(b.file.as_path(), b.line, b.column))
    });
    (loaded, diags)
}

/// The most bytes a scenario or target file may have (the built-in ones are ~1 KiB).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// The most problems listed for one file; past that a count says how many more there are.
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 200;

/// A file's text; what is wrong with it (too big, not UTF-8, unreadable) located.
fn read_text(file: &Path) -> Result<String, Diagnostic> {
    let meta =
        std::fs::metadata(file).map_err(|e| whole_file(file, format!("cannot read: {e}"), None))?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        let hint = Some(format!("a regular YAML file of at most {MAX_FILE_BYTES} bytes"));
        return Err(whole_file(file, "not a regular file, or too large".into(), hint));
    }
    let bytes =
        std::fs::read(file).map_err(|e| whole_file(file, format!("cannot read: {e}"), None))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            field: String::new(),
            message: format!(
                "not valid UTF-8: byte 0x{:02x} cannot start or continue a character",
                e.as_bytes()[good.len()]
            ),
            hint: Some("save the file as UTF-8".into()),
        }
    })
}

fn whole_file(file: &Path, message: String, hint: Option<String>) -> Diagnostic {
    Diagnostic { file: file.to_path_buf(), line: 0, column: 0, field: String::new(), message, hint }
}

fn collect(path: &Path, files: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            diags.push(whole_file(
                path,
                format!("cannot read: {e}"),
                Some("a YAML file or a directory".into()),
            ));
            return;
        }
    };
    if meta.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => {
            diags.push(whole_file(path, format!("cannot list directory: {e}"), None));
            return;
        }
    };
    // Hidden entries are skipped: a ConfigMap volume keeps each file twice more under
    // `..data/` and `..<timestamp>/` (the kubelet's atomic writer), editors leave `.*.swp`.
    let mut children: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    children.sort();
    for c in children {
        if c.is_dir() {
            collect(&c, files, diags);
        } else if matches!(c.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            files.push(c);
        }
    }
}

fn to_diag(file: &Path, i: Issue) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: i.pos.line,
        column: i.pos.column,
        field: i.field,
        message: i.message,
        hint: i.hint,
    }
}

/// Check one file's text, adding what loads to `loaded` and problems to `diags`.
pub fn check_text(file: &Path, text: &str, loaded: &mut Loaded, diags: &mut Vec<Diagnostic>) {
    let first_diag = diags.len();
    let first_target = loaded.targets.len();
    let (docs, syntax) = yaml::parse(text);
    let documents = docs.iter().filter(|d| d.root.is_some()).count();
    if documents == 0 && syntax.is_empty() {
        diags.push(whole_file(
            file,
            "the file holds no document (it is empty or only comments)".into(),
            Some("apiVersion: acr-chaos/v1, kind: Scenario or Target, then its fields".into()),
        ));
    }
    check_documents(file, docs, syntax, loaded, diags);
    if loaded.targets.len() > first_target && documents > 1 {
        let t = &loaded.targets[first_target];
        diags.push(Diagnostic {
            file: file.to_path_buf(),
            line: t.line,
            column: 1,
            field: "kind".into(),
            message: format!(
                "a Target must be the only document in its file; this file holds {documents} documents"
            ),
            hint: Some("put the target in a file of its own (`run --target FILE` reads one)".into()),
        });
    }
    cap(file, diags, first_diag);
}

/// Keep at most [`MAX_DIAGNOSTICS_PER_FILE`] problems of one file, and say how many more.
fn cap(file: &Path, diags: &mut Vec<Diagnostic>, first: usize) {
    let n = diags.len() - first;
    if n <= MAX_DIAGNOSTICS_PER_FILE {
        return;
    }
    diags[first..].sort_by_key(|d| (d.line, d.column));
    diags.truncate(first + MAX_DIAGNOSTICS_PER_FILE);
    let (line, column) = diags.last().map_or((0, 0), |d| (d.line, d.column));
    let message = format!(
        "{} more problems in this file are not listed (the first {MAX_DIAGNOSTICS_PER_FILE} are)",
        n - MAX_DIAGNOSTICS_PER_FILE
    );
    let hint = Some("fix these first and validate again".into());
    diags.push(Diagnostic {
        line,
        column,
        field: String::new(),
        message,
        hint,
        ..whole_file(file, String::new(), None)
    });
}

fn check_documents(
    file: &Path,
    docs: Vec<yaml::Document>,
    syntax: Vec<yaml::SyntaxError>,
    loaded: &mut Loaded,
    diags: &mut Vec<Diagnostic>,
) {
    for e in syntax {
        diags.push(Diagnostic {
            file: file.to_path_buf(),
            line: e.pos.line,
            column: e.pos.column,
            field: String::new(),
            message: format!("YAML syntax error: {}", e.message),
            hint: None,
        });
    }
    for doc in docs {
        let Some(root) = doc.root else { continue };
        if !matches!(root.value, Y::Map(_)) {
            diags.push(Diagnostic {
                file: file.to_path_buf(),
                line: root.pos.line,
                column: root.pos.column,
                field: String::new(),
                message: format!(
                    "expected a mapping (a Scenario or Target document), found {}",
                    root.type_name()
                ),
                hint: Some(
                    "apiVersion: acr-chaos/v1, kind: Scenario or Target, then its fields".into(),
                ),
            });
            continue;
        }
        let mut checker = Checker::new(&SCHEMA);
        let value = checker.check(&root, &SCHEMA, "");
        let mut issues = std::mem::take(&mut checker.issues);
        if let Some(value) = value {
            typed(file, &root, value, &checker, &mut issues, loaded);
        }
        diags.extend(issues.into_iter().map(|i| to_diag(file, i)));
    }
}

/// Turn a structurally valid document into the model and run the checks that span fields.
fn typed(
    file: &Path,
    root: &Node,
    value: Value,
    checker: &Checker<'_>,
    issues: &mut Vec<Issue>,
    loaded: &mut Loaded,
) {
    let at = |field: &str| checker.locs.get(field).copied().unwrap_or(root.pos);
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut push = |field: &str, pos: Option<Pos>, e: super::values::Invalid| {
        let pos = pos.unwrap_or_else(|| at(field));
        issues.push(Issue { pos, field: field.to_string(), message: e.message, hint: e.hint });
    };
    match kind.as_str() {
        "Scenario" => match serde_json::from_value::<Scenario>(value) {
            Ok(s) => {
                for f in super::checks::scenario(&s) {
                    push(&f.field, f.pos, f.invalid);
                }
                let pos = at("name");
                loaded.scenarios.push(LoadedScenario {
                    file: file.to_path_buf(),
                    line: pos.line,
                    column: pos.column,
                    scenario: s,
                });
            }
            Err(e) => push("", None, super::values::Invalid { message: e.to_string(), hint: None }),
        },
        "Target" => match serde_json::from_value::<Target>(value) {
            Ok(t) => {
                for f in super::checks::target(&t, root) {
                    push(&f.field, f.pos, f.invalid);
                }
                loaded.targets.push(LoadedTarget {
                    file: file.to_path_buf(),
                    line: at("").line,
                    target: t,
                });
            }
            Err(e) => push("", None, super::values::Invalid { message: e.to_string(), hint: None }),
        },
        _ => {}
    }
}
