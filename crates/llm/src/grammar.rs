//! GBNF helpers for llama.cpp's grammar sampler: the grammars are written by
//! hand next to the JSON schemas they mirror, so a small model can only write
//! answers that parse.

/// Escapes text for a GBNF string literal (inside `"…"`).
pub fn escape_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\\\\\""), // a JSON-escaped quote: \" in the output
            '\\' => out.push_str("\\\\\\\\"),
            '\n' => out.push_str("\\\\n"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a GBNF string literal that stands for the text itself
/// (plain text, not inside a JSON string).
pub fn plain_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Rules `str` (a JSON string of at most `max` characters) and `chr`.
pub fn string_rules(max: usize) -> String {
    format!(
        "str ::= \"\\\"\" chr{{0,{max}}} \"\\\"\"\nchr ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" [\"\\\\/nt]\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_rules_read_as_gbnf() {
        let r = string_rules(10);
        assert_eq!(
            r,
            "str ::= \"\\\"\" chr{0,10} \"\\\"\"\nchr ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" [\"\\\\/nt]\n"
        );
        assert_eq!(escape_literal("Sci-Fi"), "Sci-Fi");
        assert_eq!(
            plain_literal("\"Crocodile\" Dundee\n"),
            "\\\"Crocodile\\\" Dundee "
        );
    }
}
