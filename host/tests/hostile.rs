//! The hostile-plugin suite: a plugin written by an attacker (`tests/plugins/hostile`, built
//! from source here) and files that are not plugins at all. For each case the host survives,
//! the operation fails as `plugin` naming the plugin, its version and the step, within twice
//! the plugin's call deadline, nothing unsafe reaches the wire (the simulator records every
//! request it gets), and the other rows of the same batch finish.
//!
//! `tests/sandbox.rs` checks the misbehaving plugin's messages (trap, loop and bloat in
//! `begin-action`, a foreign origin, a write without intent, a runaway); here the same
//! plugin's cases only join the batch, next to the new ones.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tenantctl::http::HttpClient;
use tenantctl::plugin::{Compilation, Compiler, Limits, Plugin, PluginSource, Runtime};
use tenantctl::{Account, Action, ErrorKind, RunOptions, Status, TenantResult};
use tenantctl_simulator::{AcronisConfig, AcronisSim, RecordedRequest};

/// The call deadline of the library-level cases.
const DEADLINE: Duration = Duration::from_secs(1);
/// The CLI's call deadline (`Limits::default()`).
const CLI_DEADLINE: Duration = Duration::from_secs(2);
/// The plugin's identity as every error must name it.
const HOSTILE: &str = "hostile 0.6.6";
const API_KEY: &str = "hostile-api-key/\"quoted\"+more";

fn limits() -> Limits {
    Limits {
        call_deadline: DEADLINE,
        memory_bytes: 32 << 20,
        ..Limits::default()
    }
}

fn hostile_file() -> PathBuf {
    build_plugin("tenantctl-test-plugin-hostile")
}

fn load(runtime: &Runtime, bytes: &[u8], name: &str) -> anyhow::Result<Arc<Plugin>> {
    block_on(runtime.load(bytes, PluginSource::File(name.into())))
}

fn account(plugin: &Arc<Plugin>, sim: &AcronisSim) -> Account {
    Account::new(
        plugin.clone(),
        &sim.url(),
        vec![("api-key".into(), API_KEY.into())],
        HttpClient::new(quick_http()).unwrap(),
    )
    .unwrap()
}

/// What one case must end with.
struct Case {
    /// The tenant id that chooses the case.
    id: &'static str,
    action: Action,
    /// The plugin function and step the error must name.
    step: &'static str,
    /// A phrase the error must contain.
    says: &'static str,
    /// Requests to `/hostile/<id>` that may reach the wire (the reads a case makes before
    /// it misbehaves).
    sent: usize,
}

const fn case(id: &'static str, step: &'static str, says: &'static str) -> Case {
    Case {
        id,
        action: Action::Status,
        step,
        says,
        sent: 0,
    }
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            sent: 1,
            ..case("trap-in-resume", "resume-action (step 2)", "unreachable")
        },
        Case {
            sent: 1,
            ..case(
                "loop-in-resume",
                "resume-action (step 2)",
                "ran longer than its 1s limit",
            )
        },
        case("grow", "begin-action (step 1)", "32 MiB memory limit"),
        case("userinfo", "begin-action (step 1)", "user name or password"),
        case("malformed-url", "begin-action (step 1)", "invalid URL"),
        case("bad-header-name", "begin-action (step 1)", "invalid name"),
        case(
            "bad-header-value",
            "begin-action (step 1)",
            "not a valid header value",
        ),
        case(
            "other-port",
            "begin-action (step 1)",
            "outside the configured origin",
        ),
        case(
            "other-scheme",
            "begin-action (step 1)",
            "outside the configured origin",
        ),
        case(
            "other-host",
            "begin-action (step 1)",
            "outside the configured origin",
        ),
        case(
            "huge-request",
            "begin-action (step 1)",
            "over the 1048576 byte limit",
        ),
        Case {
            sent: 50,
            ..case(
                "endless-reads",
                "resume-action (step 51)",
                "more than 50 requests",
            )
        },
        case(
            "delete-as-read",
            "begin-action (step 1)",
            "only GET may be a read",
        ),
        case(
            "post-as-read",
            "begin-action (step 1)",
            "only GET may be a read",
        ),
        Case {
            action: Action::Disable,
            ..case(
                "delete-without-intent",
                "begin-action (step 1)",
                "without declaring its intent",
            )
        },
    ];
    for header in [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "CONNECTION",
        "Upgrade",
        "TE",
        "Trailer",
        "Keep-Alive",
        "Proxy-Authorization",
    ] {
        cases.push(case(
            Box::leak(format!("header:{header}").into_boxed_str()),
            "begin-action (step 1)",
            "which tenantctl sets itself",
        ));
    }
    cases
}

