//! The text an item is embedded from, and its content hash.

use sha2::{Digest, Sha256};
use sommelier_types::Item;

/// The text that stands for an item: title, categories, tags, then description.
pub fn item_text(item: &Item) -> String {
    let mut s = item.title.trim().to_string();
    if !item.categories.is_empty() {
        s.push_str(". ");
        s.push_str(&item.categories.join(", "));
    }
    if !item.tags.is_empty() {
        s.push_str(". Tags: ");
        s.push_str(&item.tags.join(", "));
    }
    if let Some(d) = item
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        s.push_str(". ");
        s.push_str(d);
    }
    s
}

/// Hash of the model and the text: a stored vector with the same hash needs no
/// re-embedding.
pub fn content_hash(model_id: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(model_id.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    let d = h.finalize();
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sommelier_types::*;

    #[test]
    fn text_joins_the_describing_fields() {
        let item = Item {
            id: ItemId::new("1").unwrap(),
            kind: ItemKind::new("movie").unwrap(),
            title: "Toy Story".into(),
            description: Some("Toys come alive.".into()),
            categories: vec!["Animation".into(), "Comedy".into()],
            tags: vec!["Pixar".into()],
            attributes: Attributes::new(),
            price: None,
            availability: Availability::default(),
            release_date: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        assert_eq!(
            item_text(&item),
            "Toy Story. Animation, Comedy. Tags: Pixar. Toys come alive."
        );
        assert_eq!(content_hash("m", "a"), content_hash("m", "a"));
        assert_ne!(content_hash("m", "a"), content_hash("n", "a"));
        assert_eq!(content_hash("m", "a").len(), 32);
    }
}
