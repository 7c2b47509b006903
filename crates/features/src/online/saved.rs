//! The feature state saved between starts: a compact binary image of every
//! table, with the configuration it was built under and a checksum, so a
//! restart loads it and follows the log from where it stopped instead of
//! reading the whole log again.
//!
//! Layout (little-endian): magic, format version, the configuration as text,
//! the counters, then the item, user and category tables and the context
//! totals; a 64-bit checksum of everything before it closes the file. Any
//! mismatch (magic, version, configuration, checksum, a length past the end)
//! is an error, and the caller rebuilds from the log.

use super::{Interner, ItemState, OnlineFeatures, UserState};
use crate::Decayed;
use crate::context::{ContextTotals, ItemContext};
use sommelier_types::EventKind;

const MAGIC: &[u8; 8] = b"SOMMFEAT";
const FORMAT: u32 = 1;

/// Why a saved state was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// Not a saved feature state, or one from another format version.
    #[error("not a saved feature state of format {FORMAT}")]
    Format,
    /// Saved under another feature configuration (half-lives, weights, …).
    #[error("saved under another feature configuration")]
    Config,
    /// The checksum does not match: the file was damaged.
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    /// The data ends early or holds an impossible value.
    #[error("damaged at byte {0}")]
    Damaged(usize),
}

/// A stable 64-bit checksum (multiply-xorshift over 8-byte words).
fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = K ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(K);
        h ^= h >> 29;
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h ^ (h >> 32)
}

struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        self.u8(v.is_some() as u8);
        self.i64(v.unwrap_or(0));
    }
    fn opt_f64(&mut self, v: Option<f64>) {
        self.u8(v.is_some() as u8);
        self.f64(v.unwrap_or(0.0));
    }
    fn decayed(&mut self, d: &Decayed) {
        let (v, at) = d.parts();
        self.f64(v);
        self.i64(at);
    }
    fn names(&mut self, i: &Interner) {
        self.len(i.names.len());
        for n in &i.names {
            self.str(n.as_str());
        }
    }
}

struct In<'a> {
    bytes: &'a [u8],
    at: usize,
}

type R<T> = Result<T, SavedError>;

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(SavedError::Damaged(self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> R<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    /// A length, checked against what is left (each element takes at least
    /// `min_bytes`), so a damaged length cannot ask for a huge allocation.
    fn len(&mut self, min_bytes: usize) -> R<usize> {
        let at = self.at;
        let n = usize::try_from(self.u64()?).map_err(|_| SavedError::Damaged(at))?;
        if n.saturating_mul(min_bytes.max(1)) > self.bytes.len() - self.at {
            return Err(SavedError::Damaged(at));
        }
        Ok(n)
    }
    fn str(&mut self) -> R<&'a str> {
        let at = self.at;
        let n = self.len(1)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| SavedError::Damaged(at))
    }
    fn opt_i64(&mut self) -> R<Option<i64>> {
        let some = self.u8()? != 0;
        let v = self.i64()?;
        Ok(some.then_some(v))
    }
    fn opt_f64(&mut self) -> R<Option<f64>> {
        let some = self.u8()? != 0;
        let v = self.f64()?;
        Ok(some.then_some(v))
    }
    fn decayed(&mut self) -> R<Decayed> {
        Ok(Decayed::from_parts(self.f64()?, self.i64()?))
    }
    fn names(&mut self) -> R<Interner> {
        let n = self.len(8)?;
        let mut i = Interner::default();
        i.names.reserve(n);
        i.ids.reserve(n);
        for _ in 0..n {
            let at = self.at;
            let name = self.str()?;
            if i.get(name).is_some() {
                return Err(SavedError::Damaged(at));
            }
            i.intern(name);
        }
        Ok(i)
    }
    /// An index below `bound`.
    fn index(&mut self, bound: usize) -> R<u32> {
        let at = self.at;
        let v = self.u32()?;
        if (v as usize) < bound {
            Ok(v)
        } else {
            Err(SavedError::Damaged(at))
        }
    }
}

