//! Sending the requests plugins ask for: only to the configured origin, with a timeout per
//! request and retries for requests that are safe to repeat.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng as _;
use url::Url;

use crate::plugin::bindings::{Effect, Header, HttpRequest, HttpResponse, Method};

/// How requests are sent and retried.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Time allowed for one request, from connecting to the last byte of the body.
    pub timeout: Duration,
    /// Retries after the first attempt, for failures worth retrying.
    pub retries: u32,
    /// The first backoff; each retry doubles it, with jitter.
    pub backoff: Duration,
    /// The longest backoff between two attempts.
    pub max_backoff: Duration,
    /// The longest `Retry-After` the host waits out; a longer one ends the retries and the
    /// plugin reports the vendor's answer.
    pub max_retry_after: Duration,
    /// Largest response body read; a larger one fails the request.
    pub max_response_bytes: usize,
    /// CA certificates trusted besides the system's (`--ca-cert`, `ca_cert`); certificate
    /// verification itself is never turned off.
    pub ca_certs: Vec<reqwest::Certificate>,
    /// The account is reached over plain `http://` (egress is held to its origin), so the
    /// client speaks no TLS and skips loading the system's root certificates, which costs
    /// more than the rest of a short command's start.
    pub plain_http_only: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            max_response_bytes: 16 << 20,
            ca_certs: Vec::new(),
            plain_http_only: false,
        }
    }
}

/// Why a request got no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SendError {
    /// The request timed out, on the last attempt.
    #[error("{0}")]
    Timeout(String),
    /// The connection failed, on the last attempt.
    #[error("{message}")]
    Transport {
        /// What failed.
        message: String,
        /// False only when the failure proves the request never reached the server.
        may_have_arrived: bool,
    },
    /// The host refused to send it (outside the configured origin, too large, malformed):
    /// the plugin's fault, never retried.
    #[error("{0}")]
    Refused(String),
    /// The response was larger than the host reads; it failed the request rather than reach
    /// the plugin cut short.
    #[error("{0}")]
    TooLarge(String),
}

/// Headers the host sets itself (or that would change how the request is framed or routed);
/// a plugin that asks for one is refused. `Proxy-*` headers are refused too.
pub const HOST_OWNED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
];

/// True when a plugin may not set the header `name` (compared case-insensitively).
pub fn is_host_owned(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    HOST_OWNED_HEADERS.contains(&name.as_str()) || name.starts_with("proxy-")
}

/// Checks a header a plugin asked for: a valid name and value, and not one the host owns.
/// Returns why not, as a phrase that follows "it" (the value is never repeated: it may be a
/// credential).
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!(
            "asked to set a header with the invalid name {:?}",
            crate::redact::scrub(name)
        ));
    }
    if is_host_owned(name) {
        return Err(format!(
            "asked to set the header {name}, which tenantctl sets itself"
        ));
    }
    if reqwest::header::HeaderValue::from_bytes(value.as_bytes()).is_err() {
        return Err(format!(
            "asked to set the header {name} to a value that is not a valid header value (a \
             line break or another control character in it)"
        ));
    }
    Ok(())
}

/// True when `url` carries a user name or password (`http://user:pass@host/`).
pub fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `url` without its user name and password, for messages.
fn without_userinfo(url: &Url) -> Url {
    let mut shown = url.clone();
    // Only URLs that cannot have userinfo refuse these, and those have none to remove.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown
}

/// Why one attempt got no response.
enum AttemptError {
    /// What reqwest reported.
    Http(reqwest::Error),
    /// The body was over the cap; the message says how far.
    TooLarge(String),
}

/// A response, and how many attempts it took.
#[derive(Debug)]
pub struct Delivered {
    /// The vendor's answer (possibly an error status the retries could not get past).
    pub response: HttpResponse,
    /// Attempts made, 1 when the first one was answered.
    pub attempts: u32,
}

/// A boxed future, as [`Transport`] returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What carries an account's requests: [`HttpClient`] for real, or a recorder or replayer
/// of transcripts (see [`crate::transcript`]).
pub trait Transport: Send + Sync {
    /// Sends `request` to `url`, which the account has already checked against its origin.
    fn send<'a>(
        &'a self,
        url: &'a Url,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<Delivered, SendError>>;
}

