//! Keeping credentials out of everything tenantctl writes: results, the audit journal, log
//! lines, transcripts, dry-run plans and error messages.
//!
//! There is one registry of secrets for the process. Accounts add their secret
//! configuration values, every session token they obtain, and every header value a plugin
//! marks secret ([`register`]); every place output leaves tenantctl — stdout, stderr and the
//! log, the journal, transcripts, the service's database and answers — passes its text
//! through [`scrub`]. A plugin cannot smuggle a secret past it by encoding it: each secret is
//! also matched in its JSON-escaped, percent-encoded and base64 forms (the base64 form at
//! every alignment, so it is found inside `base64("user:secret")` too).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::plugin::bindings::{HttpRequest, Method};
use crate::report::{PlannedRequest, TenantResult};

/// What stands in for a secret.
pub const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not registered: hiding them would mangle ordinary text
/// while protecting little.
pub const MIN_SECRET_LEN: usize = 4;

/// Encoded forms shorter than this are not matched (a short base64 fragment appears in
/// ordinary text by chance).
const MIN_FORM_LEN: usize = 8;

/// Every secret's forms, matched together.
#[derive(Default)]
struct Registry {
    secrets: HashSet<String>,
    forms: Vec<String>,
    matcher: Option<Arc<AhoCorasick>>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(Default::default);

/// Adds `secret` to the values hidden everywhere, for the rest of the process.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    if read_registry().secrets.contains(secret) {
        return;
    }
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if !registry.secrets.insert(secret.to_string()) {
        return;
    }
    // "Bearer abc…", "QSDK abc…": the credential alone appears elsewhere (response bodies).
    let parts = secret
        .split_whitespace()
        .filter(|part| part.len() >= MIN_FORM_LEN && *part != secret);
    let mut forms: Vec<String> = forms(secret);
    for part in parts {
        forms.extend(self::forms(part));
    }
    for form in forms {
        if !registry.forms.contains(&form) {
            registry.forms.push(form);
        }
    }
    // A contiguous NFA, not the DFA the builder would pick for this few patterns: a token's
    // forms come to kilobytes of patterns, whose DFA takes milliseconds (and megabytes) to
    // build at every new secret, where scrubbing the short texts tenantctl writes runs as
    // fast on the NFA.
    let matcher = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(&registry.forms)
        .expect("literal patterns always build");
    registry.matcher = Some(Arc::new(matcher));
}

fn read_registry() -> std::sync::RwLockReadGuard<'static, Registry> {
    REGISTRY.read().unwrap_or_else(|e| e.into_inner())
}

/// `text` with every form of every registered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let matcher = read_registry().matcher.clone();
    match matcher {
        Some(matcher) if matcher.is_match(text) => {
            let mut clean = String::with_capacity(text.len());
            matcher.replace_all_with(text, &mut clean, |_, _, clean| {
                clean.push_str(REDACTED);
                true
            });
            Cow::Owned(clean)
        }
        _ => Cow::Borrowed(text),
    }
}

/// Scrubs a `String` in place.
pub fn scrub_in_place(text: &mut String) {
    if let Cow::Owned(clean) = scrub(text) {
        *text = clean;
    }
}

/// Scrubs every text of a result: ids, names, the error, notes and the planned request.
pub fn scrub_result(result: &mut TenantResult) {
    for text in [&mut result.tenant_id, &mut result.tenant_name]
        .into_iter()
        .flatten()
    {
        scrub_in_place(text);
    }
    if let Some(error) = &mut result.error {
        scrub_in_place(&mut error.message);
        if let Some(code) = &mut error.vendor_code {
            scrub_in_place(code);
        }
    }
    result.notes.iter_mut().for_each(scrub_in_place);
    if let Some(plan) = &mut result.planned_request {
        scrub_in_place(&mut plan.url);
        plan.headers.values_mut().for_each(scrub_in_place);
        if let Some(body) = &mut plan.body {
            scrub_in_place(body);
        }
    }
}

/// The forms in which `secret` may appear in output.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    let json = serde_json::to_string(secret).expect("a string serializes");
    let json = json[1..json.len() - 1].to_string();
    let json_twice = serde_json::to_string(&json).expect("a string serializes");
    forms.push(json_twice[1..json_twice.len() - 1].to_string());
    forms.push(json);
    let strict = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let form = form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>();
    for encoded in [strict, form] {
        forms.push(lower_hex_escapes(&encoded));
        forms.push(encoded);
    }
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        for offset in 0..3 {
            forms.push(base64_core(&engine, secret.as_bytes(), offset));
        }
    }
    forms.retain(|form| form == secret || form.len() >= MIN_FORM_LEN);
    forms.sort();
    forms.dedup();
    forms
}

