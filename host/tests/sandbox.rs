//! A plugin that traps, loops, bloats or breaks the contract fails its own operation with
//! an error naming the plugin, its version and the step — never the host.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tenantctl::http::HttpClient;
use tenantctl::plugin::{Compilation, Compiler, Limits, Plugin, PluginSource, Runtime};
use tenantctl::{Account, Action, ErrorKind, RunOptions, Status};
use tenantctl_simulator::{AcronisConfig, AcronisSim};

fn misbehaving(compiler: Compiler) -> Arc<Plugin> {
    let file = build_plugin("tenantctl-test-plugin-misbehaving");
    let limits = Limits {
        call_deadline: Duration::from_millis(500),
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let runtime = runtime_compiling_with(compiler, limits);
    let bytes = std::fs::read(&file).unwrap();
    block_on(runtime.load(&bytes, PluginSource::File(file))).unwrap()
}

fn run(plugin: &Arc<Plugin>, base_url: &str, tenant: &str) -> tenantctl::TenantResult {
    let account = Account::new(
        plugin.clone(),
        base_url,
        vec![],
        HttpClient::new(quick_http()).unwrap(),
    )
    .unwrap();
    block_on(account.run(&by_id(Action::Status, tenant), &RunOptions::default()))
}

fn assert_plugin_error(result: &tenantctl::TenantResult, mentions: &str) {
    assert_eq!(result.status, Status::Failed, "{result:?}");
    let error = result.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Plugin, "{error:?}");
    assert!(
        error.message.contains("misbehaving 0.1.0"),
        "names plugin and version: {}",
        error.message
    );
    assert!(error.message.contains(mentions), "{}", error.message);
}

/// Each compiler's code is held to the same limits: a deadline that interrupts a loop, a
/// memory cap, bounds checks (the commands on one tenant run Winch's code, batches and the
/// service Cranelift's).
#[test]
fn misbehaving_plugins_fail_their_operation_and_the_host_carries_on() {
    for compiler in [Compiler::Winch, Compiler::Cranelift] {
        misbehaving_plugin_is_contained(compiler);
    }
}

fn misbehaving_plugin_is_contained(compiler: Compiler) {
    let plugin = misbehaving(compiler);
    let sim = AcronisSim::start(AcronisConfig::default());
    let url = sim.url();

    assert_plugin_error(&run(&plugin, &url, "trap"), "begin-action (step 1)");
    assert_eq!(plugin.compiled_by(), Some(compiler));
    assert_plugin_error(
        &run(&plugin, &url, "out-of-bounds"),
        "out of bounds memory access",
    );

    let started = Instant::now();
    assert_plugin_error(&run(&plugin, &url, "loop"), "ran longer than");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the deadline stopped it"
    );

    assert_plugin_error(&run(&plugin, &url, "bloat"), "32 MiB memory limit");

    let foreign = run(&plugin, &url, "foreign-origin");
    assert_plugin_error(&foreign, "outside the configured origin");

    assert_plugin_error(
        &run(&plugin, &url, "write-without-intent"),
        "without declaring its intent",
    );

    assert_plugin_error(
        &run(&plugin, &format!("{url}/runaway"), "any"),
        "more than 50 requests",
    );

    // The same plugin still works afterwards: every operation has a fresh instance.
    assert_eq!(run(&plugin, &url, "fine").status, Status::Unchanged);
    assert!(
        sim.requests().iter().all(|r| r.path.starts_with('/')),
        "nothing was sent anywhere but the simulator"
    );
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused_with_a_clear_error() {
    let runtime = Runtime::new(None, Limits::default(), Compilation::QuickStart).unwrap();
    let core_module = b"\0asm\x01\0\0\0";
    let source = PluginSource::File("core-module.wasm".into());
    let err = block_on(runtime.load(core_module, source)).unwrap_err();
    assert!(format!("{err:#}").contains("component"), "{err:#}");
}

/// What a command on one tenant runs: Cranelift's code when a batch, the service or a
/// `plugins` command left it in the cache, else Winch's, compiled once and cached in turn.
#[test]
fn a_quick_start_runs_cached_cranelift_code_and_otherwise_compiles_with_winch() {
    let cache = tempfile::tempdir().unwrap();
    let file = build_plugin("tenantctl-test-plugin-misbehaving");
    let bytes = std::fs::read(&file).unwrap();
    let compiled_by = |compilation| {
        let runtime =
            Runtime::new(Some(cache.path().into()), Limits::default(), compilation).unwrap();
        let plugin = block_on(runtime.load(&bytes, PluginSource::File(file.clone()))).unwrap();
        drop(block_on(plugin.instantiate()).unwrap());
        plugin.compiled_by().unwrap()
    };
    let artifacts = || {
        let mut names: Vec<PathBuf> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        names.sort();
        names
    };

    assert_eq!(compiled_by(Compilation::QuickStart), Compiler::Winch);
    let winch = artifacts();
    assert_eq!(winch.len(), 1, "{winch:?}");
    assert_eq!(compiled_by(Compilation::QuickStart), Compiler::Winch);
    assert_eq!(artifacts(), winch, "Winch's code came from the cache");

    assert_eq!(compiled_by(Compilation::Optimized), Compiler::Cranelift);
    let cranelift: Vec<PathBuf> = artifacts()
        .into_iter()
        .filter(|p| !winch.contains(p))
        .collect();
    assert_eq!(cranelift.len(), 1, "{cranelift:?}");
    assert_eq!(compiled_by(Compilation::QuickStart), Compiler::Cranelift);

    // A corrupt Cranelift artifact is discarded, never run: the quick start falls back to
    // Winch's, and the next batch compiles Cranelift's again.
    let mut corrupt = std::fs::read(&cranelift[0]).unwrap();
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 64]
        .iter_mut()
        .for_each(|b| *b ^= 0x5a);
    std::fs::write(&cranelift[0], corrupt).unwrap();
    assert_eq!(compiled_by(Compilation::QuickStart), Compiler::Winch);
    assert!(!cranelift[0].exists(), "the corrupt artifact was removed");
    assert_eq!(compiled_by(Compilation::Optimized), Compiler::Cranelift);
    assert_eq!(compiled_by(Compilation::QuickStart), Compiler::Cranelift);
}
