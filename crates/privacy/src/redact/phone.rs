//! Phone numbers.
//!
//! A candidate is a run of digit groups joined by short separators (spaces,
//! `-`, `.`, `/`, parentheses), optionally led by `+`. Windows of consecutive
//! groups are tried longest first (a window starts or ends inside a run only
//! where the separator holds a space, so `1985. 415-555-0132` still finds the
//! number and `978-3-16-148410-0` stays whole). A window is a phone number
//! when it is not one of the ordinary numbers below and it is one of:
//!
//! - international: `+` then 8–15 digits (`+44 20 7946 0958`,
//!   `+1 (415) 555-0132`, `+44 (0)20 7946 0958`), or `00` then 8–15 digits
//!   (`0049 30 1234567`);
//! - North-American: `[1] NXX NXX XXXX` in any grouping (`415-555-0132`,
//!   `(415) 555 0132`, `1-800-555-0199`) or a local `NXX-XXXX` / `NXX.XXXX`;
//! - European national: a trunk `0` group of 2–5 digits and 9–12 digits in
//!   all (`020 7946 0958`, `06 12 34 56 78`, `030/1234567`, `0171 1234567`),
//!   or a Spanish-style `6xx 345 678` / `6xx 34 56 78`;
//! - anything of 7–15 digits within four words after "call", "phone", "tel",
//!   "mobile", "cell", "whatsapp", "fax", "sms", "text", "number", "ring",
//!   "reach", "contact" (`call me at 5550132`).
//!
//! Never a phone number: fewer than 7 digits (`top 10`, `$120`, `4.5`,
//! `iPhone 15`), years and lists or ranges of years (`1990-1999`,
//! `2019 2020 2021`), dates (`2023-05-12`, `12.05.2023`), decimals
//! (`3.14159265`), thousands (`1 200 000`, `250.000.000`), ZIP+4
//! (`94103-1234`), amounts next to a currency or unit (`$`, `€`, `euros`,
//! `%`, `GB`, `mAh`, `minutes`, …), digit runs glued to letters
//! (`S23 256 512`, `1990s`, the digits of an IBAN-like code), numbers after
//! "isbn", "sku", "model", "order", "serial" and the like, and (without a cue
//! word) runs of more than six groups.
//!
//! *Known misses*: ungrouped national numbers without a cue word
//! (`4155550132`, `612345678`), and formats not listed (for example Italian
//! `333 123 4567`) unless a cue word comes first. *Known false positives*:
//! lists of five two-digit numbers led by a zero (`06 08 10 12 14`).

use super::{PiiKind, Span, compile, next_char, prev_char, word_after, words_before};
use regex::Regex;

/// Words after which any 7–15 digit number is taken for a phone number.
const CUES: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "call",
    "mobile",
    "cell",
    "cellphone",
    "whatsapp",
    "fax",
    "sms",
    "text",
    "number",
    "ring",
    "reach",
    "contact",
    "landline",
    "telefon",
    "handy",
    "portable",
    "numéro",
];

/// Words after which a number is an identifier, not a phone number.
const NOT_PHONE: &[&str] = &[
    "isbn",
    "issn",
    "sku",
    "ean",
    "upc",
    "gtin",
    "asin",
    "model",
    "part",
    "order",
    "invoice",
    "ref",
    "reference",
    "serial",
    "item",
    "product",
    "version",
    "id",
    "tracking",
    "size",
    "sizes",
];

/// Currencies and units that make the number before them an amount.
const UNITS_AFTER: &[&str] = &[
    "€", "$", "£", "¥", "%", "eur", "euro", "euros", "usd", "dollar", "dollars", "pound", "pounds",
    "gbp", "chf", "kr", "yen", "cents", "kb", "mb", "gb", "tb", "mah", "hz", "khz", "mhz", "ghz",
    "mm", "cm", "m", "km", "g", "kg", "mg", "ml", "l", "w", "kw", "v", "px", "mp", "fps", "dpi",
    "inch", "inches", "ft", "lb", "lbs", "oz", "min", "mins", "minutes", "h", "hours", "sec",
    "seconds", "days", "pages", "words", "views", "votes", "reviews", "copies", "units", "steps",
];

