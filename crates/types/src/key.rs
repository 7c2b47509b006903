//! Id keys stored inline when short, for the tables keyed by item id (online
//! features, vector and catalog snapshots, fitted models, index slots): a
//! lookup in a table of a million items then reads the key from the table
//! itself instead of following a pointer to the heap. At 1M items that key
//! comparison after the pointer was about a tenth of a recommendation's CPU
//! (docs/benchmarks.md).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest id kept inline (the key is then 24 bytes, like a `String`).
const INLINE: usize = 22;

/// An id: inline up to [`INLINE`] bytes, on the heap beyond.
#[derive(Clone)]
pub enum IdKey {
    /// Up to 22 bytes, in place.
    Inline {
        /// Bytes in use.
        len: u8,
        /// The id's bytes, then zeros.
        bytes: [u8; INLINE],
    },
    /// A longer id.
    Heap(Box<str>),
}

impl IdKey {
    /// The key of `s`.
    pub fn new(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            IdKey::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            IdKey::Heap(s.into())
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole, so always valid UTF-8.
            IdKey::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).expect("inline key holds a whole str")
            }
            IdKey::Heap(s) => s,
        }
    }
}

impl Borrow<str> for IdKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// Hashes as the `str` it holds, as `Borrow<str>` requires.
impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for IdKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for IdKey {}

impl std::ops::Deref for IdKey {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for IdKey {
    fn from(s: &str) -> Self {
        IdKey::new(s)
    }
}

impl From<String> for IdKey {
    fn from(s: String) -> Self {
        IdKey::new(&s)
    }
}

impl std::fmt::Display for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_ids_are_found_by_their_text() {
        let mut map: std::collections::HashMap<IdKey, u32> = Default::default();
        let ids = [
            "",
            "i1",
            "tt0114709",
            "exactly-twenty-two-by",
            "twenty-three-bytes-long",
            "ünïcödé-ïd-thät-is-löng",
        ];
        for (i, id) in ids.iter().enumerate() {
            map.insert(IdKey::new(id), i as u32);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(*id), Some(&(i as u32)), "{id}");
            assert_eq!(IdKey::new(id).as_str(), *id);
        }
        assert!(matches!(
            IdKey::new("exactly-twenty-two-by"),
            IdKey::Inline { .. }
        ));
        assert!(matches!(
            IdKey::new("twenty-three-bytes-long"),
            IdKey::Heap(_)
        ));
        assert_eq!(map.get("i2"), None);
        assert_eq!(std::mem::size_of::<IdKey>(), 24);
    }
}
