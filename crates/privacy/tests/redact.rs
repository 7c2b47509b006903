//! Redaction on realistic (fake) personal data and on ordinary requests.

use sommelier_privacy::{PiiKind, Redacted, Redactor, contains_pii, redact};

/// Asserts that redacting `input` gives `expected` and finds `kinds`.
#[track_caller]
fn check(input: &str, expected: &str, kinds: &[PiiKind]) {
    let out = redact(input);
    assert_eq!(out.text, expected, "input: {input:?}");
    assert_eq!(out.found, kinds, "input: {input:?}");
}

/// Asserts that `input` comes back unchanged with nothing found.
#[track_caller]
fn unchanged(input: &str) {
    let out = redact(input);
    assert_eq!(
        out,
        Redacted {
            text: input.to_owned(),
            found: vec![]
        },
        "input: {input:?}"
    );
    assert!(!contains_pii(input), "input: {input:?}");
}

#[test]
fn emails() {
    use PiiKind::Email;
    check(
        "mail me at jane.doe+films@example.co.uk please",
        "mail me at [email] please",
        &[Email],
    );
    check(
        "Contact: j_smith@mail.shop.example.com.",
        "Contact: [email].",
        &[Email],
    );
    check("<max.mustermann@beispiel.de>", "<[email]>", &[Email]);
    check("ANNA-LENA@EXAMPLE.ORG wrote", "[email] wrote", &[Email]);
    check(
        "either bob@example.com or alice@example.net",
        "either [email] or [email]",
        &[Email],
    );
    unchanged("the @ symbol in film titles");
    unchanged("follow @sommelier on social media");
    unchanged("name@localhost is not an address here");
}

#[test]
fn cards_pass_luhn_only() {
    use PiiKind::Card;
    check(
        "my card is 4111 1111 1111 1111",
        "my card is [card]",
        &[Card],
    );
    check(
        "use 5500-0000-0000-0004 for it",
        "use [card] for it",
        &[Card],
    );
    check(
        "card 4111111111111111, exp 12/27",
        "card [card], exp 12/27",
        &[Card],
    );
    check("amex 3782 822463 10005 ok", "amex [card] ok", &[Card]);
    check("top 5 4111 1111 1111 1111", "top 5 [card]", &[Card]);
    unchanged("order 1234 5678 9012 3456 has not arrived");
    unchanged("films from 2000 2010 2020 2021 and 2022");
}

#[test]
fn phones() {
    use PiiKind::Phone;
    for (input, expected) in [
        (
            "call me on +44 20 7946 0958 tonight",
            "call me on [phone] tonight",
        ),
        ("my number is +1 (415) 555-0132.", "my number is [phone]."),
        ("ring 0049 30 1234567 after six", "ring [phone] after six"),
        ("office: 415-555-0132", "office: [phone]"),
        (
            "or (415) 555 0132 during the day",
            "or [phone] during the day",
        ),
        ("London office 020 7946 0958", "London office [phone]"),
        ("appelez le 06 12 34 56 78 svp", "appelez le [phone] svp"),
        ("Büro 030/1234567", "Büro [phone]"),
        ("+44 (0)20 7946 0958", "[phone]"),
        ("1-800-555-0199 is toll free", "[phone] is toll free"),
        ("mobile 0171 1234567", "mobile [phone]"),
        ("text me at 5550132", "text me at [phone]"),
        ("reach me at 555-0132", "reach me at [phone]"),
        (
            "born in 1985. 415-555-0132 is my cell",
            "born in 1985. [phone] is my cell",
        ),
        ("whatsapp +33 6 12 34 56 78", "whatsapp [phone]"),
        ("llámame al 612 345 678", "llámame al [phone]"),
        ("00 44 20 7946 0958", "[phone]"),
        ("(030) 12345678", "[phone]"),
        ("+1 415 555 0132 ext. 12", "[phone] ext. 12"),
    ] {
        check(input, expected, &[Phone]);
    }
}

#[test]
fn numbers_that_are_not_phones() {
    for input in [
        "movies from 1995",
        "films from 1990-1999",
        "something from 1990 to 1999",
        "the 2019-2020 season",
        "released 2023-05-12",
        "released on 12.05.2023",
        "a budget of 1 200 000 euros",
        "250.000.000 viewers",
        "under $120",
        "under 120 dollars",
        "rated 4.5 or better",
        "runtime 2h 15m, about 135 minutes",
        "pi is 3.14159265",
        "ISBN 978-3-16-148410-0",
        "ISBN 0-306-40615-2",
        "ZIP 94103-1234",
        "model 1234-5678",
        "EU sizes 40 41 42 43",
        "US sizes 9 10 11 12",
        "3840 x 2160 120 Hz",
        "scores of 7/10 8/10 9/10",
        "price 1299.99 or 1499.99",
        "a Samsung phone with 128 256 512 GB storage",
        "call of duty 2019 2020",
        "Windows 10.0.19045.3803",
        "order #123456789",
        "ISBN-13: 978-0-306-40615-7",
    ] {
        unchanged(input);
    }
}