/// The part of the base64 encoding of `secret`, starting `offset` bytes into the encoded
/// data, that depends on nothing but `secret`: it appears whatever surrounds the secret.
fn base64_core(engine: &impl base64::Engine, secret: &[u8], offset: usize) -> String {
    let mut data = vec![0u8; offset];
    data.extend_from_slice(secret);
    let encoded = engine.encode(&data);
    // Character i covers bits 6i..6i+6; keep those inside the secret's bits.
    let first = (8 * offset).div_ceil(6);
    let end = (8 * (offset + secret.len())) / 6;
    encoded.get(first..end).unwrap_or_default().to_string()
}

/// `%2F` → `%2f`: the same escape, as some encoders write it.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut chars = encoded.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

/// The request as a dry run shows it: secret headers and bodies hidden, every registered
/// secret hidden everywhere else.
pub fn plan(request: &HttpRequest) -> PlannedRequest {
    let headers = request
        .headers
        .iter()
        .map(|h| {
            let value = if h.secret {
                REDACTED.to_string()
            } else {
                scrub(&h.value).into_owned()
            };
            (h.name.clone(), value)
        })
        .collect::<BTreeMap<_, _>>();
    let body = if request.body.is_empty() {
        None
    } else if request.body_secret {
        Some(REDACTED.to_string())
    } else {
        match std::str::from_utf8(&request.body) {
            Ok(text) => Some(scrub(text).into_owned()),
            Err(_) => Some(format!("<{} bytes of binary data>", request.body.len())),
        }
    };
    PlannedRequest {
        method: method_name(request.method).to_string(),
        url: scrub(&request.url).into_owned(),
        headers,
        body,
    }
}

/// The HTTP method's name.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// Standard error for the log, scrubbed: each log event is collected and written scrubbed
/// in one piece.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubbedStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine(Vec::new())
    }
}

/// One log event on its way to stderr.
#[derive(Debug)]
pub struct ScrubbedLine(Vec<u8>);

impl std::io::Write for ScrubbedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.0);
        let clean = scrub(&text);
        let mut stderr = std::io::stderr().lock();
        let written = stderr.write_all(clean.as_bytes());
        self.0.clear();
        written
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = std::io::Write::flush(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::{Effect, Header};
    use base64::Engine as _;

    #[test]
    fn plan_hides_secret_headers_bodies_and_registered_values() {
        register("s3cret-token-for-plan");
        let request = HttpRequest {
            method: Method::Put,
            url: "https://x.test/api?token=s3cret-token-for-plan".into(),
            headers: vec![
                Header {
                    name: "Authorization".into(),
                    value: "Bearer s3cret-token-for-plan".into(),
                    secret: true,
                },
                Header {
                    name: "X-Echo".into(),
                    value: "has s3cret-token-for-plan inside, abc stays".into(),
                    secret: false,
                },
            ],
            body: br#"{"enabled":false}"#.to_vec(),
            body_secret: false,
            effect: Effect::IdempotentWrite,
            cache_for: None,
        };
        let plan = plan(&request);
        assert_eq!(plan.method, "PUT");
        assert_eq!(plan.url, "https://x.test/api?token=<redacted>");
        assert_eq!(plan.headers["Authorization"], REDACTED);
        assert_eq!(plan.headers["X-Echo"], "has <redacted> inside, abc stays");
        assert_eq!(plan.body.as_deref(), Some(r#"{"enabled":false}"#));

        let secret_body = HttpRequest {
            body_secret: true,
            ..request
        };
        assert_eq!(super::plan(&secret_body).body.as_deref(), Some(REDACTED));
    }

    #[test]
    fn every_encoding_of_a_secret_is_hidden() {
        let secret = "p@ss w0rd/\"quoted\"+more";
        register(secret);
        let b64 = base64::engine::general_purpose::STANDARD;
        let url_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let json = serde_json::to_string(secret).unwrap();
        let encodings = [
            secret.to_string(),
            json.clone(),
            serde_json::to_string(&json).unwrap(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            b64.encode(secret),
            b64.encode(format!("client:{secret}")),
            b64.encode(format!("x{secret}y")),
            url_b64.encode(format!("ab{secret}")),
        ];
        for encoded in encodings {
            let text = format!("before {encoded} after");
            let clean = scrub(&text);
            assert!(clean.contains(REDACTED), "{encoded} not hidden: {clean}");
            assert!(!clean.contains("w0rd"), "{clean}");
            assert!(
                clean.starts_with("before ") && clean.ends_with(" after"),
                "{clean}"
            );
        }
    }

    #[test]
    fn tokens_are_hidden_alone_and_text_without_secrets_is_untouched() {
        register("QSDK 3da0b1c2d3e4f5a6b7c8d9e0");
        assert_eq!(
            scrub("token 3da0b1c2d3e4f5a6b7c8d9e0 leaked"),
            "token <redacted> leaked"
        );
        let plain = "nothing secret here at all";
        assert!(matches!(scrub(plain), Cow::Borrowed(_)));
        register("abc");
        assert_eq!(
            scrub("abc stays"),
            "abc stays",
            "short values are not secrets"
        );
    }
}
