//! PII redaction: find e-mail addresses, phone numbers, card numbers, IBANs,
//! street addresses and IP addresses in free text and replace each with a
//! token naming its kind. The rules are documented on [`Redactor`]; the
//! phone and address modules detail theirs.

mod address;
mod phone;

use regex::Regex;
use serde::Serialize;
use std::net::Ipv6Addr;

/// A kind of personal data the [`Redactor`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// An e-mail address; replaced with `[email]`.
    Email,
    /// A phone number; replaced with `[phone]`.
    Phone,
    /// A payment card number (Luhn-valid); replaced with `[card]`.
    Card,
    /// An IBAN (mod-97-valid); replaced with `[iban]`.
    Iban,
    /// A street address with its house number; replaced with `[address]`.
    StreetAddress,
    /// An IPv4 or IPv6 address; replaced with `[ip]`.
    IpAddress,
}

impl PiiKind {
    /// The token that replaces text of this kind, e.g. `[email]`.
    pub fn token(self) -> &'static str {
        match self {
            PiiKind::Email => "[email]",
            PiiKind::Phone => "[phone]",
            PiiKind::Card => "[card]",
            PiiKind::Iban => "[iban]",
            PiiKind::StreetAddress => "[address]",
            PiiKind::IpAddress => "[ip]",
        }
    }
}

/// The result of redacting a text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Redacted {
    /// The text with each piece of personal data replaced by its kind's token.
    pub text: String,
    /// The kinds replaced, in order of first occurrence, each once.
    pub found: Vec<PiiKind>,
}

/// A span of the text a detector proposes to replace (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    kind: PiiKind,
}

/// Finds and replaces personal data in free text.
///
/// Each kind has a detector that proposes spans of the text; detectors run in
/// a fixed priority order (e-mail, IBAN, card, IP, phone, street address) and a
/// span that overlaps one already taken is dropped. The rules per kind:
///
/// - **E-mail**: `local@domain.tld`, with dots, `+` tags and `%`/`-`/`_` in
///   the local part and any number of subdomains.
/// - **IBAN**: two letters, two digits, then 11–30 letters or digits, written
///   solid or in groups of four (either case), when the ISO 13616 mod-97
///   check passes; or, whatever its check digits, when written the printed
///   way (an IBAN country code, upper case, groups of four, at least four
///   groups), so that a typo does not leak the rest. *Known miss*: a solid or
///   lower-case IBAN with a typo.
/// - **Card**: 13–19 digits, solid or grouped by single spaces or dashes, that
///   pass the Luhn check and start like a card number does (3–6, or 2221–2720).
///   `1234 5678 9012 3456` fails Luhn and stays.
/// - **IP address**: dotted IPv4 with octets ≤ 255 (not part of a longer dotted
///   run like `1.2.3.4.5`), and IPv6 that parses and has at least two
///   non-empty groups and a digit (`2001:db8::8a2e:370:7334`, `fe80::1`).
///   *Known false positive*: a four-part version number such as `10.0.0.1`
///   is an IP address. *Known miss*: `::1`.
/// - **Phone**: international (`+` or `00`: `+44 20 7946 0958`,
///   `+1 (415) 555-0132`, `0049 30 1234567`), North-American
///   (`415-555-0132`, `(415) 555 0132`), European national (`020 7946 0958`,
///   `06 12 34 56 78`, `030/1234567`), or 7–15 digits right after a word such
///   as "call", "phone", "mobile" or "number"; never fewer than 7 digits,
///   years, year ranges and lists, dates, prices and amounts with a unit,
///   decimals, thousands, ZIP+4 codes or numbers after "isbn", "model",
///   "order". *Known misses*: ungrouped numbers without a cue word
///   (`4155550132`) and national formats not listed (Italian
///   `333 123 4567`). *Known false positive*: five two-digit numbers led by a
///   zero (`06 08 10 12 14`).
/// - **Street address**: a house number, one to three name words and an
///   English street suffix (`221B Baker Street`,
///   `1600 Pennsylvania Avenue NW, Suite 200`); a German or Dutch street and
///   its number (`Hauptstraße 5`, `Berliner Str. 12`, `Keizersgracht 123`);
///   a French number and street (`12 rue de la Paix`). Lower-case names,
///   function words and query words ("2 films about a street gang", "top 5
///   road movies", "top 10 Wall Street movies") are left alone. *Known false
///   positives*: titles shaped like an address said alone: "21 Jump Street",
///   "10 Cloverfield Lane". *Known misses*: house numbers that look like a
///   year (1900–2030) without "live at", "ship to", "address" before them.
///
/// Redaction is idempotent: [`Redactor::redact`] repeats its pass on its own
/// output until nothing more is found. Every span replaced holds a digit or an
/// `@` and no replacement token does, so this ends after a few passes.
///
/// Building one compiles its regular expressions (a few milliseconds), so
/// build it once and share it: [`crate::redact`] uses a process-wide one.
#[derive(Debug, Clone)]
pub struct Redactor {
    email: Regex,
    iban: Regex,
    digit_run: Regex,
    ipv4: Regex,
    ipv6: Regex,
    phone: phone::PhoneDetector,
    address: address::AddressDetector,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

/// Compiles one of this crate's own patterns (which are tested).
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the built-in patterns compile")
}

