//! A located YAML tree built from serde-saphyr's parser events (granit-parser), so that
//! every node and every mapping key knows its line and column.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// A position, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing.
    Null,
    /// A scalar's text; `plain` when unquoted (then `true`, `12` … are not strings).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order; keys are scalars (a complex key's text is `<complex key>`).
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub pos: Pos,
    pub text: String,
}

impl Node {
    /// A short name of the node's type, for "expected X, found Y".
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar { text, plain: true } => match plain_kind(text) {
                PlainKind::Bool => "a boolean",
                PlainKind::Int => "an integer",
                PlainKind::Float => "a number",
                PlainKind::Null => "null",
                PlainKind::Str => "a string",
            },
            Value::Scalar { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainKind {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub fn plain_kind(text: &str) -> PlainKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return PlainKind::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return PlainKind::Bool,
        _ => {}
    }
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return PlainKind::Int;
    }
    if (t.starts_with("0x") && t.len() > 2 && t[2..].bytes().all(|b| b.is_ascii_hexdigit()))
        || (t.starts_with("0o")
            && t.len() > 2
            && t[2..].bytes().all(|b| (b'0'..=b'7').contains(&b)))
    {
        return PlainKind::Int;
    }
    if matches!(t, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return PlainKind::Float;
    }
    if t.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.') && t.parse::<f64>().is_ok()
    {
        return PlainKind::Float;
    }
    PlainKind::Str
}

/// One document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    /// `None` for an empty document.
    pub root: Option<Node>,
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

fn pos(m: &serde_saphyr::granit_parser::Marker) -> Pos {
    Pos { line: m.line(), column: m.col() + 1 }
}

enum Frame {
    Seq(Node),
    /// A mapping and, when a key was read, the key waiting for its value.
    Map(Node, Option<Key>),
}

/// Most nodes that aliases may expand to in one file (guards against "billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;

fn size(n: &Node) -> usize {
    match &n.value {
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + size(v)).sum::<usize>(),
        _ => 1,
    }
}

/// Parse every document. A syntax error ends the document it is in; parsing resumes at
/// the next `---` so later documents are still checked.
#[expect(
    clippy::too_many_lines,
    reason = "one arm per YAML parser event, sharing the frame stack and anchors; not split yet"
)]
pub fn parse(text: &str) -> (Vec<Document>, Vec<SyntaxError>) {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut expanded = 0usize;
    let mut current: Option<Document> = None;
    // Anchored collections still open: anchor id → depth of the frame.
    let mut open_anchors: Vec<(usize, usize)> = Vec::new();

    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(e) => e,
            Err(e) => {
                errors.push(SyntaxError { pos: pos(e.marker()), message: e.info().clone() });
                stack.clear();
                open_anchors.clear();
                current = None;
                match parser.proceed_next_document() {
                    Ok(true) => continue,
                    _ => break,
                }
            }
        };
        let at = pos(&span.start);
        let mut finished: Option<Node> = None;
        match event {
            Event::DocumentStart(..) => {
                current = Some(Document { root: None });
            }
            Event::DocumentEnd => {
                if let Some(d) = current.take() {
                    docs.push(d);
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == ScalarStyle::Plain;
                let value = if plain && plain_kind(&text) == PlainKind::Null {
                    Value::Null
                } else {
                    Value::Scalar { text: text.into_owned(), plain }
                };
                let node = Node { pos: at, value };
                if anchor != 0 {
                    anchors.insert(anchor, (node.clone(), 1));
                }
                finished = Some(node);
            }
            Event::Alias(id) => {
                let (mut node, n) =
                    anchors.get(&id).cloned().unwrap_or((Node { pos: at, value: Value::Null }, 1));
                expanded += n;
                if expanded > MAX_ALIAS_NODES {
                    errors.push(SyntaxError {
                        pos: at,
                        message: format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    });
                    current = None;
                    break;
                }
                node.pos = at;
                finished = Some(node);
            }
            Event::SequenceStart(_, anchor, _) => {
                if anchor != 0 {
                    open_anchors.push((anchor, stack.len()));
                }
                stack.push(Frame::Seq(Node { pos: at, value: Value::Seq(Vec::new()) }));
            }
            Event::MappingStart(_, anchor, _) => {
                if anchor != 0 {
                    open_anchors.push((anchor, stack.len()));
                }
                stack.push(Frame::Map(Node { pos: at, value: Value::Map(Vec::new()) }, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(Frame::Seq(node) | Frame::Map(node, _)) = stack.pop() else {
                    continue;
                };
                if let Some(&(id, depth)) = open_anchors.last()
                    && depth == stack.len()
                {
                    anchors.insert(id, (node.clone(), size(&node)));
                    open_anchors.pop();
                }
                finished = Some(node);
            }
            _ => {}
        }
        if let Some(node) = finished {
            attach(&mut stack, &mut current, node);
        }
    }
    if let Some(d) = current.take() {
        docs.push(d);
    }
    (docs, errors)
}

fn attach(stack: &mut [Frame], current: &mut Option<Document>, node: Node) {
    match stack.last_mut() {
        None => {
            if let Some(d) = current.as_mut() {
                d.root = Some(node);
            }
        }
        Some(Frame::Seq(Node { value: Value::Seq(items), .. })) => items.push(node),
        Some(Frame::Map(Node { value: Value::Map(entries), .. }, pending)) => {
            match pending.take() {
                None => {
                    let text = match &node.value {
                        Value::Scalar { text, .. } => text.clone(),
                        Value::Null => String::new(),
                        _ => "<complex key>".to_string(),
                    };
                    *pending = Some(Key { pos: node.pos, text });
                }
                Some(key) => entries.push((key, node)),
            }
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_and_values() {
        let (docs, errs) = parse("a: 1\nb:\n  - x\n  - 'y'\nc: {d: e}\n");
        assert!(errs.is_empty());
        let root = docs[0].root.as_ref().unwrap();
        let Value::Map(entries) = &root.value else { panic!() };
        assert_eq!(entries[1].0.text, "b");
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &entries[1].1.value else { panic!() };
        assert_eq!(items[1].pos, Pos { line: 4, column: 5 });
        assert_eq!(items[1].value, Value::Scalar { text: "y".into(), plain: false });
        assert_eq!(root.get("c").unwrap().get("d").unwrap().as_str(), Some("e"));
    }

    #[test]
    fn several_documents_and_recovery() {
        let (docs, errs) = parse("a: 1\n---\nb: [1, 2\n---\nc: 3\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(docs.len(), 2, "{docs:?}");
        assert!(docs[1].root.as_ref().unwrap().get("c").is_some());
    }

    #[test]
    fn aliases_resolve() {
        let (docs, _) = parse("x: &v {k: 1}\ny: *v\n");
        let root = docs[0].root.as_ref().unwrap();
        assert!(root.get("y").unwrap().get("k").is_some());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in
            ["a", "b", "c", "d", "e", "f"].iter().zip(["b", "c", "d", "e", "f", "g"])
        {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let (_, errs) = parse(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("more than 100000 nodes"), "{errs:?}");
    }

    #[test]
    fn plain_scalar_kinds() {
        assert_eq!(plain_kind("12"), PlainKind::Int);
        assert_eq!(plain_kind("1.5"), PlainKind::Float);
        assert_eq!(plain_kind("true"), PlainKind::Bool);
        assert_eq!(plain_kind("5m"), PlainKind::Str);
        assert_eq!(plain_kind("~"), PlainKind::Null);
    }
}
