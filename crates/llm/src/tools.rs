//! The tools a model may call. Their code is deterministic and lives with the
//! data (the engine implements [`ToolHost`]); this file holds their names,
//! descriptions and argument schemas, which remote models receive as
//! function definitions.

use crate::message::ToolSpec;
use serde_json::{Value, json};

/// Names of the tools.
pub const TOOL_NAMES: [&str; 5] = [
    "get_item_details",
    "check_availability",
    "get_price",
    "compare_items",
    "search_policy",
];

/// The function definitions offered to a model.
pub fn specs() -> Vec<ToolSpec> {
    let one_item = json!({
        "type": "object",
        "properties": { "item": { "type": "string", "description": "item id or exact title" } },
        "required": ["item"],
    });
    vec![
        ToolSpec {
            name: "get_item_details".into(),
            description: "Title, year, categories, price, availability and description of one catalog item.".into(),
            parameters: one_item.clone(),
        },
        ToolSpec {
            name: "check_availability".into(),
            description: "Whether one catalog item is available now.".into(),
            parameters: one_item.clone(),
        },
        ToolSpec {
            name: "get_price".into(),
            description: "The current price of one catalog item.".into(),
            parameters: one_item,
        },
        ToolSpec {
            name: "compare_items".into(),
            description: "Side-by-side facts of two to four catalog items.".into(),
            parameters: json!({
                "type": "object",
                "properties": { "items": { "type": "array", "items": { "type": "string" }, "minItems": 2, "maxItems": 4 } },
                "required": ["items"],
            }),
        },
        ToolSpec {
            name: "search_policy".into(),
            description: "Passages of the policy and FAQ documents (returns, shipping, subscriptions) that answer a question.".into(),
            parameters: json!({
                "type": "object",
                "properties": { "question": { "type": "string" } },
                "required": ["question"],
            }),
        },
    ]
}

/// What runs a tool call: the engine, over its catalog and documents.
pub trait ToolHost {
    /// Runs `name` with JSON `args`; the result is JSON the model (or the
    /// reply template) reads. Unknown tools and bad arguments are results
    /// too (`{"error": …}`), so the model can recover.
    fn call(&self, name: &str, args: &Value) -> Value;
}