impl Redactor {
    /// A redactor with every rule documented on [`Redactor`].
    pub fn new() -> Redactor {
        Redactor {
            email: compile(
                r"(?i)[a-z0-9](?:[a-z0-9._%+\-]*[a-z0-9_%+\-])?@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,24}\b",
            ),
            iban: compile(
                r"(?i)\b[a-z]{2}[0-9]{2}(?:[ ]?[a-z0-9]{4}){2,8}(?:[ ]?[a-z0-9]{1,3})?\b",
            ),
            digit_run: compile(r"[0-9]+(?:[ \-][0-9]+)*"),
            ipv4: compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"),
            ipv6: compile(r"(?i)[0-9a-f]*(?::[0-9a-f]*){2,8}"),
            phone: phone::PhoneDetector::new(),
            address: address::AddressDetector::new(),
        }
    }

    /// `text` with every piece of personal data replaced by its kind's token
    /// (`[email]`, `[phone]`, `[card]`, `[iban]`, `[address]`, `[ip]`), and the
    /// kinds found. Never panics; redacting the result again changes nothing.
    pub fn redact(&self, text: &str) -> Redacted {
        let mut found: Vec<PiiKind> = Vec::new();
        let mut current = text.to_owned();
        loop {
            let spans = self.spans(&current);
            if spans.is_empty() {
                break;
            }
            let mut out = String::with_capacity(current.len());
            let mut at = 0;
            for span in &spans {
                if !found.contains(&span.kind) {
                    found.push(span.kind);
                }
                out.push_str(&current[at..span.start]);
                out.push_str(span.kind.token());
                at = span.end;
            }
            out.push_str(&current[at..]);
            current = out;
        }
        Redacted {
            text: current,
            found,
        }
    }

    /// Whether [`Redactor::redact`] would replace anything in `text`.
    pub fn contains_pii(&self, text: &str) -> bool {
        !self.spans(text).is_empty()
    }

    /// The spans to replace in `text`, in order, without overlaps.
    fn spans(&self, text: &str) -> Vec<Span> {
        let mut taken: Vec<Span> = Vec::new();
        let mut offer = |candidates: Vec<Span>| {
            for c in candidates {
                // Every span holds a digit or an `@` (no token does): this is
                // what makes the loop in `redact` end.
                let holds_marker = text[c.start..c.end]
                    .bytes()
                    .any(|b| b.is_ascii_digit() || b == b'@');
                if holds_marker && !taken.iter().any(|t| t.start < c.end && c.start < t.end) {
                    taken.push(c);
                }
            }
        };
        offer(self.emails(text));
        offer(self.ibans(text));
        offer(self.cards(text));
        offer(self.ips(text));
        offer(self.phone.spans(text));
        offer(self.address.spans(text));
        taken.sort_by_key(|s| s.start);
        taken
    }

    fn emails(&self, text: &str) -> Vec<Span> {
        self.email
            .find_iter(text)
            .map(|m| Span {
                start: m.start(),
                end: m.end(),
                kind: PiiKind::Email,
            })
            .collect()
    }

    fn ibans(&self, text: &str) -> Vec<Span> {
        let mut out = Vec::new();
        for m in self.iban.find_iter(text) {
            // Try the whole match, then without trailing groups (a following
            // word or number may have been taken in as a group).
            let pieces: Vec<(usize, usize)> = split_spaces(m.as_str())
                .into_iter()
                .map(|(s, e)| (m.start() + s, m.start() + e))
                .collect();
            for k in (1..=pieces.len()).rev() {
                let (start, end) = (pieces[0].0, pieces[k - 1].1);
                let compact: String = text[start..end].chars().filter(|c| *c != ' ').collect();
                let grouped: Vec<&str> = pieces[..k].iter().map(|&(s, e)| &text[s..e]).collect();
                if iban_valid(&compact) || iban_grouped(&grouped) {
                    out.push(Span {
                        start,
                        end,
                        kind: PiiKind::Iban,
                    });
                    break;
                }
            }
        }
        out
    }

