//! Request headers, as the parsers see them: case-insensitive names, text values.

/// The headers of a webhook request.
///
/// The HTTP layer builds it from its own header map, keeping only values that are valid
/// text; names are compared case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// Collects `(name, value)` pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Headers {
        Headers {
            entries: pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
        }
    }

    /// The first value of a header, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
