//! Building requests and reading responses.

use base64::Engine as _;

use crate::{Effect, Header, HttpRequest, HttpResponse, Method};

impl HttpRequest {
    /// A request with no headers and no body that changes nothing ([`Effect::Read`]).
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            body_secret: false,
            effect: Effect::Read,
            cache_for: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push(Header {
            name: name.to_string(),
            value: value.into(),
            secret: false,
        });
        self
    }

    /// Adds a header holding a credential; the host never shows its value.
    pub fn secret_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push(Header {
            name: name.to_string(),
            value: value.into(),
            secret: true,
        });
        self
    }

    /// Sets a JSON body and its `Content-Type`.
    pub fn json(self, body: &impl serde::Serialize) -> Self {
        let bytes = serde_json::to_vec(body).expect("request body must serialize to JSON");
        self.body(bytes, "application/json")
    }

    /// Sets an `application/x-www-form-urlencoded` body and its `Content-Type`.
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = query_string(pairs);
        self.body(body.into_bytes(), "application/x-www-form-urlencoded")
    }

    /// Sets a body with the given content type.
    pub fn body(mut self, bytes: Vec<u8>, content_type: &str) -> Self {
        self.body = bytes;
        self.header("Content-Type", content_type)
    }

    /// Marks the body as holding a credential; the host never shows it.
    pub fn secret_body(mut self) -> Self {
        self.body_secret = true;
        self
    }

    /// Declares what sending the request does (see [`Effect`]).
    pub fn effect(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }

    /// Lets the host serve this read's answer to other operations of the same account for
    /// `seconds` (e.g. the company list every name lookup reads), so a batch of name rows
    /// reads it once. Only for reads whose answer does not depend on the tenant asked for.
    pub fn cache_for(mut self, seconds: u32) -> Self {
        self.cache_for = Some(seconds);
        self
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl HttpResponse {
    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body parsed as JSON into `T`, or a description of why it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|err| {
            format!(
                "HTTP {} with a body that is not the expected JSON ({err}): {}",
                self.status,
                self.body_excerpt()
            )
        })
    }

    /// True when the body is empty or only whitespace.
    pub fn is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The start of the body as text, with whitespace folded, for error messages.
    pub fn body_excerpt(&self) -> String {
        const LIMIT: usize = 200;
        let text = String::from_utf8_lossy(&self.body);
        let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if folded.is_empty() {
            return "(empty body)".to_string();
        }
        match folded.char_indices().nth(LIMIT) {
            Some((cut, _)) => format!("{}…", &folded[..cut]),
            None => folded,
        }
    }

    /// The `Retry-After` header as whole seconds, when it is a number.
    pub fn retry_after(&self) -> Option<u32> {
        self.header("Retry-After")?.trim().parse().ok()
    }
}

fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_str())
}

/// `name=value&…`, percent-encoded as in a query string or a form body.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `text` percent-encoded for one URL path segment: everything but RFC 3986 unreserved
/// characters is escaped, so a value from the operator cannot add segments or a query.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Standard base64 of `bytes`.
pub fn base64_encode(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The value of an HTTP Basic `Authorization` header for `user` and `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64_encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn query_string_encodes_spaces_and_symbols() {
        assert_eq!(
            query_string(&[("text", "Acme & Co"), ("limit", "5")]),
            "text=Acme+%26+Co&limit=5"
        );
    }

    #[test]
    fn body_excerpt_folds_whitespace_and_cuts_long_bodies() {
        let response = HttpResponse {
            status: 502,
            headers: vec![],
            body: format!("<html>\n  <body>{}</body></html>", "x".repeat(500)).into_bytes(),
        };
        let excerpt = response.body_excerpt();
        assert!(excerpt.starts_with("<html> <body>xxx"));
        assert!(excerpt.ends_with('…'));
        assert_eq!(excerpt.chars().count(), 201);
    }

    #[test]
    fn path_segments_escape_everything_but_unreserved_characters() {
        assert_eq!(path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(path_segment("A-z_0.9~"), "A-z_0.9~");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn cache_hints_and_methods() {
        let request = HttpRequest::get("http://x").cache_for(60);
        assert_eq!(request.cache_for, Some(60));
        assert_eq!(HttpRequest::delete("http://x").method, Method::Delete);
        assert_eq!(HttpRequest::patch("http://x").cache_for, None);
    }

    #[test]
    fn header_lookup_ignores_case() {
        let request = HttpRequest::get("http://x").header("Content-Type", "text/plain");
        assert_eq!(request.header_value("content-type"), Some("text/plain"));
    }

    #[test]
    fn json_error_names_status_and_body() {
        let response = HttpResponse {
            status: 200,
            headers: vec![],
            body: b"<html>oops</html>".to_vec(),
        };
        let err = response.json::<serde_json::Value>().unwrap_err();
        assert!(
            err.contains("HTTP 200") && err.contains("<html>oops</html>"),
            "{err}"
        );
    }
}