#[derive(Debug, Clone)]
pub(super) struct PhoneDetector {
    candidate: Regex,
}

impl PhoneDetector {
    pub(super) fn new() -> PhoneDetector {
        PhoneDetector {
            candidate: compile(r"\+?\(?[0-9][0-9 ()./\-]*[0-9]"),
        }
    }

    pub(super) fn spans(&self, text: &str) -> Vec<Span> {
        let mut out = Vec::new();
        for m in self.candidate.find_iter(text) {
            // A run glued to a word is part of an identifier (`XX89 3704 …`,
            // `S23 256 …`): none of it is a phone number.
            if prev_char(text, m.start()).is_some_and(char::is_alphanumeric) {
                continue;
            }
            let groups = groups_of(text, m.start(), m.end());
            let plus = m.as_str().starts_with('+');
            let mut i = 0;
            while i < groups.len() {
                match self.longest_from(text, &groups, i, plus, m.start()) {
                    Some((j, span)) => {
                        out.push(span);
                        i = j + 1;
                    }
                    None => i += 1,
                }
            }
        }
        out
    }

    /// The longest phone number made of groups `i..=j`, as `(j, span)`.
    fn longest_from(
        &self,
        text: &str,
        groups: &[(usize, usize)],
        i: usize,
        plus: bool,
        candidate_start: usize,
    ) -> Option<(usize, Span)> {
        // A window starts inside a run only after a separator with a space.
        if i > 0 && !text[groups[i - 1].1..groups[i].0].contains(' ') {
            return None;
        }
        let mut last = i;
        let mut digits = 0;
        while last < groups.len() {
            if last > i && text[groups[last - 1].1..groups[last].0].len() > 3 {
                break;
            }
            digits += groups[last].1 - groups[last].0;
            if digits > 17 {
                break;
            }
            last += 1;
        }
        let start = if i == 0 {
            candidate_start
        } else if text[..groups[i].0].ends_with('(') {
            groups[i].0 - 1
        } else {
            groups[i].0
        };
        // What depends only on the start is worked out once for all windows.
        if !start_ok(text, start) {
            return None;
        }
        let before = words_before(text, start, 4);
        let cue = if before.iter().any(|w| NOT_PHONE.contains(&w.as_str())) {
            Cue::NotPhone
        } else if before.iter().any(|w| CUES.contains(&w.as_str())) {
            Cue::Phone
        } else {
            Cue::None
        };
        for j in (i..last).rev() {
            if j + 1 < groups.len() && !text[groups[j].1..groups[j + 1].0].contains(' ') {
                continue;
            }
            let window = Window {
                text,
                groups: &groups[i..=j],
                start,
                end: groups[j].1,
                plus: plus && i == 0,
                cue,
            };
            if window.is_phone() {
                let span = Span {
                    start,
                    end: window.end,
                    kind: PiiKind::Phone,
                };
                return Some((j, span));
            }
        }
        None
    }
}

/// What the words before a window say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// A phone word ("call", "phone", …): any 7–15 digits are a number.
    Phone,
    /// An identifier word ("isbn", "model", …): not a phone number.
    NotPhone,
    /// Neither.
    None,
}

/// Nothing glued before byte offset `start`: no letter or digit, no
/// currency sign, no digit-and-comma/dot (`3,1234567`).
fn start_ok(text: &str, start: usize) -> bool {
    match prev_char(text, start) {
        Some(c) if c.is_alphanumeric() || "$€£¥#".contains(c) => false,
        Some('.' | ',') => !prev_char(text, start - 1).is_some_and(|d| d.is_ascii_digit()),
        _ => true,
    }
}

/// The digit groups of `text[start..end]`, as absolute byte ranges.
fn groups_of(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    super::digit_groups(&text[start..end])
        .into_iter()
        .map(|(s, e)| (start + s, start + e))
        .collect()
}

/// Consecutive digit groups proposed as one phone number.
struct Window<'a> {
    text: &'a str,
    groups: &'a [(usize, usize)],
    start: usize,
    end: usize,
    plus: bool,
    cue: Cue,
}

