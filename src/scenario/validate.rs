//! Checks a located YAML tree against the JSON Schema of the model, reporting every
//! problem with its position, then the checks that span fields.
//!
//! The schema (from schemars, the same one `acr-chaos schema` prints) is the single
//! description of the fields; string formats are checked through `x-acr-chaos-check`
//! (see [`super::values::run_check`]). A subtree without problems converts into a JSON
//! value that the model's own `Deserialize` impls then read.

use super::values::{check_form, run_check};
use super::yaml::{Key, Node, PlainKind, Pos, Value as Y, plain_kind};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// A located problem, before the file name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub pos: Pos,
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

pub struct Checker<'s> {
    root: &'s Value,
    pub issues: Vec<Issue>,
    /// Field path → position of its value (for the checks that span fields).
    pub locs: HashMap<String, Pos>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Noun for an enum or tagged union, by its definition name.
fn noun(def: Option<&str>) -> &'static str {
    match def {
        Some("Cause") => "cause id",
        Some("WaitingReason") => "waiting reason",
        Some("ApiVersion") => "apiVersion",
        Some("ScenarioKind") | Some("TargetKind") | None => "kind",
        Some("FirewallMode") => "firewall mode",
        Some("Fault") => "fault kind",
        Some("Alert") => "alert kind",
        Some("Credential") => "credential kind",
        Some(_) => "value",
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate, if close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let (best, d) =
        candidates.into_iter().map(|c| (c, distance(word, c))).min_by_key(|&(_, d)| d)?;
    let limit = (word.chars().count().max(best.chars().count()) / 3).max(1);
    (d <= limit || word.eq_ignore_ascii_case(best)).then_some(best)
}

/// `a, b, c`, followed by `; did you mean `b`?` when `word` looks like a typo of one.
fn hint_with_suggestion(word: &str, valid: &[String]) -> String {
    let list = valid.join(", ");
    match suggest(word, valid.iter().map(String::as_str)) {
        Some(s) => format!("{list}; did you mean `{s}`?"),
        None => list,
    }
}

impl<'s> Checker<'s> {
    pub fn new(root: &'s Value) -> Self {
        Checker { root, issues: Vec::new(), locs: HashMap::new() }
    }

    fn issue(&mut self, pos: Pos, field: &str, message: impl Into<String>, hint: Option<String>) {
        self.issues.push(Issue { pos, field: field.to_string(), message: message.into(), hint });
    }

    fn deref(&self, r: &str) -> Option<(&'s Value, &'s str)> {
        let name = r.strip_prefix("#/$defs/")?;
        self.root.get("$defs")?.as_object()?.get_key_value(name).map(|(k, v)| (v, k.as_str()))
    }

