//! Small helpers shared by both vendors: URL decoding, path normalization, id generation.

use rand::Rng;
use rand::rngs::StdRng;

/// Decodes `%XX` escapes; with `plus_is_space`, `+` becomes a space (form and query encoding).
/// Invalid escapes are kept literally, as lenient servers do.
pub(crate) fn percent_decode(input: &str, plus_is_space: bool) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi * 16 + lo);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses `a=1&b=x%20y` into decoded pairs (used for query strings and form bodies).
pub(crate) fn parse_form(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

/// Collapses runs of `/`, drops a trailing `/` (except for the root) and, with `lowercase`,
/// folds ASCII case, so that `//Organization/` and `/organization` route the same.
pub(crate) fn normalize_path(path: &str, lowercase: bool) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if lowercase {
            out.push_str(&segment.to_ascii_lowercase());
        } else {
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// A random (version 4 shaped) UUID in lowercase hyphenated form, drawn from `rng` so that a
/// seeded simulator produces the same ids every run.
pub(crate) fn uuid(rng: &mut StdRng) -> String {
    let mut v: u128 = rng.random();
    v = (v & !(0xf << 76)) | (0x4 << 76);
    v = (v & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `len` random lowercase hex digits.
pub(crate) fn random_hex(rng: &mut StdRng, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        let chunk: u64 = rng.random();
        out.push_str(&format!("{chunk:016x}"));
    }
    out.truncate(len);
    out
}

/// Lowercased words of a name, split on whitespace and punctuation, for word-prefix search.
pub(crate) fn search_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Word-prefix matching as the Acronis search does it: every word of the query must be the
/// prefix of some word of the name, ignoring case. An empty query matches nothing.
pub(crate) fn words_match(query_words: &[String], name_words: &[String]) -> bool {
    !query_words.is_empty()
        && query_words
            .iter()
            .all(|q| name_words.iter().any(|w| w.starts_with(q.as_str())))
}

/// Quotes a value for a POSIX shell (`'...'`, with embedded quotes escaped).
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(percent_decode("Twin%20Co", true), "Twin Co");
        assert_eq!(percent_decode("Twin+Co", true), "Twin Co");
        assert_eq!(percent_decode("Twin+Co", false), "Twin+Co");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("caf%C3%A9", true), "café");
    }

    #[test]
    fn parses_forms() {
        assert_eq!(
            parse_form("grant_type=client_credentials&x=a%26b&flag"),
            vec![
                ("grant_type".to_string(), "client_credentials".to_string()),
                ("x".to_string(), "a&b".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(
            normalize_path("/commandcenter/api//Login", true),
            "/commandcenter/api/login"
        );
        assert_eq!(normalize_path("/", true), "/");
        assert_eq!(normalize_path("", true), "/");
        assert_eq!(normalize_path("/api/2/Tenants/", false), "/api/2/Tenants");
    }

    #[test]
    fn uuids_are_well_formed_and_seeded() {
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        let id = uuid(&mut a);
        assert_eq!(id, uuid(&mut b));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn word_prefix_matching() {
        let acme_corp = search_words("Acme Corp");
        let acme = search_words("Acme");
        let other = search_words("Macme Ltd");
        let q = search_words("acme");
        assert!(words_match(&q, &acme_corp));
        assert!(words_match(&q, &acme));
        assert!(!words_match(&q, &other));
        assert!(words_match(&search_words("Acme Co"), &acme_corp));
        assert!(!words_match(&search_words("Acme Co"), &acme));
        assert!(!words_match(&[], &acme));
    }

    #[test]
    fn quotes_for_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
