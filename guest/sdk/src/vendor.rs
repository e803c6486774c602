//! Mapping a vendor's answers onto typed failures: statuses, error envelopes (also inside
//! HTTP 200 answers), and bodies that are not JSON at all (proxies, HTML pages).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ErrorDetail, Failure, HttpResponse, RateLimit};

/// What a vendor said about a failure, read from its error body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VendorError {
    /// Its error code, numbers as decimal strings.
    pub code: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// Seconds to wait, when the body says (some vendors put it there, not in a header).
    pub retry_after: Option<u32>,
}

impl VendorError {
    /// `error 1001: Version mismatch`, or whichever half is known.
    pub fn describe(&self) -> Option<String> {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => Some(format!("error {code}: {message}")),
            (Some(code), None) => Some(format!("error {code}")),
            (None, Some(message)) => Some(message.clone()),
            (None, None) => None,
        }
    }
}

/// A JSON value as text: strings trimmed (empty is `None`), numbers as their digits.
pub fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// How one vendor reports errors. Plugins declare it once as a `const` and read every
/// answer through it.
#[derive(Debug, Clone, Copy)]
pub struct Vendor {
    /// The vendor's name in messages, e.g. `Acronis`.
    pub name: &'static str,
    /// The error a JSON body reports, if it reports one: the vendor's error envelope, or
    /// (in a 2xx answer) the non-zero error code some vendors send with HTTP 200.
    pub error: fn(&Value) -> Option<VendorError>,
    /// What to tell the operator for a status, e.g. `(403, "the tenant must lie under the
    /// API client's own tenant")`.
    pub hints: &'static [(u16, &'static str)],
    /// What the base URL looks like, for a login that finds no service (404).
    pub url_hint: &'static str,
}

impl Vendor {
    /// The error in `response`'s body, if it is JSON in one of the vendor's shapes.
    pub fn error_in(&self, response: &HttpResponse) -> Option<VendorError> {
        let body: Value = serde_json::from_slice(&response.body).ok()?;
        (self.error)(&body)
    }

    /// What the vendor said: its code and message, or an excerpt of a body that is not
    /// its error shape.
    fn said(&self, response: &HttpResponse, error: Option<&VendorError>) -> String {
        error
            .and_then(VendorError::describe)
            .unwrap_or_else(|| response.body_excerpt())
    }

    fn detail(
        &self,
        response: &HttpResponse,
        error: Option<&VendorError>,
        message: String,
    ) -> ErrorDetail {
        let hint = self
            .hints
            .iter()
            .find(|(status, _)| *status == response.status)
            .map(|(_, hint)| format!("; {hint}"))
            .unwrap_or_default();
        let detail = ErrorDetail::new(format!("{message}{hint}")).status(response.status);
        match error.and_then(|e| e.code.clone()) {
            Some(code) => detail.code(code),
            None => detail,
        }
    }

    /// What a non-2xx answer to the request described by `doing` (e.g. `reading tenant
    /// 42`) means: 401 `session-expired` (the host logs in again), 403 `auth`, 404
    /// `not-found`, 429 `rate-limited` (with the wait from `Retry-After` or the body),
    /// anything else `vendor`, each with the vendor's code and message.
    pub fn failure(&self, response: &HttpResponse, doing: &str) -> Failure {
        let error = self.error_in(response);
        let error = error.as_ref();
        let (name, status) = (self.name, response.status);
        let said = self.said(response, error);
        let detail = |message: String| self.detail(response, error, message);
        match status {
            401 => Failure::SessionExpired(detail(format!(
                "{name} refused the session while {doing} (HTTP 401, {said}); tenantctl logs \
                 in again"
            ))),
            403 => Failure::Auth(detail(format!(
                "{name} denied access while {doing} (HTTP 403, {said})"
            ))),
            404 => Failure::NotFound(detail(format!(
                "{name} found nothing while {doing} (HTTP 404, {said}); check the id"
            ))),
            429 => {
                let limits: Vec<String> = [
                    ("X-RateLimit-Limit", "limit"),
                    ("X-RateLimit-Period", "period"),
                ]
                .iter()
                .filter_map(|(header, label)| {
                    response
                        .header(header)
                        .map(|v| format!("{label} {}", v.trim()))
                })
                .collect();
                let limits = match limits.is_empty() {
                    true => String::new(),
                    false => format!("; rate limit: {}", limits.join(", ")),
                };
                let retry_after = response
                    .retry_after()
                    .or_else(|| error.and_then(|e| e.retry_after));
                let wait = match retry_after {
                    Some(seconds) => format!("retry after {seconds} s"),
                    None => "retry later".to_string(),
                };
                Failure::RateLimited(RateLimit {
                    detail: detail(format!(
                        "{name} asked to slow down while {doing} (HTTP 429, {said}{limits}); {wait}"
                    )),
                    retry_after,
                })
            }
            500.. => Failure::Vendor(detail(format!(
                "{name} had a service problem while {doing} (HTTP {status}, {said}); try again \
                 later"
            ))),
            _ => Failure::Vendor(detail(format!(
                "{name} answered HTTP {status} while {doing}: {said}"
            ))),
        }
    }