    /// The schema with `$ref` and `allOf` merged in, and its definition name. Borrowed
    /// whenever nothing needs merging: cloning definitions per node was a third of
    /// `validate`.
    fn effective<'a>(&self, s: &'a Value) -> (Cow<'a, Value>, Option<&'s str>)
    where
        's: 'a,
    {
        let mut name = None;
        let mut base: Cow<'a, Value> = Cow::Borrowed(s);
        for _ in 0..16 {
            let Some(r) = base.get("$ref").and_then(Value::as_str) else { break };
            let Some((target, n)) = self.deref(r) else { break };
            name = Some(n);
            base = if annotations_only(&base) {
                Cow::Borrowed(target)
            } else {
                let mut local = base.into_owned();
                local.as_object_mut().map(|o| o.remove("$ref"));
                Cow::Owned(merge(target.clone(), local))
            };
        }
        if let Some(all) = base.get("allOf").and_then(Value::as_array).cloned() {
            let mut merged = base.into_owned();
            merged.as_object_mut().map(|o| o.remove("allOf"));
            for part in &all {
                let (p, _) = self.effective(part);
                merged = merge(p.into_owned(), merged);
            }
            base = Cow::Owned(merged);
        }
        (base, name)
    }

    /// Short description of what a schema accepts, for hints.
    fn describe(&self, s: &Value) -> String {
        let (s, _) = self.effective(s);
        if let Some(vals) = enum_values(&s) {
            return vals.join(", ");
        }
        if let Some(branches) = s.get("oneOf").or_else(|| s.get("anyOf")).and_then(Value::as_array)
        {
            let non_null: Vec<&Value> = branches.iter().filter(|b| !is_null_schema(b)).collect();
            if let Some(kinds) = self.discriminators(&non_null) {
                let names: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
                return format!("a mapping with kind: {}", names.join(", "));
            }
            if let Some(vals) = self.const_union(&non_null) {
                return vals.join(", ");
            }
            if let [one] = non_null.as_slice() {
                return self.describe(one);
            }
        }
        if let Some(check) = s.get("x-acr-chaos-check").and_then(Value::as_str) {
            return check_form(check).to_string();
        }
        match types(&s).first().copied() {
            Some("object") => match s.get("properties").and_then(Value::as_object) {
                Some(props) if !props.is_empty() => {
                    let names: Vec<&str> = props.keys().map(String::as_str).collect();
                    format!("a mapping with fields {}", names.join(", "))
                }
                _ => "a mapping".into(),
            },
            Some("array") => {
                format!("a list of {}", self.describe(s.get("items").unwrap_or(&Value::Null)))
            }
            Some("string") => "a string".into(),
            Some("integer") => "an integer".into(),
            Some("boolean") => "true or false".into(),
            _ => "a value".into(),
        }
    }

    /// Branches that are all objects whose `kind` property is a single constant.
    fn discriminators(&self, branches: &[&Value]) -> Option<Vec<(String, Value)>> {
        let mut out = Vec::new();
        for b in branches {
            let (eb, _) = self.effective(b);
            let kind = eb.get("properties")?.get("kind")?;
            let (ek, _) = self.effective(kind);
            let vals = enum_values(&ek)?;
            if vals.len() != 1 {
                return None;
            }
            out.push((vals[0].clone(), eb.into_owned()));
        }
        (!out.is_empty()).then_some(out)
    }

    fn const_union(&self, branches: &[&Value]) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for b in branches {
            let (eb, _) = self.effective(b);
            out.extend(enum_values(&eb)?);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Check `node` against `schema`; returns its JSON value when the subtree is valid.
    pub fn check(&mut self, node: &Node, schema: &Value, path: &str) -> Option<Value> {
        self.locs.insert(path.to_string(), node.pos);
        let (s, def) = self.effective(schema);
        let s: &Value = &s;
        if let Some(branches) = s.get("oneOf").or_else(|| s.get("anyOf")).and_then(Value::as_array)
        {
            return self.check_one_of(node, s, branches, def, path);
        }
        if let Some(vals) = enum_values(s) {
            return self.check_enum(node, &vals, def, path);
        }
        let tys = types(s);
        if matches!(node.value, Y::Null) && tys.contains(&"null") {
            return Some(Value::Null);
        }
        match &node.value {
            Y::Map(entries) if tys.contains(&"object") => {
                self.check_object(node.pos, entries, s, path)
            }
            Y::Seq(items) if tys.contains(&"array") => self.check_array(node.pos, items, s, path),
            Y::Scalar { text, plain }
                if tys
                    .iter()
                    .any(|t| matches!(*t, "string" | "integer" | "boolean" | "number")) =>
            {
                self.check_scalar(node, text, *plain, &tys, s, path)
            }
            _ => {
                self.wrong_type(node, s, tys.first().copied(), path);
                None
            }
        }
    }

    /// `oneOf`/`anyOf`: null when a branch allows it, else the non-null branches.
    fn check_one_of(
        &mut self,
        node: &Node,
        s: &Value,
        branches: &[Value],
        def: Option<&str>,
        path: &str,
    ) -> Option<Value> {
        let nullable = branches.iter().any(is_null_schema);
        if nullable && matches!(node.value, Y::Null) {
            return Some(Value::Null);
        }
        // A check set on the field (e.g. `nsg-id` on an optional ARM id) applies to the
        // chosen branch.
        let field_check = s.get("x-acr-chaos-check").cloned();
        let non_null: Vec<Value> = branches
            .iter()
            .filter(|b| !is_null_schema(b))
            .map(|b| match &field_check {
                Some(c) => merge(b.clone(), serde_json::json!({ "x-acr-chaos-check": c })),
                None => b.clone(),
            })
            .collect();
        let refs: Vec<&Value> = non_null.iter().collect();
        self.check_union(node, &refs, def, path)
    }

    /// One of a fixed set of words, with the nearest valid one as the hint.
    fn check_enum(
        &mut self,
        node: &Node,
        vals: &[String],
        def: Option<&str>,
        path: &str,
    ) -> Option<Value> {
        match &node.value {
            Y::Scalar { text, .. } if vals.contains(text) => Some(Value::String(text.clone())),
            Y::Scalar { text, .. } => {
                let what = noun(def);
                let message = if what == "apiVersion" {
                    format!("unsupported apiVersion {text:?}")
                } else {
                    format!("unknown {what} {text:?}")
                };
                self.issue(node.pos, path, message, Some(hint_with_suggestion(text, vals)));
                None
            }
            _ => {
                self.issue(
                    node.pos,
                    path,
                    format!("expected one of the {}s, found {}", noun(def), node.type_name()),
                    Some(vals.join(", ")),
                );
                None
            }
        }
    }

    /// A node of another type than the schema's: say what was expected and what it holds.
    fn wrong_type(&mut self, node: &Node, s: &Value, ty: Option<&str>, path: &str) {
        let hint = Some(self.describe(s));
        let expected = match ty {
            Some("object") => "a mapping",
            Some("array") => "a list",
            Some("string") => "a string",
            Some("integer") => "an integer",
            Some("boolean") => "true or false",
            _ => "a value",
        };
        self.issue(
            node.pos,
            path,
            format!("expected {expected}, found {}", node.type_name()),
            hint,
        );
    }

    fn check_union(
        &mut self,
        node: &Node,
        branches: &[&Value],
        def: Option<&str>,
        path: &str,
    ) -> Option<Value> {
        let owned = branches;
        if let [one] = owned {
            return self.check(node, one, path);
        }
        if let Some(kinds) = self.discriminators(owned) {
            let names: Vec<String> = kinds.iter().map(|(k, _)| k.clone()).collect();
            let what = noun(def);
            let Y::Map(_) = &node.value else {
                self.issue(
                    node.pos,
                    path,
                    format!("expected a mapping with a `kind`, found {}", node.type_name()),
                    Some(format!("kind: one of {}", names.join(", "))),
                );
                return None;
            };
            let kind_path = join(path, "kind");
            let Some(kind_node) = node.get("kind") else {
                self.issue(
                    node.pos,
                    &kind_path,
                    "missing required field `kind`",
                    Some(names.join(", ")),
                );
                return None;
            };
            let Some(kind) = kind_node.as_str() else {
                self.issue(
                    kind_node.pos,
                    &kind_path,
                    format!("expected the {what} as a string, found {}", kind_node.type_name()),
                    Some(names.join(", ")),
                );
                return None;
            };
            let Some((_, branch)) = kinds.iter().find(|(k, _)| k == kind) else {
                let message = if what == "kind" {
                    format!("unknown kind {kind:?}")
                } else {
                    format!("unknown {what} {kind:?}")
                };
                self.issue(
                    kind_node.pos,
                    &kind_path,
                    message,
                    Some(hint_with_suggestion(kind, &names)),
                );
                return None;
            };
            let branch = branch.clone();
            return self.check(node, &branch, path);
        }
        if let Some(vals) = self.const_union(owned) {
            let synthetic = serde_json::json!({ "enum": vals });
            let before = self.issues.len();
            let r = self.check(node, &synthetic, path);
            // Name the enum by the union's definition.
            for i in &mut self.issues[before..] {
                if let Some(d) = def {
                    i.message =
                        i.message.replace("unknown value", &format!("unknown {}", noun(Some(d))));
                }
            }
            return r;
        }
        // Untagged union: the first branch that fits.
        let mut first_issues = None;
        for b in owned {
            let mut trial = Checker::new(self.root);
            if let Some(v) = trial.check(node, b, path) {
                self.locs.extend(trial.locs);
                return Some(v);
            }
            first_issues.get_or_insert(trial.issues);
        }
        self.issues.extend(first_issues.unwrap_or_default());
        None
    }

    fn check_object(
        &mut self,
        pos: Pos,
        entries: &[(Key, Node)],
        s: &Value,
        path: &str,
    ) -> Option<Value> {
        let props = s.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let additional = s.get("additionalProperties").cloned();
        let mut out = Map::new();
        let mut ok = true;
        let mut seen = BTreeSet::new();
        let names_schema = s.get("propertyNames").cloned();
        for (key, value) in entries {
            let field = join(path, &key.text);
            if let Some(check) = names_schema
                .as_ref()
                .and_then(|n| n.get("x-acr-chaos-check"))
                .and_then(Value::as_str)
                && let Err(e) = run_check(check, &key.text)
            {
                self.issue(key.pos, &field, format!("invalid key: {}", e.message), e.hint);
                ok = false;
            }
            if !seen.insert(key.text.clone()) {
                self.issue(key.pos, &field, format!("duplicate field `{}`", key.text), None);
                ok = false;
                continue;
            }
            let any = serde_json::json!({});
            let sub: &Value = if let Some(p) = props.get(&key.text) {
                p
            } else {
                match &additional {
                    Some(a @ Value::Object(_)) => a,
                    Some(Value::Bool(true)) => &any,
                    _ => {
                        let valid: Vec<String> = props.keys().cloned().collect();
                        let hint = hint_with_suggestion(&key.text, &valid);
                        self.issue(
                            key.pos,
                            &field,
                            format!("unknown field `{}`", key.text),
                            Some(hint),
                        );
                        ok = false;
                        continue;
                    }
                }
            };
            match self.check(value, sub, &field) {
                Some(v) => {
                    out.insert(key.text.clone(), v);
                }
                None => ok = false,
            }
        }
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !seen.contains(r) {
                    let hint = props.get(r).map(|p| self.describe(p));
                    self.issue(pos, &join(path, r), format!("missing required field `{r}`"), hint);
                    ok = false;
                }
            }
        }
        if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
            && (entries.len() as u64) < min
        {
            self.issue(
                pos,
                path,
                format!("must have at least {min} entr{}", if min == 1 { "y" } else { "ies" }),
                None,
            );
            ok = false;
        }
        ok.then_some(Value::Object(out))
    }

    fn check_array(&mut self, pos: Pos, items: &[Node], s: &Value, path: &str) -> Option<Value> {
        let item_schema = s.get("items").cloned().unwrap_or(serde_json::json!({}));
        let mut ok = true;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match self.check(item, &item_schema, &format!("{path}[{i}]")) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            let hint = self.describe(&item_schema);
            self.issue(
                pos,
                path,
                format!("must list at least {min} item{}", if min == 1 { "" } else { "s" }),
                Some(hint),
            );
            ok = false;
        }
        ok.then_some(Value::Array(out))
    }

    fn check_scalar(
        &mut self,
        node: &Node,
        text: &str,
        plain: bool,
        tys: &[&str],
        s: &Value,
        path: &str,
    ) -> Option<Value> {
        let kind = if plain { plain_kind(text) } else { PlainKind::Str };
        if tys.contains(&"integer") && kind == PlainKind::Int {
            let Ok(n) = text.parse::<i64>() else {
                self.issue(node.pos, path, format!("integer {text} is out of range"), None);
                return None;
            };
            let min = s.get("minimum").and_then(Value::as_i64);
            let max = s.get("maximum").and_then(Value::as_i64);
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                let range = match (min, max) {
                    (Some(a), Some(b)) => format!("{a} to {b}"),
                    (Some(a), None) => format!("at least {a}"),
                    (None, Some(b)) => format!("at most {b}"),
                    _ => String::new(),
                };
                self.issue(node.pos, path, format!("{n} is out of range"), Some(range));
                return None;
            }
            return Some(Value::from(n));
        }
        if tys.contains(&"boolean") && kind == PlainKind::Bool {
            return Some(Value::Bool(text.eq_ignore_ascii_case("true")));
        }
        if tys.contains(&"number") && matches!(kind, PlainKind::Int | PlainKind::Float) {
            return text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number);
        }
        if !tys.contains(&"string") {
            let expected = if tys.contains(&"integer") {
                "an integer"
            } else if tys.contains(&"boolean") {
                "true or false"
            } else {
                "a number"
            };
            self.issue(
                node.pos,
                path,
                format!("expected {expected}, found {}", node.type_name()),
                None,
            );
            return None;
        }
        if let Some(check) = s.get("x-acr-chaos-check").and_then(Value::as_str)
            && let Err(e) = run_check(check, text)
        {
            self.issue(node.pos, path, e.message, e.hint);
            return None;
        }
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && (text.chars().count() as u64) < min
        {
            self.issue(node.pos, path, "must not be empty", None);
            return None;
        }
        Some(Value::String(text.to_string()))
    }
}

