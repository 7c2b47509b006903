//! Ids to dense indices and back, for the feature state's items, users
//! and categories (and the ranker's timeline).

use sommelier_types::IdKey as Key;

/// String interner: ids to dense indices and back.
#[derive(Debug, Default)]
pub struct Interner {
    /// foldhash: every candidate of every request is looked up here several
    /// times, and SipHash over the id was a visible part of the ranking stage.
    /// Keys inline when short ([`Key`]): no pointer to follow per lookup.
    pub(super) ids: foldhash::HashMap<Key, u32>,
    pub(super) names: Vec<Key>,
}

impl Interner {
    /// The index of `s`, added if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(Key::new(s));
        self.ids.insert(Key::new(s), i);
        i
    }

    /// The index of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string of index `i` (one [`Interner::intern`] returned).
    pub fn name(&self, i: u32) -> &str {
        self.names[i as usize].as_str()
    }
}
