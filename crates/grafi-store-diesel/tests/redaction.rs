//! The password never appears in what the store shows: `Display` and `Debug` of the
//! settings and the configuration, parse errors, and connect errors — for passwords made of
//! every reserved character, given percent-encoded or not, in URLs and key=value strings.

use grafi_store_diesel::{ConnectionSettings, DieselEventStore};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Characters that mean something in a URL or a key=value string, plus two letters that
/// appear in no message of the store, so that any fragment of a leaked password is found.
const ALPHABET: &[char] = &[
    ':', '/', '?', '#', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%',
    ' ', '\\', '"', '<', '>', '^', '`', '{', '|', '}', '~', '.', '-', '_', 'λ', 'ж',
];

fn password() -> impl Strategy<Value = String> {
    // A marker letter first and last, reserved characters between.
    (
        prop::sample::select(&['λ', 'ж'][..]),
        prop::collection::vec(prop::sample::select(ALPHABET), 0..12),
        prop::sample::select(&['λ', 'ж'][..]),
    )
        .prop_map(|(a, middle, b)| {
            let mut p = String::new();
            p.push(a);
            p.extend(middle);
            p.push(b);
            p
        })
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn quote(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// No marker letter, raw or percent-encoded (either case), in `shown`.
fn assert_no_leak(shown: &str, context: &str) {
    let lower = shown.to_ascii_lowercase();
    for marker in ['λ', 'ж'] {
        let encoded = encode(&marker.to_string()).to_ascii_lowercase();
        assert!(
            !shown.contains(marker) && !lower.contains(&encoded),
            "{context}: password text in {shown:?}"
        );
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn check_settings(input: &str, expected_password: Option<&str>) {
    match ConnectionSettings::parse_with_env(input, no_env) {
        Ok(settings) => {
            assert_no_leak(&settings.to_string(), "Display");
            assert_no_leak(&format!("{settings:?}"), "Debug");
            assert_no_leak(
                &format!("{:?}", DieselEventStore::builder(input).config()),
                "DieselStoreConfig Debug",
            );
            if let Some(expected) = expected_password {
                // The password reached the driver whole: scrubbing it from a text that holds
                // it leaves nothing.
                assert_no_leak(
                    &settings.scrub(&format!("x {expected} y {}", encode(expected))),
                    "scrub",
                );
            }
        }
        Err(error) => {
            assert!(expected_password.is_none(), "{input:?} must parse: {error}");
            assert_no_leak(&error.to_string(), "parse error");
            assert_no_leak(&format!("{error:?}"), "parse error Debug");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn percent_encoded_url_passwords_parse_and_never_show(p in password()) {
        check_settings(&format!("postgres://app:{}@db.internal:5432/agents?sslmode=prefer", encode(&p)), Some(&p));
    }

    #[test]
    fn raw_url_passwords_parse_or_fail_without_showing(p in password()) {
        // Unencoded reserved characters: the string may be ambiguous (an `@`), and is then
        // refused; either way nothing of the password is shown.
        let input = format!("postgres://app:{p}@db.internal:5432/agents");
        check_settings(&input, None.or((!p.contains('@')).then_some(p.as_str())));
    }

    #[test]
    fn quoted_key_value_passwords_parse_and_never_show(p in password()) {
        check_settings(&format!("host=db.internal user=app password={} dbname=agents", quote(&p)), Some(&p));
    }

    #[test]
    fn password_in_the_query_string_never_shows(p in password()) {
        check_settings(&format!("postgres://app@db.internal/agents?password={}&sslmode=disable", encode(&p)), Some(&p));
    }
}

/// A failed connect (nobody listens on port 1) names the server, never the password; the
/// same for the `DieselEventStore` built from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_never_show_the_password() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    let mut cases: Vec<String> = Vec::new();
    for _ in 0..24 {
        cases.push(password().new_tree(&mut runner).unwrap().current());
    }
    for p in cases {
        for input in [
            format!("postgres://app:{}@127.0.0.1:1/agents", encode(&p)),
            format!("host=127.0.0.1 port=1 user=app password={}", quote(&p)),
        ] {
            let error = DieselEventStore::builder(input.clone())
                .connection_timeout(std::time::Duration::from_secs(2))
                .connect()
                .await
                .unwrap_err();
            assert!(error.is_retryable(), "{error:?}");
            let mut shown = format!("{error}\n{error:?}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                shown.push_str(&format!("\n{cause}\n{cause:?}"));
                source = cause.source();
            }
            assert!(shown.contains("127.0.0.1:1"), "{shown}");
            assert_no_leak(&shown, &input);
        }
    }
}