    /// What a login answered with an error means: 400, 401 and 403 are `auth` (the
    /// credentials were refused; `check` says which settings to check) unless a 400 says
    /// the request was malformed (`invalid_request`, `unsupported_grant_type`,
    /// `invalid_scope`: `vendor`), 404 a `vendor` error pointing at the URL, anything else
    /// as [`Vendor::failure`].
    pub fn login_failure(&self, response: &HttpResponse, doing: &str, check: &str) -> Failure {
        let error = self.error_in(response);
        let (name, status) = (self.name, response.status);
        let said = self.said(response, error.as_ref());
        // OAuth answers 400 for refused credentials too, and for requests it cannot parse.
        let malformed = matches!(
            error.as_ref().and_then(|e| e.code.as_deref()),
            Some("invalid_request" | "unsupported_grant_type" | "invalid_scope")
        );
        match status {
            400 if malformed => self.failure(response, doing),
            400 | 401 | 403 => Failure::Auth(self.detail(
                response,
                error.as_ref(),
                format!("{name} refused the login while {doing} (HTTP {status}, {said}); {check}"),
            )),
            404 => Failure::Vendor(self.detail(
                response,
                error.as_ref(),
                format!(
                    "{name} has no login at this URL (HTTP 404, {said}); the URL looks like {}",
                    self.url_hint
                ),
            )),
            _ => self.failure(response, doing),
        }
    }

    /// `Ok` for a 2xx answer whose body reports no error; otherwise the failure: see
    /// [`Vendor::failure`], and a 2xx carrying an error is `vendor`.
    pub fn check(&self, response: &HttpResponse, doing: &str) -> Result<(), Failure> {
        if !response.is_success() {
            return Err(self.failure(response, doing));
        }
        match self.error_in(response) {
            None => Ok(()),
            Some(error) => Err(self.reported(response, &error, doing)),
        }
    }

    /// The failure a 2xx answer reports in its body.
    fn reported(&self, response: &HttpResponse, error: &VendorError, doing: &str) -> Failure {
        let said = self.said(response, Some(error));
        Failure::Vendor(self.detail(
            response,
            Some(error),
            format!(
                "{} reported a failure while {doing} (HTTP {}, {said})",
                self.name, response.status
            ),
        ))
    }

