//! A per-backend LRU cache of text embeddings.
//!
//! Search queries repeat ("a red bicycle" typed by many users, or re-run by a
//! paginating client), and a text embedding costs a tower run: 2.3 ms on the
//! default model, ~48 ms on a ViT-B/16 text tower at 77 positions. A hit costs a
//! hash lookup and a copy of 512 floats.
//!
//! Keys are the loaded text tower's identity (which model folder, and which
//! load of it: a reload makes every older entry unreachable) and the exact
//! text. The raw (unnormalised) embedding is stored, so `normalized => true`
//! and `false` share an entry. Texts longer than [`MAX_CACHED_TEXT_BYTES`] are
//! not cached: a search query is short, and hashing a 1 GB text as a key would
//! cost more than the tokenizer, which reads only its first tokens.

use std::collections::{BTreeMap, HashMap};

/// Longest text, in bytes, that is cached.
pub const MAX_CACHED_TEXT_BYTES: usize = 4096;

/// Which loaded text tower produced an embedding: a model folder's load number.
/// Every tower load in a backend gets a new number, so entries of a replaced
/// tower can never be served.
pub type TowerIdentity = u64;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    tower: TowerIdentity,
    text: String,
}

struct Entry {
    embedding: Vec<f32>,
    last_used: u64,
}

/// An LRU map from (tower, text) to a raw embedding, bounded in entries.
#[derive(Default)]
pub struct TextCache {
    entries: HashMap<Key, Entry>,
    /// last_used tick -> key, oldest first: eviction in O(log n).
    by_age: BTreeMap<u64, Key>,
    tick: u64,
    hits: u64,
    misses: u64,
}

impl TextCache {
    /// The cached raw embedding of `text` by `tower`, marking it recently used.
    pub fn get(&mut self, tower: TowerIdentity, text: &str) -> Option<Vec<f32>> {
        if text.len() > MAX_CACHED_TEXT_BYTES {
            return None;
        }
        let key = Key { tower, text: text.to_string() };
        self.tick += 1;
        let Some(entry) = self.entries.get_mut(&key) else {
            self.misses += 1;
            return None;
        };
        self.by_age.remove(&entry.last_used);
        entry.last_used = self.tick;
        self.by_age.insert(self.tick, key);
        self.hits += 1;
        Some(entry.embedding.clone())
    }

    /// Stores `embedding` for `text` by `tower`, evicting the least recently
    /// used entries beyond `capacity` (0: store nothing, and empty the cache).
    pub fn put(&mut self, tower: TowerIdentity, text: &str, embedding: &[f32], capacity: usize) {
        if capacity == 0 {
            self.clear();
            return;
        }
        if text.len() > MAX_CACHED_TEXT_BYTES {
            return;
        }
        self.tick += 1;
        let key = Key { tower, text: text.to_string() };
        if let Some(old) =
            self.entries.insert(key.clone(), Entry { embedding: embedding.to_vec(), last_used: self.tick })
        {
            self.by_age.remove(&old.last_used);
        }
        self.by_age.insert(self.tick, key);
        while self.entries.len() > capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else { break };
            self.entries.remove(&oldest);
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_age.clear();
    }

    /// (entries, hits, misses) since the backend started.
    #[cfg(test)]
    fn stats(&self) -> (usize, u64, u64) {
        (self.entries.len(), self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_return_what_was_stored_for_that_tower_only() {
        let mut cache = TextCache::default();
        assert_eq!(cache.get(1, "a cat"), None);
        cache.put(1, "a cat", &[1.0, 2.0], 10);
        assert_eq!(cache.get(1, "a cat"), Some(vec![1.0, 2.0]));
        assert_eq!(cache.get(2, "a cat"), None, "another tower load never sees it");
        assert_eq!(cache.get(1, "a cat "), None, "the exact text is the key");
        assert_eq!(cache.stats(), (1, 1, 3));
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut cache = TextCache::default();
        cache.put(1, "a", &[1.0], 2);
        cache.put(1, "b", &[2.0], 2);
        assert!(cache.get(1, "a").is_some()); // "b" is now the oldest
        cache.put(1, "c", &[3.0], 2);
        assert_eq!(cache.get(1, "b"), None);
        assert_eq!(cache.get(1, "a"), Some(vec![1.0]));
        assert_eq!(cache.get(1, "c"), Some(vec![3.0]));
        assert_eq!(cache.stats().0, 2);
    }

    #[test]
    fn capacity_zero_disables_and_long_texts_are_not_cached() {
        let mut cache = TextCache::default();
        cache.put(1, "a", &[1.0], 5);
        cache.put(1, "b", &[1.0], 0);
        assert_eq!(cache.stats().0, 0);
        let long = "x".repeat(MAX_CACHED_TEXT_BYTES + 1);
        cache.put(1, &long, &[1.0], 5);
        assert_eq!(cache.get(1, &long), None);
        assert_eq!(cache.stats().0, 0);
    }
}
