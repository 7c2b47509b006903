//! The little-endian binary codec of the files the engine saves between
//! starts (the online features, the catalog snapshot): a writer, a reader
//! that checks every length against what is left, and a 64-bit checksum.
//! Each file adds its own layout and magic on top.

/// Where a saved image stopped making sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged(pub usize);

impl std::error::Error for Damaged {}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "damaged at byte {}", self.0)
    }
}

/// A stable 64-bit checksum (multiply-xorshift over 8-byte words, four
/// independent lanes so it runs at memory speed).
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::new(bytes.len() as u64);
    c.update(bytes);
    c.finish()
}

/// [`checksum`] computed piece by piece, for files read or written in
/// parts: the total length is known first, as the checksum mixes it in.
#[derive(Debug, Clone)]
pub struct Checksum {
    lanes: [u64; 4],
    pending: Vec<u8>,
}

impl Checksum {
    /// A checksum of `total` bytes to come.
    pub fn new(total: u64) -> Self {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        Self {
            lanes: [
                K ^ total,
                K.rotate_left(17),
                K.rotate_left(31),
                K.rotate_left(47),
            ],
            pending: Vec::with_capacity(32),
        }
    }
    /// The next bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        if !self.pending.is_empty() {
            let take = (32 - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() < 32 {
                return;
            }
            let block = std::mem::take(&mut self.pending);
            self.blocks(&block);
            self.pending = block;
            self.pending.clear();
        }
        let whole = bytes.len() / 32 * 32;
        self.blocks(&bytes[..whole]);
        self.pending.extend_from_slice(&bytes[whole..]);
    }
    fn blocks(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        for c in bytes.chunks_exact(32) {
            for (l, w) in self.lanes.iter_mut().zip(c.chunks_exact(8)) {
                let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                *l = (*l ^ w).wrapping_mul(K);
                *l ^= *l >> 29;
            }
        }
    }
    /// The checksum of everything given: [`checksum`] of the whole.
    pub fn finish(self) -> u64 {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = self.lanes[0];
        for l in &self.lanes[1..] {
            h = (h ^ l).wrapping_mul(K);
            h ^= h >> 29;
        }
        for w in self.pending.chunks(8) {
            let mut last = [0u8; 8];
            last[..w.len()].copy_from_slice(w);
            h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
            h ^= h >> 29;
        }
        h ^ (h >> 32)
    }
}

/// Why a sealed image was not opened ([`Reader::open`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unopened {
    /// Another kind of file, or another format version of this one.
    Format,
    /// The checksum does not match: the file was damaged.
    Checksum,
}

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }
    /// An image of the kind `magic`, in `format`, with room for `n` bytes:
    /// what [`Reader::open`] checks.
    pub fn image(magic: &[u8; 8], format: u32, n: usize) -> Self {
        let mut w = Self::with_capacity(n.max(12));
        w.bytes(magic);
        w.u32(format);
        w
    }
    /// Raw bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    /// A `u16`.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    /// A `u32`.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    /// A `u64`.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    /// An `i64`.
    pub fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    /// An `f64`.
    pub fn f64(&mut self, v: f64) {
        self.bytes(&v.to_le_bytes());
    }
    /// A length (of a string, a table).
    pub fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    /// A string, length first.
    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.bytes(s.as_bytes());
    }
    /// An optional `i64` (a flag, then the value or 0).
    pub fn opt_i64(&mut self, v: Option<i64>) {
        self.u8(v.is_some() as u8);
        self.i64(v.unwrap_or(0));
    }
    /// An optional `f64` (a flag, then the value or 0).
    pub fn opt_f64(&mut self, v: Option<f64>) {
        self.u8(v.is_some() as u8);
        self.f64(v.unwrap_or(0.0));
    }
    /// Floats, without their count.
    pub fn f32s(&mut self, v: &[f32]) {
        self.0.reserve(v.len() * 4);
        for x in v {
            self.bytes(&x.to_le_bytes());
        }
    }
    /// Closes the image: the checksum of everything written so far.
    pub fn seal(mut self) -> Vec<u8> {
        let sum = checksum(&self.0);
        self.u64(sum);
        self.0
    }
}

