//! The benchmark suite (issue 10): every figure side by side in one run, with ratios.
//!
//! ```sh
//! cargo bench -p tenantctl --bench suite              # the full run (a few minutes)
//! cargo bench -p tenantctl --bench suite -- --quick   # a smoke run (CI): small sizes
//! TENANTCTL_BENCH_QUICK=1 cargo bench -p tenantctl --bench suite
//! ```
//!
//! What it measures, against the project's own simulator on loopback:
//! 1. plugin load: a compile (cache miss) vs a compile-cache hit, and what a command pays
//!    today to load the catalog;
//! 2. the plugin calls of one Acronis disable (no network) vs the same vendor logic called
//!    natively (the plugin crate as an rlib, driven by the SDK's replay driver), and the
//!    host's whole operation over an in-memory transport;
//! 3. one `tenantctl status` end to end vs a Python script with `requests` making the same
//!    three calls;
//! 4. N tenants disabled at concurrency 64: `tenantctl apply` vs a plain reqwest client (no
//!    WebAssembly, no journal) and the same client with a per-record fsync journal:
//!    tenants/s, CPU per tenant (the child's own rusage), p50/p99 per tenant, peak RSS;
//! 5. scaling: 1,000 / 10,000 / 100,000 rows, time and peak memory.
//!
//! The plain clients run as child processes of this binary (`--child plain …`), so their
//! CPU and memory are measured exactly as tenantctl's are. Figures only: nothing here
//! passes or fails on timing; a run fails only when a contender did not do the work.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenantctl::http::{BoxFuture, Delivered, SendError, Transport};
use tenantctl::plugin::bindings::{
    self, Action, ActionRequest, ActionStep, ConfigValue, Context, Header, HttpRequest,
    HttpResponse, Method, Session, TenantSelector,
};
use tenantctl::plugin::catalog::Catalog;
use tenantctl::plugin::{Compilation, Limits, Plugin, PluginSource, Runtime};
use tenantctl::{Account, RunOptions, Status};
use tenantctl_simulator::{AcronisConfig, AcronisSim};

/// How big each part of the run is.
#[derive(Debug, Clone)]
struct Sizes {
    /// Repetitions of a plugin load.
    loads: usize,
    /// Operations in the per-operation loops.
    operations: usize,
    /// Runs of each single command.
    commands: usize,
    /// Tenants in the side-by-side fleet run.
    fleet: usize,
    /// Rows of the scaling runs (the fleet size is reused when it is one of them).
    scaling: Vec<usize>,
    /// Operations at once in the fleet and scaling runs.
    concurrency: usize,
}

impl Sizes {
    fn full() -> Self {
        Sizes {
            loads: 10,
            operations: 5_000,
            commands: 20,
            fleet: 10_000,
            scaling: vec![1_000, 10_000, 100_000],
            concurrency: 64,
        }
    }