#[test]
fn ibans() {
    use PiiKind::Iban;
    check(
        "IBAN DE89 3704 0044 0532 0130 00 please",
        "IBAN [iban] please",
        &[Iban],
    );
    check("pay to DE89370400440532013000", "pay to [iban]", &[Iban]);
    check(
        "GB82 WEST 1234 5698 7654 32, thanks",
        "[iban], thanks",
        &[Iban],
    );
    check("fr14 2004 1010 0505 0001 3m02 606", "[iban]", &[Iban]);
    check("DE89 3704 0044 0532 0130 00 1999", "[iban] 1999", &[Iban]);
    // A typo in the printed form is still redacted; solid, it is a known miss.
    check("DE88 3704 0044 0532 0130 00", "[iban]", &[Iban]);
    unchanged("de88370400440532013000");
    unchanged("XX89 3704 0044 0532 0130 00 is no country");
    unchanged("RX78 GP03 is a model kit");
}

#[test]
fn street_addresses() {
    use PiiKind::StreetAddress as A;
    for (input, expected) in [
        ("I live at 221B Baker Street", "I live at [address]"),
        ("ship to 1600 Pennsylvania Avenue NW", "ship to [address]"),
        (
            "ship to 1600 Pennsylvania Avenue NW, Suite 200 today",
            "ship to [address] today",
        ),
        ("deliver to 350 5th Ave, Apt 4B", "deliver to [address]"),
        ("10 Downing St.", "[address]"),
        ("42 Wallaby Way, Sydney", "[address], Sydney"),
        ("at 12 Main St #12 tomorrow", "at [address] tomorrow"),
        ("my address is 7 oak road", "my address is [address]"),
        ("221b baker street", "[address]"),
        ("Hauptstraße 5, 10115 Berlin", "[address], 10115 Berlin"),
        ("Lieferung an Hauptstr. 12", "Lieferung an [address]"),
        ("wohne in der Berliner Straße 12a", "wohne in der [address]"),
        ("Bahnhofstrasse 7 in Zürich", "[address] in Zürich"),
        ("Keizersgracht 123, Amsterdam", "[address], Amsterdam"),
        ("j'habite au 12 rue de la Paix", "j'habite au [address]"),
        ("5 boulevard Saint-Germain", "[address]"),
    ] {
        check(input, expected, &[A]);
    }
}

#[test]
fn street_words_in_requests_are_not_addresses() {
    for input in [
        "2 films about a street gang",
        "top 5 road movies",
        "5 great road trips on film",
        "top 10 Wall Street movies",
        "a 1987 Wall Street drama",
        "1990s Wall Street thrillers",
        "3 scenic drive ideas",
        "2 boulevard of broken dreams covers",
        "the best 3 Place settings",
        "Platz 1 der Charts",
        "21 Jump Street movie cast",
    ] {
        unchanged(input);
    }
}

/// A film title shaped like an address, said alone, is redacted: a known
/// false positive, pinned so that a change is deliberate.
#[test]
fn known_false_positive_titles_shaped_like_addresses() {
    check("21 Jump Street", "[address]", &[PiiKind::StreetAddress]);
    check(
        "something like 10 Cloverfield Lane",
        "something like [address]",
        &[PiiKind::StreetAddress],
    );
}

#[test]
fn ip_addresses() {
    use PiiKind::IpAddress as Ip;
    check("from 192.168.1.20 at noon", "from [ip] at noon", &[Ip]);
    check("server 10.0.0.1:8080", "server [ip]:8080", &[Ip]);
    check("client 203.0.113.7.", "client [ip].", &[Ip]);
    check("v6 2001:db8::8a2e:370:7334 here", "v6 [ip] here", &[Ip]);
    check(
        "link-local fe80::1 and 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "link-local [ip] and [ip]",
        &[Ip],
    );
    unchanged("999.168.1.20 is not an address");
    unchanged("version 1.2.3.4.5");
    unchanged("meet at 10:30:45");
    unchanged("std::vector::push_back");
    unchanged("MAC 00:1a:2b:3c:4d:5e");
}