/// The requests of a case that reached the simulator.
fn sent_for<'a>(requests: &'a [RecordedRequest], id: &str) -> Vec<&'a RecordedRequest> {
    let encoded: String = id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    requests
        .iter()
        .filter(|r| {
            let path = r.path_only();
            path == format!("/hostile/{encoded}") || path == format!("/hostile/{id}")
        })
        .collect()
}

/// Nothing a hostile plugin asked for that the rules forbid reached the wire.
fn assert_wire_is_clean(requests: &[RecordedRequest]) {
    for request in requests {
        let shown = format!("{} {} {:?}", request.method, request.path, request.headers);
        assert!(
            request
                .header("host")
                .is_none_or(|h| h.starts_with("127.0.0.1:")),
            "a plugin's Host header reached the wire: {shown}"
        );
        assert!(
            request
                .header("authorization")
                .is_none_or(|h| !h.starts_with("Basic") || request.path.contains("/idp/token")),
            "userinfo became a Basic header: {shown}"
        );
        assert!(
            request.headers.iter().all(|(name, value)| {
                !name.starts_with("proxy-")
                    && !value.contains("evil.example")
                    && name != "x-injected"
                    && !name.contains(' ')
            }),
            "a header the plugin may not set reached the wire: {shown}"
        );
        assert!(
            request.method == "GET"
                || request.path_only() == "/hostile/login"
                || !request.path.starts_with("/hostile/"),
            "a hostile write reached the wire: {shown}"
        );
        assert!(
            request.body.len() < 1 << 20,
            "a huge body reached the wire: {} bytes",
            request.body.len()
        );
    }
}

fn assert_plugin_failure(result: &TenantResult, case: &Case) {
    assert_eq!(result.status, Status::Failed, "{}: {result:?}", case.id);
    let error = result.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Plugin, "{}: {error:?}", case.id);
    assert!(
        !error.retryable,
        "{}: a plugin's fault is not retryable",
        case.id
    );
    for needed in [HOSTILE, case.step, case.says] {
        assert!(
            error.message.contains(needed),
            "{}: the error does not say {needed:?}: {}",
            case.id,
            error.message
        );
    }
}

/// Under each compiler: the commands on one tenant run Winch's code, batches and the service
/// Cranelift's.
#[test]
fn every_hostile_request_fails_its_own_operation_and_nothing_unsafe_reaches_the_wire() {
    for compiler in [Compiler::Winch, Compiler::Cranelift] {
        hostile_requests_are_contained(compiler);
    }
}

fn hostile_requests_are_contained(compiler: Compiler) {
    eprintln!("compiled by {}", compiler.name());
    let runtime = runtime_compiling_with(compiler, limits());
    let plugin = load(
        &runtime,
        &std::fs::read(hostile_file()).unwrap(),
        "hostile.wasm",
    )
    .unwrap();
    let sim = AcronisSim::start(AcronisConfig::default());
    let account = account(&plugin, &sim);
    let run = |id: &str, action: Action, dry_run: bool| {
        let options = RunOptions {
            dry_run,
            ..RunOptions::default()
        };
        let started = Instant::now();
        let result = block_on(account.run(&by_id(action, id), &options));
        (result, started.elapsed())
    };

    // A first operation logs in (a POST declared as a read: allowed while logging in).
    let (fine, _) = run("fine", Action::Status, false);
    assert_eq!(fine.status, Status::Unchanged, "{fine:?}");
    assert_eq!(plugin.compiled_by(), Some(compiler));

    eprintln!("{:<32} {:>9}  how the host answered", "case", "time");
    for case in cases() {
        let (result, took) = run(case.id, case.action, false);
        let error = result.error.as_ref().map(|e| e.message.as_str());
        eprintln!(
            "{:<32} {:>7}ms  {}",
            case.id,
            took.as_millis(),
            error.unwrap_or("-")
        );
        assert_plugin_failure(&result, &case);
        assert!(
            took < 2 * DEADLINE,
            "{}: took {took:?}, over twice the {DEADLINE:?} deadline",
            case.id
        );
        let requests = sim.requests();
        assert_eq!(
            sent_for(&requests, case.id).len(),
            case.sent,
            "{}: requests that reached the wire",
            case.id
        );
    }

    // A DELETE declared as a read is refused in a dry run too (a dry run sends reads).
    let delete = case(
        "delete-as-read",
        "begin-action (step 1)",
        "only GET may be a read",
    );
    let (result, _) = run(delete.id, Action::Disable, true);
    assert_plugin_failure(&result, &delete);
    assert!(result.planned_request.is_none(), "{result:?}");

    // The plugin still serves the next operation: each one has a fresh instance.
    let (after, _) = run("fine", Action::Status, false);
    assert_eq!(after.status, Status::Unchanged, "{after:?}");
    let requests = sim.requests();
    assert_wire_is_clean(&requests);
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/hostile/login")
            .count(),
        1,
        "one login served every operation"
    );
}

