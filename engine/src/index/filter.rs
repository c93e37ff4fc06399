//! Metadata filters and the planner that picks exact scan or graph walk.

use super::format::Field;
use std::collections::{BTreeMap, BTreeSet};

/// A conjunction over fields of "value is one of": `locale in {en} AND market in {EU, UK}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Filter {
    clauses: BTreeMap<Field, BTreeSet<String>>,
}

/// A filter clause that names no known field, or has no values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown filter field {} (known: category, locale, market, tag)", crate::echo::clip(.0))]
    UnknownField(String),
    #[error("filter {} is not FIELD=VALUE[,VALUE…]", crate::echo::clip(.0))]
    Syntax(String),
    #[error("filter on {0} has no values")]
    NoValues(&'static str),
    #[error("the filter has {values} values; the limit is {limit} (max_filter_values)")]
    TooManyValues { values: usize, limit: usize },
    #[error(
        "a filter value on {field} is {bytes} bytes; the limit is {limit} (max_filter_value_bytes): {value}"
    )]
    ValueTooLong {
        field: &'static str,
        bytes: usize,
        limit: usize,
        /// The value as quoted in the message: already clipped ([`crate::echo::clip`]).
        value: String,
    },
}

/// Bounds on the filter one request may carry, so a call costs bounded work (one posting
/// list per value) and a bounded filter-cache key. Field names match the server settings
/// that fill them; the defaults are written here once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// Most filter values in one request, over all its clauses (a clause with no values
    /// counts as one).
    pub max_filter_values: usize,
    /// Longest filter value, in bytes.
    pub max_filter_value_bytes: usize,
}

impl FilterLimits {
    /// The defaults: room for several locales, markets and categories in one call.
    pub const DEFAULT: FilterLimits = FilterLimits {
        max_filter_values: 32,
        max_filter_value_bytes: 128,
    };

    /// The filter of one request's clauses, `(field name, values)`, checked against the
    /// bounds: the count before anything is parsed, each value before it is copied.
    pub fn filter<'a, I>(&self, clauses: I) -> Result<Filter, FilterError>
    where
        I: IntoIterator<Item = (&'a str, &'a [String])>,
        I::IntoIter: Clone,
    {
        let clauses = clauses.into_iter();
        let values: usize = clauses.clone().map(|(_, v)| v.len().max(1)).sum();
        if values > self.max_filter_values {
            return Err(FilterError::TooManyValues {
                values,
                limit: self.max_filter_values,
            });
        }
        let mut f = Filter::new();
        for (field, vals) in clauses {
            let parsed = Field::parse(field).ok_or_else(|| FilterError::UnknownField(field.to_string()))?;
            if let Some(v) = vals.iter().find(|v| v.len() > self.max_filter_value_bytes) {
                return Err(FilterError::ValueTooLong {
                    field: parsed.name(),
                    bytes: v.len(),
                    limit: self.max_filter_value_bytes,
                    value: crate::echo::clip(v),
                });
            }
            f.add(field, vals)?;
        }
        Ok(f)
    }
}

