//! The HTTP plumbing both simulators share: a hyper 1 server on its own thread and tokio
//! runtime, fault injection, the request log and the `/_sim/` control API. The vendor modules
//! only implement [`Vendor`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::fault::{Fault, FaultEngine, FaultRule};
use crate::record::{RecordedRequest, RequestLog, lock};
use crate::util::{normalize_path, parse_form};

/// A request as the vendor handlers see it: fully read, query decoded.
pub(crate) struct SimRequest {
    pub method: Method,
    /// Path and query as sent.
    pub target: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl SimRequest {
    pub(crate) fn new(method: Method, target: String, headers: HeaderMap, body: Bytes) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), parse_form(q)),
            None => (target.clone(), Vec::new()),
        };
        SimRequest {
            method,
            target,
            path,
            query,
            headers,
            body,
        }
    }

    /// The first value of a header, if it is valid text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a query parameter.
    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the media type of `Content-Type` is `wanted` (parameters and case ignored).
    pub(crate) fn content_type_is(&self, wanted: &str) -> bool {
        self.header("content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case(wanted))
        })
    }
}

/// A response built by a handler.
pub(crate) struct SimResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl SimResponse {
    pub(crate) fn json(status: u16, value: &Value) -> Self {
        SimResponse::text(status, "application/json; charset=utf-8", value.to_string())
    }

    pub(crate) fn text(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        SimResponse {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: body.into(),
        }
    }

    /// A response without a body or `Content-Type` (e.g. 204).
    pub(crate) fn empty(status: u16) -> Self {
        SimResponse {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn into_hyper(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(n, v);
            }
        }
        response
    }
}

/// What a vendor simulator implements; everything else is shared.
pub(crate) trait Vendor: Send + Sync + 'static {
    /// Serves one vendor API request (faults have already been applied).
    fn handle(&self, req: &SimRequest) -> SimResponse;
    /// Invalidates every token issued so far.
    fn expire_tokens(&self);
    /// Changes the tenant the request targets behind the client's back.
    fn concurrent_change(&self, req: &SimRequest);
    /// An HTTP 200 response carrying a failure in the shape the endpoint uses.
    fn http200_error(&self, req: &SimRequest, code: i64, message: &str) -> SimResponse;
    /// Serves the request, but lets the asynchronous action it starts end `failed` (or
    /// `canceled`) with `message`; vendors without asynchronous actions just serve it.
    fn handle_async_failure(&self, req: &SimRequest, message: &str, canceled: bool) -> SimResponse {
        let _ = (message, canceled);
        self.handle(req)
    }
    /// The vendor's usual error body for a status.
    fn error_response(&self, status: u16) -> SimResponse;
    /// The state, for `GET /_sim/tenants`.
    fn state_json(&self) -> Value;
    /// Fixture ids and credentials, for `GET /_sim/fixtures`.
    fn fixtures_json(&self) -> Value;
}

pub(crate) struct Shared<V> {
    pub vendor: V,
    faults: Mutex<FaultEngine>,
    log: RequestLog,
    started: Instant,
}

/// A running simulator: the listening address, the background thread, and the shared state.
/// Dropping it stops the server and waits for its thread.
pub(crate) struct Server<V: Vendor> {
    shared: Arc<Shared<V>>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl<V: Vendor> Server<V> {
    pub(crate) fn start(addr: SocketAddr, vendor: V, seed: u64, name: &str) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            vendor,
            faults: Mutex::new(FaultEngine::new(seed)),
            log: RequestLog::default(),
            started: Instant::now(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("{name}-sim"))
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel();
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("{name}-sim-main"))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, for_thread, rx));
                // Connection tasks still open (keep-alive clients) are cancelled here.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Server {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn vendor(&self) -> &V {
        &self.shared.vendor
    }

    pub(crate) fn inject(&self, rule: FaultRule) {
        lock(&self.shared.faults).add(rule);
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.snapshot()
    }

    pub(crate) fn clear_requests(&self) {
        self.shared.log.clear();
    }

    pub(crate) fn count(&self, method: &str, fragment: &str) -> usize {
        self.shared.log.count(method, fragment)
    }
}

impl<V: Vendor> Drop for Server<V> {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop<V: Vendor>(
    listener: std::net::TcpListener,
    shared: Arc<Shared<V>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(err) => {
            eprintln!("simulator: cannot listen: {err}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Out of file descriptors or a connection aborted while queued: back off
                // briefly rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
}

async fn serve_connection<V: Vendor>(stream: TcpStream, shared: Arc<Shared<V>>) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(ResettableStream {
        stream,
        reset: Arc::clone(&reset),
    });
    let service = service_fn(move |req| handle(Arc::clone(&shared), Arc::clone(&reset), req));
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

/// The error a handler returns to make hyper drop the connection without a response.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
    }
}

impl std::error::Error for ResetConnection {}

/// A TCP stream that, when flagged, closes with `SO_LINGER` 0 so the peer gets a real RST
/// instead of an orderly FIN.
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Records a request when dropped, so a request whose client went away mid-delay is still
/// in the log (with no status).
struct RecordGuard<'a> {
    log: &'a RequestLog,
    entry: Option<RecordedRequest>,
}

impl RecordGuard<'_> {
    fn finish(mut self, status: Option<u16>, fault: Option<String>) {
        if let Some(mut entry) = self.entry.take() {
            entry.status = status;
            entry.fault = fault;
            self.log.push(entry);
        }
    }
}

