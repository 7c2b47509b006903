//! The tools of the LLM layer, run over the catalog snapshot: deterministic
//! code, so a model can ask for live facts but cannot make them up.

use crate::snapshot::CatalogSnapshot;
use serde_json::{Value, json};
use sommelier_llm::grounded::clip;
use sommelier_llm::intent::normalise;
use sommelier_llm::tools::ToolHost;
use sommelier_types::Item;
use std::sync::Arc;

/// Kind of the items that hold policy and FAQ text.
pub(crate) const DOCUMENT_KIND: &str = "document";

/// Tools over one catalog snapshot.
pub(crate) struct CatalogTools {
    pub(crate) snapshot: Arc<CatalogSnapshot>,
}

impl CatalogTools {
    /// The item `r` names: an id, or a title (exact, then the best lexical match
    /// whose title holds every word of `r`).
    pub(crate) fn resolve(&self, r: &str) -> Option<Arc<Item>> {
        if let Some(i) = self.snapshot.items.get(r.trim()) {
            return Some(i.clone());
        }
        let want = normalise(r);
        if want.is_empty() {
            return None;
        }
        let title_of = |i: &Item| normalise(&i.title);
        let lexical = self.snapshot.lexical.as_ref()?;
        let hits = lexical.search(r, 20).ok()?;
        let items: Vec<Arc<Item>> = hits
            .iter()
            .filter_map(|(id, _)| self.snapshot.items.get(id.as_str()).cloned())
            .collect();
        if let Some(i) = items.iter().find(|i| title_of(i) == want) {
            return Some(i.clone());
        }
        items.into_iter().find(|i| {
            let t = title_of(i);
            want.split(' ').all(|w| t.split(' ').any(|x| x == w))
        })
    }

    fn details(i: &Item) -> Value {
        json!({
            "item": i.id.as_str(),
            "title": i.title,
            "kind": i.kind.as_str(),
            "year": i.year(),
            "categories": i.categories,
            "price": i.price_amount(),
            "currency": i.price.as_ref().map(|p| p.currency.clone()),
            "available": i.is_available(),
            "description": i.description.as_deref().map(|d| clip(d, 300)),
        })
    }

    fn one(&self, args: &Value, f: impl Fn(&Item) -> Value) -> Value {
        let Some(r) = args.get("item").and_then(Value::as_str) else {
            return json!({ "error": "argument `item` (an id or a title) is required" });
        };
        match self.resolve(r) {
            Some(i) => f(&i),
            None => json!({ "error": format!("no catalog item matches `{r}`") }),
        }
    }

    fn policy(&self, question: &str) -> Value {
        let Some(lexical) = self.snapshot.lexical.as_ref() else {
            return json!({ "error": "no text index" });
        };
        let hits = lexical.search(question, 50).unwrap_or_default();
        let passages: Vec<Value> = hits
            .iter()
            .filter_map(|(id, score)| {
                let i = self.snapshot.items.get(id.as_str())?;
                (i.kind.as_str() == DOCUMENT_KIND).then(|| {
                    json!({
                        "document": i.id.as_str(),
                        "title": i.title,
                        "passage": clip(i.description.as_deref().unwrap_or(""), 400),
                        "score": (score * 1000.0).round() / 1000.0,
                    })
                })
            })
            .take(3)
            .collect();
        if passages.is_empty() {
            json!({ "error": "no policy or FAQ document answers this", "passages": [] })
        } else {
            json!({ "passages": passages })
        }
    }
}

impl ToolHost for CatalogTools {
    fn call(&self, name: &str, args: &Value) -> Value {
        match name {
            "get_item_details" => self.one(args, Self::details),
            "check_availability" => self.one(args, |i| {
                json!({
                    "item": i.id.as_str(),
                    "title": i.title,
                    "available": i.is_available(),
                    "inventory": i.availability.inventory,
                })
            }),
            "get_price" => self.one(args, |i| match &i.price {
                Some(p) => json!({ "item": i.id.as_str(), "title": i.title, "price": p.amount, "currency": p.currency }),
                None => json!({ "item": i.id.as_str(), "title": i.title, "error": "this item has no price" }),
            }),
            "compare_items" => {
                let Some(list) = args.get("items").and_then(Value::as_array) else {
                    return json!({ "error": "argument `items` (two to four ids or titles) is required" });
                };
                let found: Vec<Value> = list
                    .iter()
                    .filter_map(Value::as_str)
                    .take(4)
                    .map(|r| match self.resolve(r) {
                        Some(i) => Self::details(&i),
                        None => json!({ "error": format!("no catalog item matches `{r}`") }),
                    })
                    .collect();
                json!({ "items": found })
            }
            "search_policy" => match args.get("question").and_then(Value::as_str) {
                Some(q) => self.policy(q),
                None => json!({ "error": "argument `question` is required" }),
            },
            other => json!({ "error": format!("no tool named `{other}`") }),
        }
    }
}
