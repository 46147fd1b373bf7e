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
pub fn parse(text: &str) -> (Vec<Document>, Vec<SyntaxError>) {
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder::default();
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(e) => e,
            Err(e) => {
                b.syntax_error(SyntaxError { pos: pos(e.marker()), message: e.info().clone() });
                match parser.proceed_next_document() {
                    Ok(true) => continue,
                    _ => break,
                }
            }
        };
        if b.event(event, pos(&span.start)).is_break() {
            break;
        }
    }
    b.finish()
}

/// The documents being built from parser events: the open collections, the anchors
/// seen and how many nodes aliases expanded to so far.
#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    errors: Vec<SyntaxError>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    expanded: usize,
    current: Option<Document>,
    /// Anchored collections still open: anchor id → depth of the frame.
    open_anchors: Vec<(usize, usize)>,
}

impl Builder {
    /// A syntax error ends the document it is in.
    fn syntax_error(&mut self, e: SyntaxError) {
        self.errors.push(e);
        self.stack.clear();
        self.open_anchors.clear();
        self.current = None;
    }

    /// One parser event; `Break` when the file cannot be read further.
    fn event(&mut self, event: Event<'_>, at: Pos) -> std::ops::ControlFlow<()> {
        let finished = match event {
            Event::DocumentStart(..) => {
                self.current = Some(Document { root: None });
                None
            }
            Event::DocumentEnd => {
                self.docs.extend(self.current.take());
                None
            }
            Event::Scalar(text, style, anchor, _tag) => Some(self.scalar(&text, style, anchor, at)),
            Event::Alias(id) => Some(self.alias(id, at)?),
            Event::SequenceStart(_, anchor, _) => {
                self.open(anchor, Frame::Seq(Node { pos: at, value: Value::Seq(Vec::new()) }));
                None
            }
            Event::MappingStart(_, anchor, _) => {
                let map = Node { pos: at, value: Value::Map(Vec::new()) };
                self.open(anchor, Frame::Map(map, None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            _ => None,
        };
        if let Some(node) = finished {
            attach(&mut self.stack, &mut self.current, node);
        }
        std::ops::ControlFlow::Continue(())
    }

    fn scalar(&mut self, text: &str, style: ScalarStyle, anchor: usize, at: Pos) -> Node {
        let plain = style == ScalarStyle::Plain;
        let value = if plain && plain_kind(text) == PlainKind::Null {
            Value::Null
        } else {
            Value::Scalar { text: text.to_owned(), plain }
        };
        let node = Node { pos: at, value };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), 1));
        }
        node
    }

    /// An alias expands to a copy of its anchor's node, up to [`MAX_ALIAS_NODES`] in all.
    fn alias(&mut self, id: usize, at: Pos) -> std::ops::ControlFlow<(), Node> {
        let (mut node, n) =
            self.anchors.get(&id).cloned().unwrap_or((Node { pos: at, value: Value::Null }, 1));
        self.expanded += n;
        if self.expanded > MAX_ALIAS_NODES {
            self.errors.push(SyntaxError {
                pos: at,
                message: format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
            });
            self.current = None;
            return std::ops::ControlFlow::Break(());
        }
        node.pos = at;
        std::ops::ControlFlow::Continue(node)
    }

    fn open(&mut self, anchor: usize, frame: Frame) {
        if anchor != 0 {
            self.open_anchors.push((anchor, self.stack.len()));
        }
        self.stack.push(frame);
    }

    /// The end of a collection: its node, recorded under its anchor if it has one.
    fn close(&mut self) -> Option<Node> {
        let (Frame::Seq(node) | Frame::Map(node, _)) = self.stack.pop()?;
        if let Some(&(id, depth)) = self.open_anchors.last()
            && depth == self.stack.len()
        {
            self.anchors.insert(id, (node.clone(), size(&node)));
            self.open_anchors.pop();
        }
        Some(node)
    }

    fn finish(mut self) -> (Vec<Document>, Vec<SyntaxError>) {
        self.docs.extend(self.current.take());
        (self.docs, self.errors)
    }
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
