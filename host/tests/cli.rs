//! The CLI contract (DESIGN.md "The CLI"): commands, flags, credentials, output, exit codes,
//! through the real binary, the real plugins and the simulators.

mod common;

use common::*;
use predicates::prelude::*;
use predicates::str::contains;
use tenantctl_simulator::{AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim};

const CONTRACT_FIELDS: &[&str] = &[
    "vendor",
    "action",
    "tenant_id",
    "tenant_name",
    "status",
    "changed",
    "dry_run",
    "enabled_before",
    "enabled_after",
    "error",
];

fn acronis() -> (AcronisSim, tempfile::TempDir) {
    (
        AcronisSim::start(AcronisConfig::default()),
        tempfile::tempdir().unwrap(),
    )
}

fn commvault() -> (CommvaultSim, tempfile::TempDir) {
    (
        CommvaultSim::start(CommvaultConfig::default()),
        tempfile::tempdir().unwrap(),
    )
}

#[test]
fn status_prints_one_json_line_with_every_contract_field() {
    let (sim, home) = acronis();
    let out = tenantctl(home.path())
        .envs(acronis_env(&sim))
        .args([
            "status",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
            "--output",
            "json",
        ])
        .assert()
        .code(0);
    let result = one_result(&out.get_output().stdout);
    for field in CONTRACT_FIELDS {
        assert!(result.get(*field).is_some(), "missing {field} in {result}");
    }
    assert_eq!(result["vendor"], "acronis");
    assert_eq!(result["action"], "status");
    assert_eq!(result["tenant_id"], sim.acme_corp_id());
    assert_eq!(result["tenant_name"], "Acme Corp");
    assert_eq!(result["status"], "unchanged");
    assert_eq!(result["changed"], false);
    assert_eq!(result["dry_run"], false);
    assert_eq!(result["enabled_before"], true);
    assert_eq!(result["enabled_after"], true);
    assert!(result["error"].is_null());
    assert_eq!(
        sim.count("PUT", "/api/2/tenants/"),
        0,
        "status must not write"
    );
}