impl Transport for HttpClient {
    fn send<'a>(
        &'a self,
        url: &'a Url,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(HttpClient::send(self, url, request))
    }
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn send<'a>(
        &'a self,
        url: &'a Url,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<Delivered, SendError>> {
        (**self).send(url, request)
    }
}

/// The scheme, host and port every request of a vendor account must go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(url::Origin);

impl Origin {
    /// The origin of `base_url`; only `http` and `https` URLs with a host are accepted.
    pub fn of(base_url: &str) -> Result<Origin, String> {
        let url =
            Url::parse(base_url).map_err(|err| format!("{base_url:?} is not a URL: {err}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!(
                "{base_url:?} must be an http:// or https:// URL with a host"
            ));
        }
        Ok(Origin(url.origin()))
    }

    /// True when `url` is in this origin.
    pub fn allows(&self, url: &Url) -> bool {
        url.origin() == self.0
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.ascii_serialization())
    }
}

/// Refuses a plain `http://` base URL whose host is not loopback (127.0.0.0/8, `::1`,
/// `localhost`) unless `allow_http` is set for the vendor: credentials and tenant data
/// would cross the network unencrypted.
pub fn check_plain_http(base_url: &str, vendor: &str, allow_http: bool) -> Result<(), String> {
    let Ok(url) = Url::parse(base_url) else {
        return Ok(()); // not a URL: Origin::of says why
    };
    if url.scheme() != "http" || allow_http {
        return Ok(());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    };
    if loopback {
        return Ok(());
    }
    Err(format!(
        "refusing plain http:// to {}, which is not a loopback host: credentials and tenant \
         data would cross the network unencrypted, and nothing was sent; use https://, or, if \
         this network is trusted, set allow_http = true under [vendors.{vendor}] in the \
         configuration file",
        url.host_str().unwrap_or_default()
    ))
}

