//! Filter fields kept per vector, the filters, and the id ↔ slot table both
//! backends share.

mod saved;

use crate::error::{IndexError, Result};
pub(crate) use saved::SavedFile;
use serde::{Deserialize, Serialize};

/// The fields of an item that searches can filter on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    /// Item kind (`movie`, `product`, …).
    pub kind: String,
    /// Categories or genres.
    pub categories: Vec<String>,
    /// Whether it can be recommended now.
    pub available: bool,
    /// Price in the catalog's currency.
    pub price: Option<f64>,
    /// Release year.
    pub year: Option<i32>,
}

/// The filter fields of an item, borrowed: checking a candidate against a
/// filter needs no copy of its kind and categories.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetaRef<'a> {
    /// Item kind.
    pub kind: &'a str,
    /// Categories or genres.
    pub categories: &'a [String],
    /// Whether it can be recommended now.
    pub available: bool,
    /// Price in the catalog's currency.
    pub price: Option<f64>,
    /// Release year.
    pub year: Option<i32>,
}

impl<'a> MetaRef<'a> {
    /// The filter fields of a catalog item, borrowed from it.
    pub fn of(item: &'a sommelier_types::Item) -> Self {
        MetaRef {
            kind: item.kind.as_str(),
            categories: &item.categories,
            available: item.is_available(),
            price: item.price_amount(),
            year: item.year(),
        }
    }
}

impl MetaRef<'_> {
    /// These fields, copied.
    pub fn to_owned(self) -> ItemMeta {
        ItemMeta {
            kind: self.kind.to_string(),
            categories: self.categories.to_vec(),
            available: self.available,
            price: self.price,
            year: self.year,
        }
    }
}

impl ItemMeta {
    /// The filter fields of a catalog item.
    pub fn of(item: &sommelier_types::Item) -> Self {
        MetaRef::of(item).to_owned()
    }

    /// These fields, borrowed.
    pub fn as_ref(&self) -> MetaRef<'_> {
        MetaRef {
            kind: &self.kind,
            categories: &self.categories,
            available: self.available,
            price: self.price,
            year: self.year,
        }
    }
}

/// What a search may return. The default lets everything through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Allowed kinds (empty: any).
    pub kinds: Vec<String>,
    /// The item must have at least one of these categories (empty: any).
    pub categories: Vec<String>,
    /// Items with any of these categories are excluded.
    pub exclude_categories: Vec<String>,
    /// Only available items.
    pub available_only: bool,
    /// Lowest price (items without a price fail a price bound).
    pub price_min: Option<f64>,
    /// Highest price.
    pub price_max: Option<f64>,
    /// Earliest release year (items without a year fail a year bound).
    pub year_min: Option<i32>,
    /// Latest release year.
    pub year_max: Option<i32>,
}

impl From<&sommelier_types::api::Filters> for Filter {
    /// The index filter a request's filters stand for.
    fn from(f: &sommelier_types::api::Filters) -> Self {
        Filter {
            kinds: f.kinds.clone(),
            categories: f.categories.clone(),
            exclude_categories: f.exclude_categories.clone(),
            available_only: !f.include_unavailable,
            price_min: f.price_min,
            price_max: f.price_max,
            year_min: f.year_min,
            year_max: f.year_max,
        }
    }
}

impl From<&Filter> for sommelier_types::api::Filters {
    /// The request filters `f` stands for (the inverse of the above).
    fn from(f: &Filter) -> Self {
        sommelier_types::api::Filters {
            kinds: f.kinds.clone(),
            categories: f.categories.clone(),
            exclude_categories: f.exclude_categories.clone(),
            include_unavailable: !f.available_only,
            price_min: f.price_min,
            price_max: f.price_max,
            year_min: f.year_min,
            year_max: f.year_max,
        }
    }
}

impl Filter {
    /// True when the filter lets everything through.
    pub fn is_open(&self) -> bool {
        self == &Filter::default()
    }

    /// True when availability is all the filter asks about, which the slot
    /// table answers without reading the item's fields.
    fn availability_only(&self) -> bool {
        self == &Filter {
            available_only: self.available_only,
            ..Filter::default()
        }
    }

    /// Whether `meta` passes.
    pub fn accepts(&self, meta: &ItemMeta) -> bool {
        self.accepts_ref(meta.as_ref())
    }

