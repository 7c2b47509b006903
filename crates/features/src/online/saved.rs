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
use sommelier_types::codec::{Damaged, Reader, Unopened, Writer};

const MAGIC: &[u8; 8] = b"SOMMFEAT";
/// 3: per-kind counts for ten event kinds (`feedback` added).
const FORMAT: u32 = 3;

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

impl From<Unopened> for SavedError {
    fn from(u: Unopened) -> Self {
        match u {
            Unopened::Format => SavedError::Format,
            Unopened::Checksum => SavedError::Checksum,
        }
    }
}

impl From<Damaged> for SavedError {
    fn from(d: Damaged) -> Self {
        SavedError::Damaged(d.0)
    }
}

type R<T> = Result<T, SavedError>;

/// The feature tables' own values on top of the shared codec.
trait WriteExt {
    fn decayed(&mut self, d: &Decayed);
    fn names(&mut self, i: &Interner);
}

impl WriteExt for Writer {
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

trait ReadExt {
    fn decayed(&mut self) -> R<Decayed>;
    fn names(&mut self) -> R<Interner>;
    /// An index below `bound`.
    fn index(&mut self, bound: usize) -> R<u32>;
}

impl ReadExt for Reader<'_> {
    fn decayed(&mut self) -> R<Decayed> {
        Ok(Decayed::from_parts(self.f64()?, self.i64()?))
    }
    fn names(&mut self) -> R<Interner> {
        let n = self.len(8)?;
        let mut i = Interner::default();
        i.names.reserve(n);
        i.ids.reserve(n);
        for _ in 0..n {
            let at = self.at();
            let name = self.str()?;
            if i.get(name).is_some() {
                return Err(SavedError::Damaged(at));
            }
            i.intern(name);
        }
        Ok(i)
    }
    fn index(&mut self, bound: usize) -> R<u32> {
        let at = self.at();
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
        let mut o = Writer::image(MAGIC, FORMAT, 64 + self.item_state.len() * 128);
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
        o.seal()
    }

    /// A state saved with [`OnlineFeatures::save_bytes`] under the same
    /// `config`, and the log position it reflects.
    pub fn load_bytes(
        config: super::FeatureConfig,
        bytes: &[u8],
    ) -> Result<(Self, u64), SavedError> {
        let mut r = Reader::open(bytes, MAGIC, FORMAT)?;
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
        let at = r.at();
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
            // Exactly: grown by doubling, a history of 50 took room for 64
            // (90 MB of 400 at 200k users).
            u.recent.reserve_exact(n);
            for _ in 0..n {
                let item = r.index(nitems)?;
                let at = r.at();
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
        if r.left() != 0 {
            return Err(SavedError::Damaged(r.at()));
        }
        Ok((f, position))
    }
}
