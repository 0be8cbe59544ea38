//! Limits that bound the work done on one manifest file, whatever it contains.

/// Bounds applied while reading a manifest; input crossing any of them is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted, in bytes. Also bounds how many nodes aliases may copy in total.
    pub max_bytes: usize,
    /// Deepest nesting of mappings and sequences (counting what aliases would expand to).
    pub max_depth: usize,
    /// Most YAML documents in one file.
    pub max_documents: usize,
    /// Most alias dereferences a full expansion of the file may perform; an alias inside an
    /// anchored node counts again every time that node is aliased.
    pub max_alias_expansions: usize,
}

impl Default for Limits {
    /// 2 MiB, depth 64, 100 documents, 1000 alias expansions: far above any real manifest.
    fn default() -> Self {
        Limits {
            max_bytes: 2 * 1024 * 1024,
            max_depth: 64,
            max_documents: 100,
            max_alias_expansions: 1000,
        }
    }
}
