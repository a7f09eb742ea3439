//! libyaml events -> yaml.v2's node tree (`decode.go`'s `parser`).

use std::collections::HashMap;
use std::ffi::CStr;
use std::mem::MaybeUninit;

use unsafe_libyaml_norway as unsafe_libyaml;

use super::Mark;

/// Index of a node in a [`Document`].
pub(crate) type NodeId = usize;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Scalar,
    Sequence(Vec<NodeId>),
    /// Keys and values interleaved, as yaml.v2 keeps them.
    Mapping(Vec<NodeId>),
    /// An alias and the node its anchor named when it was parsed.
    Alias(NodeId),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub mark: Mark,
    /// The explicit tag, expanded (`tag:yaml.org,2002:str`), or empty. yaml.v2 records tags
    /// on scalars only.
    pub tag: String,
    /// Scalar text, or the anchor name of an alias.
    pub value: String,
    /// Plain scalar without tag: subject to implicit typing.
    pub implicit: bool,
    /// How a scalar was written (for mapping positions inside a block scalar back to the file).
    pub style: Style,
}

/// The style a scalar was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Plain,
    Quoted,
    /// `|` (literal block): its lines are the file's lines.
    Literal,
    /// `>` (folded block)
    Folded,
}

/// The first document of a YAML stream, as yaml.v2 parses it.
#[derive(Debug, Default)]
pub(crate) struct Document {
    pub nodes: Vec<Node>,
    /// The document's root node; `None` for an empty stream.
    pub root: Option<NodeId>,
    /// Anchor name -> the node it names at the end of parsing (yaml.v2's `doc.anchors`).
    pub anchors: HashMap<String, NodeId>,
}

/// A syntax error, formatted as yaml.v2 formats it (`yaml: line N: <libyaml problem>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub mark: Option<Mark>,
}

struct Parser {
    raw: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    // libyaml keeps a pointer into the input: it must outlive the parser.
    _input: Vec<u8>,
}

impl Parser {
    fn new(text: &[u8]) -> Parser {
        // yaml.v2's newParser: an empty buffer is replaced by a single newline.
        let input = if text.is_empty() { b"\n".to_vec() } else { text.to_vec() };
        let mut raw = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        // SAFETY: initialize writes the whole struct; the input buffer is owned by the
        // returned value and outlives the parser, which is deleted in Drop.
        unsafe {
            let ok = unsafe_libyaml::yaml_parser_initialize(raw.as_mut_ptr());
            assert!(ok.ok, "libyaml parser initialisation cannot fail except on OOM");
            unsafe_libyaml::yaml_parser_set_input_string(raw.as_mut_ptr(), input.as_ptr(), input.len() as _);
        }
        Parser { raw, _input: input }
    }

    fn next(&mut self) -> Result<Event, SyntaxError> {
        let mut ev = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised; on success the event is initialised and we copy
        // out what we need before deleting it.
        unsafe {
            if unsafe_libyaml::yaml_parser_parse(self.raw.as_mut_ptr(), ev.as_mut_ptr()).fail {
                return Err(self.error());
            }
            let ev = ev.assume_init_mut();
            let out = Event::from_raw(ev);
            unsafe_libyaml::yaml_event_delete(ev);
            Ok(out)
        }
    }

