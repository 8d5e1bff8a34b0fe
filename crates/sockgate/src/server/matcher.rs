//! Which names a dynamic namespace serves: `/tenant/{id}` patterns or a predicate.

use std::sync::Arc;

/// The names a dynamic namespace accepts.
pub(crate) enum Matcher {
    /// `/tenant/{id}`: literal segments and named parameters.
    Pattern(Vec<Segment>),
    /// Any name the predicate accepts.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

/// One segment of a pattern.
pub(crate) enum Segment {
    Literal(String),
    Param(String),
}

impl Matcher {
    pub(crate) fn parse(pattern: &str) -> Matcher {
        Matcher::Pattern(
            pattern
                .trim_start_matches('/')
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(s.to_owned()),
                    },
                )
                .collect(),
        )
    }

    pub(crate) fn matches(&self, name: &str) -> Option<Vec<(String, String)>> {
        match self {
            Matcher::Predicate(f) => f(name).then(Vec::new),
            Matcher::Pattern(segments) => {
                let parts: Vec<&str> = name.trim_start_matches('/').split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut params = Vec::new();
                for (segment, part) in segments.iter().zip(parts) {
                    match segment {
                        Segment::Literal(l) if l == part => {}
                        Segment::Param(p) if !part.is_empty() => {
                            params.push((p.clone(), part.to_owned()));
                        }
                        _ => return None,
                    }
                }
                Some(params)
            }
        }
    }
}
