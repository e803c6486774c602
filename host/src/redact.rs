//! Keeping credentials out of every log line, audit record and dry-run plan.

use std::collections::BTreeMap;

use crate::plugin::bindings::{HttpRequest, Method};
use crate::report::PlannedRequest;

/// What stands in for a secret.
pub const REDACTED: &str = "<redacted>";

/// Replaces known secret values wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Adds a secret to hide. Very short values are ignored: hiding them would mangle
    /// ordinary text while protecting little.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 4 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret containing another is hidden whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every known secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }

    /// The request as a dry run shows it: secret headers and bodies hidden, known secrets
    /// hidden everywhere else.
    pub fn plan(&self, request: &HttpRequest) -> PlannedRequest {
        let headers = request
            .headers
            .iter()
            .map(|h| {
                let value = if h.secret {
                    REDACTED.to_string()
                } else {
                    self.redact(&h.value)
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
                Ok(text) => Some(self.redact(text)),
                Err(_) => Some(format!("<{} bytes of binary data>", request.body.len())),
            }
        };
        PlannedRequest {
            method: method_name(request.method).to_string(),
            url: self.redact(&request.url),
            headers,
            body,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::{Effect, Header};

    #[test]
    fn plan_hides_secret_headers_bodies_and_known_values() {
        let mut redactor = Redactor::default();
        redactor.add("s3cret-token");
        redactor.add("abc");
        let request = HttpRequest {
            method: Method::Put,
            url: "https://x.test/api?token=s3cret-token".into(),
            headers: vec![
                Header {
                    name: "Authorization".into(),
                    value: "Bearer s3cret-token".into(),
                    secret: true,
                },
                Header {
                    name: "X-Echo".into(),
                    value: "has s3cret-token inside, abc stays".into(),
                    secret: false,
                },
            ],
            body: br#"{"enabled":false}"#.to_vec(),
            body_secret: false,
            effect: Effect::IdempotentWrite,
        };
        let plan = redactor.plan(&request);
        assert_eq!(plan.method, "PUT");
        assert_eq!(plan.url, "https://x.test/api?token=<redacted>");
        assert_eq!(plan.headers["Authorization"], REDACTED);
        assert_eq!(plan.headers["X-Echo"], "has <redacted> inside, abc stays");
        assert_eq!(plan.body.as_deref(), Some(r#"{"enabled":false}"#));

        let secret_body = HttpRequest {
            body_secret: true,
            ..request
        };
        assert_eq!(redactor.plan(&secret_body).body.as_deref(), Some(REDACTED));
    }
}
