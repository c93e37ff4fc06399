//! The article fields a search can be filtered on. They belong to the
//! knowledge base (an article has them); the index only stores posting lists
//! per field, so it depends on this and not the other way round.

use serde::{Deserialize, Serialize};

/// The fields articles can be filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Category,
    Locale,
    Market,
    Tag,
}

impl Field {
    /// Every field, in the order posting lists are written.
    pub const ALL: [Field; 4] = [Field::Category, Field::Locale, Field::Market, Field::Tag];

    /// The name used in manifests, filters and messages.
    pub fn name(self) -> &'static str {
        match self {
            Field::Category => "category",
            Field::Locale => "locale",
            Field::Market => "market",
            Field::Tag => "tag",
        }
    }

    /// Accepts the singular and plural spellings users type (`market`, `markets`).
    pub fn parse(s: &str) -> Option<Field> {
        match s.trim().to_ascii_lowercase().as_str() {
            "category" | "categories" => Some(Field::Category),
            "locale" | "locales" | "language" | "lang" => Some(Field::Locale),
            "market" | "markets" => Some(Field::Market),
            "tag" | "tags" => Some(Field::Tag),
            _ => None,
        }
    }
}