impl Drop for RecordGuard<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.log.push(entry);
        }
    }
}

async fn handle<V: Vendor>(
    shared: Arc<Shared<V>>,
    reset: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ResetConnection> {
    let at = shared.started.elapsed();
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(ResetConnection),
    };
    let target = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let req = SimRequest::new(parts.method, target, parts.headers, body);

    let normalized = normalize_path(&req.path, true);
    if normalized == "/_sim" || normalized.starts_with("/_sim/") {
        return Ok(control(&shared, &req, &normalized).into_hyper());
    }

    let mut guard = RecordGuard {
        log: &shared.log,
        entry: Some(RecordedRequest {
            method: req.method.as_str().to_string(),
            path: req.target.clone(),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: req.body.to_vec(),
            status: None,
            fault: None,
            at,
        }),
    };

    let fault = lock(&shared.faults).pick(req.method.as_str(), &req.target);
    let label = fault.as_ref().map(Fault::label);
    // Known before any await, so a request abandoned mid-delay is still logged with its fault.
    if let Some(entry) = &mut guard.entry {
        entry.fault.clone_from(&label);
    }
    let response = match fault {
        None => shared.vendor.handle(&req),
        Some(Fault::Reset) => {
            guard.finish(None, label);
            reset.store(true, Ordering::Relaxed);
            return Err(ResetConnection);
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            shared.vendor.handle(&req)
        }
        Some(Fault::ExpireTokens) => {
            shared.vendor.expire_tokens();
            shared.vendor.handle(&req)
        }
        Some(Fault::ConcurrentChange) => {
            shared.vendor.concurrent_change(&req);
            shared.vendor.handle(&req)
        }
        Some(Fault::Status {
            status,
            body,
            content_type,
            headers,
        }) => {
            let mut response = match body {
                Some(body) => SimResponse::text(
                    status,
                    content_type.as_deref().unwrap_or("application/json"),
                    body,
                ),
                None => shared.vendor.error_response(status),
            };
            response.headers.extend(headers);
            response
        }
        Some(Fault::NonJson { status }) => html_error_page(status),
        Some(Fault::Http200Error { code, message }) => {
            shared.vendor.http200_error(&req, code, &message)
        }
        Some(Fault::AsyncFailure { message, canceled }) => {
            shared.vendor.handle_async_failure(&req, &message, canceled)
        }
    };
    guard.finish(Some(response.status), label);
    Ok(response.into_hyper())
}

/// The kind of page a reverse proxy serves when the service behind it fails.
pub(crate) fn html_error_page(status: u16) -> SimResponse {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    SimResponse::text(
        status,
        "text/html",
        format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
             <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n"
        ),
    )
}

/// The `/_sim/` control API: never faulted, recorded or rate-limited.
fn control<V: Vendor>(shared: &Shared<V>, req: &SimRequest, path: &str) -> SimResponse {
    let ok = || SimResponse::json(200, &json!({"ok": true}));
    match (&req.method, path) {
        (&Method::GET, "/_sim/requests") => SimResponse::json(200, &shared.log.to_json()),
        (&Method::POST, "/_sim/reset-requests") => {
            shared.log.clear();
            ok()
        }
        (&Method::GET, "/_sim/faults") => SimResponse::json(200, &lock(&shared.faults).to_json()),
        (&Method::POST, "/_sim/faults") => match serde_json::from_slice::<FaultRule>(&req.body) {
            Ok(rule) => {
                lock(&shared.faults).add(rule);
                ok()
            }
            Err(err) => SimResponse::json(400, &json!({"error": format!("bad fault rule: {err}")})),
        },
        (&Method::DELETE, "/_sim/faults") => {
            lock(&shared.faults).clear();
            ok()
        }
        (&Method::POST, "/_sim/expire-tokens") => {
            shared.vendor.expire_tokens();
            ok()
        }
        (&Method::GET, "/_sim/tenants") => SimResponse::json(200, &shared.vendor.state_json()),
        (&Method::GET, "/_sim/fixtures") => SimResponse::json(200, &shared.vendor.fixtures_json()),
        _ => SimResponse::json(
            404,
            &json!({"error": format!("no control endpoint {} {path}", req.method)}),
        ),
    }
}

/// The inherent methods both simulator types share, forwarding to their `server` field.
macro_rules! common_methods {
    () => {
        /// The address the simulator listens on.
        pub fn addr(&self) -> std::net::SocketAddr {
            self.server.addr()
        }

        /// Adds a fault rule. Rules are tried in the order added; the first that fires wins.
        pub fn inject(&self, rule: crate::FaultRule) {
            self.server.inject(rule)
        }

        /// Removes every fault rule.
        pub fn clear_faults(&self) {
            self.server.clear_faults()
        }

        /// Every vendor request served so far (never `/_sim/` calls), in the order their
        /// answers completed.
        pub fn requests(&self) -> Vec<crate::RecordedRequest> {
            self.server.requests()
        }

        /// Empties the request log.
        pub fn clear_requests(&self) {
            self.server.clear_requests()
        }

        /// How many recorded requests had `method` and a path and query containing
        /// `fragment`, both ignoring case.
        pub fn count(&self, method: &str, fragment: &str) -> usize {
            self.server.count(method, fragment)
        }

        /// Expires every token issued so far, as if all had timed out at once.
        pub fn expire_tokens(&self) {
            crate::server::Vendor::expire_tokens(self.server.vendor())
        }
    };
}
pub(crate) use common_methods;