    fn quick() -> Self {
        Sizes {
            loads: 2,
            operations: 200,
            commands: 3,
            fleet: 500,
            scaling: vec![200, 500, 2_000],
            concurrency: 64,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--child") {
        std::process::exit(child::main(&args[at + 1..]));
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` (or `--all-targets`) does not.
    if !args.iter().any(|arg| arg == "--bench") {
        eprintln!("suite: a benchmark; run it with `cargo bench -p tenantctl --bench suite`");
        return;
    }
    let filter: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filter.is_empty() && !filter.iter().any(|f| "suite".contains(f.as_str())) {
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick")
        || std::env::var("TENANTCTL_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let work = tempfile::tempdir().expect("a temporary directory");
    machine(quick, &sizes);

    let loads = plugin_load(&sizes, work.path());
    let per_op = per_operation(&sizes);
    let commands = single_commands(&sizes, work.path());
    let fleet = fleet(&sizes, work.path());
    let scaling = scaling(&sizes, work.path(), &fleet);
    targets(&loads, &per_op, &commands, &fleet, &scaling);
}

// ---- output ----

fn machine(quick: bool, sizes: &Sizes) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb >> 20);
    println!(
        "# tenantctl benchmark suite{}",
        if quick { " (quick: a smoke run)" } else { "" }
    );
    println!(
        "machine: {cores} cores, {cpu}, {memory} GiB, Linux {}",
        kernel.trim()
    );
    println!(
        "sizes: {} loads, {} operations, {} runs per command, fleet {} tenants at concurrency {}, scaling {:?}",
        sizes.loads,
        sizes.operations,
        sizes.commands,
        sizes.fleet,
        sizes.concurrency,
        sizes.scaling
    );
}

fn section(title: &str) {
    println!();
    println!("## {title}");
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

// ---- 1. plugin load ----

/// One compiler's figures for loading the Acronis plugin (Winch's: a quick start with
/// nothing of Cranelift's cached).
struct Load {
    /// A cache miss: compile, describe, store.
    compile: Duration,
    /// Loaded from the cache and ready to run: an instance made.
    hit: Duration,
    /// Loaded from the cache as far as its description.
    described: Duration,
}

struct Loads {
    /// Winch: what the commands on one tenant use.
    baseline: Load,
    /// Cranelift: what batches and the service use.
    optimizing: Load,
}

/// The built-in Acronis plugin's file.
fn acronis_bytes() -> Vec<u8> {
    block_on(async {
        let runtime =
            Runtime::new(None, Limits::default(), Compilation::QuickStart).expect("an engine");
        let catalog = Catalog::discover(&runtime, None)
            .await
            .expect("the built-in plugins load");
        catalog
            .get("acronis")
            .expect("built-in acronis")
            .bytes()
            .to_vec()
    })
}

fn load_with(compilation: Compilation, bytes: &[u8], sizes: &Sizes, work: &Path) -> Load {
    let (mut compile, mut hit, mut described) = (vec![], vec![], vec![]);
    for n in 0..sizes.loads {
        let cache = work.join(format!("load-cache-{compilation:?}-{n}"));
        let runtime = || Runtime::new(Some(cache.clone()), Limits::default(), compilation).unwrap();
        block_on(async {
            let runtime = runtime();
            let started = Instant::now();
            runtime.load(bytes, PluginSource::Builtin).await.unwrap();
            compile.push(started.elapsed());
        });
        block_on(async {
            let runtime = runtime();
            let started = Instant::now();
            let plugin = runtime.load(bytes, PluginSource::Builtin).await.unwrap();
            described.push(started.elapsed());
            drop(plugin.instantiate().await.unwrap());
            hit.push(started.elapsed());
        });
    }
    Load {
        compile: median(compile),
        hit: median(hit),
        described: median(described),
    }
}

fn plugin_load(sizes: &Sizes, work: &Path) -> Loads {
    section("1. plugin load (the built-in Acronis plugin)");
    let bytes = acronis_bytes();
    // A quick start with a cache makes two engines: Cranelift's, whose cached code it
    // prefers, and Winch's.
    let engine_cache = work.join("engine-cache");
    let time_engine = |limits: &Limits, compilation: Compilation| {
        median(
            (0..sizes.loads)
                .map(|_| {
                    let started = Instant::now();
                    let cache = Some(engine_cache.clone());
                    drop(Runtime::new(cache, limits.clone(), compilation).unwrap());
                    started.elapsed()
                })
                .collect(),
        )
    };
    let small = Limits {
        max_live_instances: 8,
        ..Limits::default()
    };
    let engine = time_engine(&Limits::default(), Compilation::Optimized);
    let engine_small = time_engine(&small, Compilation::QuickStart);
    let baseline = load_with(Compilation::QuickStart, &bytes, sizes, work);
    let optimizing = load_with(Compilation::Optimized, &bytes, sizes, work);
    let catalog_hit = median(
        (0..sizes.loads)
            .map(|n| {
                let cache = work.join(format!("catalog-cache-{n}"));
                let runtime = || {
                    Runtime::new(
                        Some(cache.clone()),
                        Limits::default(),
                        Compilation::QuickStart,
                    )
                };
                block_on(async {
                    // Every built-in into the cache, then the catalog as a command loads it.
                    Catalog::discover(&runtime().unwrap(), None).await.unwrap();
                    let runtime = runtime().unwrap();
                    let started = Instant::now();
                    let catalog = Catalog::discover(&runtime, None).await.unwrap();
                    let took = started.elapsed();
                    assert!(catalog.get("commvault").is_some());
                    took
                })
            })
            .collect(),
    );
    println!("plugin file: {} KiB", bytes.len() / 1024);
    println!(
        "engine + pool of 1,000 + linker (a batch, cranelift): {:>10}",
        ms(engine)
    );
    println!(
        "engines + pools of 8 + linkers (one command, both compilers): {:>10}",
        ms(engine_small)
    );
    println!(
        "                                              {:>10}  {:>10}",
        "winch", "cranelift"
    );
    let row = |what: &str, of: fn(&Load) -> Duration| {
        println!(
            "{what:<46}{:>10}  {:>10}",
            ms(of(&baseline)),
            ms(of(&optimizing))
        );
    };
    row("load, cache miss (compile, describe, store)", |l| l.compile);
    row("load, cache hit, described (plugins list)", |l| l.described);
    row(
        "load, cache hit, ready (+ verify, deserialize, link, one instance)",
        |l| l.hit,
    );
    println!(
        "catalog of every built-in, cache hit:        {:>10}  (what plugins list loads)",
        ms(catalog_hit)
    );
    println!(
        "ratio compile / cache hit: winch {:.1}x, cranelift {:.1}x; cranelift / winch compile: {:.1}x",
        ratio(baseline.compile, baseline.hit),
        ratio(optimizing.compile, optimizing.hit),
        ratio(optimizing.compile, baseline.compile)
    );
    Loads {
        baseline,
        optimizing,
    }
}

// ---- 2. per operation ----

const BASE: &str = "https://eu2-cloud.acronis.com";
const CLIENT_ID: &str = "c1d2e3f4-0000-4000-8000-00000000c11e";
const SECRET: &str = "s3cr3t-bench";
const ROOT: &str = "ede9f834-70b3-476c-83d9-736f9f8c7dae";
const ID: &str = "0fcd4a69-8a40-4de8-b711-d9c83dc000f7";
const TOKEN: &str = "eyJ0eXAi.bench-token";
const NOW: u32 = 1_700_000_000;

struct PerOp {
    /// Compiled by Cranelift (batches, the service).
    wasm: Duration,
    /// Compiled by Winch (the commands on one tenant).
    wasm_baseline: Duration,
    native: Duration,
    host: Duration,
}

fn tenant_json(enabled: bool, version: u64) -> Value {
    json!({"id": ID, "name": "Acme", "kind": "customer", "parent_id": ROOT,
           "enabled": enabled, "version": version})
}

fn host_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![Header {
            name: "Content-Type".into(),
            value: "application/json".into(),
            secret: false,
        }],
        body: body.to_string().into_bytes(),
    }
}

/// Every plugin call of one disable by id: begin, then one resume per answer.
async fn wasm_disable(
    plugin: &Plugin,
    ctx: &Context,
    session: &Session,
    request: &ActionRequest,
    answers: &[HttpResponse],
) -> bindings::Outcome {
    let mut instance = plugin.instantiate().await.expect("instantiates");
    let mut step = instance
        .begin_action(ctx, session, request)
        .await
        .expect("begin-action");
    let mut answers = answers.iter();
    loop {
        match step {
            ActionStep::Done(outcome) => return outcome,
            ActionStep::Send(outgoing) => {
                let answer = answers.next().expect("a request too many");
                step = instance
                    .resume_action(ctx, session, &outgoing.state, answer)
                    .await
                    .expect("resume-action");
            }
            ActionStep::Page(_) => panic!("a disable emitted a page"),
        }
    }
}

/// Answers the Acronis calls of a login and a disable by id, in memory.
#[derive(Debug)]
struct Canned;

impl Transport for Canned {
    fn send<'a>(
        &'a self,
        url: &'a url::Url,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<Delivered, SendError>> {
        let path = url.path();
        let body = match request.method {
            Method::Post if path.ends_with("/idp/token") => {
                json!({"access_token": TOKEN, "token_type": "bearer", "expires_in": 7200})
            }
            Method::Get if path.contains("/clients/") => {
                json!({"id": CLIENT_ID, "tenant_id": ROOT})
            }
            Method::Get => tenant_json(true, 7),
            _ => tenant_json(false, 8),
        };
        let response = host_response(200, &body);
        Box::pin(async move {
            Ok(Delivered {
                response,
                attempts: 1,
            })
        })
    }
}

fn per_operation(sizes: &Sizes) -> PerOp {
    section("2. per operation: one Acronis disable by id, no network");
    let n = sizes.operations;
    // Without a cache, a quick start compiles with Winch.
    let acronis = |compilation: Compilation| {
        let runtime = Runtime::new(None, Limits::default(), compilation).unwrap();
        let catalog = block_on(Catalog::discover(&runtime, None)).unwrap();
        catalog.get("acronis").unwrap().clone()
    };
    let plugin = acronis(Compilation::Optimized);
    let baseline_plugin = acronis(Compilation::QuickStart);

    let ctx = Context {
        base_url: BASE.into(),
        config: vec![
            ConfigValue {
                name: "client-id".into(),
                value: CLIENT_ID.into(),
            },
            ConfigValue {
                name: "client-secret".into(),
                value: SECRET.into(),
            },
        ],
        now: NOW,
    };
    let session = Session {
        token: TOKEN.into(),
        expires_at: Some(NOW + 7200),
        data: serde_json::to_vec(&json!({"root_tenant_id": ROOT})).unwrap(),
    };
    let request = ActionRequest {
        action: Action::Disable,
        tenant: Some(TenantSelector::Id(ID.into())),
    };
    let answers = [
        host_response(200, &tenant_json(true, 7)),
        host_response(200, &tenant_json(false, 8)),
    ];
    let time_calls = |plugin: &Plugin| {
        block_on(async {
            let outcome = wasm_disable(plugin, &ctx, &session, &request, &answers).await;
            assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
            let started = Instant::now();
            for _ in 0..n {
                wasm_disable(plugin, &ctx, &session, &request, &answers).await;
            }
            started.elapsed() / n as u32
        })
    };
    let wasm = time_calls(&plugin);
    let wasm_baseline = time_calls(&baseline_plugin);

    // The share of that spent starting a fresh instance and dropping it.
    let instantiate = block_on(async {
        let started = Instant::now();
        for _ in 0..n {
            drop(plugin.instantiate().await.expect("instantiates"));
        }
        started.elapsed() / n as u32
    });

    // The same vendor logic, natively: the plugin crate as an rlib, through the SDK's
    // replay driver (the same state encoding and replay as inside the component).
    use tenantctl_plugin_sdk::testing;
    let native_ctx = testing::context(
        BASE,
        &[("client-id", CLIENT_ID), ("client-secret", SECRET)],
        NOW,
    );
    let native_session = tenantctl_plugin_sdk::Session::new(
        TOKEN,
        Some(NOW + 7200),
        &tenantctl_plugin_acronis::SessionData {
            root_tenant_id: ROOT.into(),
        },
    );
    let native_request = testing::by_id(tenantctl_plugin_sdk::Action::Disable, ID);
    let native_answers = vec![
        testing::json_response(200, tenant_json(true, 7)),
        testing::json_response(200, tenant_json(false, 8)),
    ];
    let native_once = || {
        testing::run_action::<tenantctl_plugin_acronis::Acronis>(
            &native_ctx,
            &native_session,
            &native_request,
            testing::script(native_answers.clone()),
        )
        .0
    };
    let outcome = native_once();
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(native_once());
    }
    let native = started.elapsed() / n as u32;

    // The host's whole operation (session, policy, redaction, plugin, result) over an
    // in-memory transport: everything but HTTP and the journal.
    let host = block_on(async {
        let account = Account::new(
            plugin.clone(),
            BASE,
            vec![
                ("client-id".into(), CLIENT_ID.into()),
                ("client-secret".into(), SECRET.into()),
            ],
            Canned,
        )
        .unwrap();
        let options = RunOptions::default();
        let first = account.run(&request, &options).await;
        assert_eq!(first.status, Status::Changed, "{first:?}");
        let started = Instant::now();
        for _ in 0..n {
            account.run(&request, &options).await;
        }
        started.elapsed() / n as u32
    });
    println!(
        "plugin calls in wasm (instantiate + 3 calls): {:>10}  (cranelift)",
        us(wasm)
    );
    println!(
        "the same, compiled by winch:                  {:>10}  ({:.1}x cranelift's)",
        us(wasm_baseline),
        ratio(wasm_baseline, wasm)
    );
    println!(
        "  of which instantiating and dropping:        {:>10}",
        us(instantiate)
    );
    println!(
        "same logic natively (SDK replay driver):      {:>10}",
        us(native)
    );
    println!(
        "host operation, in-memory transport:          {:>10}",
        us(host)
    );
    println!(
        "ratio wasm / native: {:.1}x; plugin share of the host operation: {:.0}%",
        ratio(wasm, native),
        100.0 * ratio(wasm, host)
    );
    PerOp {
        wasm,
        wasm_baseline,
        native,
        host,
    }
}

// ---- children: spawning, watching, measuring ----

/// How a child process ended, with its own resource use (from `wait4`).
#[derive(Debug, Clone)]
struct Ran {
    code: i32,
    elapsed: Duration,
    cpu_user: Duration,
    cpu_system: Duration,
    peak_rss_kb: u64,
    /// Each stdout line with when it arrived.
    lines: Vec<(Instant, String)>,
    stderr: String,
}

impl Ran {
    fn cpu(&self) -> Duration {
        self.cpu_user + self.cpu_system
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// Runs `cmd` to its end, timestamping its stdout lines, and takes its rusage.
fn run_child(mut cmd: Command) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("starting a child process");
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            lines.push((Instant::now(), line));
        }
        lines
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let pid = child.id() as libc::pid_t;
    // Peak RSS from /proc, not from rusage: a child started with vfork (as std starts it)
    // has its parent's high-water mark counted into its `ru_maxrss` at exec.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = vm_hwm_kb(pid).unwrap_or(0).max(peak);
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct; `wait4` fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for (std's `Child` is never waited on).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    std::mem::forget(child);
    Ran {
        code,
        elapsed,
        cpu_user: timeval(usage.ru_utime),
        cpu_system: timeval(usage.ru_stime),
        peak_rss_kb: peak.join().unwrap(),
        lines: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The high-water mark of process `pid`'s resident set so far, in KiB (`VmHWM`).
fn vm_hwm_kb(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The tenantctl binary with a clean environment, a home of its own and `cache` as its
/// compile cache.
fn tenantctl(home: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TENANTCTL_") || name.starts_with("XDG_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOME", home)
        .env("TENANTCTL_CACHE_DIR", cache)
        .env("NO_COLOR", "1");
    cmd
}

fn acronis_env(cmd: &mut Command, sim: &AcronisSim) {
    cmd.env("TENANTCTL_ACRONIS_URL", sim.url())
        .env("TENANTCTL_ACRONIS_CLIENT_ID", sim.client_id())
        .env("TENANTCTL_ACRONIS_CLIENT_SECRET", sim.client_secret());
}

// ---- 3. single commands ----

struct Commands {
    status_cold: Duration,
    /// Running Winch's code: no batch, service or `plugins list` ran before.
    status_warm: Duration,
    /// Running Cranelift's code, which `plugins list` put in the cache.
    status_warm_cranelift: Duration,
    list_cold: Duration,
    list_warm: Duration,
    python: Option<Duration>,
}

const PYTHON_STATUS: &str = r#"
# The three calls of `tenantctl status --vendor acronis --tenant ID`, the way the
# vendor's own samples are written.
import json, sys
import requests

url, client_id, secret, tenant = sys.argv[1:5]
session = requests.Session()
token = session.post(f"{url}/api/2/idp/token", data={"grant_type": "client_credentials"},
                     auth=(client_id, secret), timeout=30)
token.raise_for_status()
headers = {"Authorization": "Bearer " + token.json()["access_token"]}
client = session.get(f"{url}/api/2/clients/{client_id}", headers=headers, timeout=30)
client.raise_for_status()
answer = session.get(f"{url}/api/2/tenants/{tenant}", headers=headers, timeout=30)
answer.raise_for_status()
found = answer.json()
print(json.dumps({"tenant_id": found["id"], "tenant_name": found["name"],
                  "enabled": found["enabled"]}))
"#;

fn python_has_requests() -> bool {
    Command::new("python3")
        .args(["-c", "import requests"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn single_commands(sizes: &Sizes, work: &Path) -> Commands {
    section("3. one command end to end: `tenantctl status` vs Python with requests");
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 100,
        ..AcronisConfig::default()
    });
    let id = sim.customer_id(1).unwrap();
    let home = work.join("commands-home");
    std::fs::create_dir_all(&home).unwrap();
    let status = |cache: &Path| {
        let mut cmd = tenantctl(&home, cache);
        acronis_env(&mut cmd, &sim);
        cmd.args([
            "status", "--vendor", "acronis", "--tenant", &id, "--output", "json",
        ]);
        let ran = run_child(cmd);
        assert_eq!(ran.code, 0, "status failed: {}", ran.stderr);
        let line: Value = serde_json::from_str(&ran.lines[0].1).unwrap();
        assert_eq!(line["status"], "unchanged", "{line}");
        ran.elapsed
    };
    let list = |cache: &Path| {
        let mut cmd = tenantctl(&home, cache);
        cmd.args(["plugins", "list"]);
        let ran = run_child(cmd);
        assert_eq!(ran.code, 0, "plugins list failed: {}", ran.stderr);
        ran.elapsed
    };
    let (mut status_cold, mut list_cold) = (vec![], vec![]);
    for n in 0..sizes.commands.min(5) {
        // The first command after install: nothing compiled yet.
        status_cold.push(status(&work.join(format!("cold-status-{n}"))));
        list_cold.push(list(&work.join(format!("cold-list-{n}"))));
    }
    // Warm with Winch's code (what the first status compiled), then with Cranelift's (what
    // `plugins list` compiles, and a command on one tenant prefers).
    let warm = work.join("warm-cache");
    status(&warm);
    let status_warm = median((0..sizes.commands).map(|_| status(&warm)).collect());
    list(&warm);
    let list_warm = median((0..sizes.commands).map(|_| list(&warm)).collect());
    let status_warm_cranelift = median((0..sizes.commands).map(|_| status(&warm)).collect());
    let python = if python_has_requests() {
        let script = work.join("status.py");
        std::fs::write(&script, PYTHON_STATUS).unwrap();
        let run = || {
            let mut cmd = Command::new("python3");
            cmd.arg(&script)
                .args([&sim.url(), sim.client_id(), sim.client_secret(), &id]);
            let ran = run_child(cmd);
            assert_eq!(ran.code, 0, "the Python script failed: {}", ran.stderr);
            ran.elapsed
        };
        run();
        Some(median((0..sizes.commands).map(|_| run()).collect()))
    } else {
        None
    };
    let commands = Commands {
        status_cold: median(status_cold),
        status_warm,
        status_warm_cranelift,
        list_cold: median(list_cold),
        list_warm,
        python,
    };
    println!(
        "tenantctl status, warm cache (winch):  {:>10}",
        ms(commands.status_warm)
    );
    println!(
        "tenantctl status, warm, after plugins list (cranelift): {:>10}",
        ms(commands.status_warm_cranelift)
    );
    println!(
        "tenantctl status, first after install: {:>10}",
        ms(commands.status_cold)
    );
    println!(
        "tenantctl plugins list, warm cache:    {:>10}",
        ms(commands.list_warm)
    );
    println!(
        "tenantctl plugins list, first:         {:>10}",
        ms(commands.list_cold)
    );
    match commands.python {
        Some(python) => {
            println!("python3 + requests, same three calls:  {:>10}", ms(python));
            println!(
                "ratio python / tenantctl status (warm): {:.1}x winch, {:.1}x cranelift",
                ratio(python, commands.status_warm),
                ratio(python, commands.status_warm_cranelift)
            );
        }
        None => println!(
            "python3 with requests: SKIPPED (python3 or its requests module is not installed; \
             `apt-get install python3-requests` adds it)"
        ),
    }
    commands
}

// ---- 4. the fleet ----

/// One contender's run over the fleet.
#[derive(Debug, Clone)]
struct FleetRun {
    label: String,
    tenants: usize,
    ran: Ran,
    p50: Option<Duration>,
    p99: Option<Duration>,
}

impl FleetRun {
    fn per_second(&self) -> f64 {
        self.tenants as f64 / self.ran.elapsed.as_secs_f64()
    }

    fn cpu_per_tenant(&self) -> Duration {
        self.ran.cpu() / self.tenants.max(1) as u32
    }

    fn peak_mib(&self) -> f64 {
        self.ran.peak_rss_kb as f64 / 1024.0
    }

    fn print(&self, baseline: Option<&FleetRun>) {
        let latency = |d: Option<Duration>| d.map_or("n/a".to_string(), ms);
        let vs = baseline.map_or(String::new(), |b| {
            format!(
                "  | {:.2}x the throughput, {:.2}x the CPU of {}",
                self.per_second() / b.per_second(),
                ratio(self.cpu_per_tenant(), b.cpu_per_tenant()),
                b.label
            )
        });
        println!(
            "{:<34} {:>8.0} tenants/s  {:>7.1} s  CPU {:>7} per tenant ({:.0}% system)  p50 {:>9}  p99 {:>9}  peak RSS {:>6.1} MiB{vs}",
            self.label,
            self.per_second(),
            self.ran.elapsed.as_secs_f64(),
            us(self.cpu_per_tenant()),
            100.0 * ratio(self.ran.cpu_system, self.ran.cpu()),
            latency(self.p50),
            latency(self.p99),
            self.peak_mib(),
        );
    }
}

struct Fleet {
    plain: FleetRun,
    plain_fsync: FleetRun,
    tenantctl: FleetRun,
    dry_run: FleetRun,
}

/// A simulator holding `tenants` generated tenants, and their ids.
fn fleet_sim(tenants: usize) -> (AcronisSim, Vec<String>) {
    let sim = AcronisSim::start(AcronisConfig {
        tenants,
        seed: 7,
        ..AcronisConfig::default()
    });
    let ids = (1..=tenants).map(|n| sim.customer_id(n).unwrap()).collect();
    (sim, ids)
}

/// Where the simulator's clock (`RecordedRequest::at`) started, on ours: one request of
/// our own, timed from both sides.
fn sim_epoch(sim: &AcronisSim) -> Option<Instant> {
    let before = Instant::now();
    let mut stream = std::net::TcpStream::connect(sim.url().trim_start_matches("http://")).ok()?;
    stream
        .write_all(
            b"GET /api/2/tenants/bench-clock HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n",
        )
        .ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let after = Instant::now();
    let at = sim
        .requests()
        .iter()
        .rev()
        .find(|r| r.path.ends_with("/bench-clock"))?
        .at;
    let middle = before + (after - before) / 2;
    middle.checked_sub(at)
}

/// p50 and p99 of each tenant's time from its first request at the simulator to its result
/// line on the contender's stdout.
fn latencies(
    sim: &AcronisSim,
    epoch: Option<Instant>,
    ran: &Ran,
) -> (Option<Duration>, Option<Duration>) {
    let Some(epoch) = epoch else {
        return (None, None);
    };
    let mut first: HashMap<&str, Duration> = HashMap::new();
    let requests = sim.requests();
    for request in &requests {
        if let Some(id) = request.path_only().strip_prefix("/api/2/tenants/") {
            first.entry(id).or_insert(request.at);
        }
    }
    let mut samples: Vec<Duration> = ran
        .lines
        .iter()
        .filter_map(|(arrived, line)| {
            let value: Value = serde_json::from_str(line).ok()?;
            let id = value["tenant_id"].as_str()?;
            let started = epoch + *first.get(id)?;
            Some(arrived.saturating_duration_since(started))
        })
        .collect();
    if samples.is_empty() {
        return (None, None);
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (Some(at(0.5)), Some(at(0.99)))
}

fn write_ids(path: &Path, ids: &[String]) {
    let mut text = String::from("vendor,tenant\n");
    for id in ids {
        text.push_str("acronis,");
        text.push_str(id);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// What a contender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Plain,
    PlainFsync,
    Tenantctl,
    TenantctlDryRun,
}

impl Contender {
    fn label(self) -> &'static str {
        match self {
            Contender::Plain => "plain reqwest client",
            Contender::PlainFsync => "plain client + fsync per record",
            Contender::Tenantctl => "tenantctl apply",
            Contender::TenantctlDryRun => "tenantctl apply --dry-run",
        }
    }
}

/// Disables `tenants` fresh tenants with `contender` and checks that it did.
fn fleet_run(contender: Contender, tenants: usize, concurrency: usize, work: &Path) -> FleetRun {
    let (sim, ids) = fleet_sim(tenants);
    let dir = tempfile::tempdir_in(work).unwrap();
    let input = dir.path().join("input.csv");
    write_ids(&input, &ids);
    let journal = dir.path().join("audit.jsonl");
    let cache = work.join("warm-cache");
    let concurrency_arg = concurrency.to_string();
    let cmd = match contender {
        Contender::Plain | Contender::PlainFsync => {
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.args(["--child", "plain"])
                .arg(sim.url())
                .arg(sim.client_id())
                .arg(sim.client_secret())
                .arg(&input)
                .arg(&concurrency_arg);
            if contender == Contender::PlainFsync {
                cmd.arg(&journal);
            }
            cmd
        }
        Contender::Tenantctl | Contender::TenantctlDryRun => {
            let mut cmd = tenantctl(dir.path(), &cache);
            acronis_env(&mut cmd, &sim);
            cmd.args(["apply", "--action", "disable", "--output", "json"])
                .args(["--concurrency", &concurrency_arg])
                .arg("--input")
                .arg(&input)
                .arg("--audit-log")
                .arg(&journal);
            if contender == Contender::TenantctlDryRun {
                cmd.arg("--dry-run");
            }
            cmd
        }
    };
    let epoch = sim_epoch(&sim);
    let ran = run_child(cmd);
    assert_eq!(
        ran.code,
        0,
        "{} failed: {}",
        contender.label(),
        ran.stderr.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        ran.lines.len(),
        tenants,
        "one line per tenant from {}",
        contender.label()
    );
    let still_enabled = ids
        .iter()
        .filter(|id| sim.tenant(id).is_some_and(|t| t.enabled))
        .count();
    let expected = if contender == Contender::TenantctlDryRun {
        tenants
    } else {
        0
    };
    assert_eq!(
        still_enabled,
        expected,
        "tenants left enabled by {}",
        contender.label()
    );
    let (p50, p99) = latencies(&sim, epoch, &ran);
    FleetRun {
        label: contender.label().to_string(),
        tenants,
        ran,
        p50,
        p99,
    }
}

fn fleet(sizes: &Sizes, work: &Path) -> Fleet {
    section(&format!(
        "4. {} Acronis disables by id at concurrency {}, against the simulator",
        sizes.fleet, sizes.concurrency
    ));
    // A batch compiles with Cranelift, which the single commands above did not use: one
    // row first puts every plugin's Cranelift artifact in the cache, so that the runs
    // below start warm.
    fleet_run(Contender::TenantctlDryRun, 1, 1, work);
    let run = |contender| fleet_run(contender, sizes.fleet, sizes.concurrency, work);
    let plain = run(Contender::Plain);
    plain.print(None);
    let plain_fsync = run(Contender::PlainFsync);
    plain_fsync.print(Some(&plain));
    let tenantctl = run(Contender::Tenantctl);
    tenantctl.print(Some(&plain));
    let dry_run = run(Contender::TenantctlDryRun);
    dry_run.print(Some(&plain));
    println!(
        "tenantctl vs the plain client with a per-record fsync journal: {:.2}x the throughput",
        tenantctl.per_second() / plain_fsync.per_second()
    );
    println!(
        "(p50/p99: from a tenant's first request at the simulator to its result line on stdout; \
         CPU: the process's own, from wait4; peak RSS: its VmHWM; the simulator runs in this process)"
    );
    Fleet {
        plain,
        plain_fsync,
        tenantctl,
        dry_run,
    }
}

// ---- 5. scaling ----

fn scaling(sizes: &Sizes, work: &Path, fleet: &Fleet) -> Vec<FleetRun> {
    section(&format!(
        "5. scaling: tenantctl apply, disables at concurrency {}",
        sizes.concurrency
    ));
    let mut runs = Vec::new();
    for &rows in &sizes.scaling {
        let run = if rows == fleet.tenantctl.tenants {
            fleet.tenantctl.clone()
        } else {
            fleet_run(Contender::Tenantctl, rows, sizes.concurrency, work)
        };
        println!(
            "{:>7} rows: {:>7.1} s  {:>8.0} tenants/s  peak RSS {:>6.1} MiB  CPU {} per tenant",
            rows,
            run.ran.elapsed.as_secs_f64(),
            run.per_second(),
            run.peak_mib(),
            us(run.cpu_per_tenant())
        );
        runs.push(run);
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        println!(
            "peak memory {} rows / {} rows: {:.2}x",
            last.tenants,
            first.tenants,
            last.peak_mib() / first.peak_mib()
        );
    }
    runs
}

// ---- the issue's targets ----

fn targets(
    loads: &Loads,
    per_op: &PerOp,
    commands: &Commands,
    fleet: &Fleet,
    scaling: &[FleetRun],
) {
    section("targets (issue 10)");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let throughput = fleet.tenantctl.per_second() / fleet.plain.per_second();
    println!(
        "batch throughput >= 0.9x the plain client without a journal: {:.2}x  {}",
        throughput,
        verdict(throughput >= 0.9)
    );
    println!(
        "  (and {:.2}x the plain client with a per-record fsync journal)",
        fleet.tenantctl.per_second() / fleet.plain_fsync.per_second()
    );
    let cpu = ratio(
        fleet.tenantctl.cpu_per_tenant(),
        fleet.plain.cpu_per_tenant(),
    );
    println!(
        "CPU per tenant <= 2x the plain client's: {:.2}x  {}",
        cpu,
        verdict(cpu <= 2.0)
    );
    match commands.python {
        Some(python) => {
            let faster = ratio(python, commands.status_warm);
            println!(
                "one status >= 20x faster than Python: {faster:.1}x (winch's code; {:.1}x with cranelift's)  {}",
                ratio(python, commands.status_warm_cranelift),
                verdict(faster >= 20.0)
            );
        }
        None => println!("one status >= 20x faster than Python: not measured (no requests module)"),
    }
    let warm = loads.baseline.hit.max(loads.optimizing.hit);
    println!(
        "warm plugin load <= 5 ms: {} (winch {}, cranelift {})  {}",
        ms(warm),
        ms(loads.baseline.hit),
        ms(loads.optimizing.hit),
        verdict(warm <= Duration::from_millis(5))
    );
    println!(
        "first command after install <= 200 ms: {}  {}",
        ms(commands.status_cold),
        verdict(commands.status_cold <= Duration::from_millis(200))
    );
    if let (Some(first), Some(last)) = (scaling.first(), scaling.last()) {
        let flat = last.peak_mib() / first.peak_mib();
        println!(
            "peak memory <= 100 MiB at {} rows, <= 1.5x the {}-row figure: {:.1} MiB, {:.2}x  {}",
            last.tenants,
            first.tenants,
            last.peak_mib(),
            flat,
            verdict(last.peak_mib() <= 100.0 && flat <= 1.5)
        );
    }
    println!(
        "(per operation: plugin {} of a {} host operation; native logic {}; winch's code {})",
        us(per_op.wasm),
        us(per_op.host),
        us(per_op.native),
        us(per_op.wasm_baseline)
    );
    println!(
        "(a dry run, reads only: CPU {} per tenant, {:.0} tenants/s)",
        us(fleet.dry_run.cpu_per_tenant()),
        fleet.dry_run.per_second()
    );
}

// ---- the plain client, as a child process ----

mod child {
    use super::*;
    use std::fs::File;
    use std::sync::Mutex;
    use tokio::sync::Semaphore;

    /// `--child plain URL CLIENT_ID SECRET INPUT CONCURRENCY [JOURNAL]`: disables every
    /// tenant of INPUT (a `vendor,tenant` CSV) with a plain reqwest client; with JOURNAL,
    /// writes and fsyncs a record before each PUT and another after it, one at a time.
    pub fn main(args: &[String]) -> i32 {
        if let [kind, n] = args
            && kind == "per-op"
        {
            return per_op(n.parse().expect("a number of operations"));
        }
        if let [kind] = args
            && kind == "compile-variants"
        {
            return compile_variants();
        }
        let [kind, url, client_id, secret, input, concurrency, rest @ ..] = args else {
            eprintln!("usage: --child plain URL CLIENT_ID SECRET INPUT CONCURRENCY [JOURNAL]");
            return 2;
        };
        assert_eq!(kind, "plain");
        let ids: Vec<String> = std::fs::read_to_string(input)
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').nth(1).map(str::to_string))
            .collect();
        let journal = rest.first().map(|path| {
            Arc::new(Mutex::new(
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ))
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let concurrency: usize = concurrency.parse().unwrap();
        let failed = runtime.block_on(run(url, client_id, secret, ids, concurrency, journal));
        i32::from(failed > 0)
    }

    /// `--child compile-variants`: the Acronis plugin compiled with each compiler setting
    /// worth trying for a first command (best of 3, and the artifact's size), the
    /// measurement behind [`tenantctl::plugin::Compilation`]. Default memory settings, not
    /// the sandbox's pool.
    fn compile_variants() -> i32 {
        use wasmtime::{OptLevel, RegallocAlgorithm, Strategy};
        let bytes = acronis_bytes();
        for (name, strategy, opt, alloc, addr) in [
            (
                "cranelift speed+backtracking",
                Strategy::Cranelift,
                OptLevel::Speed,
                RegallocAlgorithm::Backtracking,
                true,
            ),
            (
                "cranelift speed+backtracking noaddr",
                Strategy::Cranelift,
                OptLevel::Speed,
                RegallocAlgorithm::Backtracking,
                false,
            ),
            (
                "cranelift none+backtracking",
                Strategy::Cranelift,
                OptLevel::None,
                RegallocAlgorithm::Backtracking,
                true,
            ),
            (
                "cranelift speed+singlepass",
                Strategy::Cranelift,
                OptLevel::Speed,
                RegallocAlgorithm::SinglePass,
                true,
            ),
            (
                "cranelift none+singlepass",
                Strategy::Cranelift,
                OptLevel::None,
                RegallocAlgorithm::SinglePass,
                true,
            ),
            (
                "winch",
                Strategy::Winch,
                OptLevel::Speed,
                RegallocAlgorithm::Backtracking,
                true,
            ),
            (
                "winch noaddr",
                Strategy::Winch,
                OptLevel::Speed,
                RegallocAlgorithm::Backtracking,
                false,
            ),
        ] {
            let mut config = wasmtime::Config::new();
            config.strategy(strategy);
            config.epoch_interruption(true);
            config.wasm_component_model(true);
            config.cranelift_opt_level(opt);
            config.cranelift_regalloc_algorithm(alloc);
            config.generate_address_map(addr);
            let engine = wasmtime::Engine::new(&config).unwrap();
            let mut best = Duration::MAX;
            let mut size = 0;
            for _ in 0..3 {
                let started = Instant::now();
                let component = wasmtime::component::Component::new(&engine, &bytes).unwrap();
                best = best.min(started.elapsed());
                size = component.serialize().unwrap().len();
            }
            println!("{name}: {best:?} {size} bytes");
        }
        0
    }

    /// `--child per-op N`: N host operations over the in-memory transport, for a profiler
    /// (`perf record -g -- SUITE --child per-op 20000`).
    fn per_op(n: usize) -> i32 {
        let cache = std::env::temp_dir().join("tenantctl-bench-cache");
        let runtime = Runtime::new(Some(cache), Limits::default(), Compilation::Optimized).unwrap();
        let catalog = block_on(Catalog::discover(&runtime, None)).unwrap();
        let plugin = catalog.get("acronis").unwrap().clone();
        let request = ActionRequest {
            action: Action::Disable,
            tenant: Some(TenantSelector::Id(ID.into())),
        };
        block_on(async {
            let account = Account::new(
                plugin,
                BASE,
                vec![
                    ("client-id".into(), CLIENT_ID.into()),
                    ("client-secret".into(), SECRET.into()),
                ],
                Canned,
            )
            .unwrap();
            let options = RunOptions::default();
            let started = Instant::now();
            for _ in 0..n {
                let result = account.run(&request, &options).await;
                assert_eq!(result.status, Status::Changed, "{result:?}");
            }
            println!("{} per operation", us(started.elapsed() / n.max(1) as u32));
        });
        0
    }

    async fn run(
        url: &str,
        client_id: &str,
        secret: &str,
        ids: Vec<String>,
        concurrency: usize,
        journal: Option<Arc<Mutex<File>>>,
    ) -> usize {
        let client = reqwest::Client::builder().build().unwrap();
        let token = client
            .post(format!("{url}/api/2/idp/token"))
            .basic_auth(client_id, Some(secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let token = json_body(token).await.unwrap();
        let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
        let me = client
            .get(format!("{url}/api/2/clients/{client_id}"))
            .header("Authorization", &bearer)
            .send()
            .await
            .unwrap();
        let me = json_body(me).await.unwrap();
        assert!(me["tenant_id"].is_string(), "{me}");
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let permit = slots.clone().acquire_owned().await.unwrap();
            let (client, bearer, journal) = (client.clone(), bearer.clone(), journal.clone());
            let url = url.to_string();
            tasks.spawn(async move {
                let ok = disable(&client, &url, &bearer, &id, journal.as_ref()).await;
                drop(permit);
                let line =
                    json!({"tenant_id": id, "status": if ok { "changed" } else { "failed" }});
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
                ok
            });
        }
        let mut failed = 0;
        while let Some(ok) = tasks.join_next().await {
            failed += usize::from(!ok.unwrap_or(false));
        }
        failed
    }

    async fn disable(
        client: &reqwest::Client,
        url: &str,
        bearer: &str,
        id: &str,
        journal: Option<&Arc<Mutex<File>>>,
    ) -> bool {
        let tenant_url = format!("{url}/api/2/tenants/{id}");
        let Ok(read) = client
            .get(&tenant_url)
            .header("Authorization", bearer)
            .send()
            .await
        else {
            return false;
        };
        let Some(tenant) = json_body(read).await else {
            return false;
        };
        let Some(version) = tenant["version"].as_u64() else {
            return false;
        };
        if let Some(journal) = journal {
            record(
                journal,
                json!({"record": "intent", "tenant_id": id, "method": "PUT",
                                   "url": tenant_url, "enabled_before": tenant["enabled"],
                                   "enabled_after": false}),
            )
            .await;
        }
        let written = client
            .put(&tenant_url)
            .header("Authorization", bearer)
            .header("Content-Type", "application/json")
            .body(json!({"enabled": false, "version": version}).to_string())
            .send()
            .await;
        let ok = written.is_ok_and(|r| r.status().is_success());
        if let Some(journal) = journal {
            record(
                journal,
                json!({"record": "result", "tenant_id": id,
                                   "outcome": if ok { "changed" } else { "failed" }}),
            )
            .await;
        }
        ok
    }

    /// A response's body as JSON (reqwest is built without its `json` feature).
    async fn json_body(response: reqwest::Response) -> Option<Value> {
        let bytes = response.bytes().await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// One record, written and fsynced before anything else goes on.
    async fn record(journal: &Arc<Mutex<File>>, record: Value) {
        let journal = journal.clone();
        let mut line = record.to_string().into_bytes();
        line.push(b'\n');
        tokio::task::spawn_blocking(move || {
            let mut file = journal.lock().unwrap();
            file.write_all(&line)
                .and_then(|()| file.sync_data())
                .unwrap();
        })
        .await
        .unwrap();
    }
}