#[test]
fn an_oversized_response_fails_the_request_instead_of_reaching_the_plugin_cut_short() {
    let runtime = Runtime::new(Some(cache_dir()), limits(), Compilation::Optimized).unwrap();
    let plugin = load(
        &runtime,
        &std::fs::read(hostile_file()).unwrap(),
        "hostile.wasm",
    )
    .unwrap();
    let sim = AcronisSim::start(AcronisConfig::default());
    sim.inject(
        tenantctl_simulator::FaultRule::new(
            tenantctl_simulator::Fault::status(200).with_body("text/plain", "x".repeat(3 << 20)),
        )
        .path("/hostile/fine")
        .always(),
    );
    let http = tenantctl::http::HttpSettings {
        max_response_bytes: 2 << 20,
        ..quick_http()
    };
    let account = Account::new(plugin, &sim.url(), vec![], HttpClient::new(http).unwrap()).unwrap();
    let started = Instant::now();
    let result = block_on(account.run(&by_id(Action::Status, "fine"), &RunOptions::default()));
    eprintln!(
        "oversized response: {:?} in {:?}",
        result.error,
        started.elapsed()
    );
    assert_eq!(result.status, Status::Failed, "{result:?}");
    let error = result.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Vendor, "{error:?}");
    assert!(!error.retryable);
    assert!(
        error.message.contains("over the 2 MiB tenantctl reads")
            && error.message.contains("/hostile/fine"),
        "{}",
        error.message
    );
    assert_eq!(
        sim.count("GET", "/hostile/fine"),
        1,
        "an oversized answer is not fetched again"
    );
}

/// The core module inside a component (a real one, not an empty stand-in).
fn first_core_module(component: &[u8]) -> Vec<u8> {
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let wasmparser::Payload::ModuleSection {
            unchecked_range, ..
        } = payload.unwrap()
        {
            return component[unchecked_range].to_vec();
        }
    }
    panic!("the component holds no core module");
}

/// `bytes` with every `from` replaced by `to` (the same length, so every length prefix stays
/// right).
fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut replaced = 0;
    let mut at = 0;
    while let Some(found) = out[at..].windows(from.len()).position(|w| w == from) {
        out[at + found..at + found + to.len()].copy_from_slice(to);
        at += found + to.len();
        replaced += 1;
    }
    assert!(
        replaced > 0,
        "{:?} is not in the file",
        String::from_utf8_lossy(from)
    );
    out
}

