//! The points each distinct filter admits, remembered per opened index and
//! bounded in bytes, evicting the least recently used.
//!
//! A filter's bitmap on a 10M-point index can be ~10 MB, so a count bound
//! says nothing about memory: each entry is weighed by its
//! [`RoaringBitmap::serialized_size`] (close to its heap size) plus its key,
//! held twice ([`Filter::heap_bytes`]) — a filter that matches nothing has an
//! 8-byte bitmap, so without the key a loop of distinct such filters would grow
//! the cache by their keys with no bound.

use super::filter::Filter;
use roaring::RoaringBitmap;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Bytes of filter bitmaps one opened index keeps by default.
pub const DEFAULT_BUDGET: usize = 64 << 20;

struct Entry {
    bitmap: Arc<RoaringBitmap>,
    bytes: usize,
    /// When it was last read or inserted; the key of `by_use`.
    used: u64,
}

/// A least-recently-used map from filter to bitmap, at most `budget` bytes of bitmaps.
pub struct FilterCache {
    budget: usize,
    bytes: usize,
    clock: u64,
    entries: HashMap<Filter, Entry>,
    /// `used` tick → filter: the first key is the eviction candidate.
    by_use: BTreeMap<u64, Filter>,
}

impl FilterCache {
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    /// The bitmap of `filter`, marked as just used.
    pub fn get(&mut self, filter: &Filter) -> Option<Arc<RoaringBitmap>> {
        self.clock += 1;
        let e = self.entries.get_mut(filter)?;
        self.by_use.remove(&e.used);
        e.used = self.clock;
        self.by_use.insert(e.used, filter.clone());
        Some(e.bitmap.clone())
    }

    /// Remembers a bitmap, evicting the least recently used until it fits.
    /// An entry larger than the whole budget is not kept.
    pub fn insert(&mut self, filter: Filter, bitmap: Arc<RoaringBitmap>) {
        let bytes = weight(&filter, &bitmap);
        if bytes > self.budget {
            return;
        }
        self.remove(&filter);
        while self.bytes + bytes > self.budget {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.bytes -= e.bytes;
            }
        }
        self.clock += 1;
        self.by_use.insert(self.clock, filter.clone());
        self.entries.insert(
            filter,
            Entry {
                bitmap,
                bytes,
                used: self.clock,
            },
        );
        self.bytes += bytes;
    }

    fn remove(&mut self, filter: &Filter) {
        if let Some(e) = self.entries.remove(filter) {
            self.by_use.remove(&e.used);
            self.bytes -= e.bytes;
        }
    }

    /// Bytes of entries held now, bitmaps and keys (never more than the budget).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What an entry costs: its bitmap, and its key held in both maps.
fn weight(filter: &Filter, bitmap: &RoaringBitmap) -> usize {
    bitmap.serialized_size() + 2 * filter.heap_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Field;

    fn filter(i: usize) -> Filter {
        Filter::new().with(Field::Tag, [format!("t{i}")])
    }

    /// A bitmap of scattered points, so it does not compress to a few runs.
    fn bitmap(i: usize) -> Arc<RoaringBitmap> {
        Arc::new((0..5_000u32).map(|p| p * 7 + i as u32).collect())
    }

    #[test]
    fn many_distinct_filters_stay_within_the_byte_budget() {
        let one = weight(&filter(0), &bitmap(0));
        let budget = one * 10 + one / 2;
        let mut cache = FilterCache::new(budget);
        for i in 0..1_000 {
            cache.insert(filter(i), bitmap(i));
            assert!(cache.bytes() <= budget, "{} bytes after {i}", cache.bytes());
        }
        assert_eq!(cache.len(), 10);
        let held: usize = (990..1_000)
            .map(|i| weight(&filter(i), &cache.get(&filter(i)).unwrap()))
            .sum();
        assert_eq!(held, cache.bytes());
    }

    #[test]
    fn filters_that_match_nothing_are_weighed_by_their_keys() {
        let key = |i: usize| Filter::new().with(Field::Tag, [format!("{i:0>4096}")]);
        let empty = Arc::new(RoaringBitmap::new());
        let budget = 1 << 20;
        let mut cache = FilterCache::new(budget);
        for i in 0..10_000 {
            cache.insert(key(i), empty.clone());
        }
        assert!(cache.bytes() <= budget, "{} bytes", cache.bytes());
        // Each key is over 8 KiB held twice: a 1 MiB budget keeps fewer than 128.
        assert!(cache.len() < 128, "{} entries", cache.len());
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let one = weight(&filter(0), &bitmap(0));
        let mut cache = FilterCache::new(one * 3);
        for i in 0..3 {
            cache.insert(filter(i), bitmap(i));
        }
        // Reading 0 makes 1 the oldest.
        assert!(cache.get(&filter(0)).is_some());
        cache.insert(filter(3), bitmap(3));
        assert!(cache.get(&filter(1)).is_none());
        for i in [0, 2, 3] {
            assert!(cache.get(&filter(i)).is_some(), "{i} was evicted");
        }
    }

    #[test]
    fn a_bitmap_larger_than_the_budget_is_not_kept() {
        let mut cache = FilterCache::new(16);
        cache.insert(filter(0), bitmap(0));
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn reinserting_a_filter_does_not_count_it_twice() {
        let mut cache = FilterCache::new(DEFAULT_BUDGET);
        cache.insert(filter(0), bitmap(0));
        cache.insert(filter(0), bitmap(0));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes(), weight(&filter(0), &bitmap(0)));
    }
}
