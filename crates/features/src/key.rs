//! Interned ids stored inline when short, so that a lookup in a table of a
//! million items reads the key from the table itself instead of following a
//! pointer to the heap: at 1M items the key comparison after that pointer
//! was about a tenth of a recommendation's CPU (docs/benchmarks.md).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest id kept inline (the key is then 24 bytes, like a `String`).
const INLINE: usize = 22;

/// An id: inline up to [`INLINE`] bytes, on the heap beyond.
#[derive(Clone)]
pub(crate) enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Key {
    pub(crate) fn new(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Key::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(s.into())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole, so always valid UTF-8.
            Key::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).expect("inline key holds a whole str")
            }
            Key::Heap(s) => s,
        }
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// Hashes as the `str` it holds, as `Borrow<str>` requires.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_ids_are_found_by_their_text() {
        let mut map: foldhash::HashMap<Key, u32> = Default::default();
        let ids = [
            "",
            "i1",
            "tt0114709",
            "exactly-twenty-two-by",
            "twenty-three-bytes-long",
            "ünïcödé-ïd-thät-is-löng",
        ];
        for (i, id) in ids.iter().enumerate() {
            map.insert(Key::new(id), i as u32);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(*id), Some(&(i as u32)), "{id}");
            assert_eq!(Key::new(id).as_str(), *id);
        }
        assert!(matches!(
            Key::new("exactly-twenty-two-by"),
            Key::Inline { .. }
        ));
        assert!(matches!(Key::new("twenty-three-bytes-long"), Key::Heap(_)));
        assert_eq!(map.get("i2"), None);
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }
}