#[test]
fn disable_then_disable_again_is_changed_then_unchanged_and_enable_restores() {
    let (sim, home) = acronis();
    let id = sim.acme_corp_id().to_string();
    let run = |action: &str| {
        let out = tenantctl(home.path())
            .envs(acronis_env(&sim))
            .args([
                action, "--vendor", "acronis", "--tenant", &id, "--output", "json",
            ])
            .assert()
            .code(0);
        one_result(&out.get_output().stdout)
    };
    let first = run("disable");
    assert_eq!(
        (first["status"].as_str(), first["changed"].as_bool()),
        (Some("changed"), Some(true))
    );
    assert_eq!(
        (
            first["enabled_before"].as_bool(),
            first["enabled_after"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert!(!sim.tenant(&id).unwrap().enabled);
    let second = run("disable");
    assert_eq!(second["status"], "unchanged");
    assert_eq!(
        sim.count("PUT", "/api/2/tenants/"),
        1,
        "an already disabled tenant gets no PUT"
    );
    let enabled = run("enable");
    assert_eq!(enabled["status"], "changed");
    assert!(sim.tenant(&id).unwrap().enabled);
}

#[test]
fn dry_run_sends_no_write_and_shows_the_planned_request_without_secrets() {
    let (sim, home) = acronis();
    let out = tenantctl(home.path())
        .envs(acronis_env(&sim))
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
            "--dry-run",
            "--output",
            "json",
        ])
        .assert()
        .code(0);
    let result = one_result(&out.get_output().stdout);
    assert_eq!(result["status"], "planned");
    assert_eq!(result["dry_run"], true);
    assert_eq!(result["changed"], false);
    assert_eq!(
        (
            result["enabled_before"].as_bool(),
            result["enabled_after"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let plan = &result["planned_request"];
    assert_eq!(plan["method"], "PUT");
    assert!(
        plan["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/2/tenants/{}", sim.acme_corp_id()))
    );
    assert_eq!(plan["headers"]["Authorization"], "<redacted>");
    let body: serde_json::Value = serde_json::from_str(plan["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["enabled"], false);
    assert!(body["version"].is_number());
    assert_eq!(sim.count("PUT", ""), 0);
    assert!(sim.tenant(sim.acme_corp_id()).unwrap().enabled);
    let everything = [
        out.get_output().stdout.clone(),
        out.get_output().stderr.clone(),
    ]
    .concat();
    let text = String::from_utf8_lossy(&everything);
    assert!(
        !text.contains(sim.client_secret()),
        "the secret leaked: {text}"
    );
    assert!(!text.contains("Bearer "), "a token leaked: {text}");
}

#[test]
fn offboard_requires_yes_and_sends_nothing_without_it() {
    let (sim, home) = commvault();
    let id = sim.acme_corp_id().to_string();
    tenantctl(home.path())
        .envs(commvault_env(&sim))
        .args([
            "offboard",
            "--vendor",
            "commvault",
            "--tenant",
            &id,
            "--output",
            "json",
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("--yes"));
    assert!(
        sim.requests().is_empty(),
        "nothing may be sent: {:?}",
        sim.requests()
    );

    let out = tenantctl(home.path())
        .envs(commvault_env(&sim))
        .args([
            "offboard",
            "--vendor",
            "commvault",
            "--tenant",
            &id,
            "--dry-run",
            "--output",
            "json",
        ])
        .assert()
        .code(0);
    let planned = one_result(&out.get_output().stdout);
    assert_eq!(planned["status"], "planned");
    assert_eq!(planned["planned_request"]["method"], "POST");
    assert!(
        planned["planned_request"]["url"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .ends_with("/tenant/offboard")
    );
    assert!(!sim.is_offboarded(sim.acme_corp_id()));

    let out = tenantctl(home.path())
        .envs(commvault_env(&sim))
        .args([
            "offboard",
            "--vendor",
            "commvault",
            "--tenant",
            &id,
            "--yes",
            "--output",
            "json",
        ])
        .assert()
        .code(0);
    let done = one_result(&out.get_output().stdout);
    assert_eq!(
        (done["status"].as_str(), done["changed"].as_bool()),
        (Some("changed"), Some(true))
    );
    assert!(sim.is_offboarded(sim.acme_corp_id()));
}

#[test]
fn missing_credential_exits_2_naming_the_variable_and_sends_nothing() {
    let (sim, home) = acronis();
    tenantctl(home.path())
        .env("TENANTCTL_ACRONIS_URL", sim.url())
        .env("TENANTCTL_ACRONIS_CLIENT_ID", sim.client_id())
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("TENANTCTL_ACRONIS_CLIENT_SECRET"));
    assert!(sim.requests().is_empty());
}

#[test]
fn missing_url_exits_2() {
    let (sim, home) = commvault();
    tenantctl(home.path())
        .env("TENANTCTL_COMMVAULT_USERNAME", "admin")
        .env("TENANTCTL_COMMVAULT_PASSWORD", "x")
        .args(["status", "--vendor", "commvault", "--tenant", "1"])
        .assert()
        .code(2)
        .stderr(contains("TENANTCTL_COMMVAULT_URL"));
    assert!(sim.requests().is_empty());
}

#[test]
fn credentials_can_come_from_files() {
    let (sim, home) = commvault();
    let secret = home.path().join("password");
    std::fs::write(&secret, format!("{}\n", sim.password())).unwrap();
    tenantctl(home.path())
        .env("TENANTCTL_COMMVAULT_URL", sim.url())
        .env("TENANTCTL_COMMVAULT_USERNAME", sim.username())
        .env("TENANTCTL_COMMVAULT_PASSWORD_FILE", &secret)
        .args([
            "status",
            "--vendor",
            "commvault",
            "--tenant-name",
            "acme corp",
        ])
        .assert()
        .code(0)
        .stdout(contains("unchanged"));
}

#[test]
fn url_flag_overrides_the_environment() {
    let (sim, home) = acronis();
    tenantctl(home.path())
        .envs(acronis_env(&sim))
        .env("TENANTCTL_ACRONIS_URL", "http://127.0.0.1:9")
        .args([
            "status",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
        ])
        .arg("--url")
        .arg(format!("{}/api/2/", sim.url()))
        .assert()
        .code(0);
}

#[test]
fn usage_errors_exit_2_with_nothing_sent() {
    let (sim, home) = acronis();
    let cases: &[&[&str]] = &[
        &["status", "--vendor", "nosuchvendor", "--tenant", "x"],
        &["offboard", "--vendor", "acronis", "--tenant", "x", "--yes"],
        &["status", "--vendor", "acronis", "--tenant", "*"],
        &["status", "--vendor", "acronis", "--tenant", ""],
        &["status", "--vendor", "acronis"],
        &[
            "status",
            "--vendor",
            "acronis",
            "--tenant",
            "a",
            "--tenant-name",
            "b",
        ],
        &[
            "status",
            "--vendor",
            "acronis",
            "--tenant",
            "a",
            "--timeout",
            "0",
        ],
        &[
            "status",
            "--vendor",
            "acronis",
            "--tenant",
            "a",
            "--plugin-dir",
            "/does/not/exist",
        ],
        &[
            "status",
            "--vendor",
            "acronis",
            "--tenant",
            "a",
            "--url",
            "ftp://example.com",
        ],
    ];
    for args in cases {
        tenantctl(home.path())
            .envs(acronis_env(&sim))
            .args(*args)
            .assert()
            .code(2)
            .stdout("");
    }
    assert!(
        sim.requests().is_empty(),
        "usage errors sent requests: {:?}",
        sim.requests()
    );
}

#[test]
fn unknown_vendor_names_the_available_ones() {
    let home = tempfile::tempdir().unwrap();
    tenantctl(home.path())
        .args(["disable", "--vendor", "veeam", "--tenant", "1"])
        .assert()
        .code(2)
        .stderr(contains("acronis").and(contains("commvault")));
}

#[test]
fn failures_still_print_a_result_line_and_exit_1() {
    let (sim, home) = acronis();
    let cases: &[(&[&str], &str)] = &[
        (&["--tenant-name", "No Such Tenant"], "not_found"),
        (&["--tenant-name", "Twin Co"], "ambiguous"),
        (
            &["--tenant", "00000000-0000-0000-0000-000000000000"],
            "not_found",
        ),
    ];
    for (target, kind) in cases {
        let out = tenantctl(home.path())
            .envs(acronis_env(&sim))
            .args(["disable", "--vendor", "acronis", "--output", "json"])
            .args(*target)
            .assert()
            .code(1);
        let result = one_result(&out.get_output().stdout);
        assert_eq!(result["status"], "failed", "{result}");
        assert_eq!(result["error"]["kind"], *kind, "{result}");
        assert!(
            result["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            result["error"]
                .get("retryable")
                .is_some_and(|r| r.is_boolean())
        );
        assert!(result["tenant_id"].is_string() || result["tenant_name"].is_string());
    }
    assert_eq!(sim.count("PUT", ""), 0);
}

#[test]
fn wrong_credentials_fail_as_auth_with_a_result_line() {
    let (sim, home) = acronis();
    let out = tenantctl(home.path())
        .envs(acronis_env(&sim))
        .env("TENANTCTL_ACRONIS_CLIENT_SECRET", "wrong")
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
            "--output",
            "json",
        ])
        .assert()
        .code(1);
    let result = one_result(&out.get_output().stdout);
    assert_eq!(result["error"]["kind"], "auth");
    assert_eq!(result["error"]["http_status"], 401);
    assert_eq!(result["tenant_name"], "Acme Corp");
}

#[test]
fn expect_name_mismatch_fails_closed_before_any_write() {
    let (sim, home) = acronis();
    let out = tenantctl(home.path())
        .envs(acronis_env(&sim))
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant",
            sim.acme_corp_id(),
            "--expect-name",
            "Acme Corporation",
        ])
        .args(["--output", "json"])
        .assert()
        .code(1);
    let result = one_result(&out.get_output().stdout);
    assert_eq!(result["status"], "failed");
    assert_eq!(result["error"]["kind"], "invalid_input");
    assert_eq!(result["tenant_name"], "Acme Corp");
    assert_eq!(sim.count("PUT", ""), 0);
    assert!(sim.tenant(sim.acme_corp_id()).unwrap().enabled);

    tenantctl(home.path())
        .envs(acronis_env(&sim))
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant",
            sim.acme_corp_id(),
            "--expect-name",
            "Acme Corp",
        ])
        .assert()
        .code(0);
    assert!(!sim.tenant(sim.acme_corp_id()).unwrap().enabled);
}

#[test]
fn refuses_to_disable_the_api_clients_own_tenant() {
    let (sim, home) = acronis();
    let out = tenantctl(home.path())
        .envs(acronis_env(&sim))
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant",
            sim.root_tenant_id(),
            "--output",
            "json",
        ])
        .assert()
        .code(1);
    let result = one_result(&out.get_output().stdout);
    assert_eq!(result["error"]["kind"], "invalid_input");
    assert_eq!(sim.count("PUT", ""), 0);
}

