//! Logging in: OAuth 2.0 token requests and answers, which most vendor APIs use.

use serde_json::Value;

use crate::{
    Effect, ErrorDetail, Failure, HttpRequest, HttpResponse, Vendor, basic_auth, json_text,
};

/// `POST url` with the client-credentials grant, the client's id and secret as HTTP Basic
/// credentials (RFC 6749 §4.4).
pub fn client_credentials(url: impl Into<String>, client_id: &str, secret: &str) -> HttpRequest {
    HttpRequest::post(url)
        .secret_header("Authorization", basic_auth(client_id, secret))
        .form(&[("grant_type", "client_credentials")])
        .effect(Effect::Read)
}

/// `POST url` with the password grant; the form body holds the password, so it is secret
/// (RFC 6749 §4.3).
pub fn password_grant(url: impl Into<String>, username: &str, password: &str) -> HttpRequest {
    HttpRequest::post(url)
        .header("Accept", "application/json")
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .secret_body()
        .effect(Effect::Read)
}

/// The value of an `Authorization` header for a bearer token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An access token and when it expires.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Token {
    /// The token.
    pub access_token: String,
    /// When it stops working, in Unix seconds, if the answer says: `expires_on`
    /// (absolute), else `now + expires_in`; clamped to `u32`.
    pub expires_at: Option<u32>,
}

/// The token in an OAuth 2.0 token answer (RFC 6749 §5.1) to the request `doing`
/// describes (e.g. "logging in as `admin`"). An error answer is the vendor's
/// [`Vendor::login_failure`] (`check` names the settings to check); an answer asking for a
/// second factor is `auth`; one without `access_token` is `vendor`.
pub fn oauth_token(
    vendor: &Vendor,
    response: &HttpResponse,
    now: u32,
    doing: &str,
    check: &str,
) -> Result<Token, Failure> {
    if !response.is_success() {
        return Err(vendor.login_failure(response, doing, check));
    }
    let body: Value = vendor.json(response, doing)?;
    let Some(access_token) = body.get("access_token").and_then(json_text) else {
        if body.get("mfa_token").and_then(json_text).is_some() {
            return Err(Failure::Auth(
                ErrorDetail::new(format!(
                    "{} asks this account for a second factor (multi-factor authentication), \
                     which tenantctl cannot answer; use a service account without it",
                    vendor.name
                ))
                .status(response.status),
            ));
        }
        return Err(vendor.unreadable(response, doing, "an access_token"));
    };
    let absolute = body.get("expires_on").and_then(seconds);
    let relative = body
        .get("expires_in")
        .and_then(seconds)
        .filter(|lifetime| *lifetime >= 1)
        .map(|lifetime| u64::from(now).saturating_add(lifetime));
    let expires_at = absolute
        .or(relative)
        .map(|at| u32::try_from(at).unwrap_or(u32::MAX));
    Ok(Token {
        access_token,
        expires_at,
    })
}

/// A non-negative number of seconds, as a JSON number (fractions cut) or a numeric string.
fn seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64().or_else(|| {
            // Truncating a fractional or huge float is what we want; `as` saturates.
            number.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)
        }),
        Value::String(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| *f >= 0.0)
            .map(|f| f as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json_response, text_response};
    use serde_json::json;

    const V: Vendor = Vendor {
        name: "Example",
        error: |body| {
            let code = body.get("error").and_then(json_text)?;
            Some(crate::VendorError {
                code: Some(code),
                message: body.get("error_description").and_then(json_text),
                retry_after: None,
            })
        },
        hints: &[],
        url_hint: "https://api.example.com",
    };

    fn at(body: Value, now: u32) -> Option<u32> {
        oauth_token(&V, &json_response(200, body), now, "x", "check")
            .unwrap()
            .expires_at
    }

    #[test]
    fn expiry_is_absolute_or_relative_and_clamped() {
        assert_eq!(
            at(json!({"access_token": "t", "expires_on": 1_700_000_000}), 5),
            Some(1_700_000_000)
        );
        assert_eq!(
            at(json!({"access_token": "t", "expires_on": "1700000000"}), 5),
            Some(1_700_000_000)
        );
        assert_eq!(
            at(json!({"access_token": "t", "expires_on": 1.7e9}), 5),
            Some(1_700_000_000)
        );
        assert_eq!(
            at(
                json!({"access_token": "t", "expires_on": 99_999_999_999u64}),
                5
            ),
            Some(u32::MAX)
        );
        assert_eq!(
            at(json!({"access_token": "t", "expires_in": 7200}), 100),
            Some(7300)
        );
        assert_eq!(
            at(json!({"access_token": "t", "expires_in": "60"}), 100),
            Some(160)
        );
        assert_eq!(
            at(json!({"access_token": "t", "expires_in": 60}), u32::MAX - 5),
            Some(u32::MAX)
        );
        assert_eq!(at(json!({"access_token": "t", "expires_in": 0}), 100), None);
        assert_eq!(
            at(json!({"access_token": "t", "expires_on": -5}), 100),
            None
        );
        assert_eq!(at(json!({"access_token": "t"}), 100), None);
    }

    #[test]
    fn refusals_second_factors_and_odd_answers_are_told_apart() {
        let refused = json_response(
            401,
            json!({"error": "invalid_client", "error_description": "bad secret"}),
        );
        let Err(Failure::Auth(detail)) = oauth_token(&V, &refused, 0, "x", "check the secret")
        else {
            panic!()
        };
        assert!(
            detail.message.contains("bad secret") && detail.message.contains("check the secret")
        );
        assert_eq!(detail.vendor_code.as_deref(), Some("invalid_client"));
        let mfa = json_response(200, json!({"mfa_token": "m"}));
        assert!(matches!(
            oauth_token(&V, &mfa, 0, "x", "c"),
            Err(Failure::Auth(_))
        ));
        let empty = json_response(200, json!({"access_token": ""}));
        assert!(matches!(
            oauth_token(&V, &empty, 0, "x", "c"),
            Err(Failure::Vendor(_))
        ));
        let html = text_response(200, "text/html", "<html>login</html>");
        assert!(matches!(
            oauth_token(&V, &html, 0, "x", "c"),
            Err(Failure::Vendor(_))
        ));
    }

    #[test]
    fn grants_hide_their_credentials() {
        let request = client_credentials("https://h/token", "id", "secret");
        assert!(
            request
                .headers
                .iter()
                .any(|h| h.name == "Authorization" && h.secret)
        );
        assert_eq!(request.body, b"grant_type=client_credentials");
        let request = password_grant("https://h/token", "u\\v", "p&q");
        assert!(request.body_secret);
        assert_eq!(
            String::from_utf8(request.body).unwrap(),
            "grant_type=password&username=u%5Cv&password=p%26q"
        );
    }
}