/// Reads a PEM file of CA certificates for [`HttpSettings::ca_certs`]; `named_by` says where
/// the path came from, for the message.
pub fn load_ca_certs(
    path: &std::path::Path,
    named_by: &str,
) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|err| {
        format!(
            "reading the CA certificate file {} ({named_by}): {err}",
            path.display()
        )
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
        format!(
            "the CA certificate file {} ({named_by}) is not PEM: {err}",
            path.display()
        )
    })?;
    if certs.is_empty() {
        return Err(format!(
            "the CA certificate file {} ({named_by}) holds no PEM certificate \
             (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The HTTP client shared by every operation of a run (connections are reused).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
    limiter: Option<Arc<governor::DefaultDirectRateLimiter>>,
}

impl HttpClient {
    /// A client with these settings. Redirects are followed only within the same origin.
    pub fn new(settings: HttpSettings) -> anyhow::Result<Self> {
        let same_origin = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().map(|url| url.origin());
            if attempt.previous().len() > 5 || first != Some(attempt.url().origin()) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let builder = reqwest::Client::builder()
            .redirect(same_origin)
            .user_agent(concat!("tenantctl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout);
        let certs = settings.ca_certs.iter().cloned();
        let client = if settings.plain_http_only {
            builder.tls_certs_only(certs)
        } else {
            builder.tls_certs_merge(certs)
        }
        .build()?;
        Ok(HttpClient {
            client,
            settings,
            limiter: None,
        })
    }

    /// Allows at most `requests` attempts per `period` (a burst of `requests`, then evenly
    /// spaced); every attempt, retries included, waits its turn.
    pub fn with_rate_limit(mut self, requests: std::num::NonZeroU32, period: Duration) -> Self {
        let spacing = (period / requests.get()).max(Duration::from_nanos(1));
        let quota = governor::Quota::with_period(spacing)
            .expect("a non-zero period")
            .allow_burst(requests);
        self.limiter = Some(Arc::new(governor::RateLimiter::direct(quota)));
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Sends `request` to `url`, retrying as its effect allows: reads and idempotent
    /// writes on 408, 429, 500, 502, 503, 504, timeouts and connection errors; other writes
    /// only when the connection was never made.
    ///
    /// A request that cannot be built (a URL with userinfo, a host-owned or malformed
    /// header) is [`SendError::Refused`] before anything is sent, and a response over
    /// [`HttpSettings::max_response_bytes`] is [`SendError::TooLarge`]; neither is retried.
    pub async fn send(&self, url: &Url, request: &HttpRequest) -> Result<Delivered, SendError> {
        let prepared = self.prepare(url, request)?;
        let repeatable = request.effect != Effect::Write;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt > self.settings.retries;
            if let Some(limiter) = &self.limiter {
                crate::slots::idle(limiter.until_ready()).await;
            }
            let this_try = prepared
                .try_clone()
                .expect("a request with a body of bytes can be cloned");
            match self.send_once(url, this_try).await {
                Ok(response) => {
                    let wait = if repeatable && !last && is_transient(response.status) {
                        self.wait_before_retry(attempt, &response)
                    } else {
                        None
                    };
                    match wait {
                        Some(wait) => {
                            tracing::info!(status = response.status, attempt, ?wait, url = %url, "retrying");
                            crate::slots::idle(tokio::time::sleep(wait)).await;
                        }
                        None => {
                            return Ok(Delivered {
                                response,
                                attempts: attempt,
                            });
                        }
                    }
                }
                Err(AttemptError::TooLarge(message)) => return Err(SendError::TooLarge(message)),
                Err(AttemptError::Http(err)) => {
                    let never_arrived = err.is_connect();
                    // A certificate the client does not accept will not be accepted next
                    // time, and a request that cannot be built is the plugin's fault.
                    let certificate = certificate_problem(&err).is_some();
                    if (repeatable || never_arrived) && !last && !certificate && !err.is_builder() {
                        let wait = self.backoff(attempt);
                        tracing::info!(error = %err, attempt, ?wait, url = %url, "retrying");
                        crate::slots::idle(tokio::time::sleep(wait)).await;
                        continue;
                    }
                    return Err(describe(err, url, attempt));
                }
            }
        }
    }

    /// The request as reqwest sends it, built once for every attempt; a request that cannot
    /// be built is the plugin's fault.
    fn prepare(&self, url: &Url, request: &HttpRequest) -> Result<reqwest::Request, SendError> {
        let refused = |why: String| {
            SendError::Refused(format!(
                "asked for a request tenantctl cannot send ({} {}): {why}; nothing was sent",
                crate::redact::method_name(request.method),
                crate::redact::scrub(without_userinfo(url).as_str())
            ))
        };
        if has_userinfo(url) {
            // reqwest would turn it into an `Authorization: Basic` header.
            return Err(refused(
                "the URL carries a user name or password; credentials go in secret headers".into(),
            ));
        }
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut headers = reqwest::header::HeaderMap::with_capacity(request.headers.len());
        for header in &request.headers {
            check_header(&header.name, &header.value)
                .map_err(|why| refused(format!("it {why}")))?;
            let name = reqwest::header::HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|err| refused(err.to_string()))?;
            let mut value = reqwest::header::HeaderValue::from_bytes(header.value.as_bytes())
                .map_err(|err| refused(err.to_string()))?;
            value.set_sensitive(header.secret);
            headers.append(name, value);
        }
        self.client
            .request(method, url.clone())
            .timeout(self.settings.timeout)
            .headers(headers)
            .body(request.body.clone())
            .build()
            .map_err(|err| refused(error_chain(&err)))
    }

    async fn send_once(
        &self,
        url: &Url,
        request: reqwest::Request,
    ) -> Result<HttpResponse, AttemptError> {
        let cap = self.settings.max_response_bytes;
        let too_large = |what: String| {
            AttemptError::TooLarge(format!(
                "the response to {url} {what}, over the {} tenantctl reads; it was not passed \
                 to the plugin (a response that large is not an answer this API gives: check \
                 the URL, or what stands between tenantctl and the vendor)",
                byte_size(cap)
            ))
        };
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(AttemptError::Http)?;
        let status = response.status().as_u16();
        if let Some(length) = response.content_length().filter(|n| *n > cap as u64) {
            return Err(too_large(format!(
                "(HTTP {status}) announces {}",
                byte_size(length as usize)
            )));
        }
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| Header {
                name: name.as_str().to_string(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                secret: false,
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(AttemptError::Http)? {
            if body.len() + chunk.len() > cap {
                // Stop reading: whatever follows is not wanted.
                return Err(too_large(format!(
                    "(HTTP {status}) went on past {}",
                    byte_size(cap)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// How long to wait before retrying a transient status, or `None` to stop retrying.
    fn wait_before_retry(&self, attempt: u32, response: &HttpResponse) -> Option<Duration> {
        match retry_after(response, SystemTime::now()) {
            Some(wait) if wait > self.settings.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt)),
        }
    }

    /// Exponential backoff with jitter: a random wait between half and all of
    /// `backoff × 2^(attempt-1)`, capped at `max_backoff`.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .settings
            .backoff
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(self.settings.max_backoff);
        let floor = ceiling / 2;
        floor
            + ceiling
                .saturating_sub(floor)
                .mul_f64(rand::rng().random::<f64>())
    }
}

/// Statuses that a later attempt may not meet.
fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait a response asks for: `Retry-After` (whole seconds or an HTTP date); for a 429
/// without it, `X-RateLimit-Reset` (seconds until the window resets) or, failing that,
/// `X-RateLimit-Period` (the window's length, as Commvault Cloud sends it).
pub fn retry_after(response: &HttpResponse, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim())
    };
    if let Some(value) = header("retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(at) = httpdate::parse_http_date(value) {
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    if response.status != 429 {
        return None;
    }
    ["x-ratelimit-reset", "x-ratelimit-period"]
        .into_iter()
        .find_map(|name| header(name)?.parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The TLS certificate problem behind `err`, found by walking its chain of causes (rustls
/// reports it inside the I/O error of the connection), in words.
pub fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(tls @ rustls::Error::InvalidCertificate(problem)) = tls_error(err) {
        use rustls::CertificateError as E;
        let plain = match problem {
            E::UnknownIssuer => "it is not signed by a trusted certificate authority",
            E::Expired | E::ExpiredContext { .. } => "it has expired",
            E::NotValidYet | E::NotValidYetContext { .. } => "it is not valid yet",
            E::NotValidForName | E::NotValidForNameContext { .. } => {
                "it is not valid for this host name"
            }
            E::Revoked => "it has been revoked",
            E::BadSignature => "its signature is invalid",
            E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
                "it is not meant for a TLS server"
            }
            _ => "it was not accepted",
        };
        return Some(format!(
            "the server's TLS certificate was refused: {plain} ({tls}); if a private CA \
             issued it, trust that CA with --ca-cert FILE, TENANTCTL_<VENDOR>_CA_CERT or \
             ca_cert in [vendors.NAME] (verification is never turned off)",
        ));
    }
    None
}

/// The TLS error somewhere in `err`'s chain. An `io::Error` wrapping another error hides it
/// from `source()` (which skips to the wrapped error's own source), so it is unwrapped here.
fn tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        let inner: &(dyn std::error::Error + 'static) = inner;
        return tls_error(inner);
    }
    tls_error(err.source()?)
}

/// `bytes` for people: `16 MiB`, `1500 bytes`.
fn byte_size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// An error and its causes, joined with `: `.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

fn describe(err: reqwest::Error, url: &Url, attempts: u32) -> SendError {
    let mut chain = error_chain(&err);
    if let Some(problem) = certificate_problem(&err) {
        chain = format!("{problem}: {chain}");
    }
    let tries = if attempts == 1 {
        "1 attempt".to_string()
    } else {
        format!("{attempts} attempts")
    };
    if err.is_builder() {
        SendError::Refused(format!(
            "asked for a request tenantctl cannot send ({url}): {chain}; nothing was sent"
        ))
    } else if err.is_timeout() {
        SendError::Timeout(format!("request to {url} timed out after {tries}: {chain}"))
    } else {
        SendError::Transport {
            message: format!("request to {url} failed after {tries}: {chain}"),
            may_have_arrived: !err.is_connect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_with(header: &str, value: &str) -> HttpResponse {
        HttpResponse {
            status: 429,
            headers: vec![Header {
                name: header.into(),
                value: value.into(),
                secret: false,
            }],
            body: vec![],
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&response_with("Retry-After", "7"), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after(&response_with("retry-after", &later), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&response_with("Retry-After", "soon"), now),
            None
        );
        assert_eq!(retry_after(&response_with("X-Other", "7"), now), None);
        assert_eq!(
            retry_after(&response_with("X-RateLimit-Period", "3600"), now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            retry_after(&response_with("X-RateLimit-Reset", "12"), now),
            Some(Duration::from_secs(12))
        );
        let not_429 = HttpResponse {
            status: 503,
            ..response_with("X-RateLimit-Period", "3600")
        };
        assert_eq!(retry_after(&not_429, now), None);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
        let client = HttpClient::new(HttpSettings::default()).unwrap();
        for attempt in 1..=8 {
            let ceiling =
                (Duration::from_millis(250) * (1 << (attempt - 1))).min(Duration::from_secs(8));
            let wait = client.backoff(attempt);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "attempt {attempt}: {wait:?} not within {ceiling:?}"
            );
        }
    }

    /// A loopback server that answers every connection with `response` and counts them.
    fn serve(response: &'static [u8]) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/x", listener.local_addr().unwrap())).unwrap();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(response);
            }
        });
        (url, connections)
    }

    fn get(url: &Url, headers: Vec<Header>) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: url.to_string(),
            headers,
            body: vec![],
            body_secret: false,
            effect: Effect::Read,
            cache_for: None,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_oversized_chunked_response_fails_the_request() {
        // No Content-Length: the cap is found while reading.
        let chunk = "8000\r\n".to_string() + &"x".repeat(0x8000) + "\r\n";
        let body = chunk.repeat(4) + "0\r\n\r\n";
        let response: &'static [u8] = Box::leak(
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
                .into_bytes()
                .into_boxed_slice(),
        );
        let (url, connections) = serve(response);
        let client = HttpClient::new(HttpSettings {
            max_response_bytes: 0x10000,
            ..HttpSettings::default()
        })
        .unwrap();
        let err = runtime()
            .block_on(client.send(&url, &get(&url, vec![])))
            .unwrap_err();
        match err {
            SendError::TooLarge(message) => {
                assert!(message.contains("went on past 65536 bytes"), "{message}")
            }
            other => panic!("not TooLarge: {other:?}"),
        }
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "not retried"
        );

        // The same answer within the cap is delivered whole.
        let client = HttpClient::new(HttpSettings::default()).unwrap();
        let delivered = runtime()
            .block_on(client.send(&url, &get(&url, vec![])))
            .unwrap();
        assert_eq!(delivered.response.body.len(), 4 * 0x8000);
    }

    #[test]
    fn requests_that_cannot_be_built_are_refused_before_any_connection() {
        let (url, connections) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let client = HttpClient::new(HttpSettings::default()).unwrap();
        let header = |name: &str, value: &str| Header {
            name: name.into(),
            value: value.into(),
            secret: true,
        };
        let mut with_userinfo = url.clone();
        with_userinfo.set_username("user").unwrap();
        with_userinfo.set_password(Some("pass")).unwrap();
        let started = std::time::Instant::now();
        for (target, headers) in [
            (url.clone(), vec![header("X-Bad", "a\r\nHost: evil.test")]),
            (url.clone(), vec![header("Bad Name", "1")]),
            (url.clone(), vec![header("Host", "evil.test")]),
            (url.clone(), vec![header("proxy-authorization", "x")]),
            (with_userinfo, vec![]),
        ] {
            let err = runtime()
                .block_on(client.send(&target, &get(&target, headers)))
                .unwrap_err();
            assert!(matches!(err, SendError::Refused(_)), "{err:?}");
            assert!(!err.to_string().contains("pass@"), "{err}");
        }
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "no backoff: not retried"
        );
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn origin_is_scheme_host_and_port() {
        let origin = Origin::of("https://eu2-cloud.acronis.com/api/2").unwrap();
        assert!(
            origin.allows(&Url::parse("https://eu2-cloud.acronis.com:443/api/2/tenants").unwrap())
        );
        assert!(!origin.allows(&Url::parse("http://eu2-cloud.acronis.com/api/2").unwrap()));
        assert!(!origin.allows(&Url::parse("https://eu2-cloud.acronis.com.evil.test/").unwrap()));
        assert!(!origin.allows(&Url::parse("https://eu2-cloud.acronis.com:8443/").unwrap()));
        assert!(Origin::of("ftp://example.com").is_err());
        assert!(Origin::of("not a url").is_err());
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/api",
            "http://127.9.9.9/",
            "http://localhost:1/",
            "http://LOCALHOST/",
            "http://[::1]:80/",
            "https://example.invalid/",
        ] {
            assert_eq!(check_plain_http(url, "x", false), Ok(()), "{url}");
        }
        for url in [
            "http://example.invalid/",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://localhost.example/",
            "http://[::2]/",
        ] {
            let err = check_plain_http(url, "acronis", false).unwrap_err();
            assert!(
                err.contains("allow_http = true under [vendors.acronis]"),
                "{err}"
            );
            assert_eq!(check_plain_http(url, "acronis", true), Ok(()));
        }
    }
}