#[test]
fn found_is_in_order_of_first_occurrence_without_repeats() {
    let out = redact(
        "call +44 20 7946 0958 or mail jane@example.com, or jane2@example.com; \
         card 4111 1111 1111 1111, home 221B Baker Street, ip 192.168.1.20",
    );
    assert_eq!(
        out.found,
        vec![
            PiiKind::Phone,
            PiiKind::Email,
            PiiKind::Card,
            PiiKind::StreetAddress,
            PiiKind::IpAddress
        ]
    );
    assert_eq!(
        out.text,
        "call [phone] or mail [email], or [email]; card [card], home [address], ip [ip]"
    );
}

/// At least 30 ordinary requests (movies, shop, knowledge base) that must
/// come back unchanged.
#[test]
fn ordinary_requests_come_back_unchanged() {
    let requests = [
        "something like Heat but newer",
        "movies from the 90s",
        "movies from 1995",
        "sci-fi from 1990-1999 with good reviews",
        "crime films 1990 to 1999",
        "top 10 thrillers of 2023",
        "top 5 road movies",
        "2 films about a street gang",
        "Ocean's 11 or Ocean's 12?",
        "trail shoes under $120",
        "running shoes under 120 dollars, size 10.5",
        "rated 4.5 stars or more",
        "a comedy under 90 minutes",
        "iPhone 15 case in blue",
        "4K TV, 55 inch, 120 Hz",
        "Samsung Galaxy S23 Ultra 256 GB",
        "RTX 4090 vs RTX 4080",
        "Sony WH-1000XM5 headphones",
        "something like Blade Runner 2049",
        "2001: A Space Odyssey but more recent",
        "films like Se7en and 12 Angry Men",
        "the 3 best Pixar movies for kids aged 6-9",
        "books about the 1929 crash",
        "how do I return an order after 30 days?",
        "what is the warranty on the Dyson V15?",
        "reset password for account settings",
        "shipping times to Germany in 2-3 business days",
        "jeans 32x34 in black",
        "dresses in size 12, EU 42",
        "a USB-C charger of 65 W",
        "coffee beans, 1 kg bag, under 25 €",
        "films with more than 8.0 on IMDb",
        "season 3 episode 10 recap",
        "the 1975 album from 2013",
        "Toy Story (1995) and its 3 sequels",
        "best 2-player board games for 2024",
        "movies similar to 500 Days of Summer",
        "Harry Potter books 1-7 box set",
        "MacBook Pro 14 2023 M3 with 16 GB",
        "a 1080p monitor at 144 Hz",
        "1917 or Dunkirk?",
        "stories set on Elm Street",
        "A Nightmare on Elm Street 3 Dream Warriors",
        "Miracle on 34th Street",
    ];
    assert!(requests.len() >= 30);
    for request in requests {
        unchanged(request);
    }
}

#[test]
fn redaction_is_idempotent_on_examples() {
    for input in [
        "call me on +44 20 7946 0958 or write to jane.doe+films@example.co.uk",
        "4111 1111 1111 1111 415-555-0132 192.168.1.20 221B Baker Street",
        "IBAN DE89 3704 0044 0532 0130 00, Hauptstraße 5, 12 rue de la Paix",
        "[email] [phone] already redacted 12 [address]",
    ] {
        let once = redact(input);
        let twice = redact(&once.text);
        assert_eq!(once.text, twice.text, "input: {input:?}");
        assert!(twice.found.is_empty(), "input: {input:?}");
    }
}

#[test]
fn a_redactor_of_ones_own_agrees_with_the_shared_one() {
    let mine = Redactor::new();
    let text = "mail jane@example.com or call 020 7946 0958";
    assert_eq!(mine.redact(text), redact(text));
    assert!(mine.contains_pii(text));
    assert!(!mine.contains_pii("nothing to see here"));
    assert_eq!(PiiKind::Email.token(), "[email]");
    assert_eq!(
        serde_json::to_string(&PiiKind::StreetAddress).unwrap(),
        "\"street_address\""
    );
}

mod properties {
    use proptest::prelude::*;
    use sommelier_privacy::redact;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any text: no panic, and redacting the result changes nothing.
        #[test]
        fn idempotent_on_any_text(text in "\\PC{0,80}") {
            let once = redact(&text);
            let twice = redact(&once.text);
            prop_assert_eq!(&once.text, &twice.text);
            prop_assert!(twice.found.is_empty());
        }

        /// Text made of the characters the rules look at.
        #[test]
        fn idempotent_on_pii_shaped_text(text in "[0-9 +()./:@a-fA-FSsTt#,\\-]{0,60}") {
            let once = redact(&text);
            let twice = redact(&once.text);
            prop_assert_eq!(&once.text, &twice.text);
            prop_assert!(twice.found.is_empty());
        }
    }
}