/// Reads values back; every read past the end, and every length larger than
/// what is left, is [`Damaged`] at the byte it started at.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

type R<T> = Result<T, Damaged>;

impl<'a> Reader<'a> {
    /// A reader of `bytes` from byte `at`.
    pub fn new(bytes: &'a [u8], at: usize) -> Self {
        Self { bytes, at }
    }
    /// A sealed image of the kind `magic` in `format` ([`Writer::image`],
    /// then [`Writer::seal`]), read from after that header. The format is
    /// checked before the checksum: a file of another format is not damage.
    pub fn open(image: &'a [u8], magic: &[u8; 8], format: u32) -> Result<Self, Unopened> {
        let (r, check) = Self::open_unverified(image, magic, format)?;
        if check.verify() {
            Ok(r)
        } else {
            Err(Unopened::Checksum)
        }
    }
    /// As [`Reader::open`], but the checksum is left to the caller, who
    /// runs [`Unverified::verify`] (for a large image, on another thread
    /// while reading) and uses nothing read before it returned true. Every
    /// read is bounds-checked, so reading a damaged image is safe: it gives
    /// wrong values or [`Damaged`], never more.
    pub fn open_unverified(
        image: &'a [u8],
        magic: &[u8; 8],
        format: u32,
    ) -> Result<(Self, Unverified<'a>), Unopened> {
        if image.len() < magic.len() + 12 || &image[..magic.len()] != magic {
            return Err(Unopened::Format);
        }
        if Reader::new(image, magic.len()).u32() != Ok(format) {
            return Err(Unopened::Format);
        }
        let body = &image[..image.len() - 8];
        Ok((Reader::new(body, magic.len() + 4), Unverified(image)))
    }
    /// The body of a sealed image whose checksum matches, or `None`.
    pub fn unseal(image: &[u8]) -> Option<&[u8]> {
        let split = image.len().checked_sub(8)?;
        let (body, sum) = image.split_at(split);
        (checksum(body) == u64::from_le_bytes(sum.try_into().ok()?)).then_some(body)
    }
    /// The byte the next read starts at.
    pub fn at(&self) -> usize {
        self.at
    }
    /// Bytes not read yet.
    pub fn left(&self) -> usize {
        self.bytes.len() - self.at
    }
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(Damaged(self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
    /// One byte.
    pub fn u8(&mut self) -> R<u8> {
        Ok(self.array::<1>()?[0])
    }
    /// A `u16`.
    pub fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// A `u32`.
    pub fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// A `u64`.
    pub fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// An `i64`.
    pub fn i64(&mut self) -> R<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// An `f64`.
    pub fn f64(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    /// A length, checked against what is left (each element takes at least
    /// `min_bytes`), so a damaged length cannot ask for a huge allocation.
    pub fn len(&mut self, min_bytes: usize) -> R<usize> {
        let at = self.at;
        let n = usize::try_from(self.u64()?).map_err(|_| Damaged(at))?;
        if n.saturating_mul(min_bytes.max(1)) > self.left() {
            return Err(Damaged(at));
        }
        Ok(n)
    }
    /// A string, length first.
    pub fn str(&mut self) -> R<&'a str> {
        let at = self.at;
        let n = self.len(1)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| Damaged(at))
    }
    /// An optional `i64` (a flag, then the value or 0).
    pub fn opt_i64(&mut self) -> R<Option<i64>> {
        let some = self.u8()? != 0;
        let v = self.i64()?;
        Ok(some.then_some(v))
    }
    /// An optional `f64` (a flag, then the value or 0).
    pub fn opt_f64(&mut self) -> R<Option<f64>> {
        let some = self.u8()? != 0;
        let v = self.f64()?;
        Ok(some.then_some(v))
    }
    /// `n` floats.
    pub fn f32s(&mut self, n: usize) -> R<Vec<f32>> {
        let raw = self.take(n.checked_mul(4).ok_or(Damaged(self.at))?)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
}

/// A sealed image whose checksum is still to be checked
/// ([`Reader::open_unverified`]).
#[derive(Debug, Clone, Copy)]
pub struct Unverified<'a>(&'a [u8]);

impl Unverified<'_> {
    /// Whether the image's checksum matches.
    pub fn verify(self) -> bool {
        Reader::unseal(self.0).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksum as one pass over the whole slice (the layout of every
    /// file saved so far): [`Checksum`] must give the same.
    fn one_pass(bytes: &[u8]) -> u64 {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut lanes = [
            K ^ bytes.len() as u64,
            K.rotate_left(17),
            K.rotate_left(31),
            K.rotate_left(47),
        ];
        let mut chunks = bytes.chunks_exact(32);
        for c in &mut chunks {
            for (l, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
                *l = (*l ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(K);
                *l ^= *l >> 29;
            }
        }
        let mut h = lanes[0];
        for l in &lanes[1..] {
            h = (h ^ l).wrapping_mul(K);
            h ^= h >> 29;
        }
        for w in chunks.remainder().chunks(8) {
            let mut last = [0u8; 8];
            last[..w.len()].copy_from_slice(w);
            h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
            h ^= h >> 29;
        }
        h ^ (h >> 32)
    }

    #[test]
    fn values_round_trip_and_damage_is_found() {
        let mut w = Writer::default();
        w.u32(7);
        w.str("héllo");
        w.opt_i64(Some(-3));
        w.opt_f64(None);
        w.f32s(&[1.5, -2.0]);
        let image = w.seal();
        let body = Reader::unseal(&image).unwrap();
        let mut r = Reader::new(body, 0);
        assert_eq!(r.u32(), Ok(7));
        assert_eq!(r.str(), Ok("héllo"));
        assert_eq!(r.opt_i64(), Ok(Some(-3)));
        assert_eq!(r.opt_f64(), Ok(None));
        assert_eq!(r.f32s(2), Ok(vec![1.5, -2.0]));
        assert_eq!(r.u8(), Err(Damaged(body.len())));
        for i in 0..image.len() {
            let mut bad = image.clone();
            bad[i] ^= 0x10;
            assert!(Reader::unseal(&bad).is_none(), "flip at {i} not found");
        }
        // Piece by piece, in any split, the same checksum.
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for n in [0, 1, 5, 31, 32, 33, 64, 999, 1000] {
            for step in [1, 3, 32, 100, 1000] {
                let mut c = Checksum::new(n as u64);
                for part in long[..n].chunks(step) {
                    c.update(part);
                }
                assert_eq!(c.finish(), one_pass(&long[..n]), "{n} bytes by {step}");
            }
        }
        // A shorter image is another checksum too.
        let text = b"the quick brown fox jumps over the lazy dog";
        assert_ne!(checksum(&text[..40]), checksum(&text[..41]));
        // An image opens only as its own kind and format.
        let mut w = Writer::image(b"TESTTEST", 3, 0);
        w.str("body");
        let image = w.seal();
        assert_eq!(
            Reader::open(&image, b"TESTTEST", 3).unwrap().str(),
            Ok("body")
        );
        assert_eq!(
            Reader::open(&image, b"TESTTEST", 4).unwrap_err(),
            Unopened::Format
        );
        assert_eq!(
            Reader::open(&image, b"OTHEROTH", 3).unwrap_err(),
            Unopened::Format
        );
        let mut bad = image.clone();
        bad[14] ^= 1;
        assert_eq!(
            Reader::open(&bad, b"TESTTEST", 3).unwrap_err(),
            Unopened::Checksum
        );
        // Unverified, the same image reads (bounds-checked) and its check fails.
        let mut bad = image.clone();
        bad[21] ^= 1; // "body" -> "bndy"
        let (mut r, check) = Reader::open_unverified(&bad, b"TESTTEST", 3).unwrap();
        assert_eq!(r.str(), Ok("bndy"));
        assert!(!check.verify());
        let (_, check) = Reader::open_unverified(&image, b"TESTTEST", 3).unwrap();
        assert!(check.verify());
        // A length larger than what is left is refused before allocating.
        let mut w = Writer::default();
        w.u64(u64::MAX / 2);
        assert_eq!(Reader::new(&w.0, 0).len(1), Err(Damaged(0)));
    }
}
