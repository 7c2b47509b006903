//! Typed access to the fields of one record, with errors that name the field.
//!
//! A record is a JSON object. CSV rows become objects whose values are all strings;
//! such records are marked `from_text`, and their getters parse numbers, booleans
//! and lists from text. JSON records must use the right JSON types.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// A field-level validation failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field name as the caller spells it after mapping (absent for record-level errors).
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    /// An error about one field.
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            reason: reason.into(),
        }
    }

    /// An error about the record as a whole.
    pub fn record(reason: impl Into<String>) -> Self {
        Self {
            field: None,
            reason: reason.into(),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> FieldError {
    FieldError::new(
        field,
        format!("expected {expected}, got {}", type_name(got)),
    )
}

/// One record's fields.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    from_text: bool,
    list_sep: char,
}

impl Fields {
    /// Wraps a JSON object. `from_text` marks CSV-born records (all values strings).
    pub fn new(map: Map<String, Value>, from_text: bool, list_sep: char) -> Self {
        Self {
            map,
            from_text,
            list_sep,
        }
    }

    /// Removes and returns a raw field; null and empty text count as absent.
    pub fn take(&mut self, field: &str) -> Option<Value> {
        match self.map.remove(field)? {
            Value::Null => None,
            Value::String(s) if self.from_text && s.trim().is_empty() => None,
            v => Some(v),
        }
    }

    /// Checks sizes before decoding: no string (at any depth) longer than
    /// `max_field` bytes, and the record, as JSON, not longer than
    /// `max_record` bytes. Names the offending field.
    pub fn check_sizes(&self, max_field: usize, max_record: usize) -> Result<(), FieldError> {
        fn walk(path: &str, v: &Value, max: usize, total: &mut usize) -> Result<(), FieldError> {
            match v {
                Value::String(s) => {
                    *total += s.len() + 3;
                    if s.len() > max {
                        return Err(FieldError::new(
                            path,
                            format!(
                                "is {} bytes long; the limit is {max} (ingest.max_field_bytes)",
                                s.len()
                            ),
                        ));
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        walk(&format!("{path}[{i}]"), x, max, total)?;
                    }
                }
                Value::Object(o) => {
                    for (k, x) in o {
                        *total += k.len() + 4;
                        walk(&format!("{path}.{k}"), x, max, total)?;
                    }
                }
                _ => *total += 8,
            }
            Ok(())
        }
        let mut total = 0usize;
        for (k, v) in &self.map {
            if k.len() > max_field {
                return Err(FieldError::record(format!(
                    "a field name is {} bytes long; the limit is {max_field}",
                    k.len()
                )));
            }
            total += k.len() + 4;
            walk(k, v, max_field, &mut total)?;
        }
        if total > max_record {
            return Err(FieldError::record(format!(
                "the record is about {total} bytes; the limit is {max_record} (ingest.max_record_bytes)"
            )));
        }
        Ok(())
    }

    /// Names of the fields not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Whatever fields are left, as a map.
    pub fn into_rest(self) -> Map<String, Value> {
        self.map
    }

    /// A string field.
    pub fn string(&mut self, field: &str) -> Result<Option<String>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong_type(field, "a string", &v)),
        }
    }

    /// A required string field.
    pub fn required_string(&mut self, field: &str) -> Result<String, FieldError> {
        self.string(field)?
            .ok_or_else(|| FieldError::new(field, "is required"))
    }

    /// An identifier: a string, or an integer (JSON ids are often numbers).
    pub fn id(&mut self, field: &str) -> Result<Option<String>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
            Some(v) => Err(wrong_type(field, "a string or an integer", &v)),
        }
    }

    /// A finite number.
    pub fn number(&mut self, field: &str) -> Result<Option<f64>, FieldError> {
        let v = match self.take(field) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if self.from_text => s.trim().parse::<f64>().ok(),
            Some(v) => return Err(wrong_type(field, "a number", &v)),
        };
        match v {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(FieldError::new(field, "is not a finite number")),
        }
    }

    /// A non-negative integer.
    pub fn count(&mut self, field: &str) -> Result<Option<u64>, FieldError> {
        let v = match self.take(field) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) if self.from_text => s.trim().parse::<u64>().ok(),
            Some(v) => return Err(wrong_type(field, "a non-negative integer", &v)),
        };
        v.map(Some)
            .ok_or_else(|| FieldError::new(field, "must be a non-negative integer"))
    }

    /// A boolean (`true`/`false`; from text also `1`/`0`, `yes`/`no`).
    pub fn boolean(&mut self, field: &str) -> Result<Option<bool>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if self.from_text => {
                match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "y" => Ok(Some(true)),
                    "false" | "0" | "no" | "n" => Ok(Some(false)),
                    _ => Err(FieldError::new(field, format!("`{s}` is not a boolean"))),
                }
            }
            Some(v) => Err(wrong_type(field, "a boolean", &v)),
        }
    }

    /// A list of strings: a JSON array, or (from text) values split on the list separator.
    pub fn list(&mut self, field: &str) -> Result<Vec<String>, FieldError> {
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    other => Err(wrong_type(&format!("{field}[{i}]"), "a string", &other)),
                })
                .filter(|r| r.as_ref().map_or(true, |s| !s.trim().is_empty()))
                .collect(),
            Some(Value::String(s)) if self.from_text => Ok(s
                .split(self.list_sep)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()),
            Some(v) => Err(wrong_type(field, "an array of strings", &v)),
        }
    }

    /// A JSON object (from text: a JSON-encoded object).
    pub fn object(&mut self, field: &str) -> Result<Option<Map<String, Value>>, FieldError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(Value::String(s)) if self.from_text => match serde_json::from_str(&s) {
                Ok(Value::Object(m)) => Ok(Some(m)),
                _ => Err(FieldError::new(field, "expected a JSON object")),
            },
            Some(v) => Err(wrong_type(field, "an object", &v)),
        }
    }
}