/// The component with `count` extra core instances appended, each of a module that owns a
/// memory of `pages` 64 KiB pages: one component, many memories.
fn with_many_memories(component: &[u8], count: u32, pages: u64) -> Vec<u8> {
    let mut modules = 0u32;
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.unwrap() {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ModuleSection { .. } if depth == 1 => modules += 1,
            _ => {}
        }
    }
    let mut module = wasm_encoder::Module::new();
    let mut memories = wasm_encoder::MemorySection::new();
    memories.memory(wasm_encoder::MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut extra = wasm_encoder::Component::new();
    extra.section(&wasm_encoder::ModuleSection(&module));
    let mut instances = wasm_encoder::InstanceSection::new();
    for _ in 0..count {
        instances.instantiate(modules, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    }
    extra.section(&instances);
    // Drop the extra component's own preamble: its sections go after the plugin's.
    let extra = extra.finish();
    let mut out = component.to_vec();
    out.extend_from_slice(&extra[8..]);
    out
}

#[test]
fn files_that_are_not_usable_plugins_are_refused_before_they_run() {
    let runtime = Runtime::new(None, limits(), Compilation::Optimized).unwrap();
    let good = std::fs::read(hostile_file()).unwrap();
    let mut random = vec![0u8; 4096];
    rand::Rng::fill(&mut rand::rng(), random.as_mut_slice());
    let mut random_wasm = b"\0asm\x0d\0\x01\0".to_vec();
    random_wasm.extend_from_slice(&random);
    let files: Vec<(&str, Vec<u8>, &str)> = vec![
        ("random bytes", random, "not WebAssembly"),
        (
            "a component header and random bytes",
            random_wasm,
            "not a valid WebAssembly component",
        ),
        (
            "a core module",
            first_core_module(&good),
            "core WebAssembly module",
        ),
        (
            "a truncated component",
            good[..good.len() / 2].to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            "a component for contract 0.9.0",
            replace_all(
                &good,
                b"tenantctl:plugin/plugin@0.1.0",
                b"tenantctl:plugin/plugin@0.9.0",
            ),
            "built for contract 0.9.0, and this tenantctl speaks 0.1.x",
        ),
        (
            "a component for contract 7.1.0",
            replace_all(
                &good,
                b"tenantctl:plugin/plugin@0.1.0",
                b"tenantctl:plugin/plugin@7.1.0",
            ),
            "built for contract 7.1.0",
        ),
        (
            "a component whose describe loops",
            replace_all(
                &good,
                b"tenantctl-hostile:normal",
                b"tenantctl-hostile:loops!",
            ),
            "failed in describe (step 1): it ran longer than its 1s limit",
        ),
        (
            "a component with 40 more memories",
            with_many_memories(&good, 40, 1),
            "refused before any of its code ran",
        ),
    ];
    // Compiling is the host's work, not the plugin's: time a compile of a file of the same
    // size (no cache here) and allow it on top of the deadline.
    let started = Instant::now();
    load(&runtime, &good, "baseline.wasm").unwrap();
    let compile = started.elapsed();
    eprintln!("compiling and describing the good file: {compile:?}");
    eprintln!("{:<40} {:>9}  how the host answered", "file", "time");
    for (what, bytes, says) in files {
        let started = Instant::now();
        let err = load(&runtime, &bytes, "bad.wasm").unwrap_err();
        let took = started.elapsed();
        let message = format!("{err:#}");
        eprintln!("{what:<40} {:>7}ms  {message}", took.as_millis());
        assert!(message.contains(says), "{what}: {message}");
        assert!(
            took < 2 * DEADLINE + compile,
            "{what}: took {took:?}, over twice the {DEADLINE:?} deadline (+ {compile:?} to compile)"
        );
    }
    // The good file still loads: nothing above poisoned the runtime.
    let plugin = load(&runtime, &good, "hostile.wasm").unwrap();
    assert_eq!(plugin.info().version, "0.6.6");
}

#[test]
fn memories_are_capped_in_count_and_in_total_across_the_store() {
    let good = std::fs::read(hostile_file()).unwrap();
    // Enough instances and memories allowed that only the total stops it: 12 memories of
    // 4 MiB are within each one's reach of a 32 MiB cap, but not together.
    let roomy = Limits {
        max_memories: 64,
        max_instances: 64,
        ..limits()
    };
    let runtime = Runtime::new(None, roomy, Compilation::Optimized).unwrap();
    let err = load(&runtime, &with_many_memories(&good, 12, 64), "wide.wasm").unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("failed in instantiate") && message.contains("32 MiB memory limit"),
        "{message}"
    );
    // The same file with few, small memories fits: the limit is the total, not a count.
    assert!(load(&runtime, &with_many_memories(&good, 2, 1), "small.wasm").is_ok());

    // By default a store holds 2 memories: a third is refused however small, before any of
    // the plugin's code runs.
    let runtime = Runtime::new(None, limits(), Compilation::Optimized).unwrap();
    let err = load(&runtime, &with_many_memories(&good, 3, 1), "three.wasm").unwrap_err();
    assert!(
        format!("{err:#}").contains("refused before any of its code ran"),
        "{err:#}"
    );
}

