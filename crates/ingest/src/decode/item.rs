//! Items.

use super::{DecodeOptions, ItemOp, required_id, timestamp};
use crate::fields::{FieldError, Fields};
use chrono::NaiveDate;
use sommelier_types::{Availability, Item, ItemId, ItemKind, Price};

const MAX_TITLE: usize = 1_000;

pub(super) fn decode(mut f: Fields, opts: &DecodeOptions) -> Result<ItemOp, FieldError> {
    let id = required_id(&mut f, "id", ItemId::new)?;
    if f.boolean("deleted")?.unwrap_or(false) {
        let at = timestamp(&mut f, "updated_at", opts)?.unwrap_or(opts.now);
        return Ok(ItemOp::Delete(id, at));
    }
    let kind = match f.string("kind")? {
        Some(k) => ItemKind::new(&k).map_err(|e| FieldError::new("kind", e))?,
        None => opts.default_item_kind.clone(),
    };
    let title = f.required_string("title")?.trim().to_string();
    if title.is_empty() {
        return Err(FieldError::new("title", "must not be empty"));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(FieldError::new(
            "title",
            format!("is longer than {MAX_TITLE} characters"),
        ));
    }
    let description = f.string("description")?.filter(|d| !d.trim().is_empty());
    let categories = f.list("categories")?;
    let tags = f.list("tags")?;
    let price = match f.number("price")? {
        None => {
            if f.take("currency").is_some() {
                return Err(FieldError::new("currency", "is given without a price"));
            }
            None
        }
        Some(p) if p < 0.0 => return Err(FieldError::new("price", "must not be negative")),
        Some(amount) => {
            let currency = f
                .string("currency")?
                .ok_or_else(|| FieldError::new("currency", "is required when a price is given"))?
                .trim()
                .to_ascii_uppercase();
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(FieldError::new(
                    "currency",
                    "must be a three-letter ISO 4217 code",
                ));
            }
            Some(Price { amount, currency })
        }
    };
    let availability = Availability {
        available: f.boolean("available")?.unwrap_or(true),
        inventory: f.count("inventory")?,
    };
    let release_date = release_date(&mut f)?;
    let created_at = timestamp(&mut f, "created_at", opts)?;
    let updated_at = timestamp(&mut f, "updated_at", opts)?;
    let mut attributes = f.object("attributes")?.unwrap_or_default();
    // Other fields are kept as attributes, never silently dropped.
    for (k, v) in f.into_rest() {
        attributes.entry(k).or_insert(v);
    }
    let created_at = created_at.or(updated_at).unwrap_or(opts.now);
    Ok(ItemOp::Upsert(Item {
        id,
        kind,
        title,
        description,
        categories,
        tags,
        attributes,
        price,
        availability,
        release_date,
        created_at,
        updated_at: updated_at.unwrap_or(created_at),
    }))
}

fn release_date(f: &mut Fields) -> Result<Option<NaiveDate>, FieldError> {
    use serde_json::Value;
    const FIELD: &str = "release_date";
    let year = |y: i64| {
        (1800..=2200)
            .contains(&y)
            .then(|| NaiveDate::from_ymd_opt(y as i32, 1, 1))
            .flatten()
            .ok_or_else(|| FieldError::new(FIELD, format!("year {y} is out of range 1800..=2200")))
    };
    match f.take(FIELD) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(y) => year(y).map(Some),
            None => Err(FieldError::new(
                FIELD,
                "expected a year or a YYYY-MM-DD date",
            )),
        },
        Some(Value::String(s)) => {
            let s = s.trim();
            if let Ok(y) = s.parse::<i64>() {
                return year(y).map(Some);
            }
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| FieldError::new(FIELD, format!("`{s}` is not a YYYY-MM-DD date")))
        }
        Some(_) => Err(FieldError::new(
            FIELD,
            "expected a year or a YYYY-MM-DD date",
        )),
    }
}