/// Renames source fields to Sommelier's names and adds constant fields.
///
/// Built from `target=source` pairs (`--map user=userId`) and `field=value`
/// constants (`--set kind=rating`); a constant is parsed as JSON when it is valid
/// JSON, else taken as a string, and only fills a field the record lacks.
#[derive(Debug, Clone, Default)]
pub struct FieldMap {
    rename: HashMap<String, String>,
    constants: Vec<(String, Value)>,
}

impl FieldMap {
    /// Parses `target=source` mappings and `field=value` constants.
    pub fn parse(maps: &[String], sets: &[String]) -> Result<Self, String> {
        let split = |s: &str, what: &str| -> Result<(String, String), String> {
            let (a, b) = s
                .split_once('=')
                .ok_or_else(|| format!("{what} `{s}` must look like field=value"))?;
            let (a, b) = (a.trim(), b.trim());
            if a.is_empty() || (b.is_empty() && what == "mapping") {
                return Err(format!("{what} `{s}` has an empty side"));
            }
            Ok((a.to_string(), b.to_string()))
        };
        let mut fm = FieldMap::default();
        for m in maps {
            let (target, source) = split(m, "mapping")?;
            if fm.rename.insert(source.clone(), target).is_some() {
                return Err(format!("source field `{source}` is mapped twice"));
            }
        }
        for s in sets {
            let (field, value) = split(s, "constant")?;
            let v = serde_json::from_str(&value).unwrap_or(Value::String(value));
            fm.constants.push((field, v));
        }
        Ok(fm)
    }

    /// The name a source field is known by after mapping.
    pub fn target<'a>(&'a self, source: &'a str) -> &'a str {
        self.rename.get(source).map_or(source, String::as_str)
    }

    /// Applies renames and constants to a JSON object.
    pub fn apply(&self, map: Map<String, Value>) -> Map<String, Value> {
        let mut out = if self.rename.is_empty() {
            map
        } else {
            map.into_iter()
                .map(|(k, v)| (self.target(&k).to_string(), v))
                .collect()
        };
        for (field, v) in &self.constants {
            if !out.contains_key(field) {
                out.insert(field.clone(), v.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value, from_text: bool) -> Fields {
        Fields::new(v.as_object().unwrap().clone(), from_text, '|')
    }

    #[test]
    fn json_types_are_strict_and_text_is_parsed() {
        let mut f = fields(json!({"a": "5", "b": 5, "c": "x|y"}), false);
        assert_eq!(
            f.number("a").unwrap_err().reason,
            "expected a number, got a string"
        );
        assert_eq!(f.number("b").unwrap(), Some(5.0));
        assert!(f.list("c").is_err());
        let mut t = fields(json!({"a": "5", "c": "x| y|", "d": "yes", "e": ""}), true);
        assert_eq!(t.number("a").unwrap(), Some(5.0));
        assert_eq!(t.list("c").unwrap(), ["x", "y"]);
        assert_eq!(t.boolean("d").unwrap(), Some(true));
        assert_eq!(t.string("e").unwrap(), None);
    }

    #[test]
    fn maps_rename_and_fill_constants() {
        let fm = FieldMap::parse(
            &["user=userId".into()],
            &["kind=rating".into(), "n=3".into()],
        )
        .unwrap();
        let out = fm.apply(json!({"userId": "7", "n": 1}).as_object().unwrap().clone());
        assert_eq!(
            Value::Object(out),
            json!({"user": "7", "kind": "rating", "n": 1})
        );
        assert!(FieldMap::parse(&["nonsense".into()], &[]).is_err());
        assert!(FieldMap::parse(&["a=x".into(), "b=x".into()], &[]).is_err());
    }
}
