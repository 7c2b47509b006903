//! Reads for browsing the catalog: compact item cards by id, the facets a
//! filter bar offers (categories with counts, kinds, year and price ranges),
//! and the most active users. All come from the catalog snapshot and the
//! online features, so a page of cards reads no rows from SQLite.

use crate::{Engine, Result};
use sommelier_types::Item;
use std::collections::BTreeMap;

/// Most ids in one card lookup.
pub const MAX_CARDS: usize = 200;

/// What a list or a card shows of an item.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ItemCard {
    /// Item id.
    pub id: String,
    /// Kind (`movie`, `product`, …).
    pub kind: String,
    /// Title.
    pub title: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Up to five tags.
    pub tags: Vec<String>,
    /// Release year.
    pub year: Option<i32>,
    /// Price amount.
    pub price: Option<f64>,
    /// Price currency.
    pub currency: Option<String>,
    /// Can be recommended now.
    pub available: bool,
    /// The description, cut to 280 characters.
    pub description: Option<String>,
}

impl ItemCard {
    /// The card of an item.
    pub fn of(item: &Item) -> Self {
        Self {
            id: item.id.as_str().to_string(),
            kind: item.kind.as_str().to_string(),
            title: item.title.clone(),
            categories: item.categories.clone(),
            tags: item.tags.iter().take(5).cloned().collect(),
            year: item.year(),
            price: item.price_amount(),
            currency: item.price.as_ref().map(|p| p.currency.clone()),
            available: item.is_available(),
            description: item.description.as_deref().map(|d| cut(d, 280)),
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s[..i].trim_end()),
        None => s.to_string(),
    }
}

/// What a filter bar can offer over the live catalog.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Facets {
    /// Live items.
    pub items: usize,
    /// Categories with their live item counts, most items first.
    pub categories: Vec<FacetCount>,
    /// Kinds with their counts.
    pub kinds: Vec<FacetCount>,
    /// Oldest and newest release year.
    pub year_range: Option<(i32, i32)>,
    /// Lowest and highest price.
    pub price_range: Option<(f64, f64)>,
}

/// A facet value and how many live items have it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FacetCount {
    /// The value.
    pub name: String,
    /// Live items with it.
    pub count: usize,
}

impl Facets {
    pub(crate) fn of<'a>(items: impl Iterator<Item = &'a Item>) -> Self {
        let mut cats: BTreeMap<&str, usize> = BTreeMap::new();
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        let mut years: Option<(i32, i32)> = None;
        let mut prices: Option<(f64, f64)> = None;
        let mut n = 0;
        for it in items {
            n += 1;
            for c in &it.categories {
                *cats.entry(c).or_default() += 1;
            }
            *kinds.entry(it.kind.as_str()).or_default() += 1;
            if let Some(y) = it.year() {
                years = Some(years.map_or((y, y), |(a, b)| (a.min(y), b.max(y))));
            }
            if let Some(p) = it.price_amount() {
                prices = Some(prices.map_or((p, p), |(a, b)| (a.min(p), b.max(p))));
            }
        }
        let sorted = |m: BTreeMap<&str, usize>| {
            let mut v: Vec<FacetCount> = m
                .into_iter()
                .map(|(name, count)| FacetCount {
                    name: name.to_string(),
                    count,
                })
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
            v
        };
        Self {
            items: n,
            categories: sorted(cats),
            kinds: sorted(kinds),
            year_range: years,
            price_range: prices,
        }
    }
}

/// A user and how many events they have.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ActiveUser {
    /// User id.
    pub user: String,
    /// Lifetime events.
    pub events: u64,
}

impl Engine {
    /// Cards for `ids`, in the order given; unknown or deleted ids are left out.
    pub fn item_cards(&self, ids: &[String]) -> Result<Vec<ItemCard>> {
        let built = self.snapshot()?;
        Ok(ids
            .iter()
            .filter_map(|id| built.items.get(id.as_str()))
            .map(|it| ItemCard::of(it))
            .collect())
    }

    /// Category counts, kinds and value ranges of the live catalog.
    pub fn facets(&self) -> Result<Facets> {
        let snapshot = self.snapshot()?;
        let facets = self.facets.get(&snapshot, || {
            Facets::of(snapshot.items.values().map(|i| i.as_ref()))
        });
        Ok((*facets).clone())
    }

    /// The `n` users with the most events.
    pub fn active_users(&self, n: usize) -> Result<Vec<ActiveUser>> {
        let state = self.features()?.state.read();
        Ok(state
            .most_active_users(n)
            .into_iter()
            .map(|(user, events)| ActiveUser { user, events })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sommelier_types::{Availability, ItemId, ItemKind, Price, Timestamp};

    fn item(id: &str, cats: &[&str], year: Option<i32>, price: Option<f64>) -> Item {
        Item {
            id: ItemId::new(id).unwrap(),
            kind: ItemKind::new("movie").unwrap(),
            title: format!("Title {id}"),
            description: Some("x".repeat(300)),
            categories: cats.iter().map(|c| c.to_string()).collect(),
            tags: (0..8).map(|t| format!("t{t}")).collect(),
            attributes: Default::default(),
            price: price.map(|amount| Price {
                amount,
                currency: "USD".into(),
            }),
            availability: Availability {
                available: true,
                inventory: None,
            },
            release_date: year.and_then(|y| chrono::NaiveDate::from_ymd_opt(y, 1, 1)),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn facets_count_categories_and_span_ranges() {
        let items = [
            item("1", &["Comedy", "Drama"], Some(1995), Some(10.0)),
            item("2", &["Comedy"], Some(2001), None),
            item("3", &["Horror"], None, Some(4.5)),
        ];
        let f = Facets::of(items.iter());
        assert_eq!(f.items, 3);
        assert_eq!(
            f.categories[0],
            FacetCount {
                name: "Comedy".into(),
                count: 2
            }
        );
        assert_eq!(f.categories.len(), 3);
        assert_eq!(f.categories[1].name, "Drama"); // ties by name
        assert_eq!(f.year_range, Some((1995, 2001)));
        assert_eq!(f.price_range, Some((4.5, 10.0)));
    }

    #[test]
    fn cards_cut_long_text() {
        let c = ItemCard::of(&item("1", &["Comedy"], Some(1995), Some(10.0)));
        assert_eq!(c.tags.len(), 5);
        assert_eq!(c.year, Some(1995));
        assert_eq!(c.currency.as_deref(), Some("USD"));
        let d = c.description.unwrap();
        assert_eq!(d.chars().count(), 281);
        assert!(d.ends_with('…'));
    }
}
