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

/// Why [`Item::decode`] refused a saved item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ItemDecodeError {
    /// The bytes end early or a length is wrong.
    #[error("{0}")]
    Damaged(#[from] crate::codec::Damaged),
    /// A field holds a value an item cannot have.
    #[error("field `{0}`: {1}")]
    Field(&'static str, String),
}

impl Item {
    /// Appends the item in the binary layout of the engine's saved files:
    /// every field in declaration order; the attributes as their JSON (empty
    /// when there are none). [`Item::decode`] reads it back exactly.
    pub fn encode(&self, w: &mut crate::codec::Writer) {
        w.str(self.id.as_str());
        w.str(self.kind.as_str());
        w.str(&self.title);
        w.u8(self.description.is_some() as u8);
        w.str(self.description.as_deref().unwrap_or(""));
        for list in [&self.categories, &self.tags] {
            w.len(list.len());
            for s in list {
                w.str(s);
            }
        }
        if self.attributes.is_empty() {
            w.str("");
        } else {
            w.str(&serde_json::Value::Object(self.attributes.clone()).to_string());
        }
        w.u8(self.price.is_some() as u8);
        if let Some(p) = &self.price {
            w.f64(p.amount);
            w.str(&p.currency);
        }
        w.u8(self.availability.available as u8);
        w.opt_i64(self.availability.inventory.map(|n| n as i64));
        w.opt_i64(self.release_date.map(|d| {
            use chrono::Datelike;
            i64::from(d.num_days_from_ce())
        }));
        w.i64(self.created_at.0);
        w.i64(self.updated_at.0);
    }

    /// An item [`Item::encode`] wrote. Ids and kinds are checked again, so
    /// a damaged save cannot put an item the API would refuse into the
    /// catalog.
    pub fn decode(r: &mut crate::codec::Reader<'_>) -> Result<Item, ItemDecodeError> {
        let field = |name: &'static str| move |e: String| ItemDecodeError::Field(name, e);
        let id = ItemId::new(r.str()?).map_err(|e| field("id")(e.to_string()))?;
        let kind = ItemKind::new(r.str()?).map_err(field("kind"))?;
        let title = r.str()?.to_string();
        let has_description = r.u8()? != 0;
        let description = r.str()?;
        let description = has_description.then(|| description.to_string());
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let n = r.len(8)?;
            list.reserve_exact(n);
            for _ in 0..n {
                list.push(r.str()?.to_string());
            }
        }
        let [categories, tags] = lists;
        let attributes = match r.str()? {
            "" => Attributes::new(),
            text => serde_json::from_str(text).map_err(|e| field("attributes")(e.to_string()))?,
        };
        let price = match r.u8()? {
            0 => None,
            _ => Some(Price {
                amount: r.f64()?,
                currency: r.str()?.to_string(),
            }),
        };
        let available = r.u8()? != 0;
        let inventory = r.opt_i64()?.map(|n| n as u64);
        let release_date = match r.opt_i64()? {
            None => None,
            Some(days) => Some(
                i32::try_from(days)
                    .ok()
                    .and_then(NaiveDate::from_num_days_from_ce_opt)
                    .ok_or_else(|| field("release_date")(format!("{days} is not a date")))?,
            ),
        };
        Ok(Item {
            id,
            kind,
            title,
            description,
            categories,
            tags,
            attributes,
            price,
            availability: Availability {
                available,
                inventory,
            },
            release_date,
            created_at: Timestamp(r.i64()?),
            updated_at: Timestamp(r.i64()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Reader, Writer};

    fn round_trip(item: &Item) -> Item {
        let mut w = Writer::default();
        item.encode(&mut w);
        let image = w.seal();
        let body = Reader::unseal(&image).unwrap();
        let mut r = Reader::new(body, 0);
        let back = Item::decode(&mut r).unwrap();
        assert_eq!(r.left(), 0);
        back
    }

    #[test]
    fn items_round_trip_through_the_binary_layout() {
        let full: Item = serde_json::from_value(serde_json::json!({
            "id": "shoe-7", "kind": "product", "title": "Trail shoe \"Wet\"",
            "description": "grippy ✓", "categories": ["Shoes", "Outdoor"],
            "tags": ["waterproof"], "attributes": {"colour": "teal", "sizes": [41, 42.5]},
            "price": {"amount": 119.99, "currency": "EUR"},
            "availability": {"available": false, "inventory": 0},
            "release_date": "1999-12-31", "created_at": "2024-01-02T03:04:05.678Z",
            "updated_at": "2025-06-07T08:09:10Z"
        }))
        .unwrap();
        assert_eq!(round_trip(&full), full);
        let bare = Item {
            description: Some(String::new()),
            categories: vec![],
            tags: vec![],
            attributes: Attributes::new(),
            price: None,
            availability: Availability::default(),
            release_date: None,
            ..full.clone()
        };
        assert_eq!(round_trip(&bare), bare);
        let none = Item {
            description: None,
            ..bare
        };
        assert_eq!(round_trip(&none), none);
    }

    #[test]
    fn a_damaged_item_is_refused_with_its_field() {
        let mut w = Writer::default();
        w.str("bad id\u{7}");
        let image = w.seal();
        let mut r = Reader::new(Reader::unseal(&image).unwrap(), 0);
        assert!(matches!(
            Item::decode(&mut r),
            Err(ItemDecodeError::Field("id", _))
        ));
        let mut r = Reader::new(&[1, 0], 0);
        assert!(matches!(
            Item::decode(&mut r),
            Err(ItemDecodeError::Damaged(_))
        ));
    }
}
