//! What Sommelier keeps of what people say, and what it lets a model say.
//!
//! - [`Redactor`] (and the free [`redact`] / [`contains_pii`]) replaces
//!   e-mail addresses, phone numbers, payment card numbers, IBANs, street
//!   addresses and IP addresses with `[email]`, `[phone]`, `[card]`, `[iban]`,
//!   `[address]` and `[ip]` before chat text is stored, logged or sent to a
//!   remote model. The rules are written for realistic input and tuned so that
//!   ordinary recommender requests (years, prices, sizes, ratings, model
//!   numbers) pass through unchanged; `redact.rs` documents each rule and its
//!   known misses.
//! - [`Pseudonymizer`] turns an identifier into a keyed, one-way pseudonym
//!   (`p_` + 32 hex digits of HMAC-SHA256).
//! - [`TextPolicy`] checks model-written text (explanations, chat replies) for
//!   inferences about the user's sensitive attributes, unsafe content and PII.
//!
//! The crate does no I/O.

mod policy;
mod pseudonym;
mod redact;

pub use policy::{PolicyRule, PolicyViolation, TextPolicy, UNSAFE_PHRASES};
pub use pseudonym::Pseudonymizer;
pub use redact::{PiiKind, Redacted, Redactor};

use std::sync::LazyLock;

/// The redactor behind [`redact`], [`contains_pii`] and [`TextPolicy`]: its
/// regular expressions are compiled once per process, on first use.
static SHARED: LazyLock<Redactor> = LazyLock::new(Redactor::new);

/// The process-wide [`Redactor`] (built on first use).
pub fn shared_redactor() -> &'static Redactor {
    &SHARED
}

/// Redacts `text` with the process-wide [`Redactor`]; see [`Redactor::redact`].
pub fn redact(text: &str) -> Redacted {
    SHARED.redact(text)
}

/// Whether `text` contains anything [`redact`] would replace.
pub fn contains_pii(text: &str) -> bool {
    SHARED.contains_pii(text)
}