    /// Whether the borrowed fields `meta` pass.
    pub fn accepts_ref(&self, meta: MetaRef<'_>) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == meta.kind))
            && (self.categories.is_empty()
                || meta.categories.iter().any(|c| self.categories.contains(c)))
            && (self.exclude_categories.is_empty()
                || !meta
                    .categories
                    .iter()
                    .any(|c| self.exclude_categories.contains(c)))
            && (!self.available_only || meta.available)
            && self
                .price_min
                .is_none_or(|lo| meta.price.is_some_and(|p| p >= lo))
            && self
                .price_max
                .is_none_or(|hi| meta.price.is_some_and(|p| p <= hi))
            && self
                .year_min
                .is_none_or(|lo| meta.year.is_some_and(|y| y >= lo))
            && self
                .year_max
                .is_none_or(|hi| meta.year.is_some_and(|y| y <= hi))
    }
}

/// One stored vector's identity and filter fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Slot {
    pub id: String,
    pub meta: ItemMeta,
    pub live: bool,
}

/// Ids to dense slot numbers (the keys the backends store vectors under).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Slots {
    pub slots: Vec<Slot>,
    /// foldhash: looked up per history item and per hit of every request.
    #[serde(skip)]
    pub by_id: foldhash::HashMap<sommelier_types::IdKey, u32>,
    /// Per slot, [`LIVE`] and [`AVAILABLE`]: a graph search checks every node
    /// it visits, and one byte per slot stays in cache where the slot's
    /// fields (over a hundred bytes, behind pointers) do not.
    #[serde(skip)]
    flags: Vec<u8>,
    /// Slots whose flags are not both [`LIVE`] and [`AVAILABLE`]. While none
    /// are, an availability filter passes every node the graph holds, and a
    /// search needs no per-node check at all.
    #[serde(skip)]
    blocked: usize,
    pub dim: usize,
    /// The files saved beside the table, with their checksums (empty for a
    /// table saved as JSON, which recorded none).
    #[serde(skip)]
    pub files: Vec<SavedFile>,
}

const LIVE: u8 = 1;
const AVAILABLE: u8 = 2;

/// Whether a slot's flags keep it out of an availability filter's answers.
fn blocks(flags: u8) -> bool {
    flags != LIVE | AVAILABLE
}

fn flags(slot: &Slot) -> u8 {
    (if slot.live { LIVE } else { 0 }) | (if slot.meta.available { AVAILABLE } else { 0 })
}

/// A filter prepared for checking many slots.
pub(crate) struct Check<'a> {
    filter: &'a Filter,
    open: bool,
    availability_only: bool,
    /// A graph search may skip the per-node check: the filter is open (the
    /// results are still checked for liveness), or it asks only for
    /// availability and every slot is live and available.
    pub unchecked: bool,
}

