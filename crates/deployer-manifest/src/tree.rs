//! A spanned YAML tree: every node of every document with its byte position in the source.
//!
//! The tree is built from `saphyr-parser` events, pulled one at a time so that the limits
//! (size, depth, documents, alias expansions) stop hostile input as soon as it crosses
//! them, before any expansion happens. Aliases are kept as references to their anchored
//! node, never copied; the cost a full expansion *would* have is computed per node, so an
//! alias bomb is refused at the alias that crosses the limit.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use crate::error::EditError;
use crate::limits::Limits;

/// Index of a node in [`Tree::nodes`].
pub(crate) type NodeId = usize;

/// A position in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    /// Byte offset in the source.
    pub byte: usize,
    /// Line, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 0.
    pub col: usize,
}

/// The core-schema tag of a node, when it has one (`!!str`, `!!int`, …), or another tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeTag {
    /// A tag of the YAML core schema, by its suffix (`str`, `int`, `map`, …).
    Core(String),
    /// Any other tag, as written (`!custom`).
    Other(String),
}

/// What a node is.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// A scalar with its parsed value and the style it was written in.
    Scalar {
        /// The value after unquoting and folding.
        value: String,
        /// Plain, quoted or block.
        style: ScalarStyle,
    },
    /// A sequence of nodes.
    Seq(Vec<NodeId>),
    /// A mapping, its pairs in source order.
    Map(Vec<(NodeId, NodeId)>),
    /// An alias of an anchored node.
    Alias(NodeId),
}

/// One node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// What the node is.
    pub kind: NodeKind,
    /// Where its content starts (after any anchor or tag).
    pub start: Pos,
    /// Whether it is a flow collection (`{…}` or `[…]`).
    pub flow: bool,
    /// Its tag, if one was written.
    pub tag: Option<NodeTag>,
}

/// One YAML document of the stream.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// Position of the document in the stream, from 0.
    pub index: usize,
    /// The root node, `None` for an empty document.
    pub root: Option<NodeId>,
}

/// Every document of a source, as one arena of nodes.
#[derive(Debug)]
pub(crate) struct Tree<'s> {
    /// The source text.
    pub src: &'s str,
    /// All nodes.
    pub nodes: Vec<Node>,
    /// The documents, in order.
    pub documents: Vec<Document>,
    /// Anchored nodes that at least one alias refers to.
    pub aliased: HashSet<NodeId>,
}

impl<'s> Tree<'s> {
    /// Follows aliases to the node they refer to.
    pub fn resolve(&self, mut id: NodeId) -> NodeId {
        // Aliases always point to an earlier, already complete node, so this ends.
        while let NodeKind::Alias(target) = self.nodes[id].kind {
            id = target;
        }
        id
    }