    /// yaml.v2's `parser.fail`: the line is the problem mark's (0-based!) line, plus one for
    /// scanner errors only; else the context mark's line; no prefix when that is 0.
    fn error(&self) -> SyntaxError {
        // SAFETY: the parser is initialised; the prefix view is the crate's public error API.
        let p: &unsafe_libyaml::yaml_parser_t = unsafe { &*self.raw.as_ptr() };
        let problem = if p.problem.is_null() {
            String::new()
        } else {
            // SAFETY: libyaml problem strings are static NUL-terminated literals.
            unsafe { CStr::from_ptr(p.problem) }.to_string_lossy().into_owned()
        };
        let mut line = 0usize;
        if p.problem_mark.line != 0 {
            line = p.problem_mark.line as usize;
            if p.error == unsafe_libyaml::YAML_SCANNER_ERROR {
                line += 1;
            }
        } else if p.context_mark.line != 0 {
            line = p.context_mark.line as usize;
        }
        let where_ = if line != 0 { format!("line {line}: ") } else { String::new() };
        let msg = if problem.is_empty() {
            "unknown problem parsing YAML content".to_string()
        } else {
            problem
        };
        SyntaxError {
            message: format!("yaml: {where_}{msg}"),
            mark: Some(Mark { line: p.problem_mark.line as usize, column: p.problem_mark.column as usize }),
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: initialised in new().
        unsafe { unsafe_libyaml::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

#[derive(Debug)]
enum EventKind {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
}

#[derive(Debug)]
struct Event {
    kind: EventKind,
    mark: Mark,
    anchor: Option<String>,
    tag: String,
    value: String,
    implicit: bool,
    style: Style,
}

unsafe fn cstr(p: *const u8) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: libyaml strings are NUL-terminated.
        Some(unsafe { CStr::from_ptr(p.cast()) }.to_string_lossy().into_owned())
    }
}

impl Event {
    unsafe fn from_raw(ev: &unsafe_libyaml::yaml_event_t) -> Event {
        let mark = Mark { line: ev.start_mark.line as usize, column: ev.start_mark.column as usize };
        let mut out = Event {
            kind: EventKind::StreamStart,
            mark,
            anchor: None,
            tag: String::new(),
            value: String::new(),
            implicit: false,
            style: Style::Plain,
        };
        // SAFETY: the union member read matches the event type.
        unsafe {
            out.kind = match ev.type_ {
                unsafe_libyaml::YAML_STREAM_START_EVENT => EventKind::StreamStart,
                unsafe_libyaml::YAML_STREAM_END_EVENT => EventKind::StreamEnd,
                unsafe_libyaml::YAML_DOCUMENT_START_EVENT => EventKind::DocumentStart,
                unsafe_libyaml::YAML_DOCUMENT_END_EVENT => EventKind::DocumentEnd,
                unsafe_libyaml::YAML_ALIAS_EVENT => {
                    out.value = cstr(ev.data.alias.anchor).unwrap_or_default();
                    EventKind::Alias
                }
                unsafe_libyaml::YAML_SCALAR_EVENT => {
                    let s = &ev.data.scalar;
                    out.anchor = cstr(s.anchor);
                    out.tag = cstr(s.tag).unwrap_or_default();
                    let bytes = std::slice::from_raw_parts(s.value, s.length as usize);
                    out.value = String::from_utf8_lossy(bytes).into_owned();
                    out.implicit = s.plain_implicit;
                    out.style = match s.style {
                        unsafe_libyaml::YAML_LITERAL_SCALAR_STYLE => Style::Literal,
                        unsafe_libyaml::YAML_FOLDED_SCALAR_STYLE => Style::Folded,
                        unsafe_libyaml::YAML_SINGLE_QUOTED_SCALAR_STYLE | unsafe_libyaml::YAML_DOUBLE_QUOTED_SCALAR_STYLE => Style::Quoted,
                        _ => Style::Plain,
                    };
                    EventKind::Scalar
                }
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => {
                    out.anchor = cstr(ev.data.sequence_start.anchor);
                    EventKind::SequenceStart
                }
                unsafe_libyaml::YAML_SEQUENCE_END_EVENT => EventKind::SequenceEnd,
                unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                    out.anchor = cstr(ev.data.mapping_start.anchor);
                    EventKind::MappingStart
                }
                unsafe_libyaml::YAML_MAPPING_END_EVENT => EventKind::MappingEnd,
                _ => EventKind::StreamEnd,
            };
        }
        out
    }
}

/// Parses the first document of `text` into yaml.v2's node tree.
pub(crate) fn parse_first_document(text: &[u8]) -> Result<Document, SyntaxError> {
    let mut b = Builder { parser: Parser::new(text), peeked: None, doc: Document::default() };
    b.expect_stream_start()?;
    let ev = b.peek()?;
    if matches!(ev.kind, EventKind::StreamEnd) {
        return Ok(b.doc);
    }
    // The stream's first event after STREAM-START is always DOCUMENT-START.
    b.take()?;
    let root = b.node()?;
    let end = b.take()?;
    if !matches!(end.kind, EventKind::DocumentEnd) {
        return Err(SyntaxError {
            message: format!("yaml: expected DOCUMENT_END event but got {:?}", end.kind),
            mark: Some(end.mark),
        });
    }
    b.doc.root = Some(root);
    Ok(b.doc)
}

/// Parses every document of a stream (for Kubernetes manifests; yaml.v2's config decoding
/// only ever reads the first). Each document has its own node arena and anchors.
pub(crate) fn parse_all_documents(text: &[u8]) -> Result<Vec<Document>, SyntaxError> {
    let mut b = Builder { parser: Parser::new(text), peeked: None, doc: Document::default() };
    b.expect_stream_start()?;
    let mut docs = Vec::new();
    loop {
        let ev = b.take()?;
        if matches!(ev.kind, EventKind::StreamEnd) {
            return Ok(docs);
        }
        let root = b.node()?;
        b.take()?; // DOCUMENT-END
        b.doc.root = Some(root);
        docs.push(std::mem::take(&mut b.doc));
    }
}

/// Nesting deeper than this is rejected instead of exhausting the stack (yaml.v2, with Go's
/// growable stacks, has no limit; no MetalLB config comes near it).
pub(crate) const MAX_DEPTH: usize = 256;

struct Builder {
    parser: Parser,
    peeked: Option<Event>,
    doc: Document,
}

impl Builder {
    fn peek(&mut self) -> Result<&Event, SyntaxError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.parser.next()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn take(&mut self) -> Result<Event, SyntaxError> {
        self.peek()?;
        Ok(self.peeked.take().expect("just peeked"))
    }

