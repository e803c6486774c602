//! A plugin that traps, loops, bloats or breaks the contract fails its own operation with
//! an error naming the plugin, its version and the step — never the host.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tenantctl::http::HttpClient;
use tenantctl::plugin::{Limits, Plugin, PluginSource, Runtime};
use tenantctl::{Account, Action, ErrorKind, RunOptions, Status};
use tenantctl_simulator::{AcronisConfig, AcronisSim};

fn misbehaving() -> Arc<Plugin> {
    let file = build_plugin("tenantctl-test-plugin-misbehaving");
    let limits = Limits {
        call_deadline: Duration::from_millis(500),
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let runtime = Runtime::new(Some(cache_dir()), limits).unwrap();
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

#[test]
fn misbehaving_plugins_fail_their_operation_and_the_host_carries_on() {
    let plugin = misbehaving();
    let sim = AcronisSim::start(AcronisConfig::default());
    let url = sim.url();

    assert_plugin_error(&run(&plugin, &url, "trap"), "begin-action (step 1)");

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
    let runtime = Runtime::new(None, Limits::default()).unwrap();
    let core_module = b"\0asm\x01\0\0\0";
    let source = PluginSource::File("core-module.wasm".into());
    let err = block_on(runtime.load(core_module, source)).unwrap_err();
    assert!(format!("{err:#}").contains("component"), "{err:#}");
}
