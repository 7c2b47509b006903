//! The server URL: its credentials taken out for the client's CONNECT,
//! hidden in messages, and the checks of a configuration before connecting.

use crate::{Result, StreamConfig, StreamError};

/// One URL's parts around its user part: `scheme://`, the user part and
/// `@host…`; `None` without a user part.
fn userinfo(one: &str) -> Option<(&str, &str, &str)> {
    let s = one.find("://")?;
    let at = one.rfind('@')?;
    (at > s).then(|| (&one[..s + 3], &one[s + 3..at], &one[at..]))
}

/// The URL with any password or token replaced by `***`, for messages
/// and logs.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|one| match userinfo(one) {
            Some((scheme, user, rest)) => match user.split_once(':') {
                Some((name, _)) => format!("{scheme}{name}:***{rest}"),
                // A user part alone is a token: a secret too.
                None => format!("{scheme}***{rest}"),
            },
            None => one.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Credentials given in the URL's user part.
pub(crate) enum Credentials {
    /// `nats://user:password@host`.
    UserPassword(String, String),
    /// `nats://token@host`.
    Token(String),
}

/// The URLs without their user part, and the credentials it gave (the
/// client sends them in its CONNECT; it does not read them from the URL).
pub(crate) fn credentials(urls: &str) -> (String, Option<Credentials>) {
    let mut found = None;
    let clean = urls
        .split(',')
        .map(|one| {
            let one = one.trim();
            match userinfo(one) {
                Some((scheme, user, rest)) => {
                    found.get_or_insert(match user.split_once(':') {
                        Some((u, p)) => Credentials::UserPassword(unescape(u), unescape(p)),
                        None => Credentials::Token(unescape(user)),
                    });
                    format!("{scheme}{}", &rest[1..])
                }
                None => one.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    (clean, found)
}

/// Percent-decoding of a URL's user part (`%40` for '@' in a password).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Letters, digits, `_` and `-` only, at least one: what a stream or a
/// durable consumer may be named.
pub(crate) fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What makes `config` unusable before connecting, if anything.
pub(crate) fn check(config: &StreamConfig) -> Result<()> {
    let bad = |m: String| Err(StreamError::Config(m));
    if config.url.trim().is_empty() {
        return bad("stream.url is empty; give nats://host:port".into());
    }
    for one in config.url.split(',') {
        let one = one.trim();
        if one.starts_with("tls://") || one.starts_with("wss://") {
            return bad(format!(
                "{}: TLS to NATS is not built in; reach the server on a private network with nats://",
                redact(one)
            ));
        }
        if one.contains("://") && !one.starts_with("nats://") {
            return bad(format!("{}: the scheme must be nats://", redact(one)));
        }
    }
    if !plain_name(&config.stream) {
        return bad(format!(
            "stream.name {:?} must be letters, digits, '_' or '-'",
            config.stream
        ));
    }
    if config.subject.is_empty()
        || config.subject.contains(['*', '>', ' '])
        || config.subject.starts_with('.')
        || config.subject.ends_with('.')
    {
        return bad(format!(
            "stream.subject {:?} must be a plain subject like sommelier.events (no wildcards or spaces)",
            config.subject
        ));
    }
    if !(1..=5).contains(&config.replicas) {
        return bad(format!(
            "stream.replicas is {}; JetStream keeps 1 to 5 copies",
            config.replicas
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("nats://app:s3cret@10.0.0.1:4222"),
            "nats://app:***@10.0.0.1:4222"
        );
        assert_eq!(
            redact("nats://a:b@h1:4222,nats://h2:4222"),
            "nats://a:***@h1:4222,nats://h2:4222"
        );
        assert_eq!(redact("nats://token@h:4222"), "nats://***@h:4222");
        assert_eq!(redact("nats://h:4222"), "nats://h:4222");
    }

    #[test]
    fn credentials_are_taken_out_of_the_url() {
        let (url, c) = credentials("nats://app:p%40ss@h1:4222, nats://h2:4222");
        assert_eq!(url, "nats://h1:4222,nats://h2:4222");
        assert!(matches!(c, Some(Credentials::UserPassword(u, p)) if u == "app" && p == "p@ss"));
        let (url, c) = credentials("nats://tok@h:4222");
        assert_eq!(url, "nats://h:4222");
        assert!(matches!(c, Some(Credentials::Token(t)) if t == "tok"));
        assert!(credentials("nats://h:4222").1.is_none());
    }
}