#[test]
fn text_output_is_one_line_per_tenant_with_notes_and_logs_on_stderr() {
    let (sim, home) = commvault();
    let out = tenantctl(home.path())
        .envs(commvault_env(&sim))
        .args([
            "-v",
            "disable",
            "--vendor",
            "commvault",
            "--tenant-name",
            "ACME CORP",
        ])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("commvault disable \"Acme Corp\""),
        "{stdout}"
    );
    assert!(
        first.contains("changed") && first.contains("enabled -> disabled"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        stderr.contains("/action/deactivate"),
        "-v logs each request on stderr: {stderr}"
    );
    assert!(
        !stdout.contains("/action/deactivate"),
        "logs stay off stdout: {stdout}"
    );
    assert!(!stderr.contains(sim.password()), "{stderr}");
}

#[test]
fn plugins_list_and_inspect_describe_the_built_ins() {
    let home = tempfile::tempdir().unwrap();
    let out = tenantctl(home.path())
        .args(["plugins", "list", "--output", "json"])
        .assert()
        .code(0);
    let plugins = json_lines(&out.get_output().stdout);
    let vendors: Vec<_> = plugins
        .iter()
        .map(|p| p["vendor"].as_str().unwrap())
        .collect();
    assert_eq!(vendors, ["acronis", "commvault"]);
    assert!(
        plugins
            .iter()
            .all(|p| p["chosen"] == true && p["source"] == "built-in")
    );

    tenantctl(home.path())
        .args(["plugins", "inspect", "acronis"])
        .assert()
        .code(0)
        .stdout(
            contains("TENANTCTL_ACRONIS_CLIENT_ID")
                .and(contains("TENANTCTL_ACRONIS_CLIENT_SECRET"))
                .and(contains("secret")),
        );
    let out = tenantctl(home.path())
        .args(["plugins", "inspect", "commvault", "--output", "json"])
        .assert()
        .code(0);
    let info = one_result(&out.get_output().stdout);
    let offboard = info["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "offboard")
        .unwrap();
    assert_eq!(offboard["destructive"], true);
    tenantctl(home.path())
        .args(["plugins", "inspect", "nope"])
        .assert()
        .code(2);
}

#[test]
fn a_newer_plugin_in_the_plugin_dir_is_used_by_the_unchanged_binary() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_tenantctl")).unwrap();
    let hash_before = tenantctl::plugin::sha256_hex(&binary);
    let next = build_plugin("tenantctl-test-plugin-acronis-next");
    let (sim, home) = acronis();
    let dir = home.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&next, dir.join("acronis-0.2.0.wasm")).unwrap();
    std::fs::write(dir.join("broken.wasm"), b"not a component").unwrap();
    // The operator trusts exactly this file for acronis (pinned in the default config).
    let sha256 = tenantctl::plugin::sha256_hex(&std::fs::read(&next).unwrap());
    let config = home.path().join(".config/tenantctl/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        config,
        format!(
            "[trust.vendors.acronis]\nsha256 = [\"{sha256}\", \"{}\"]\n",
            tenantctl::plugin::sha256_hex(b"not a component")
        ),
    )
    .unwrap();

    let out = tenantctl(home.path())
        .env("TENANTCTL_PLUGIN_DIR", &dir)
        .args(["plugins", "list", "--output", "json"])
        .assert()
        .code(0);
    let plugins = json_lines(&out.get_output().stdout);
    let chosen: Vec<_> = plugins
        .iter()
        .filter(|p| p["chosen"] == true && p["vendor"] == "acronis")
        .collect();
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0]["version"], "0.2.0");
    assert!(
        chosen[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("acronis-0.2.0.wasm")
    );
    assert!(
        plugins
            .iter()
            .any(|p| p["vendor"] == "acronis" && p["version"] == "0.1.0" && p["chosen"] == false)
    );
    assert!(
        plugins
            .iter()
            .any(|p| p["source"].as_str().unwrap().ends_with("broken.wasm")
                && p["reason"].as_str().unwrap().starts_with("unusable"))
    );

    tenantctl(home.path())
        .envs(acronis_env(&sim))
        .args(["--plugin-dir"])
        .arg(&dir)
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
        ])
        .assert()
        .code(0);
    assert!(!sim.tenant(sim.acme_corp_id()).unwrap().enabled);
    tenantctl(home.path())
        .args(["plugins", "inspect"])
        .arg(&next)
        .assert()
        .code(0)
        .stdout(contains("0.2.0"));

    let hash_after =
        tenantctl::plugin::sha256_hex(&std::fs::read(env!("CARGO_BIN_EXE_tenantctl")).unwrap());
    assert_eq!(hash_before, hash_after, "the host binary must not change");
}

#[test]
fn plugins_export_writes_the_exact_files_in_use() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("exported");
    let out = tenantctl(home.path())
        .args(["plugins", "list", "--output", "json"])
        .assert()
        .code(0);
    let listed = json_lines(&out.get_output().stdout);
    tenantctl(home.path())
        .args(["plugins", "export"])
        .arg(&dir)
        .assert()
        .code(0);
    for plugin in listed {
        let vendor = plugin["vendor"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(format!("{vendor}.wasm"))).unwrap();
        assert_eq!(
            tenantctl::plugin::sha256_hex(&bytes),
            plugin["sha256"].as_str().unwrap()
        );
    }
}
