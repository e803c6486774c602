//! The third vendor, Veeam Service Provider Console, added without touching the host: the
//! tenantctl binary is built once, the `vspc` plugin is built from its own crate against
//! the SDK alone, dropped into a plugin directory, and used by the unchanged binary against
//! the VSPC simulator. The binary's hash is the same at the end.

mod common;

use std::path::Path;

use common::*;
use predicates::str::contains;
use serde_json::Value;
use tenantctl_simulator::{VspcConfig, VspcSim, VspcStatus};

fn vspc_env(sim: &VspcSim) -> Vec<(&'static str, String)> {
    vec![
        ("TENANTCTL_VSPC_URL", sim.url()),
        ("TENANTCTL_VSPC_USERNAME", sim.username().to_string()),
        ("TENANTCTL_VSPC_PASSWORD", sim.password().to_string()),
    ]
}

/// Trusts exactly this plugin file for vspc, as an operator would: its SHA-256 pinned in
/// the default configuration file (the tests clear XDG_*, so it is under HOME).
fn pin(home: &Path, wasm: &Path) {
    let sha256 = tenantctl::plugin::sha256_hex(&std::fs::read(wasm).unwrap());
    let config = home.join(".config/tenantctl/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        config,
        format!("[trust.vendors.vspc]\nsha256 = [\"{sha256}\"]\n"),
    )
    .unwrap();
}

fn binary_hash() -> String {
    tenantctl::plugin::sha256_hex(&std::fs::read(env!("CARGO_BIN_EXE_tenantctl")).unwrap())
}

/// Runs `tenantctl <args> --output json` with the plugin directory and the simulator's
/// variables; returns the exit code, the one result line and stderr.
fn run(home: &Path, dir: &Path, sim: &VspcSim, args: &[&str]) -> (i32, Value, String) {
    let out = tenantctl(home)
        .envs(vspc_env(sim))
        .arg("--plugin-dir")
        .arg(dir)
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let result = one_result(&out.stdout);
    (code, result, stderr)
}

