//! A hostile tenantctl plugin: everything a malicious plugin file could try through the
//! contract, chosen per operation by the tenant id (see [`Case`]), so one file exercises
//! every case in one batch.
//!
//! Requests go to `<base-url>/hostile/<case>`, so a test reading the simulator's request log
//! can tell which case sent what. Login sends `POST <base-url>/hostile/login` as a read
//! (allowed while logging in) and gets the session token `tok<api-key reversed>en`, which the
//! host has never seen before it is issued.
//!
//! The file carries the marker [`DESCRIBE_MODE`]; a test that rewrites it to
//! `tenantctl-hostile:loops!` gets a file whose `describe` never returns (describe takes no
//! input to choose by, and editing a file is what an attacker would do anyway).

#![allow(missing_docs)]

use base64::Engine as _;

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.1.0",
        world: "vendor-plugin",
    });
}

use bindings::exports::tenantctl::plugin::plugin::Guest;
use bindings::tenantctl::plugin::types::*;

/// What the operation on a tenant does; the tenant id names it.
///
/// - `fine`: reads `GET …/hostile/fine` and succeeds;
/// - `trap-in-resume`, `loop-in-resume`: read once, then panic or loop when resumed;
/// - `grow`: allocates 256 MiB at once;
/// - `header:NAME`: sets the header NAME (e.g. `header:Host`);
/// - `userinfo`: a URL with `user:password@` in it;
/// - `malformed-url`, `bad-header-name`, `bad-header-value`: requests that cannot be built;
/// - `other-port`, `other-scheme`, `other-host`: the configured origin, nearly;
/// - `huge-request`: a 2 MiB body;
/// - `endless-reads`: a new read after every answer, forever;
/// - `delete-as-read`, `post-as-read`: a DELETE or POST declared as a read;
/// - `delete-without-intent`: a DELETE write that declares no intent;
/// - `echo-secrets`: succeeds with the api key and the session token in its notes and
///   tenant name, raw, base64, percent- and JSON-escaped;
/// - `echo-secrets-in-error`: fails with them in its error message;
/// - `echo-secrets-in-request`: sends them in a URL query and a header not marked secret;
/// - `echo-secrets-in-write`: declares a write with them in the tenant name and the body.
pub struct Hostile;

const VENDOR: &str = "hostile";

/// How `describe` behaves, read at run time so the compiler keeps the bytes in the file.
#[used]
pub static DESCRIBE_MODE: [u8; 24] = *b"tenantctl-hostile:normal";

fn describe_loops() -> bool {
    // SAFETY: a plain read of a static array.
    let mode = unsafe { std::ptr::read_volatile(&DESCRIBE_MODE) };
    &mode == b"tenantctl-hostile:loops!"
}

fn api_key(ctx: &Context) -> String {
    ctx.config
        .iter()
        .find(|value| value.name == "api-key")
        .map(|value| value.value.clone())
        .unwrap_or_else(|| "no-api-key".into())
}

/// The token login issues: derived from the api key, so a test can compute it.
fn session_token(api_key: &str) -> String {
    format!("tok{}en", api_key.chars().rev().collect::<String>())
}

/// Every way the plugin writes `secret` into its output.
fn encodings(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let json = serde_json::to_string(secret).expect("a string serializes");
    vec![
        format!("raw={secret}"),
        format!("base64={}", b64.encode(secret)),
        format!("basic={}", b64.encode(format!("user:{secret}"))),
        format!("percent={}", percent(secret)),
        format!("json={json}"),
        format!(
            "json-twice={}",
            serde_json::to_string(&json).expect("serializes")
        ),
    ]
}

/// Percent-encodes every byte but ASCII letters and digits.
fn percent(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn request(method: Method, url: String, effect: Effect) -> HttpRequest {
    HttpRequest {
        method,
        url,
        headers: Vec::new(),
        body: Vec::new(),
        body_secret: false,
        effect,
    }
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.into(),
        value: value.into(),
        secret: false,
    }
}

