//! Points grouped by article, and the locale of each point: what article
//! scoring needs to weigh all of an article's sample questions, not just the
//! nearest one. Derived once per opened version from `points.bin` and the
//! locale posting lists — no article payload is parsed.

use super::format::Field;
use super::reader::Index;

/// Locale id of a point whose sample has no locale.
pub const NO_LOCALE: u16 = u16::MAX;

/// Per-article point lists (CSR) and per-point locale ids.
pub struct PointGroups {
    /// `offsets[a]..offsets[a + 1]` indexes `points` for article `a`.
    offsets: Vec<u32>,
    points: Vec<u32>,
    locale_of: Vec<u16>,
    locales: Vec<String>,
}

impl PointGroups {
    /// Builds the groups from an opened index (O(points)).
    pub(crate) fn derive(index: &Index) -> Self {
        let pa = index.point_article();
        let articles = index.article_count();
        let mut counts = vec![0u32; articles + 1];
        for &a in pa {
            if let Some(c) = counts.get_mut(a as usize + 1) {
                *c += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let offsets = counts.clone();
        let mut fill = counts;
        let mut points = vec![0u32; offsets.last().copied().unwrap_or(0) as usize];
        for (p, &a) in pa.iter().enumerate() {
            if let Some(slot) = fill.get_mut(a as usize) {
                points[*slot as usize] = p as u32;
                *slot += 1;
            }
        }
        let mut locale_of = vec![NO_LOCALE; pa.len()];
        let mut locales = Vec::new();
        for (value, _) in index.field_values(Field::Locale) {
            let id = locales.len() as u16;
            for &p in index.posting(Field::Locale, &value) {
                if let Some(l) = locale_of.get_mut(p as usize) {
                    *l = id;
                }
            }
            locales.push(value);
        }
        Self {
            offsets,
            points,
            locale_of,
            locales,
        }
    }

    /// The points of one article (empty for an unknown article).
    pub fn article_points(&self, article: u32) -> &[u32] {
        let a = article as usize;
        match (self.offsets.get(a), self.offsets.get(a + 1)) {
            (Some(&s), Some(&e)) => &self.points[s as usize..e as usize],
            _ => &[],
        }
    }

    /// The locale id of a point ([`NO_LOCALE`] when it has none).
    pub fn locale_id(&self, point: u32) -> u16 {
        self.locale_of.get(point as usize).copied().unwrap_or(NO_LOCALE)
    }

    /// Groups from their parts (tests): each point's article and locale id.
    #[cfg(test)]
    pub(crate) fn from_parts(point_article: Vec<u32>, locale_of: Vec<u16>, locales: usize) -> Self {
        let articles = point_article.iter().max().map_or(0, |&a| a as usize + 1);
        let mut offsets = vec![0u32; articles + 1];
        let mut points = Vec::with_capacity(point_article.len());
        for a in 0..articles as u32 {
            points.extend((0..point_article.len() as u32).filter(|&p| point_article[p as usize] == a));
            offsets[a as usize + 1] = points.len() as u32;
        }
        Self {
            offsets,
            points,
            locale_of,
            locales: (0..locales).map(|l| format!("l{l}")).collect(),
        }
    }

    /// How many locales the index has.
    pub fn locale_count(&self) -> usize {
        self.locales.len()
    }

    /// The locale a locale id stands for.
    pub fn locale_name(&self, id: u16) -> Option<&str> {
        self.locales.get(id as usize).map(String::as_str)
    }
}