impl Window<'_> {
    fn group(&self, k: usize) -> &str {
        let (s, e) = self.groups[k];
        &self.text[s..e]
    }

    fn separator(&self, k: usize) -> &str {
        &self.text[self.groups[k - 1].1..self.groups[k].0]
    }

    fn lens(&self) -> Vec<usize> {
        self.groups.iter().map(|(s, e)| e - s).collect()
    }

    fn is_phone(&self) -> bool {
        let digits: usize = self.groups.iter().map(|(s, e)| e - s).sum();
        if !(7..=17).contains(&digits) || (self.cue == Cue::NotPhone && !self.plus) {
            return false;
        }
        // Without a cue word, a national number has at most six groups.
        if self.cue == Cue::None && !self.plus && self.groups.len() > 6 {
            return false;
        }
        let span = &self.text[self.start..self.end];
        if span.matches('(').count() != span.matches(')').count() || !self.end_ok() {
            return false;
        }
        let first = self.group(0);
        if self.plus {
            return (8..=15).contains(&digits) && !first.starts_with('0');
        }
        if self.ordinary_number() {
            return false;
        }
        if first.starts_with("00") {
            return (8..=15).contains(&(digits - 2));
        }
        if self.cue == Cue::Phone {
            return (7..=15).contains(&digits);
        }
        (7..=12).contains(&digits) && (self.north_american() || self.european_national(digits))
    }

    /// Nothing glued after the window: no letter or digit, no currency or
    /// unit word.
    fn end_ok(&self) -> bool {
        if next_char(self.text, self.end).is_some_and(char::is_alphanumeric) {
            return false;
        }
        let after = word_after(self.text, self.end);
        !UNITS_AFTER.contains(&after.as_str())
    }

    /// Years, dates, decimals, thousands, ZIP+4.
    fn ordinary_number(&self) -> bool {
        let lens = self.lens();
        let n = lens.len();
        let year = |k: usize| {
            lens[k] == 4
                && self
                    .group(k)
                    .parse::<u32>()
                    .is_ok_and(|y| (1800..=2100).contains(&y))
        };
        let small = |k: usize| (1..=2).contains(&lens[k]);
        if (0..n).all(year) {
            return true;
        }
        if n == 3
            && ((year(0) && small(1) && small(2))
                || (small(0) && small(1) && (year(2) || lens[2] == 2)))
        {
            return true;
        }
        if n == 2 && self.separator(1) == "." {
            return true;
        }
        if n == 2 && lens == [5, 4] && self.separator(1) == "-" {
            return true;
        }
        // Thousands: 1 200 000, 12.500.000, 250 000 000 (but not 612 345 678).
        if n >= 2
            && !self.group(0).starts_with('0')
            && lens[0] <= 3
            && lens[1..].iter().all(|&l| l == 3)
        {
            let sep = self.separator(1);
            let same = (2..n).all(|k| self.separator(k) == sep);
            let thousands_sep = matches!(sep, " " | "." | "'" | "\u{a0}");
            if same && thousands_sep && (lens[0] <= 2 || self.group(n - 1) == "000") {
                return true;
            }
        }
        false
    }

    /// `[1] NXX NXX XXXX` or a local `NXX-XXXX`.
    fn north_american(&self) -> bool {
        let lens = self.lens();
        let mut k0 = 0;
        if lens.len() == 4 && self.group(0) == "1" {
            k0 = 1;
        }
        let n_digit = |k: usize| {
            self.group(k)
                .bytes()
                .next()
                .is_some_and(|b| (b'2'..=b'9').contains(&b))
        };
        if lens[k0..] == [3, 3, 4] {
            return n_digit(k0) && n_digit(k0 + 1);
        }
        lens == [3, 4] && n_digit(0) && matches!(self.separator(1), "-" | ".")
    }

    /// A trunk-0 national number, or a Spanish-style 9-digit one.
    fn european_national(&self, digits: usize) -> bool {
        let lens = self.lens();
        let first = self.group(0);
        if first.starts_with('0') && !first.starts_with("00") {
            return (9..=12).contains(&digits) && (lens.len() == 1 || (2..=5).contains(&lens[0]));
        }
        let spanish_lead = first
            .bytes()
            .next()
            .is_some_and(|b| matches!(b, b'6' | b'7' | b'9'));
        spanish_lead && (lens == [3, 3, 3] || lens == [3, 2, 2, 2])
    }
}