    fn expect_stream_start(&mut self) -> Result<(), SyntaxError> {
        self.take().map(|_| ())
    }

    fn push(&mut self, n: Node, anchor: Option<String>) -> NodeId {
        let id = self.doc.nodes.len();
        self.doc.nodes.push(n);
        if let Some(a) = anchor {
            self.doc.anchors.insert(a, id);
        }
        id
    }

    /// Builds the node that starts at the next event, iteratively (an explicit stack of open
    /// collections), so that hostile nesting cannot exhaust the thread's stack.
    fn node(&mut self) -> Result<NodeId, SyntaxError> {
        // (collection node, is_mapping, children so far)
        let mut open: Vec<(NodeId, bool, Vec<NodeId>)> = Vec::new();
        loop {
            let ev = self.take()?;
            let mut node = Node {
                kind: Kind::Scalar,
                mark: ev.mark,
                tag: String::new(),
                value: String::new(),
                implicit: false,
                style: ev.style,
            };
            let done = match ev.kind {
                EventKind::Scalar => {
                    node.tag = ev.tag;
                    node.value = ev.value;
                    node.implicit = ev.implicit;
                    self.push(node, ev.anchor)
                }
                EventKind::Alias => {
                    let Some(&target) = self.doc.anchors.get(&ev.value) else {
                        return Err(SyntaxError {
                            message: format!("yaml: unknown anchor '{}' referenced", ev.value),
                            mark: Some(ev.mark),
                        });
                    };
                    node.value = ev.value;
                    node.kind = Kind::Alias(target);
                    self.push(node, None)
                }
                EventKind::SequenceStart | EventKind::MappingStart => {
                    // The anchor is registered before the children are parsed (as yaml.v2
                    // does), so a child alias may name its own ancestor; decode detects that.
                    let is_map = matches!(ev.kind, EventKind::MappingStart);
                    node.kind = if is_map { Kind::Mapping(vec![]) } else { Kind::Sequence(vec![]) };
                    let id = self.push(node, ev.anchor);
                    if open.len() >= MAX_DEPTH {
                        return Err(SyntaxError {
                            message: format!("yaml: exceeded max depth of {MAX_DEPTH}"),
                            mark: Some(ev.mark),
                        });
                    }
                    open.push((id, is_map, Vec::new()));
                    continue;
                }
                EventKind::SequenceEnd | EventKind::MappingEnd => {
                    let (id, is_map, children) = open.pop().ok_or_else(|| SyntaxError {
                        message: "yaml: unbalanced collection end".into(),
                        mark: Some(ev.mark),
                    })?;
                    self.doc.nodes[id].kind = if is_map { Kind::Mapping(children) } else { Kind::Sequence(children) };
                    id
                }
                other => {
                    return Err(SyntaxError {
                        message: format!("yaml: attempted to parse unknown event: {other:?}"),
                        mark: Some(ev.mark),
                    });
                }
            };
            match open.last_mut() {
                Some((_, _, children)) => children.push(done),
                None => return Ok(done),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_has_no_root() {
        assert_eq!(parse_first_document(b"").unwrap().root, None);
        assert_eq!(parse_first_document(b"# only a comment\n").unwrap().root, None);
    }

    #[test]
    fn only_the_first_document_is_parsed() {
        // yaml.v2 never looks past the first document, so garbage there is no error.
        let doc = parse_first_document(b"a: 1\n---\n[unclosed\n").unwrap();
        assert!(matches!(doc.nodes[doc.root.unwrap()].kind, Kind::Mapping(_)));
    }

    #[test]
    fn scanner_errors_count_lines_from_one() {
        let err = parse_first_document(b"a: 1\nb: @x\n").unwrap_err();
        assert_eq!(err.message, "yaml: line 2: found character that cannot start any token");
    }

    #[test]
    fn parser_errors_use_the_zero_based_problem_line_like_yaml_v2() {
        let err = parse_first_document(b"a:\n  b: 1\n c: 2\n").unwrap_err();
        assert_eq!(err.message, "yaml: line 2: did not find expected key");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        let err = parse_first_document(text.as_bytes()).unwrap_err();
        assert_eq!(err.message, "yaml: exceeded max depth of 256");
    }

    #[test]
    fn unknown_alias_is_an_error() {
        let err = parse_first_document(b"a: *nope\n").unwrap_err();
        assert_eq!(err.message, "yaml: unknown anchor 'nope' referenced");
    }
}