impl Slots {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            ..Self::default()
        }
    }

    pub fn check(&self, id: &str, v: &[f32]) -> Result<()> {
        if v.len() != self.dim {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: v.len(),
            });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::NotFinite(id.to_string()));
        }
        Ok(())
    }

    /// The slot for `id` (new or reused) with its fields set; second value: it existed.
    pub fn upsert(&mut self, id: &str, meta: &ItemMeta) -> (u32, bool) {
        if let Some(&s) = self.by_id.get(id) {
            let slot = &mut self.slots[s as usize];
            let existed = slot.live;
            slot.meta = meta.clone();
            slot.live = true;
            let f = flags(slot);
            self.set_flags(s, f);
            return (s, existed);
        }
        let s = self.slots.len() as u32;
        let slot = Slot {
            id: id.to_string(),
            meta: meta.clone(),
            live: true,
        };
        let f = flags(&slot);
        self.blocked += usize::from(blocks(f));
        self.flags.push(f);
        self.slots.push(slot);
        self.by_id.insert(sommelier_types::IdKey::new(id), s);
        (s, false)
    }

    /// Replaces the filter fields of a live `id` (nothing is copied when
    /// they are the same); false when it is not live.
    pub fn set_meta(&mut self, id: &str, meta: MetaRef<'_>) -> bool {
        match self.by_id.get(id) {
            Some(&s) if self.slots[s as usize].live => {
                if self.slots[s as usize].meta.as_ref() == meta {
                    return true;
                }
                self.slots[s as usize].meta = meta.to_owned();
                let f = flags(&self.slots[s as usize]);
                self.set_flags(s, f);
                true
            }
            _ => false,
        }
    }

    /// Marks `id` removed; its slot number, if it was live.
    pub fn remove(&mut self, id: &str) -> Option<u32> {
        let &s = self.by_id.get(id)?;
        let slot = &mut self.slots[s as usize];
        let was = std::mem::replace(&mut slot.live, false);
        let f = flags(slot);
        self.set_flags(s, f);
        was.then_some(s)
    }

    /// Sets slot `s`'s flags, keeping [`Slots::blocked`] current.
    fn set_flags(&mut self, s: u32, f: u8) {
        let old = std::mem::replace(&mut self.flags[s as usize], f);
        self.blocked = self.blocked + usize::from(blocks(f)) - usize::from(blocks(old));
    }

    /// The slot of a live `id`.
    pub fn live_slot(&self, id: &str) -> Option<u32> {
        self.by_id
            .get(id)
            .copied()
            .filter(|&s| self.flags[s as usize] & LIVE != 0)
    }

    pub fn is_live(&self, slot: u32) -> bool {
        self.flags.get(slot as usize).is_some_and(|f| f & LIVE != 0)
    }

    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.live).count()
    }

    pub fn prepare<'a>(&self, filter: &'a Filter) -> Check<'a> {
        let (open, availability_only) = (filter.is_open(), filter.availability_only());
        Check {
            filter,
            open,
            availability_only,
            unchecked: open || (availability_only && self.blocked == 0),
        }
    }

    /// Whether `slot` is live and passes the filter `check` was made from.
    pub fn passes(&self, slot: u32, check: &Check<'_>) -> bool {
        let Some(&f) = self.flags.get(slot as usize) else {
            return false;
        };
        if f & LIVE == 0 {
            return false;
        }
        if check.open {
            true
        } else if check.availability_only {
            f & AVAILABLE != 0
        } else {
            check.filter.accepts(&self.slots[slot as usize].meta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filter fields for tests (of this module and its `saved` module).
    pub(super) fn meta(
        kind: &str,
        cats: &[&str],
        available: bool,
        price: Option<f64>,
        year: Option<i32>,
    ) -> ItemMeta {
        ItemMeta {
            kind: kind.into(),
            categories: cats.iter().map(|c| c.to_string()).collect(),
            available,
            price,
            year,
        }
    }

    #[test]
    fn filters_combine_every_condition() {
        let shoe = meta(
            "product",
            &["Shoes", "Outdoor"],
            true,
            Some(99.0),
            Some(2024),
        );
        assert!(Filter::default().accepts(&shoe));
        let f = Filter {
            kinds: vec!["product".into()],
            categories: vec!["Shoes".into()],
            price_max: Some(120.0),
            ..Filter::default()
        };
        assert!(f.accepts(&shoe));
        assert!(
            !Filter {
                price_max: Some(50.0),
                ..f.clone()
            }
            .accepts(&shoe)
        );
        assert!(
            !Filter {
                exclude_categories: vec!["Outdoor".into()],
                ..f.clone()
            }
            .accepts(&shoe)
        );
        assert!(
            !Filter {
                year_min: Some(2025),
                ..f.clone()
            }
            .accepts(&shoe)
        );
        let sold_out = meta("product", &["Shoes"], false, None, None);
        assert!(
            !Filter {
                available_only: true,
                ..Filter::default()
            }
            .accepts(&sold_out)
        );
        assert!(
            !Filter {
                price_min: Some(1.0),
                ..Filter::default()
            }
            .accepts(&sold_out),
            "no price fails a price bound"
        );
    }

    #[test]
    fn availability_checks_are_skipped_only_while_every_slot_passes() {
        let avail = Filter {
            available_only: true,
            ..Filter::default()
        };
        let narrow = Filter {
            kinds: vec!["movie".into()],
            ..Filter::default()
        };
        let unchecked = |s: &Slots, f: &Filter| s.prepare(f).unchecked;
        let mut s = Slots::new(2);
        s.upsert("a", &meta("movie", &[], true, None, None));
        s.upsert("b", &meta("movie", &[], true, None, None));
        assert!(unchecked(&s, &avail));
        assert!(!unchecked(&s, &narrow), "other fields are always checked");
        s.set_meta("b", meta("movie", &[], false, None, None).as_ref());
        assert!(!unchecked(&s, &avail), "b is sold out");
        assert!(
            unchecked(&s, &Filter::default()),
            "an open filter checks results only"
        );
        s.set_meta("b", meta("movie", &[], true, None, None).as_ref());
        assert!(unchecked(&s, &avail));
        s.remove("a");
        assert!(!unchecked(&s, &avail), "a is removed");
        s.upsert("a", &meta("movie", &[], true, None, None));
        assert!(unchecked(&s, &avail), "a is back");
        s.upsert("c", &meta("movie", &[], false, None, None));
        let dir = tempfile::tempdir().unwrap();
        s.save(dir.path(), &[]).unwrap();
        let loaded = Slots::load(dir.path()).unwrap();
        assert!(!unchecked(&loaded, &avail), "the count is rebuilt on load");
        assert_eq!(loaded.blocked, 1);
    }
}