    fn cards(&self, text: &str) -> Vec<Span> {
        let mut out = Vec::new();
        for m in self.digit_run.find_iter(text) {
            if prev_char(text, m.start())
                .is_some_and(|c| c.is_alphanumeric() || c == '.' || c == ',')
                || next_char(text, m.end()).is_some_and(char::is_alphanumeric)
            {
                continue;
            }
            let groups: Vec<(usize, usize)> = digit_groups(m.as_str())
                .into_iter()
                .map(|(s, e)| (m.start() + s, m.start() + e))
                .collect();
            let mut i = 0;
            while i < groups.len() {
                // The digits of groups `i..last` (at most 19), and where each
                // group ends in them.
                let mut number = String::new();
                let mut ends = Vec::new();
                let mut last = i;
                while last < groups.len() && number.len() + groups[last].1 - groups[last].0 <= 19 {
                    number.push_str(&text[groups[last].0..groups[last].1]);
                    ends.push(number.len());
                    last += 1;
                }
                // Longest window from group `i` first.
                let accepted = (i..last).rev().find(|&j| {
                    let digits = &number[..ends[j - i]];
                    (13..=19).contains(&digits.len()) && card_prefix(digits) && luhn_valid(digits)
                });
                match accepted {
                    Some(j) => {
                        out.push(Span {
                            start: groups[i].0,
                            end: groups[j].1,
                            kind: PiiKind::Card,
                        });
                        i = j + 1;
                    }
                    None => i += 1,
                }
            }
        }
        out
    }

    fn ips(&self, text: &str) -> Vec<Span> {
        let mut out = Vec::new();
        for m in self.ipv4.find_iter(text) {
            let before = prev_char(text, m.start());
            let after = &text[m.end()..];
            let dotted_on = |s: &str| {
                let mut chars = s.chars();
                chars.next() == Some('.') && chars.next().is_some_and(|c| c.is_ascii_digit())
            };
            let longer_run = before.is_some_and(|c| c.is_alphanumeric() || c == '.')
                || after.chars().next().is_some_and(char::is_alphanumeric)
                || dotted_on(after);
            let octets_ok = m
                .as_str()
                .split('.')
                .all(|o| o.parse::<u16>().is_ok_and(|v| v <= 255));
            if !longer_run && octets_ok {
                out.push(Span {
                    start: m.start(),
                    end: m.end(),
                    kind: PiiKind::IpAddress,
                });
            }
        }
        for m in self.ipv6.find_iter(text) {
            let (mut start, mut end) = (m.start(), m.end());
            let s = m.as_str();
            if s.starts_with(':') && !s.starts_with("::") {
                start += 1;
            }
            if s.ends_with(':') && !s.ends_with("::") && end > start {
                end -= 1;
            }
            let candidate = &text[start..end];
            let groups = candidate.split(':').filter(|g| !g.is_empty()).count();
            let isolated = !prev_char(text, start).is_some_and(|c| c.is_alphanumeric() || c == ':')
                && !next_char(text, end).is_some_and(|c| c.is_alphanumeric() || c == ':');
            if isolated
                && groups >= 2
                && candidate.bytes().any(|b| b.is_ascii_digit())
                && candidate.parse::<Ipv6Addr>().is_ok()
            {
                out.push(Span {
                    start,
                    end,
                    kind: PiiKind::IpAddress,
                });
            }
        }
        out
    }
}

/// The byte ranges of the space-separated pieces of `s`.
fn split_spaces(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c == ' ', start) {
            (true, Some(st)) => {
                out.push((st, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, s.len()));
    }
    out
}

/// The byte ranges of the ASCII digit runs of `s`.
fn digit_groups(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, b) in s.bytes().enumerate() {
        match (b.is_ascii_digit(), start) {
            (false, Some(st)) => {
                out.push((st, i));
                start = None;
            }
            (true, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, s.len()));
    }
    out
}

/// The character before byte offset `i` of `text`.
fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