impl OnlineFeatures {
    /// The whole state as bytes, with `position` (the log position it
    /// reflects, kept for the caller) in the header.
    pub fn save_bytes(&self, position: u64) -> Vec<u8> {
        let mut o = Out(Vec::with_capacity(64 + self.item_state.len() * 128));
        o.0.extend_from_slice(MAGIC);
        o.u32(FORMAT);
        o.str(&format!("{:?}", self.config));
        o.u64(position);
        o.u64(self.applied);
        o.u64(self.items_with_events);
        o.opt_i64(self.clock);
        o.names(&self.categories);
        o.names(&self.items);
        o.len(EventKind::ALL.len());
        for s in &self.item_state {
            o.decayed(&s.popularity);
            o.decayed(&s.short);
            o.decayed(&s.long);
            for &c in &s.counts {
                o.u64(c);
            }
            o.opt_i64(s.last_event);
            o.len(s.categories.len());
            for &c in &s.categories {
                o.u32(c);
            }
            for &d in &s.context.dayparts {
                o.u32(d);
            }
            o.len(s.context.devices.len());
            for &(d, n) in &s.context.devices {
                o.u16(d);
                o.u32(n);
            }
        }
        o.names(&self.users);
        for u in &self.user_state {
            o.len(u.recent.len());
            for &(item, kind, value, t) in &u.recent {
                o.u32(item);
                o.u8(kind.index() as u8);
                o.opt_f64(value);
                o.i64(t);
            }
            o.len(u.affinity.len());
            for (&c, d) in &u.affinity {
                o.u32(c);
                o.decayed(d);
            }
            o.u64(u.events);
            o.len(u.seen.len());
            for &i in &u.seen {
                o.u32(i);
            }
        }
        for &d in &self.context.dayparts {
            o.u64(d);
        }
        o.len(self.context.devices.len());
        for (&n, name) in self.context.devices.iter().zip(&self.context.device_names) {
            o.u64(n);
            o.str(name);
        }
        let sum = checksum(&o.0);
        o.u64(sum);
        o.0
    }

    /// A state saved with [`OnlineFeatures::save_bytes`] under the same
    /// `config`, and the log position it reflects.
    pub fn load_bytes(
        config: super::FeatureConfig,
        bytes: &[u8],
    ) -> Result<(Self, u64), SavedError> {
        if bytes.len() < MAGIC.len() + 12 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SavedError::Format);
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if checksum(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err(SavedError::Checksum);
        }
        let mut r = In {
            bytes: body,
            at: MAGIC.len(),
        };
        if r.u32()? != FORMAT {
            return Err(SavedError::Format);
        }
        if r.str()? != format!("{config:?}") {
            return Err(SavedError::Config);
        }
        let mut f = Self::new(config);
        let position = r.u64()?;
        f.applied = r.u64()?;
        f.items_with_events = r.u64()?;
        f.clock = r.opt_i64()?;
        f.categories = r.names()?;
        let ncat = f.categories.names.len();
        f.items = r.names()?;
        let nitems = f.items.names.len();
        let at = r.at;
        if r.len(0)? != EventKind::ALL.len() {
            return Err(SavedError::Damaged(at));
        }
        f.item_state.reserve(nitems);
        for _ in 0..nitems {
            let mut s = ItemState {
                popularity: r.decayed()?,
                short: r.decayed()?,
                long: r.decayed()?,
                ..ItemState::default()
            };
            for c in &mut s.counts {
                *c = r.u64()?;
            }
            s.last_event = r.opt_i64()?;
            let n = r.len(4)?;
            s.categories = (0..n).map(|_| r.index(ncat)).collect::<R<_>>()?;
            let mut context = ItemContext::default();
            for d in &mut context.dayparts {
                *d = r.u32()?;
            }
            let n = r.len(6)?;
            context.devices = (0..n).map(|_| Ok((r.u16()?, r.u32()?))).collect::<R<_>>()?;
            s.context = context;
            f.item_state.push(s);
        }
        f.users = r.names()?;
        let nusers = f.users.names.len();
        f.user_state.reserve(nusers);
        for _ in 0..nusers {
            let mut u = UserState::default();
            let n = r.len(21)?;
            for _ in 0..n {
                let item = r.index(nitems)?;
                let at = r.at;
                let kind = *EventKind::ALL
                    .get(r.u8()? as usize)
                    .ok_or(SavedError::Damaged(at))?;
                u.recent.push_back((item, kind, r.opt_f64()?, r.i64()?));
            }
            let n = r.len(20)?;
            u.affinity.reserve(n);
            for _ in 0..n {
                let c = r.index(ncat)?;
                u.affinity.insert(c, r.decayed()?);
            }
            u.events = r.u64()?;
            let n = r.len(4)?;
            u.seen.reserve(n);
            for _ in 0..n {
                u.seen.insert(r.index(nitems)?);
            }
            f.user_state.push(u);
        }
        let mut totals = ContextTotals::default();
        for d in &mut totals.dayparts {
            *d = r.u64()?;
        }
        let n = r.len(16)?;
        for _ in 0..n {
            totals.devices.push(r.u64()?);
            totals.device_names.push(r.str()?.into());
        }
        f.context = totals;
        if r.at != body.len() {
            return Err(SavedError::Damaged(r.at));
        }
        Ok((f, position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_sees_a_flipped_bit_and_a_moved_byte() {
        let a = b"the quick brown fox jumps over the lazy dog".to_vec();
        let mut b = a.clone();
        b[17] ^= 1;
        assert_ne!(checksum(&a), checksum(&b));
        assert_ne!(checksum(&a[..40]), checksum(&a[..41]));
    }
}
