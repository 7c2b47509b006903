//! Identifier newtypes. Ids are opaque, non-empty strings of bounded length.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// The id is empty or only whitespace.
    Empty,
    /// The id is longer than [`MAX_ID_LEN`] bytes.
    TooLong(usize),
    /// The id contains a control character.
    Control,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty => write!(f, "must not be empty"),
            IdError::TooLong(n) => write!(f, "is {n} bytes long, the limit is {MAX_ID_LEN}"),
            IdError::Control => write!(f, "must not contain control characters"),
        }
    }
}

impl std::error::Error for IdError {}

fn check_id(s: &str) -> Result<(), IdError> {
    if s.trim().is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(s.len()));
    }
    if s.chars().any(char::is_control) {
        return Err(IdError::Control);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// Identifier of a catalog item.
    ItemId
);
id_type!(
    /// Identifier of a user.
    UserId
);
id_type!(
    /// Identifier of an event; events are de-duplicated by it.
    EventId
);

/// The kind of a catalog item: `movie`, `product`, `article`, `document`, or any
/// other lowercase word of `[a-z0-9_-]`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct ItemKind(String);

impl ItemKind {
    /// Validates a kind name (lowercased first).
    pub fn new(s: &str) -> Result<Self, String> {
        let k = s.trim().to_ascii_lowercase();
        if k.is_empty() || k.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !k
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(format!("`{s}` may only use letters, digits, `_` and `-`"));
        }
        Ok(Self(k))
    }

    /// The default kind when a record names none.
    pub fn generic() -> Self {
        Self("item".into())
    }

    /// The kind as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(ItemId::new("42").is_ok());
        assert_eq!(ItemId::new("  "), Err(IdError::Empty));
        assert_eq!(ItemId::new("a\nb"), Err(IdError::Control));
        assert_eq!(ItemId::new("x".repeat(300)), Err(IdError::TooLong(300)));
    }

    #[test]
    fn kinds_are_normalised() {
        assert_eq!(ItemKind::new("Movie").unwrap().as_str(), "movie");
        assert!(ItemKind::new("two words").is_err());
    }
}