fn send(request: HttpRequest, state: &str) -> ActionStep {
    ActionStep::Send(Outgoing {
        request,
        state: state.as_bytes().to_vec(),
        intent: None,
    })
}

fn tenant(id: &str, name: &str) -> TenantRef {
    TenantRef {
        id: id.into(),
        name: name.into(),
    }
}

fn done(tenant_ref: TenantRef, notes: Vec<String>, error: Option<Failure>) -> ActionStep {
    ActionStep::Done(Outcome {
        tenant: Some(tenant_ref),
        enabled_before: Some(true),
        enabled_after: Some(true),
        changed: false,
        error,
        notes,
    })
}

/// `base` with `user:password@` after the scheme.
fn with_userinfo(base: &str) -> String {
    match base.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://hostile:hunter2-userinfo@{rest}"),
        None => format!("http://hostile:hunter2-userinfo@{base}"),
    }
}

/// `base` with its port moved by one (or given one, when it has none).
fn other_port(base: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let moved = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port: u32 = port.parse().unwrap_or(80);
            format!("{host}:{}", (port % 65535) + 1)
        }
        None => format!("{authority}:8443"),
    };
    format!("{scheme}://{moved}/{path}")
}

impl Guest for Hostile {
    fn describe() -> PluginInfo {
        if describe_loops() {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        let action = |action, description: &str, destructive| ActionInfo {
            action,
            description: description.into(),
            destructive,
        };
        PluginInfo {
            vendor: VENDOR.into(),
            display_name: "Hostile test plugin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: "0.1.0".into(),
            url_hint: "http://127.0.0.1:1".into(),
            actions: vec![
                action(Action::Status, "misbehaves as the tenant id says", false),
                action(Action::Disable, "misbehaves as the tenant id says", false),
                action(Action::Enable, "misbehaves as the tenant id says", false),
                action(Action::Offboard, "misbehaves as the tenant id says", true),
            ],
            config: vec![ConfigField {
                name: "api-key".into(),
                description: "A secret the plugin echoes back in every encoding it knows".into(),
                secret: true,
                required: false,
            }],
        }
    }

    fn begin_login(ctx: Context) -> LoginStep {
        let mut login = request(
            Method::Post,
            format!("{}/hostile/login", ctx.base_url),
            Effect::Read,
        );
        login.headers.push(Header {
            name: "X-Api-Key".into(),
            value: api_key(&ctx),
            secret: true,
        });
        LoginStep::Send(Outgoing {
            request: login,
            state: Vec::new(),
            intent: None,
        })
    }

    fn resume_login(ctx: Context, _state: Vec<u8>, _response: HttpResponse) -> LoginStep {
        LoginStep::Done(Session {
            token: session_token(&api_key(&ctx)),
            expires_at: None,
            data: Vec::new(),
        })
    }

    fn begin_action(ctx: Context, session: Session, request_: ActionRequest) -> ActionStep {
        let case = match &request_.tenant {
            TenantSelector::Id(id) | TenantSelector::Name(id) => id.clone(),
        };
        let base = ctx.base_url.trim_end_matches('/').to_string();
        let url = format!("{base}/hostile/{}", percent(&case));
        let secrets = [api_key(&ctx), session.token.clone()];
        let read = |url: String| request(Method::Get, url, Effect::Read);
        if let Some(name) = case.strip_prefix("header:") {
            let mut asked = read(url);
            asked.headers.push(header(name, "evil.example"));
            return send(asked, &case);
        }
        match case.as_str() {
            "grow" => {
                let hoard = vec![7u8; 256 << 20];
                std::hint::black_box(&hoard);
                done(tenant("grow", "Grow"), vec![], None)
            }
            "userinfo" => send(
                read(format!("{}/hostile/userinfo", with_userinfo(&base))),
                &case,
            ),
            "malformed-url" => send(read("http://[127.0.0.1/hostile/malformed".into()), &case),
            "bad-header-name" => {
                let mut asked = read(url);
                asked.headers.push(header("X Bad Name", "1"));
                send(asked, &case)
            }
            "bad-header-value" => {
                let mut asked = read(url);
                asked
                    .headers
                    .push(header("X-Injected", "1\r\nHost: evil.example"));
                send(asked, &case)
            }
            "other-port" => send(
                read(format!("{}/hostile/other-port", other_port(&base))),
                &case,
            ),
            "other-scheme" => send(
                read(format!(
                    "{}/hostile/other-scheme",
                    base.replacen("http://", "https://", 1)
                )),
                &case,
            ),
            "other-host" => send(
                read(format!(
                    "{}/hostile/other-host",
                    base.replacen("127.0.0.1", "localhost", 1)
                )),
                &case,
            ),
            "huge-request" => {
                let mut asked = read(url);
                asked.body = vec![b'x'; 2 << 20];
                send(asked, &case)
            }
            "delete-as-read" => send(request(Method::Delete, url, Effect::Read), &case),
            "post-as-read" => send(request(Method::Post, url, Effect::Read), &case),
            "delete-without-intent" => send(request(Method::Delete, url, Effect::Write), &case),
            "echo-secrets" => {
                let notes = secrets.iter().flat_map(|s| encodings(s)).collect();
                done(tenant("echo-secrets", &secrets[0]), notes, None)
            }
            "echo-secrets-in-error" => {
                let message = secrets
                    .iter()
                    .flat_map(|s| encodings(s))
                    .collect::<Vec<_>>()
                    .join(" ");
                let failure = Failure::Vendor(ErrorDetail {
                    message,
                    http_status: Some(500),
                    vendor_code: Some(secrets[1].clone()),
                });
                done(
                    tenant("echo-secrets-in-error", "Echo"),
                    vec![],
                    Some(failure),
                )
            }
            "echo-secrets-in-request" => {
                let mut asked = read(format!(
                    "{url}?key={}&token={}",
                    percent(&secrets[0]),
                    percent(&secrets[1])
                ));
                for (n, form) in secrets.iter().flat_map(|s| encodings(s)).enumerate() {
                    // Not marked secret: the host must still keep them out of its output.
                    asked
                        .headers
                        .push(header(&format!("X-Echo-{n}"), &form.replace('"', "'")));
                }
                send(asked, &case)
            }
            "echo-secrets-in-write" => {
                let mut write = request(
                    Method::Put,
                    format!("{url}?key={}", percent(&secrets[0])),
                    Effect::IdempotentWrite,
                );
                write
                    .headers
                    .push(header("Content-Type", "application/json"));
                write.body = serde_json::to_vec(&serde_json::json!({
                    "key": secrets[0],
                    "token": secrets[1],
                    "forms": encodings(&secrets[0]),
                }))
                .expect("serializes");
                ActionStep::Send(Outgoing {
                    request: write,
                    state: case.as_bytes().to_vec(),
                    intent: Some(Intent {
                        tenant: tenant("echo-secrets-in-write", &format!("Echo {}", secrets[0])),
                        enabled_before: Some(true),
                        enabled_after: Some(false),
                    }),
                })
            }
            // The first read of every other case, fine included.
            _ => send(read(url), &case),
        }
    }

    fn resume_action(
        ctx: Context,
        _session: Session,
        state: Vec<u8>,
        _response: HttpResponse,
    ) -> ActionStep {
        let case = String::from_utf8_lossy(&state).into_owned();
        match case.as_str() {
            "trap-in-resume" => panic!("this plugin panics on purpose, after a response"),
            "loop-in-resume" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "endless-reads" => send(
                request(
                    Method::Get,
                    format!(
                        "{}/hostile/endless-reads",
                        ctx.base_url.trim_end_matches('/')
                    ),
                    Effect::Read,
                ),
                &case,
            ),
            "echo-secrets-in-write" => ActionStep::Done(Outcome {
                tenant: Some(tenant("echo-secrets-in-write", "Echo")),
                enabled_before: Some(true),
                enabled_after: Some(false),
                changed: true,
                error: None,
                notes: vec![],
            }),
            _ => done(tenant(&case, "Fine"), vec![], None),
        }
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Hostile with_types_in bindings);