impl Default for FilterLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Filter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Adds "field is one of values"; repeated calls on one field widen it.
    pub fn with<I, S>(mut self, field: Field, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.clauses
            .entry(field)
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// Adds a clause by field name, rejecting unknown fields and empty value lists.
    pub fn add(&mut self, field: &str, values: &[String]) -> Result<(), FilterError> {
        let f = Field::parse(field).ok_or_else(|| FilterError::UnknownField(field.to_string()))?;
        let vals: Vec<String> = values
            .iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if vals.is_empty() {
            return Err(FilterError::NoValues(f.name()));
        }
        self.clauses.entry(f).or_default().extend(vals);
        Ok(())
    }

    /// Parses `field=value[,value…]` as typed on the command line.
    pub fn add_expr(&mut self, expr: &str) -> Result<(), FilterError> {
        let (field, values) = expr
            .split_once('=')
            .ok_or_else(|| FilterError::Syntax(expr.to_string()))?;
        let values: Vec<String> = values.split(',').map(str::to_string).collect();
        self.add(field, &values)
    }

    /// Bytes this filter holds on the heap, roughly (strings and tree nodes): what a
    /// filter-cache entry's key costs.
    pub fn heap_bytes(&self) -> usize {
        /// A tree entry's own bytes beside its string's (pointer, length, capacity, links).
        const NODE: usize = 48;
        self.clauses
            .values()
            .map(|vals| NODE + vals.iter().map(|v| v.len() + NODE).sum::<usize>())
            .sum()
    }

    pub fn clauses(&self) -> impl Iterator<Item = (Field, &BTreeSet<String>)> {
        self.clauses.iter().map(|(f, v)| (*f, v))
    }

    /// Whether an article passes, checked on its own fields.
    pub fn admits(&self, article: &crate::kb::Article) -> bool {
        self.clauses
            .iter()
            .all(|(f, vals)| article.field_values(*f).iter().any(|v| vals.contains(*v)))
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .clauses
            .iter()
            .map(|(field, vals)| {
                format!(
                    "{}={}",
                    field.name(),
                    vals.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        write!(f, "{}", parts.join(" "))
    }
}

/// How to answer a filtered query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Score every matching point: cheap when few match, and exact.
    Exact,
    /// Walk the graph admitting only matching points, with a beam widened for the
    /// fraction filtered out.
    Graph { ef: usize },
}

/// Below this many matching points an exact scan costs less than a filtered walk.
pub const EXACT_SCAN_MAX: u64 = 4096;

/// Picks the plan from counts alone (the filter's matching points of `total`).
pub fn plan(matching: u64, total: u64, ef: usize) -> Plan {
    if matching <= EXACT_SCAN_MAX || total == 0 {
        return Plan::Exact;
    }
    // A walk admitting a fraction s of nodes sees about ef·s matches per ef
    // nodes scored, so widen the beam by 1/s, capped at 16×.
    let widen = (total as f64 / matching as f64).clamp(1.0, 16.0);
    Plan::Graph {
        ef: ((ef as f64) * widen).ceil() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_matches_scan_exactly() {
        assert_eq!(plan(10, 1_000_000, 64), Plan::Exact);
        assert_eq!(plan(EXACT_SCAN_MAX, 1_000_000, 64), Plan::Exact);
    }

    #[test]
    fn broad_filters_walk_the_graph_with_a_wider_beam() {
        assert_eq!(plan(1_000_000, 1_000_000, 64), Plan::Graph { ef: 64 });
        assert_eq!(plan(250_000, 1_000_000, 64), Plan::Graph { ef: 256 });
        // Never more than 16× the requested beam.
        assert_eq!(plan(10_000, 10_000_000, 64), Plan::Graph { ef: 1024 });
    }

    #[test]
    fn parses_cli_expressions_and_rejects_unknown_fields() {
        let mut f = Filter::new();
        f.add_expr("locale=en").unwrap();
        f.add_expr("markets=EU,UK").unwrap();
        assert_eq!(f.to_string(), "locale=en market=EU,UK");
        assert_eq!(
            f.add_expr("colour=red"),
            Err(FilterError::UnknownField("colour".into()))
        );
        assert_eq!(f.add_expr("locale"), Err(FilterError::Syntax("locale".into())));
        assert_eq!(f.add_expr("locale="), Err(FilterError::NoValues("locale")));
    }

    #[test]
    fn limits_bound_the_count_and_length_of_values_with_short_messages() {
        let l = FilterLimits {
            max_filter_values: 3,
            max_filter_value_bytes: 4,
        };
        let two = ["en".to_string(), "zh".into()];
        let one = ["EU".to_string()];
        let f = l.filter([("locale", &two[..]), ("market", &one[..])]).unwrap();
        assert_eq!(f.to_string(), "locale=en,zh market=EU");
        assert_eq!(
            l.filter([("locale", &two[..]), ("market", &two[..])]),
            Err(FilterError::TooManyValues { values: 4, limit: 3 })
        );
        // A clause without values counts, so a flood of empty clauses is refused by count.
        let none: [String; 0] = [];
        assert_eq!(
            l.filter(std::iter::repeat_n(("tag", &none[..]), 1000)),
            Err(FilterError::TooManyValues {
                values: 1000,
                limit: 3
            })
        );
        let long = ["x".repeat(100_000)];
        let e = l.filter([("tags", &long[..])]).unwrap_err().to_string();
        assert!(
            e.contains("on tag is 100000 bytes; the limit is 4 (max_filter_value_bytes)") && e.len() < 200,
            "{e}"
        );
        let e = l.filter([(long[0].as_str(), &one[..])]).unwrap_err().to_string();
        assert!(e.starts_with("unknown filter field") && e.len() < 200, "{e}");
    }

    #[test]
    fn heap_bytes_grow_with_the_values() {
        let small = Filter::new().with(Field::Tag, ["a"]);
        let big = Filter::new().with(Field::Tag, ["a".repeat(1000)]);
        assert!(big.heap_bytes() >= small.heap_bytes() + 999);
    }
}
