//! The policy check on model-written text (explanations and chat replies);
//! the rules are documented on [`TextPolicy`].

use crate::redact::Redactor;
use regex::Regex;
use serde::Serialize;
use std::fmt;
use std::sync::LazyLock;

/// Which rule a piece of model-written text broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyRule {
    /// It infers or asserts a sensitive attribute of the user.
    SensitiveInference,
    /// It contains a built-in unsafe phrase or an operator's blocked term.
    UnsafeContent,
    /// It contains personal data (e-mail, phone, card, IBAN, address, IP).
    Pii,
}

/// Why a text failed [`TextPolicy::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyViolation {
    /// The rule broken.
    pub rule: PolicyRule,
    /// The offending words (at most 120 characters); for [`PolicyRule::Pii`]
    /// the words around the first piece of personal data *after* redaction,
    /// so that the excerpt itself can be logged.
    pub excerpt: String,
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = match self.rule {
            PolicyRule::SensitiveInference => "sensitive inference about the user",
            PolicyRule::UnsafeContent => "unsafe content",
            PolicyRule::Pii => "personal data",
        };
        write!(f, "{rule}: {:?}", self.excerpt)
    }
}

impl std::error::Error for PolicyViolation {}

/// The built-in unsafe phrases (regular-expression fragments, matched
/// case-insensitively on word boundaries): encouragement of self-harm or
/// suicide and instructions for weapons or drugs. Kept short on purpose.
pub const UNSAFE_PHRASES: &[&str] = &[
    r"kill\s+(?:yourself|yourselves)",
    r"kys",
    r"go\s+die",
    r"you\s+should\s+die",
    r"hang\s+yourself",
    r"slit\s+your\s+wrists",
    r"end\s+your\s+(?:own\s+)?life",
    r"how\s+to\s+commit\s+suicide",
    r"how\s+to\s+self[\s\-]?harm",
    r"how\s+to\s+(?:make|build)\s+(?:a\s+)?(?:pipe\s+)?bomb",
    r"how\s+to\s+make\s+(?:explosives|napalm|ricin|meth)",
];

/// Filler words between "you are" and the attribute ("you're *probably*
/// diabetic").
const FILLER: &str = r"(?:(?:a|an|very|so|quite|really|probably|likely|clearly|obviously|definitely|possibly|maybe|perhaps|still|now|also|currently|actually|somewhat|kind\s+of|a\s+bit|a\s+little|being|recently|newly|secretly|openly|proudly|devoutly|practicing|practising)\s+){0,3}";

/// Attributes said of a person ("you're …", "you seem …", "as a …").
const ATTRIBUTES: &str = r"(?:pregnant|expecting\s+(?:a\s+baby|a\s+child|twins)|depressed|suicidal|diabetic|bipolar|autistic|schizophrenic|anorexic|bulimic|alcoholic|addict|addicted\s+to\s+(?:drugs|alcohol|opioids|heroin|cocaine|gambling)|disabled|handicapped|blind|deaf|(?:terminally\s+|chronically\s+|mentally\s+|seriously\s+)?ill|hiv[\s\-]?positive|infertile|cancer\s+(?:patient|survivor)|wheelchair\s+user|in\s+a\s+wheelchair|in\s+rehab|on\s+antidepressants|gay|lesbian|bisexual|queer|trans|transgender|homosexual|asexual|muslim|christian|jewish|jew|hindu|buddhist|sikh|catholic|protestant|mormon|atheist|religious|black|asian|hispanic|latino|latina|latinx|arab|african[\s\-]american|indigenous|native\s+american|democrat|republican|socialist|communist|libertarian|left[\s\-]wing|right[\s\-]wing|tory|liberal\s+voter|conservative\s+voter|(?:trump|biden|labour|tory)\s+(?:supporter|voter)|immigrant|migrant|refugee|asylum\s+seeker|illegal\s+(?:alien|immigrant)|undocumented|here\s+illegally|broke|in\s+debt|bankrupt|unemployed|jobless|homeless|on\s+welfare|on\s+benefits|on\s+food\s+stamps|struggling\s+financially|strapped\s+for\s+cash|low[\s\-]income|in\s+financial\s+(?:trouble|difficulty|difficulties|distress))";

/// Conditions one has, suffers from or was diagnosed with.
const CONDITIONS: &str = r"(?:depression|anxiety|diabetes|cancer|hiv|aids|adhd|autism|ptsd|bipolar(?:\s+disorder)?|schizophrenia|an\s+eating\s+disorder|eating\s+disorder|anorexia|bulimia|dementia|alzheimer(?:'|’)?s|epilepsy|a\s+disability|disability|multiple\s+sclerosis|parkinson(?:'|’)?s|an\s+addiction|addiction|alcoholism|infertility|a\s+mental\s+illness|mental\s+illness|an\s+illness|a\s+chronic\s+illness|debts?|money\s+problems|financial\s+problems)";