/// A `$ref` whose other keys only annotate (nothing the checker reads): the target alone
/// is the effective schema.
fn annotations_only(s: &Value) -> bool {
    s.as_object().is_some_and(|o| {
        o.keys().all(|k| {
            matches!(
                k.as_str(),
                "$ref" | "description" | "title" | "default" | "examples" | "deprecated"
            )
        })
    })
}

fn is_null_schema(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
}

fn types(s: &Value) -> Vec<&str> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn enum_values(s: &Value) -> Option<Vec<String>> {
    if let Some(c) = s.get("const").and_then(Value::as_str) {
        return Some(vec![c.to_string()]);
    }
    let vals = s.get("enum")?.as_array()?;
    Some(vals.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Merge `local` over `base`: properties and required are united; `additionalProperties`
/// is false when either says so.
fn merge(base: Value, local: Value) -> Value {
    let (Value::Object(mut b), Value::Object(l)) = (base, local.clone()) else { return local };
    for (k, v) in l {
        match k.as_str() {
            "properties" => {
                let entry = b.entry("properties").or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(bp), Value::Object(lp)) = (entry, v) {
                    bp.extend(lp);
                }
            }
            "required" => {
                let entry = b.entry("required").or_insert_with(|| Value::Array(Vec::new()));
                if let (Value::Array(br), Value::Array(lr)) = (entry, v) {
                    for r in lr {
                        if !br.contains(&r) {
                            br.push(r);
                        }
                    }
                }
            }
            "additionalProperties"
                if b.get("additionalProperties") == Some(&Value::Bool(false)) => {}
            _ => {
                b.insert(k, v);
            }
        }
    }
    Value::Object(b)
}