    /// [`Vendor::check`], then the body as `T`; a body that is not the expected JSON is a
    /// `vendor` failure quoting its start.
    pub fn json<T: DeserializeOwned>(
        &self,
        response: &HttpResponse,
        doing: &str,
    ) -> Result<T, Failure> {
        if !response.is_success() {
            return Err(self.failure(response, doing));
        }
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|_| self.unreadable(response, doing, "a JSON answer"))?;
        if let Some(error) = (self.error)(&body) {
            return Err(self.reported(response, &error, doing));
        }
        serde_json::from_value(body)
            .map_err(|err| self.unreadable(response, doing, &format!("the expected JSON ({err})")))
    }

    /// A 2xx answer that lacks what it should (`expected`): a `vendor` failure quoting the
    /// start of the body.
    pub fn unreadable(&self, response: &HttpResponse, doing: &str, expected: &str) -> Failure {
        Failure::Vendor(
            ErrorDetail::new(format!(
                "{} answered HTTP {} while {doing} without {expected}: {}",
                self.name,
                response.status,
                response.body_excerpt()
            ))
            .status(response.status),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json_response, text_response};

    fn envelope(body: &Value) -> Option<VendorError> {
        let error = body.get("error")?;
        Some(VendorError {
            code: error.get("code").and_then(json_text),
            message: error.get("message").and_then(json_text),
            retry_after: None,
        })
    }

    const V: Vendor = Vendor {
        name: "Example",
        error: envelope,
        hints: &[(403, "give the account a role with rights on the tenant")],
        url_hint: "https://api.example.com",
    };

    fn kind(failure: &Failure) -> &'static str {
        failure.kind()
    }

    #[test]
    fn statuses_map_to_the_cases_the_host_acts_on() {
        let body = serde_json::json!({"error": {"code": 7, "message": "no"}});
        let cases = [
            (401, "auth", "logs in again"),
            (403, "auth", "give the account a role"),
            (404, "not_found", "check the id"),
            (400, "vendor", "answered HTTP 400"),
            (503, "vendor", "try again later"),
        ];
        for (status, expected, words) in cases {
            let failure = V.failure(&json_response(status, body.clone()), "reading tenant 1");
            assert_eq!(kind(&failure), expected, "{status}");
            let detail = failure.detail();
            assert!(
                detail.message.contains(words),
                "{status}: {}",
                detail.message
            );
            assert!(detail.message.contains("error 7: no"), "{}", detail.message);
            assert!(
                detail.message.contains("reading tenant 1"),
                "{}",
                detail.message
            );
            assert_eq!(detail.http_status, Some(status));
            assert_eq!(detail.vendor_code.as_deref(), Some("7"));
        }
        assert!(matches!(
            V.failure(&json_response(401, body), "x"),
            Failure::SessionExpired(_)
        ));
    }

    #[test]
    fn a_non_json_error_quotes_the_body() {
        let failure = V.failure(
            &text_response(502, "text/html", "<html>Bad gateway</html>"),
            "x",
        );
        let detail = failure.detail();
        assert!(
            detail.message.contains("<html>Bad gateway</html>"),
            "{}",
            detail.message
        );
        assert_eq!(detail.vendor_code, None);
    }

    #[test]
    fn rate_limits_carry_the_wait_from_the_header_or_the_body() {
        let mut response = json_response(429, serde_json::json!({}));
        response.headers.push(crate::Header {
            name: "Retry-After".into(),
            value: "30".into(),
            secret: false,
        });
        response.headers.push(crate::Header {
            name: "X-RateLimit-Limit".into(),
            value: "100".into(),
            secret: false,
        });
        let Failure::RateLimited(limit) = V.failure(&response, "x") else {
            panic!()
        };
        assert_eq!(limit.retry_after, Some(30));
        assert!(
            limit.detail.message.contains("limit 100"),
            "{}",
            limit.detail.message
        );
        let in_body = Vendor {
            error: |_| {
                Some(VendorError {
                    retry_after: Some(25),
                    ..VendorError::default()
                })
            },
            ..V
        };
        let Failure::RateLimited(limit) =
            in_body.failure(&json_response(429, serde_json::json!({})), "x")
        else {
            panic!()
        };
        assert_eq!(limit.retry_after, Some(25));
    }

    #[test]
    fn an_error_inside_http_200_is_a_vendor_failure() {
        let response = json_response(
            200,
            serde_json::json!({"error": {"code": "E1", "message": "locked"}}),
        );
        let failure = V.check(&response, "writing").unwrap_err();
        assert_eq!(kind(&failure), "vendor");
        assert!(failure.detail().message.contains("locked"));
        assert!(V.json::<Value>(&response, "writing").is_err());
        assert!(
            V.check(&json_response(200, serde_json::json!({"ok": 1})), "x")
                .is_ok()
        );
    }

    #[test]
    fn json_reads_the_body_or_quotes_what_it_got() {
        #[derive(Debug, serde::Deserialize)]
        struct Tenant {
            id: String,
        }
        let ok = V.json::<Tenant>(&json_response(200, serde_json::json!({"id": "t"})), "x");
        assert_eq!(ok.unwrap().id, "t");
        let html = text_response(200, "text/html", "<p>maintenance</p>");
        let err = V.json::<Tenant>(&html, "reading").unwrap_err();
        assert!(err.detail().message.contains("<p>maintenance</p>"));
        let shape = V.json::<Tenant>(&json_response(200, serde_json::json!([1])), "reading");
        assert!(matches!(shape, Err(Failure::Vendor(_))));
    }

    #[test]
    fn a_refused_login_is_auth_and_a_missing_one_points_at_the_url() {
        for status in [400, 401, 403] {
            let failure = V.login_failure(
                &json_response(status, serde_json::json!({})),
                "logging in",
                "check the key",
            );
            assert!(matches!(failure, Failure::Auth(_)), "{status}");
            assert!(failure.detail().message.contains("check the key"));
        }
        let missing = V.login_failure(&text_response(404, "text/html", "nope"), "logging in", "k");
        assert!(
            matches!(&missing, Failure::Vendor(d) if d.message.contains("https://api.example.com"))
        );
        let malformed = json_response(
            400,
            serde_json::json!({"error": {"code": "unsupported_grant_type"}}),
        );
        assert!(matches!(
            V.login_failure(&malformed, "logging in", "k"),
            Failure::Vendor(_)
        ));
        let busy = V.login_failure(
            &json_response(503, serde_json::json!({})),
            "logging in",
            "k",
        );
        assert!(matches!(busy, Failure::Vendor(_)));
    }
}
