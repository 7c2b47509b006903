//! Catalog items.

use crate::{Attributes, ItemId, ItemKind, Timestamp};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A price in a currency (ISO 4217 code, upper case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Price {
    /// Amount in the currency's major unit (e.g. 119.99).
    pub amount: f64,
    /// Three-letter currency code, e.g. `USD`.
    pub currency: String,
}

/// Whether an item can be recommended now, and how many are in stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Availability {
    /// False hides the item from recommendations without deleting it.
    pub available: bool,
    /// Units in stock, for physical goods; `None` when not tracked.
    pub inventory: Option<u64>,
}

impl Default for Availability {
    fn default() -> Self {
        Self {
            available: true,
            inventory: None,
        }
    }
}

/// A catalog item: a movie, a product, an article, a document…
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    /// Caller-chosen identifier; upserts are idempotent by it.
    pub id: ItemId,
    /// What sort of thing this is.
    pub kind: ItemKind,
    /// Display title.
    pub title: String,
    /// Longer text, if any.
    pub description: Option<String>,
    /// Categories or genres, in the catalog's own vocabulary.
    pub categories: Vec<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Any other attributes (links, brand, colour, …).
    #[schema(value_type = Object)]
    pub attributes: Attributes,
    /// Price, for goods.
    pub price: Option<Price>,
    /// Availability and inventory.
    pub availability: Availability,
    /// Release or publication date.
    pub release_date: Option<NaiveDate>,
    /// When the item was first created in the source system.
    pub created_at: Timestamp,
    /// When the item was last changed in the source system.
    pub updated_at: Timestamp,
}

impl Item {
    /// Whether the item may be shown to users.
    pub fn is_available(&self) -> bool {
        self.availability.available && self.availability.inventory != Some(0)
    }

    /// The release year, when the item has a release date.
    pub fn year(&self) -> Option<i32> {
        use chrono::Datelike;
        self.release_date.map(|d| d.year())
    }

    /// The price amount in the item's currency, when it has a price.
    pub fn price_amount(&self) -> Option<f64> {
        self.price.as_ref().map(|p| p.amount)
    }
}