    /// The value of a scalar node (after following aliases).
    pub fn scalar(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[self.resolve(id)].kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The pairs of a mapping node (after following aliases).
    pub fn pairs(&self, id: NodeId) -> Option<&[(NodeId, NodeId)]> {
        match &self.nodes[self.resolve(id)].kind {
            NodeKind::Map(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// The items of a sequence node (after following aliases).
    pub fn items(&self, id: NodeId) -> Option<&[NodeId]> {
        match &self.nodes[self.resolve(id)].kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Whether a node is a null: an empty document, `~`, `null` or nothing at all.
    pub fn is_null(&self, id: NodeId) -> bool {
        let node = &self.nodes[self.resolve(id)];
        match &node.kind {
            NodeKind::Scalar { value, style } => {
                *style == ScalarStyle::Plain
                    && node.tag.is_none()
                    && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// Whether a key node is the merge key `<<`.
    pub fn is_merge_key(&self, key: NodeId) -> bool {
        let node = &self.nodes[self.resolve(key)];
        matches!(&node.kind, NodeKind::Scalar { value, style: ScalarStyle::Plain } if value == "<<")
    }

    /// Looks `key` up in a mapping, following aliases and `<<` merge keys (explicit keys win
    /// over merged ones, earlier merged mappings over later ones). Returns the value node as
    /// written (an alias is not followed) and whether it was found through a merge.
    pub fn lookup(&self, map: NodeId, key: &str) -> Option<(NodeId, bool)> {
        self.lookup_in(map, key, 0)
    }

    fn lookup_in(&self, map: NodeId, key: &str, hops: usize) -> Option<(NodeId, bool)> {
        let pairs = self.pairs(map)?;
        let direct = pairs
            .iter()
            .find(|(k, _)| !self.is_merge_key(*k) && self.scalar(*k) == Some(key));
        if let Some((_, v)) = direct {
            return Some((*v, hops > 0));
        }
        // Merge chains are bounded by the document's depth; stop at an absurd length anyway.
        if hops > 64 {
            return None;
        }
        for (k, v) in pairs {
            if !self.is_merge_key(*k) {
                continue;
            }
            let sources: Vec<NodeId> = match self.items(*v) {
                Some(items) => items.to_vec(),
                None => vec![*v],
            };
            for source in sources {
                if let Some((found, _)) = self.lookup_in(source, key, hops + 1) {
                    return Some((found, true));
                }
            }
        }
        None
    }
}

/// Maps character indices (as `saphyr-parser` reports them) to byte offsets.
struct CharIndex {
    /// Byte offset of each character, plus one past the end; empty for ASCII input.
    offsets: Vec<usize>,
    len: usize,
}

impl CharIndex {
    fn new(src: &str) -> Self {
        let offsets = if src.is_ascii() {
            Vec::new()
        } else {
            src.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(src.len()))
                .collect()
        };
        CharIndex {
            offsets,
            len: src.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.offsets.is_empty() {
            char_index.min(self.len)
        } else {
            self.offsets.get(char_index).copied().unwrap_or(self.len)
        }
    }
}

/// Skips anchors, tags, whitespace, line breaks and comments from `at`, returning the byte
/// offset where the node's content starts.
pub(crate) fn skip_properties(src: &str, mut at: usize) -> usize {
    let bytes = src.as_bytes();
    loop {
        match bytes.get(at) {
            Some(b'&' | b'!') => {
                while at < bytes.len()
                    && !matches!(
                        bytes[at],
                        b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'{' | b'}'
                    )
                {
                    at += 1;
                }
            }
            Some(b' ' | b'\t' | b'\r' | b'\n') => at += 1,
            Some(b'#') => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
            }
            _ => return at,
        }
    }
}

/// An open collection while building.
struct Open {
    id: NodeId,
    pending_key: Option<NodeId>,
    keys: HashSet<String>,
}

/// Costs of fully expanding a node, used to refuse alias bombs before expanding anything.
#[derive(Clone, Copy, Default)]
struct Cost {
    /// Nodes produced by a full expansion.
    size: usize,
    /// Alias dereferences performed by a full expansion.
    aliases: usize,
    /// Nesting depth of a full expansion (0 for a scalar).
    height: usize,
}

struct Builder<'s, 'l> {
    src: &'s str,
    chars: CharIndex,
    limits: &'l Limits,
    nodes: Vec<Node>,
    costs: Vec<Cost>,
    closed: Vec<bool>,
    stack: Vec<Open>,
    anchors: HashMap<usize, NodeId>,
    aliased: HashSet<NodeId>,
    documents: Vec<Document>,
    current_root: Option<NodeId>,
    alias_expansions: usize,
    copied_nodes: usize,
}

/// Parses every document of `src`, enforcing `limits`.
pub(crate) fn parse<'s>(src: &'s str, limits: &Limits) -> Result<Tree<'s>, EditError> {
    if src.len() > limits.max_bytes {
        return Err(EditError::TooLarge {
            size: src.len(),
            max: limits.max_bytes,
        });
    }
    let mut b = Builder {
        src,
        chars: CharIndex::new(src),
        limits,
        nodes: Vec::new(),
        costs: Vec::new(),
        closed: Vec::new(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        aliased: HashSet::new(),
        documents: Vec::new(),
        current_root: None,
        alias_expansions: 0,
        copied_nodes: 0,
    };
    for event in Parser::new_from_str(src) {
        let (event, span) = event.map_err(|e| yaml_error(&e, limits))?;
        b.on_event(event, span)?;
    }
    Ok(Tree {
        src,
        nodes: b.nodes,
        documents: b.documents,
        aliased: b.aliased,
    })
}

fn yaml_error(e: &ScanError, limits: &Limits) -> EditError {
    // The scanner has its own nesting limit, reached before ours when it looks ahead in
    // flow collections.
    if e.info().contains("recursion limit") {
        return EditError::TooDeep {
            line: e.marker().line(),
            max: limits.max_depth,
        };
    }
    EditError::Yaml {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_owned(),
    }
}

impl Builder<'_, '_> {
    fn pos(&self, span: &Span) -> Pos {
        Pos {
            byte: self.chars.byte(span.start.index()),
            line: span.start.line(),
            col: span.start.col(),
        }
    }

    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), EditError> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Ok(()),
            Event::DocumentStart(_) => {
                if self.documents.len() >= self.limits.max_documents {
                    return Err(EditError::TooManyDocuments {
                        max: self.limits.max_documents,
                    });
                }
                self.anchors.clear();
                self.current_root = None;
                Ok(())
            }
            Event::DocumentEnd => {
                self.documents.push(Document {
                    index: self.documents.len(),
                    root: self.current_root.take(),
                });
                Ok(())
            }
            Event::Scalar(value, style, anchor, tag) => {
                let start = self.pos(&span);
                let content = skip_properties(self.src, start.byte);
                let start = self.relocate(start, content);
                let id = self.push_node(
                    Node {
                        kind: NodeKind::Scalar {
                            value: value.into_owned(),
                            style,
                        },
                        start,
                        flow: false,
                        tag: convert_tag(tag),
                    },
                    Cost {
                        size: 1,
                        aliases: 0,
                        height: 0,
                    },
                    anchor,
                );
                self.closed[id] = true;
                self.attach(id, span)
            }
            Event::Alias(anchor) => {
                let start = self.pos(&span);
                let Some(&target) = self.anchors.get(&anchor) else {
                    return Err(EditError::Yaml {
                        line: start.line,
                        column: start.col + 1,
                        message: "alias of an unknown anchor".to_owned(),
                    });
                };
                if !self.closed[target] {
                    return Err(EditError::Yaml {
                        line: start.line,
                        column: start.col + 1,
                        message: "recursive alias: an alias refers to a node that contains it".to_owned(),
                    });
                }
                let cost = self.costs[target];
                self.alias_expansions = self.alias_expansions.saturating_add(1).saturating_add(cost.aliases);
                self.copied_nodes = self.copied_nodes.saturating_add(cost.size);
                if self.alias_expansions > self.limits.max_alias_expansions || self.copied_nodes > self.limits.max_bytes
                {
                    return Err(EditError::TooManyAliases {
                        line: start.line,
                        max: self.limits.max_alias_expansions,
                    });
                }
                if self.stack.len() + cost.height > self.limits.max_depth {
                    return Err(EditError::TooDeep {
                        line: start.line,
                        max: self.limits.max_depth,
                    });
                }
                self.aliased.insert(target);
                let id = self.push_node(
                    Node {
                        kind: NodeKind::Alias(target),
                        start,
                        flow: false,
                        tag: None,
                    },
                    Cost {
                        size: cost.size,
                        aliases: cost.aliases + 1,
                        height: cost.height,
                    },
                    0,
                );
                self.closed[id] = true;
                self.attach(id, span)
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let (Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)) = event else {
                    return Ok(());
                };
                let start = self.pos(&span);
                if self.stack.len() + 1 > self.limits.max_depth {
                    return Err(EditError::TooDeep {
                        line: start.line,
                        max: self.limits.max_depth,
                    });
                }
                let content = skip_properties(self.src, start.byte);
                let flow = matches!(self.src.as_bytes().get(content), Some(b'{' | b'['));
                let start = self.relocate(start, content);
                let kind = if is_map {
                    NodeKind::Map(Vec::new())
                } else {
                    NodeKind::Seq(Vec::new())
                };
                let id = self.push_node(
                    Node {
                        kind,
                        start,
                        flow,
                        tag: convert_tag(tag),
                    },
                    Cost {
                        size: 1,
                        aliases: 0,
                        height: 1,
                    },
                    anchor,
                );
                self.stack.push(Open {
                    id,
                    pending_key: None,
                    keys: HashSet::new(),
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Ok(());
                };
                self.closed[open.id] = true;
                self.attach(open.id, span)
            }
        }
    }

    /// Moves a position forward to `byte`, keeping line and column right.
    fn relocate(&self, mut pos: Pos, byte: usize) -> Pos {
        if byte <= pos.byte {
            return pos;
        }
        for c in self.src[pos.byte..byte].chars() {
            if c == '\n' {
                pos.line += 1;
                pos.col = 0;
            } else {
                pos.col += 1;
            }
        }
        pos.byte = byte;
        pos
    }

    fn push_node(&mut self, node: Node, cost: Cost, anchor: usize) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(node);
        self.costs.push(cost);
        self.closed.push(false);
        if anchor > 0 {
            self.anchors.insert(anchor, id);
        }
        id
    }

    /// Adds a complete node to its parent (or makes it the document root).
    fn attach(&mut self, id: NodeId, span: Span) -> Result<(), EditError> {
        let cost = self.costs[id];
        let scalar_key = match &self.nodes[id].kind {
            NodeKind::Scalar { value, style } if !(*style == ScalarStyle::Plain && value == "<<") => {
                Some(value.clone())
            }
            _ => None,
        };
        let Some(parent) = self.stack.last_mut() else {
            self.current_root = Some(id);
            return Ok(());
        };
        let pc = &mut self.costs[parent.id];
        pc.size = pc.size.saturating_add(cost.size);
        pc.aliases = pc.aliases.saturating_add(cost.aliases);
        pc.height = pc.height.max(cost.height + 1);
        match &mut self.nodes[parent.id].kind {
            NodeKind::Seq(items) => items.push(id),
            NodeKind::Map(pairs) => match parent.pending_key.take() {
                None => {
                    if let Some(key) = scalar_key
                        && !parent.keys.insert(key.clone())
                    {
                        return Err(EditError::Yaml {
                            line: span.start.line(),
                            column: span.start.col() + 1,
                            message: format!("duplicate key `{}` in a mapping", key.escape_default()),
                        });
                    }
                    parent.pending_key = Some(id);
                }
                Some(key) => pairs.push((key, id)),
            },
            NodeKind::Scalar { .. } | NodeKind::Alias(_) => {}
        }
        Ok(())
    }
}

fn convert_tag(tag: Option<Cow<'_, saphyr_parser::Tag>>) -> Option<NodeTag> {
    let tag = tag?;
    if tag.is_yaml_core_schema() {
        Some(NodeTag::Core(tag.suffix.clone()))
    } else {
        Some(NodeTag::Other(tag.to_string()))
    }
}