/// Sensitive things of "your …".
const YOUR_NOUNS: &str = r"(?:condition|diagnosis|illness|disease|disorder|medications?|pregnancy|religion|religious\s+beliefs|sexual\s+orientation|sexuality|ethnicity|ethnic\s+background|racial\s+background|politics|political\s+(?:views|leanings|affiliation|party)|disability|disabilities|immigration\s+status|visa\s+status|citizenship\s+status|residency\s+status|debts?|financial\s+(?:problems|troubles|difficulties|struggles|hardship|distress)|money\s+(?:problems|troubles|worries)|unemployment|depression|anxiety|diabetes|cancer|hiv(?:\s+status)?|addiction|eating\s+disorder|sexual\s+identity|gender\s+identity)";

/// Words that attach an attribute to a person after "as a …".
const PERSON: &str = r"(?:man|woman|person|guy|girl|boy|mother|mom|mum|father|dad|parent|individual|viewer|reader|customer|user|teen|teenager|student|voter|family|couple)";

struct SensitivePatterns {
    /// "you're / you are / you seem / you might be … ATTRIBUTE".
    you_are: Regex,
    /// "you have / suffer from / were diagnosed with … CONDITION".
    you_have: Regex,
    /// "your … NOUN".
    your: Regex,
    /// "as a … ATTRIBUTE [PERSON]" (checked for a "you" later in the sentence).
    as_a: Regex,
    /// The built-in unsafe phrases.
    unsafe_phrases: Regex,
}

static PATTERNS: LazyLock<SensitivePatterns> = LazyLock::new(|| {
    let apos = r"(?:'|’)";
    let compile = |p: String| Regex::new(&p).expect("the built-in policy patterns compile");
    SensitivePatterns {
        you_are: compile(format!(
            r"(?i)\b(?:you(?:\s*{apos}\s*re|\s+are|\s+were|\s*{apos}ve\s+been|\s+have\s+been|\s+(?:must|might|may|could|would)\s+be|\s+(?:seem|look|sound)\s+like|\s+seem(?:\s+to\s+be)?|\s+look|\s+sound|\s+appear(?:\s+to\s+be)?|\s+being)|are\s+you)\s+{FILLER}{ATTRIBUTES}\b"
        )),
        you_have: compile(format!(
            r"(?i)\byou(?:\s*{apos}(?:ve|re|d)|\s+(?:have|are|were|might|may|could|must|probably|likely|seem\s+to|appear\s+to)){{0,3}}\s+(?:have|had|got|suffer(?:ing)?\s+from|struggl(?:e|ing)\s+with|liv(?:e|ing)\s+with|deal(?:ing)?\s+with|been\s+diagnosed\s+with|diagnosed\s+with|battl(?:e|ing))\s+(?:(?:some|severe|mild|chronic|clinical|type\s+[12]|bad|early|advanced|stage\s+[0-9])\s+){{0,2}}{CONDITIONS}\b"
        )),
        your: compile(format!(
            r"(?i)\byour\s+(?:(?:own|current|recent|ongoing|new|known|personal|medical|mental|religious|political|sexual|financial|immigration|visa|legal|chronic)\s+){{0,2}}{YOUR_NOUNS}\b"
        )),
        as_a: compile(format!(
            r"(?i)\bas\s+(?:an?|someone\s+(?:who\s+is|who{apos}s|with|living\s+with)|somebody\s+(?:who\s+is|with)|a\s+person\s+with)\s+(?:(?:young|proud|fellow|practicing|practising|devout|single|new|first[\s\-]time|recovering|closeted|working|expecting)\s+)?(?:{ATTRIBUTES}|{CONDITIONS}|liberal|conservative|jew)(?:\s+{PERSON})?\b"
        )),
        unsafe_phrases: compile(format!(r"(?i)\b(?:{})\b", UNSAFE_PHRASES.join("|"))),
    }
});

/// Checks model-written text (explanations and chat replies) against three
/// rules, in this order; the first that fires is reported:
///
/// 1. [`PolicyRule::UnsafeContent`]: one of a short built-in list of clearly
///    unsafe phrases (see [`UNSAFE_PHRASES`]) or an operator's blocked term,
///    matched case-insensitively on word boundaries. Slurs are deliberately
///    not built in: which terms to block is market- and language-specific and
///    many collide with titles and quotations in catalogues, so operators add
///    them with [`TextPolicy::with_extra_terms`].
/// 2. [`PolicyRule::SensitiveInference`]: the text attributes a sensitive
///    trait to the *user*: health or medical conditions, pregnancy, sexual
///    orientation, religion, ethnicity, political affiliation, disability,
///    immigration status or financial distress. Only second-person
///    attributions count: "since you are pregnant", "because you're Muslim",
///    "you seem depressed", "you might be diabetic", "you suffer from
///    anxiety", "given your religion", "for someone with your condition", and
///    "as a gay man, you …" / "As a Democrat, you …" (an "as a …" phrase
///    only when the rest of its sentence addresses the user). Item
///    descriptions that mention such topics ("a drama about a gay couple in
///    1950s Paris", "a documentary on depression", "stars a pregnant
///    detective") pass.
/// 3. [`PolicyRule::Pii`]: the text contains anything the
///    [`Redactor`](crate::Redactor) would replace: a model must never echo an
///    e-mail address or a phone number.
///
/// *Known misses*: inferences phrased without "you"/"your" ("people like
/// you…", "someone in your situation") or in other languages, and trait words
/// not listed. *Known false positives*: an "as a …" phrase describing an item
/// in a sentence that also speaks to the user ("As a Muslim family drama, you
/// will find it warm"), and "you have anxiety about …" said of a mood.
///
/// `TextPolicy::default()` has the built-in rules; add an operator's blocked
/// terms with [`TextPolicy::with_extra_terms`].
#[derive(Debug, Clone, Default)]
pub struct TextPolicy {
    /// The operator's blocked terms as one pattern; `None` when there are none.
    extra: Option<Regex>,
}

