//! Users.

use super::{DecodeOptions, required_id, timestamp};
use crate::fields::{FieldError, Fields};
use sommelier_types::{Consent, User, UserId};

pub(super) fn decode(mut f: Fields, opts: &DecodeOptions) -> Result<User, FieldError> {
    let id = required_id(&mut f, "id", UserId::new)?;
    let mut consent = Consent::default();
    if let Some(mut c) = f.object("consent")? {
        for (name, slot) in [
            ("personalization", &mut consent.personalization),
            ("long_term_memory", &mut consent.long_term_memory),
            ("analytics", &mut consent.analytics),
        ] {
            match c.remove(name) {
                None => {}
                Some(serde_json::Value::Bool(b)) => *slot = b,
                Some(_) => {
                    return Err(FieldError::new(
                        &format!("consent.{name}"),
                        "expected a boolean",
                    ));
                }
            }
        }
        if let Some(k) = c.keys().next() {
            return Err(FieldError::new(
                &format!("consent.{k}"),
                "unknown consent flag (known: personalization, long_term_memory, analytics)",
            ));
        }
    }
    // Flat consent columns, for CSV.
    if let Some(b) = f.boolean("consent_personalization")? {
        consent.personalization = b;
    }
    if let Some(b) = f.boolean("consent_long_term_memory")? {
        consent.long_term_memory = b;
    }
    if let Some(b) = f.boolean("consent_analytics")? {
        consent.analytics = b;
    }
    let updated_at = timestamp(&mut f, "updated_at", opts)?.unwrap_or(opts.now);
    let mut attributes = f.object("attributes")?.unwrap_or_default();
    for (k, v) in f.into_rest() {
        attributes.entry(k).or_insert(v);
    }
    Ok(User {
        id,
        attributes,
        consent,
        updated_at,
    })
}