/// Everything a batch needs: a plugin directory with the hostile plugin, the misbehaving
/// one and every unusable file, and the simulator they all talk to.
struct Fleet {
    home: tempfile::TempDir,
    dir: PathBuf,
    sim: AcronisSim,
}

impl Fleet {
    fn new() -> Fleet {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("plugins");
        std::fs::create_dir(&dir).unwrap();
        let good = std::fs::read(hostile_file()).unwrap();
        let misbehaving = build_plugin("tenantctl-test-plugin-misbehaving");
        std::fs::copy(misbehaving, dir.join("misbehaving.wasm")).unwrap();
        std::fs::write(dir.join("hostile.wasm"), &good).unwrap();
        std::fs::write(dir.join("random.wasm"), b"\x7fELF not a plugin at all").unwrap();
        std::fs::write(dir.join("core.wasm"), first_core_module(&good)).unwrap();
        std::fs::write(dir.join("truncated.wasm"), &good[..good.len() / 3]).unwrap();
        std::fs::write(
            dir.join("future.wasm"),
            replace_all(
                &good,
                b"tenantctl:plugin/plugin@0.1.0",
                b"tenantctl:plugin/plugin@0.9.0",
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("describe-loops.wasm"),
            replace_all(
                &good,
                b"tenantctl-hostile:normal",
                b"tenantctl-hostile:loops!",
            ),
        )
        .unwrap();
        std::fs::write(dir.join("memories.wasm"), with_many_memories(&good, 40, 1)).unwrap();
        Fleet {
            home,
            dir,
            sim: AcronisSim::start(AcronisConfig::default()),
        }
    }

    fn tenantctl(&self) -> assert_cmd::Command {
        let mut cmd = tenantctl(self.home.path());
        cmd.envs(acronis_env(&self.sim))
            .env("TENANTCTL_HOSTILE_URL", self.sim.url())
            .env("TENANTCTL_HOSTILE_API_KEY", API_KEY)
            .env("TENANTCTL_MISBEHAVING_URL", self.sim.url())
            // Unsigned test fixtures: trusted by this explicit, warned-about opt-out.
            .env("TENANTCTL_ALLOW_UNSIGNED_PLUGINS", "1")
            .arg("--plugin-dir")
            .arg(&self.dir);
        cmd
    }
}

fn write_rows(path: &Path, rows: &[(String, &str, String)]) {
    let mut csv = String::from("vendor,action,tenant\n");
    for (vendor, action, tenant) in rows {
        csv.push_str(&format!("{vendor},{action},{tenant}\n"));
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn a_batch_with_hostile_rows_and_unusable_files_finishes_every_other_row() {
    let fleet = Fleet::new();
    let acme = fleet.sim.acme_id().to_string();
    let mut rows: Vec<(String, &str, String)> = vec![
        ("acronis".into(), "status", acme.clone()),
        ("hostile".into(), "status", "fine".into()),
    ];
    for case in cases() {
        let action = if case.action == Action::Disable {
            "disable"
        } else {
            "status"
        };
        rows.push(("hostile".into(), action, case.id.to_string()));
    }
    for id in [
        "trap",
        "loop",
        "bloat",
        "foreign-origin",
        "write-without-intent",
    ] {
        rows.push(("misbehaving".into(), "status", id.into()));
    }
    rows.push(("acronis".into(), "status", acme.clone()));
    rows.push(("hostile".into(), "status", "fine".into()));
    let input = fleet.home.path().join("rows.csv");
    write_rows(&input, &rows);

    let started = Instant::now();
    let out = fleet
        .tenantctl()
        .args(["apply", "--output", "json", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("batch of {} rows: {took:?}\n{stderr}", rows.len());
    assert_eq!(
        out.status.code(),
        Some(1),
        "some rows failed, none crashed: {stderr}"
    );

    // Every unusable file is named with the reason, and did not stop the others.
    for (file, says) in [
        ("random.wasm", "not WebAssembly"),
        ("core.wasm", "core WebAssembly module"),
        ("truncated.wasm", "not a valid WebAssembly component"),
        ("future.wasm", "built for contract 0.9.0"),
        ("describe-loops.wasm", "failed in describe (step 1)"),
        ("memories.wasm", "refused before any of its code ran"),
    ] {
        let line = stderr
            .lines()
            .find(|line| line.contains(file))
            .unwrap_or_else(|| panic!("{file} is not reported: {stderr}"));
        assert!(line.contains(says), "{file}: {line}");
    }

    let results = json_lines(&out.stdout);
    assert_eq!(results.len(), rows.len(), "one result per row");
    for result in &results {
        let row = result["row"].as_u64().unwrap() as usize;
        // `row` is the line in the file; the header is line 1.
        let (vendor, _, tenant) = &rows[row - 2];
        let fine = vendor == "acronis" || tenant == "fine";
        if fine {
            assert_eq!(result["status"], "unchanged", "row {row}: {result}");
            continue;
        }
        assert_eq!(result["status"], "failed", "row {row}: {result}");
        assert_eq!(result["error"]["kind"], "plugin", "row {row}: {result}");
        let message = result["error"]["message"].as_str().unwrap();
        let who = if vendor == "hostile" {
            HOSTILE
        } else {
            "misbehaving 0.1.0"
        };
        assert!(
            message.contains(who) && message.contains("(step "),
            "row {row}: names plugin, version and step: {message}"
        );
    }
    // Loops and the describe that never returns each cost one deadline; everything else
    // is quick. Discovery (one describe loop) and the batch (concurrency 8) together stay
    // well within a few deadlines, not one per row.
    assert!(took < 6 * CLI_DEADLINE, "the batch took {took:?}");
    assert_wire_is_clean(&fleet.sim.requests());
    let status: Vec<&Value> = results
        .iter()
        .filter(|r| r["vendor"] == "acronis")
        .collect();
    assert_eq!(status.len(), 2);
}

#[test]
fn a_corrupt_compile_cache_is_rebuilt_and_never_run() {
    let fleet = Fleet::new();
    let cache = fleet.home.path().join("cache");
    let status = |fleet: &Fleet| {
        fleet
            .tenantctl()
            .env("TENANTCTL_CACHE_DIR", &cache)
            .args([
                "status", "--vendor", "acronis", "--output", "json", "--tenant",
            ])
            .arg(fleet.sim.acme_id())
            .output()
            .unwrap()
    };
    let first = status(&fleet);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let artifacts: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .collect();
    assert!(
        artifacts.len() >= 3,
        "built-ins and directory plugins are cached: {artifacts:?}"
    );

    // Flip bytes in the middle of every artifact (its header intact), and cut one short.
    let mut corrupted = Vec::new();
    for (n, path) in artifacts.iter().enumerate() {
        let mut bytes = std::fs::read(path).unwrap();
        if n == 0 {
            bytes.truncate(bytes.len() * 2 / 3);
        } else {
            let middle = bytes.len() / 2;
            for byte in &mut bytes[middle..middle + 4096] {
                *byte ^= 0x5a;
            }
        }
        std::fs::write(path, &bytes).unwrap();
        corrupted.push(bytes);
    }
    let second = status(&fleet);
    assert_eq!(
        second.status.code(),
        Some(0),
        "no crash, the same answer: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(one_result(&second.stdout)["status"], "unchanged");
    // The plugin that served the command was loaded, found corrupt and rebuilt. The others
    // were only described, from their artifacts' headers (which were left intact), and
    // never loaded: a corrupt entry is rebuilt when its plugin is next needed.
    let list = fleet
        .tenantctl()
        .env("TENANTCTL_CACHE_DIR", &cache)
        .args(["plugins", "list", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(
        list.status.code(),
        Some(0),
        "listing needs no artifact loaded"
    );
    let served = json_lines(&list.stdout)
        .into_iter()
        .find(|p| p["vendor"] == "acronis" && p["chosen"] == true)
        .expect("a plugin serves acronis");
    let served = served["sha256"].as_str().unwrap().to_string();
    let mut rebuilt_served = false;
    for (path, bad) in artifacts.iter().zip(&corrupted) {
        let now = std::fs::read(path).unwrap();
        if path.display().to_string().contains(&served) {
            assert_ne!(&now, bad, "{} was rebuilt", path.display());
            rebuilt_served = true;
        }
    }
    assert!(
        rebuilt_served,
        "the artifact of the plugin used ({served}) is among {artifacts:?}"
    );
    // And the rebuilt cache serves a third run as it is.
    let third = status(&fleet);
    assert_eq!(third.status.code(), Some(0));
    assert_eq!(one_result(&third.stdout)["status"], "unchanged");
    for path in &artifacts {
        assert!(path.is_file());
    }
}