impl TextPolicy {
    /// The built-in rules plus `terms` (phrases, matched literally and
    /// case-insensitively on word boundaries, any run of white space matching
    /// any other) reported as [`PolicyRule::UnsafeContent`]. Blank terms are
    /// ignored.
    pub fn with_extra_terms(terms: Vec<String>) -> TextPolicy {
        let alternatives: Vec<String> = terms
            .iter()
            .map(|t| t.split_whitespace().collect::<Vec<_>>())
            .filter(|words| !words.is_empty())
            .map(|words| {
                let first = words[0].chars().next().is_some_and(is_word_char);
                let last = words[words.len() - 1]
                    .chars()
                    .next_back()
                    .is_some_and(is_word_char);
                let body: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
                format!(
                    "{}{}{}",
                    if first { r"\b" } else { "" },
                    body.join(r"\s+"),
                    if last { r"\b" } else { "" }
                )
            })
            .collect();
        let extra = (!alternatives.is_empty()).then(|| {
            Regex::new(&format!("(?i)(?:{})", alternatives.join("|")))
                .expect("escaped terms always compile")
        });
        TextPolicy { extra }
    }

    /// `Ok(())` when `text` breaks no rule; otherwise the first rule broken
    /// (unsafe content, then sensitive inference, then personal data) and an
    /// excerpt.
    pub fn check(&self, text: &str) -> Result<(), PolicyViolation> {
        let patterns = &*PATTERNS;
        let violation = |rule, excerpt: &str| PolicyViolation {
            rule,
            excerpt: clip(excerpt.trim(), 120),
        };
        if let Some(m) = patterns.unsafe_phrases.find(text) {
            return Err(violation(PolicyRule::UnsafeContent, m.as_str()));
        }
        if let Some(m) = self.extra.as_ref().and_then(|re| re.find(text)) {
            return Err(violation(PolicyRule::UnsafeContent, m.as_str()));
        }
        if let Some(excerpt) = sensitive_inference(patterns, text) {
            return Err(violation(PolicyRule::SensitiveInference, excerpt));
        }
        let redactor: &Redactor = crate::shared_redactor();
        let redacted = redactor.redact(text);
        if let Some(kind) = redacted.found.first() {
            let at = redacted.text.find(kind.token()).unwrap_or(0);
            return Err(violation(PolicyRule::Pii, around(&redacted.text, at, 50)));
        }
        Ok(())
    }
}

/// The first second-person sensitive attribution in `text`, if any.
fn sensitive_inference<'t>(p: &SensitivePatterns, text: &'t str) -> Option<&'t str> {
    // "you're blind to its flaws", "you're ill-prepared", "black and white",
    // "your debt-free plan": idioms and compounds, not traits.
    let hyphenated = |rest: &str| {
        rest.strip_prefix('-')
            .is_some_and(|r| !r.to_lowercase().starts_with("american"))
    };
    let idiom = |rest: &str| {
        hyphenated(rest)
            || matches!(first_word(rest).as_str(), "to" | "of" | "about" | "at")
            || rest.trim_start().to_lowercase().starts_with("and white")
    };
    if let Some(m) = p.you_are.find_iter(text).find(|m| !idiom(&text[m.end()..])) {
        return Some(m.as_str());
    }
    for re in [&p.you_have, &p.your] {
        if let Some(m) = re.find_iter(text).find(|m| !hyphenated(&text[m.end()..])) {
            return Some(m.as_str());
        }
    }
    p.as_a
        .find_iter(text)
        .find(|m| addresses_user(&text[m.end()..]))
        .map(|m| m.as_str())
}

/// Whether the rest of the sentence from here speaks to the user ("you",
/// "your", "you'll", …).
fn addresses_user(rest: &str) -> bool {
    let end = rest
        .char_indices()
        .find(|&(i, c)| matches!(c, '.' | '!' | '?' | '\n') || i > 160)
        .map_or(rest.len(), |(i, _)| i);
    rest[..end]
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.to_lowercase().replace('’', "'"))
        .any(|w| {
            matches!(
                w.as_str(),
                "you" | "your" | "yours" | "yourself" | "you'll" | "you're" | "you've" | "you'd"
            )
        })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first word of `s` after leading white space, lowercase.
fn first_word(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The text within about `radius` characters either side of byte offset `at`.
fn around(text: &str, at: usize, radius: usize) -> &str {
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(radius.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    let end = text[at..]
        .char_indices()
        .nth(radius)
        .map_or(text.len(), |(i, _)| at + i);
    &text[start..end]
}
