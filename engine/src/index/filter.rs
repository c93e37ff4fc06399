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
}