/// The character at byte offset `i` of `text`.
fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// Up to `n` words (alphanumeric runs, lowercase) just before byte offset
/// `end`, nearest last; looks back at most about 80 bytes (a word cut by that
/// limit counts from where it was cut).
fn words_before(text: &str, end: usize, n: usize) -> Vec<String> {
    let mut start = end.saturating_sub(80);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut words = Vec::with_capacity(n);
    let mut word_end = None;
    for (i, c) in text[start..end].char_indices().rev() {
        match (c.is_alphanumeric(), word_end) {
            (true, None) => word_end = Some(start + i + c.len_utf8()),
            (false, Some(e)) => {
                words.push(text[start + i + c.len_utf8()..e].to_lowercase());
                word_end = None;
                if words.len() == n {
                    break;
                }
            }
            _ => {}
        }
    }
    if let Some(e) = word_end
        && words.len() < n
    {
        words.push(text[start..e].to_lowercase());
    }
    words.reverse();
    words
}

/// The first word (alphanumeric run, lowercase) at or after byte offset `at`,
/// or the first non-space character when that is not alphanumeric.
fn word_after(text: &str, at: usize) -> String {
    let rest = text[at..].trim_start();
    let word: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
    if word.is_empty() {
        rest.chars().next().map(String::from).unwrap_or_default()
    } else {
        word.to_lowercase()
    }
}

/// Whether `digits` (ASCII digits) passes the Luhn check.
fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Whether `digits` starts like a payment card number: 3 (Amex, Diners,
/// JCB), 4 (Visa), 5 (Mastercard), 6 (Discover, UnionPay, Maestro), or the
/// Mastercard 2-series 2221–2720.
fn card_prefix(digits: &str) -> bool {
    match digits.as_bytes().first() {
        Some(b'3'..=b'6') => true,
        Some(b'2') => digits
            .get(..4)
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| (2221..=2720).contains(&p)),
        _ => false,
    }
}

/// The country codes of the IBAN registry.
const IBAN_COUNTRIES: &[&str] = &[
    "AD", "AE", "AL", "AT", "AZ", "BA", "BE", "BG", "BH", "BI", "BR", "BY", "CH", "CR", "CY", "CZ",
    "DE", "DJ", "DK", "DO", "EE", "EG", "ES", "FI", "FK", "FO", "FR", "GB", "GE", "GI", "GL", "GR",
    "GT", "HR", "HU", "IE", "IL", "IQ", "IS", "IT", "JO", "KW", "KZ", "LB", "LC", "LI", "LT", "LU",
    "LV", "LY", "MC", "MD", "ME", "MK", "MN", "MR", "MT", "MU", "NI", "NL", "NO", "OM", "PK", "PL",
    "PS", "PT", "QA", "RO", "RS", "RU", "SA", "SC", "SD", "SE", "SI", "SK", "SM", "SO", "ST", "SV",
    "TL", "TN", "TR", "UA", "VA", "VG", "XK", "YE",
];

/// Whether `groups` is an IBAN written the printed way even if its check
/// digits are wrong: an IBAN country code and two digits, then groups of four
/// upper-case letters or digits (the last one to four), 15–34 in all.
fn iban_grouped(groups: &[&str]) -> bool {
    let Some((last, init)) = groups.split_last() else {
        return false;
    };
    let total: usize = groups.iter().map(|g| g.len()).sum();
    let head = groups[0].as_bytes();
    groups.len() >= 4
        && (15..=34).contains(&total)
        && IBAN_COUNTRIES.contains(&groups[0].get(..2).unwrap_or(""))
        && head.len() == 4
        && head[2..].iter().all(u8::is_ascii_digit)
        && init.iter().all(|g| g.len() == 4)
        && (1..=4).contains(&last.len())
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

/// Whether `compact` (no spaces) is an IBAN: 15–34 ASCII letters and digits,
/// two letters, two digits, and the ISO 13616 mod-97 check.
fn iban_valid(compact: &str) -> bool {
    let b = compact.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_alphabetic)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_card_prefixes() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("5500000000000004"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("1234567890123456"));
        assert!(card_prefix("4111") && card_prefix("2221000000000009"));
        assert!(!card_prefix("2000") && !card_prefix("0049") && !card_prefix("1990"));
    }

    #[test]
    fn iban_check_digits() {
        assert!(iban_valid("DE89370400440532013000"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(iban_valid("gb82west12345698765432"));
        assert!(!iban_valid("DE88370400440532013000"));
        assert!(!iban_valid("DE89"));
    }

    #[test]
    fn words_around() {
        let t = "Please call me on 020 7946 0958";
        let at = t.find("020").unwrap();
        assert_eq!(words_before(t, at, 2), vec!["me", "on"]);
        assert_eq!(word_after("12 € more", 2), "€");
        assert_eq!(word_after("12 Euros", 2), "euros");
        assert_eq!(word_after("12", 2), "");
    }
}