#[test]
fn the_vspc_plugin_dropped_into_the_plugin_dir_runs_on_the_unchanged_binary() {
    let hash_before = binary_hash();
    let home = tempfile::tempdir().unwrap();
    let sim = VspcSim::start(VspcConfig::default());

    // The binary alone does not know the vendor.
    tenantctl(home.path())
        .envs(vspc_env(&sim))
        .args(["status", "--vendor", "vspc", "--tenant-name", "Acme Corp"])
        .assert()
        .code(2);
    assert!(sim.requests().is_empty());

    // Drop the plugin file in.
    let wasm = build_plugin("tenantctl-plugin-vspc");
    let dir = home.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&wasm, dir.join("vspc.wasm")).unwrap();
    pin(home.path(), &wasm);

    // `plugins list` shows it, chosen, from the directory.
    let out = tenantctl(home.path())
        .arg("--plugin-dir")
        .arg(&dir)
        .args(["plugins", "list", "--output", "json"])
        .assert()
        .code(0);
    let plugins = json_lines(&out.get_output().stdout);
    let vspc: Vec<&Value> = plugins.iter().filter(|p| p["vendor"] == "vspc").collect();
    assert_eq!(vspc.len(), 1, "{plugins:?}");
    assert_eq!(vspc[0]["chosen"], true);
    assert_eq!(vspc[0]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        vspc[0]["source"].as_str().unwrap().ends_with("vspc.wasm"),
        "{}",
        vspc[0]
    );
    assert!(
        plugins
            .iter()
            .any(|p| p["vendor"] == "acronis" && p["chosen"] == true),
        "the built-ins are still there"
    );
    tenantctl(home.path())
        .args(["plugins", "inspect"])
        .arg(dir.join("vspc.wasm"))
        .assert()
        .code(0)
        .stdout(contains("vspc"))
        .stdout(contains("password"));

    let acme = sim.acme_corp_uid().to_string();

    // status
    let (code, status, stderr) = run(
        home.path(),
        &dir,
        &sim,
        &["status", "--vendor", "vspc", "--tenant-name", "Acme Corp"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(status["vendor"], "vspc");
    assert_eq!(status["status"], "unchanged");
    assert_eq!(status["tenant_id"], acme.as_str());
    assert_eq!(status["tenant_name"], "Acme Corp");
    assert_eq!(status["enabled_before"], true);
    assert_eq!(status["error"], Value::Null);

    // dry run: planned, nothing written, no secret shown
    let out = tenantctl(home.path())
        .envs(vspc_env(&sim))
        .arg("--plugin-dir")
        .arg(&dir)
        .args([
            "disable",
            "--vendor",
            "vspc",
            "--tenant-name",
            "acme corp",
            "--dry-run",
            "--output",
            "json",
        ])
        .assert()
        .code(0);
    let planned = one_result(&out.get_output().stdout);
    assert_eq!(planned["status"], "planned");
    assert_eq!(planned["dry_run"], true);
    assert_eq!(planned["changed"], false);
    assert_eq!(
        (
            planned["enabled_before"].as_bool(),
            planned["enabled_after"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let plan = &planned["planned_request"];
    assert_eq!(plan["method"], "PATCH");
    assert_eq!(
        plan["url"],
        format!("{}/api/v3/organizations/companies/{acme}", sim.url())
    );
    assert_eq!(plan["headers"]["Authorization"], "<redacted>");
    let body: Value = serde_json::from_str(plan["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!([{"op": "replace", "path": "/status", "value": "Disabled"}])
    );
    assert_eq!(sim.count("PATCH", ""), 0, "a dry run sends no write");
    assert!(sim.company(&acme).unwrap().enabled());
    let everything = [
        out.get_output().stdout.clone(),
        out.get_output().stderr.clone(),
    ]
    .concat();
    let text = String::from_utf8_lossy(&everything);
    assert!(
        !text.contains(sim.password()),
        "the password leaked: {text}"
    );
    assert!(!text.contains("Bearer "), "a token leaked: {text}");

    // disable: changed, and the simulator really has it disabled
    let (code, disabled, stderr) = run(
        home.path(),
        &dir,
        &sim,
        &["disable", "--vendor", "vspc", "--tenant-name", "Acme Corp"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(disabled["status"], "changed");
    assert_eq!(disabled["changed"], true);
    assert_eq!(disabled["dry_run"], false);
    assert_eq!(
        (
            disabled["enabled_before"].as_bool(),
            disabled["enabled_after"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(sim.company(&acme).unwrap().status, VspcStatus::Disabled);
    assert_eq!(sim.count("PATCH", "/organizations/companies/"), 1);
    let patch = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(
        patch.body_json(),
        Some(serde_json::json!([{"op": "replace", "path": "/status", "value": "Disabled"}]))
    );
    assert!(
        patch
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ")
    );

    // disable again: unchanged, no second PATCH
    let (code, again, stderr) = run(
        home.path(),
        &dir,
        &sim,
        &["disable", "--vendor", "vspc", "--tenant", &acme],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["changed"], false);
    assert_eq!(
        sim.count("PATCH", ""),
        1,
        "an already disabled company gets no PATCH"
    );

    // enable
    let (code, enabled, stderr) = run(
        home.path(),
        &dir,
        &sim,
        &["enable", "--vendor", "vspc", "--tenant", &acme],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(enabled["status"], "changed");
    assert_eq!(enabled["enabled_after"], true);
    assert!(sim.company(&acme).unwrap().enabled());

    // a name nobody has: exit 1, not_found
    let (code, missing, _) = run(
        home.path(),
        &dir,
        &sim,
        &[
            "disable",
            "--vendor",
            "vspc",
            "--tenant-name",
            "No Such Company",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(missing["status"], "failed");
    assert_eq!(missing["error"]["kind"], "not_found");

    // two companies with the name ignoring case: exit 1, ambiguous, nothing written
    let (code, twins, _) = run(
        home.path(),
        &dir,
        &sim,
        &["disable", "--vendor", "vspc", "--tenant-name", "twin co"],
    );
    assert_eq!(code, 1);
    assert_eq!(twins["error"]["kind"], "ambiguous");
    let message = twins["error"]["message"].as_str().unwrap();
    for uid in sim.twin_co_uids() {
        assert!(message.contains(uid), "{message}");
    }
    assert_eq!(sim.count("PATCH", ""), 2);

    // a missing credential: exit 2 naming the variable, nothing sent
    sim.clear_requests();
    tenantctl(home.path())
        .env("TENANTCTL_VSPC_URL", sim.url())
        .env("TENANTCTL_VSPC_USERNAME", sim.username())
        .arg("--plugin-dir")
        .arg(&dir)
        .args(["disable", "--vendor", "vspc", "--tenant-name", "Acme Corp"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("TENANTCTL_VSPC_PASSWORD"));
    assert!(
        sim.requests().is_empty(),
        "nothing may be sent: {:?}",
        sim.requests()
    );

    // offboard is not offered by this vendor: a usage error, nothing sent
    tenantctl(home.path())
        .envs(vspc_env(&sim))
        .arg("--plugin-dir")
        .arg(&dir)
        .args(["offboard", "--vendor", "vspc", "--tenant", &acme, "--yes"])
        .assert()
        .code(2);
    assert!(sim.requests().is_empty());

    assert_eq!(
        hash_before,
        binary_hash(),
        "the host binary must not change to gain a vendor"
    );
}

#[test]
fn an_expired_session_is_renewed_and_a_queued_change_is_confirmed() {
    let home = tempfile::tempdir().unwrap();
    let sim = VspcSim::start(VspcConfig {
        async_patches: true,
        ..VspcConfig::default()
    });
    let wasm = build_plugin("tenantctl-plugin-vspc");
    let dir = home.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&wasm, dir.join("vspc.wasm")).unwrap();
    pin(home.path(), &wasm);
    let dormant = sim.dormant_uid().to_string();
    // Every token dies right before the company is read: the host logs in again once.
    sim.inject(
        tenantctl_simulator::FaultRule::new(tenantctl_simulator::Fault::ExpireTokens)
            .method("GET")
            .path("/organizations/companies/"),
    );
    let (code, enabled, stderr) = run(
        home.path(),
        &dir,
        &sim,
        &["enable", "--vendor", "vspc", "--tenant", &dormant],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(enabled["status"], "changed", "{enabled}");
    assert!(sim.company(&dormant).unwrap().enabled());
    assert_eq!(sim.tokens_issued(), 2, "one login, one renewal");
    assert_eq!(sim.count("PATCH", ""), 1);
    // The 202 was confirmed by reading the company back.
    let reads = sim.count("GET", &format!("/organizations/companies/{dormant}"));
    assert_eq!(
        reads, 3,
        "read, re-read after the renewal, read back after the 202"
    );
}
