//! The plugin author kit: `plugins new`, `--record`, `plugins test`, and the transcript
//! suites the built-in plugins ship.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use predicates::prelude::*;
use tenantctl_simulator::{CommvaultConfig, CommvaultSim};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_shipped_transcript_suites_replay_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let vspc = build_plugin("tenantctl-plugin-vspc");
    let suites = [
        ("acronis", PathBuf::from("acronis")),
        ("commvault", PathBuf::from("commvault")),
        ("vspc", vspc),
    ];
    for (vendor, plugin) in suites {
        let suite = workspace().join("guest").join(vendor).join("transcripts");
        let count = std::fs::read_dir(&suite).unwrap().count();
        assert!(count >= 15, "{vendor} ships {count} transcripts");
        tenantctl(home.path())
            .args(["plugins", "test"])
            .arg(&plugin)
            .arg("--transcripts")
            .arg(&suite)
            .assert()
            .code(0)
            .stdout(predicate::str::contains(format!(
                "{count} passed, 0 failed"
            )));
    }
}

#[test]
fn a_transcript_the_plugin_no_longer_matches_fails_and_says_where() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("suite");
    std::fs::create_dir(&dir).unwrap();
    let original = workspace().join("guest/acronis/transcripts/disable-by-name.json");
    let mut transcript: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(original).unwrap()).unwrap();
    transcript["result"]["status"] = "unchanged".into();
    let put = transcript["exchanges"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["request"]["method"] == "PUT")
        .unwrap();
    put["request"]["body"] = r#"{"enabled": true, "version": 1}"#.into();
    std::fs::write(dir.join("tampered.json"), transcript.to_string()).unwrap();
    transcript["vendor"] = "commvault".into();
    std::fs::write(dir.join("other-vendor.json"), transcript.to_string()).unwrap();

    tenantctl(home.path())
        .args(["plugins", "test", "acronis", "--transcripts"])
        .arg(&dir)
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("FAILED  tampered.json")
                .and(predicate::str::contains("expected body"))
                .and(predicate::str::contains("expected result"))
                .and(predicate::str::contains(
                    "recorded for vendor \"commvault\"",
                ))
                .and(predicate::str::contains("0 passed, 2 failed")),
        );
}

#[test]
fn record_writes_a_transcript_without_secrets_that_replays() {
    let sim = CommvaultSim::start(CommvaultConfig::default());
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("recorded");
    std::fs::create_dir(&dir).unwrap();
    for (name, args, code) in [
        ("disable", ["disable", "--tenant-name", "acme corp"], 0),
        ("not-found", ["status", "--tenant", "424242"], 1),
        ("invalid-id", ["status", "--tenant", "12abc"], 1),
    ] {
        let file = dir.join(format!("{name}.json"));
        tenantctl(home.path())
            .envs(commvault_env(&sim))
            .args(args)
            .args(["--vendor", "commvault", "--record"])
            .arg(&file)
            .assert()
            .code(code);
        assert!(file.is_file(), "{name}: no transcript written");
    }
    let tokens: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| r.header("authtoken").map(str::to_string))
        .collect();
    assert!(!tokens.is_empty());
    for file in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        assert!(!text.contains(sim.password()), "password in {text}");
        assert!(
            !text.contains("ZGVtby1wYXNzd29yZA"),
            "base64 password in {text}"
        );
        for token in &tokens {
            let bare = token.trim_start_matches("QSDK ");
            assert!(!text.contains(bare), "token in {text}");
        }
    }
    tenantctl(home.path())
        .args(["plugins", "test", "commvault", "--transcripts"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("3 passed, 0 failed"));
}

#[test]
fn plugins_new_creates_a_crate_that_tests_builds_and_loads() {
    let home = tempfile::tempdir().unwrap();
    let crate_dir = home.path().join("tenantctl-plugin-example-backup");
    tenantctl(home.path())
        .current_dir(home.path())
        .args(["plugins", "new", "example-backup"])
        .assert()
        .code(0);
    tenantctl(home.path())
        .current_dir(home.path())
        .args(["plugins", "new", "example-backup"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not empty"));
    tenantctl(home.path())
        .args(["plugins", "new", "Not A Name"])
        .assert()
        .code(2);

    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guest-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let run = |args: &[&str]| {
        let status = Command::new(&cargo)
            .current_dir(&crate_dir)
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            // Its own test summary would read like ours in CI logs.
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cargo {args:?} failed in the generated crate"
        );
    };
    run(&["test", "--quiet"]);
    run(&[
        "build",
        "--quiet",
        "--profile",
        "plugin",
        "--target",
        "wasm32-wasip2",
    ]);
    let wasm = target.join("wasm32-wasip2/plugin/tenantctl_plugin_example_backup.wasm");
    let out = tenantctl(home.path())
        .args(["plugins", "inspect", "--output", "json"])
        .arg(&wasm)
        .assert()
        .code(0);
    let info = one_result(&out.get_output().stdout);
    assert_eq!(info["vendor"], "example-backup");
    assert_eq!(
        info["config"][0]["variable"],
        "TENANTCTL_EXAMPLE_BACKUP_API_KEY"
    );
}
