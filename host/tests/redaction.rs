//! Secrets never leave tenantctl in its output: known secrets are seeded (configured
//! credentials, a wrong one, a hostile plugin's api key), the tokens the vendors issue are
//! read back from the simulator, every scenario runs through the real binary (success, each
//! failure, `-vv`, dry run, `--record`, a batch, a plugin that echoes secrets in every
//! encoding it knows), and every byte of stdout, stderr, the audit journal and the
//! transcripts is scanned for every form of every secret: raw, JSON-escaped (once and
//! twice), percent-encoded (upper and lower hex, form style) and base64 (standard and
//! URL-safe, at each of the three alignments, so inside `base64("user:secret")` too).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tenantctl_simulator::{AcronisConfig, AcronisSim, Fault, FaultRule};

const CLIENT_SECRET: &str = "acr0nis-s3cret/\"quoted\"+&=more";
const WRONG_SECRET: &str = "wr0ng-s3cret-value+/\\tab";
const API_KEY: &str = "h0stile-api-key/\"x\"+&=%";

/// The hostile plugin's session token for `api_key` (see `tests/plugins/hostile`).
fn hostile_token(api_key: &str) -> String {
    format!("tok{}en", api_key.chars().rev().collect::<String>())
}

/// The part of the base64 of `secret` preceded by `offset` bytes that depends on nothing
/// but `secret`.
fn base64_core(engine: &impl base64::Engine, secret: &str, offset: usize) -> String {
    let mut data = vec![b'\0'; offset];
    data.extend_from_slice(secret.as_bytes());
    let encoded = engine.encode(&data);
    let first = (8 * offset).div_ceil(6);
    let end = (8 * (offset + secret.len())) / 6;
    encoded[first..end].to_string()
}

/// Every form in which `secret` must not appear.
fn forms(secret: &str) -> Vec<(String, String)> {
    let json = serde_json::to_string(secret).unwrap();
    let json = json[1..json.len() - 1].to_string();
    let json_twice = serde_json::to_string(&json).unwrap();
    let strict: String =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let mut forms = vec![
        ("raw".to_string(), secret.to_string()),
        ("json".into(), json),
        (
            "json twice".into(),
            json_twice[1..json_twice.len() - 1].to_string(),
        ),
        ("percent".into(), strict.clone()),
        ("percent, lower hex".into(), strict.to_lowercase()),
        (
            "form-urlencoded".into(),
            form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        ),
    ];
    for (name, engine) in [
        ("base64", base64::engine::general_purpose::STANDARD),
        ("base64url", base64::engine::general_purpose::URL_SAFE),
    ] {
        for offset in 0..3 {
            forms.push((
                format!("{name} at offset {offset}"),
                base64_core(&engine, secret, offset),
            ));
        }
    }
    forms
}

/// All the output of the scenarios, by where it came from.
#[derive(Default)]
struct Collected {
    outputs: Vec<(String, Vec<u8>)>,
}

impl Collected {
    fn add(&mut self, label: &str, output: &std::process::Output) {
        self.outputs
            .push((format!("{label}: stdout"), output.stdout.clone()));
        self.outputs
            .push((format!("{label}: stderr"), output.stderr.clone()));
    }

    fn add_file(&mut self, label: &str, path: &Path) {
        let bytes = std::fs::read(path)
            .unwrap_or_else(|err| panic!("{label}: {} was not written: {err}", path.display()));
        self.outputs.push((label.to_string(), bytes));
    }

    /// The forms of `secret` found anywhere in the collected output.
    fn found(&self, secret: &str) -> Vec<String> {
        forms(secret)
            .into_iter()
            .filter(|(_, form)| {
                self.outputs
                    .iter()
                    .any(|(_, bytes)| bytes.windows(form.len()).any(|w| w == form.as_bytes()))
            })
            .map(|(name, _)| name)
            .collect()
    }

    fn assert_free_of(&self, secret_name: &str, secret: &str) {
        for (form_name, form) in forms(secret) {
            assert!(
                form.len() >= 8,
                "{secret_name} is long enough that {form_name} is too"
            );
            for (label, bytes) in &self.outputs {
                let found = bytes.windows(form.len()).any(|w| w == form.as_bytes());
                assert!(
                    !found,
                    "{secret_name} ({form_name} {form:?}) is in {label}:\n{}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }
}

struct Setup {
    home: tempfile::TempDir,
    plugins: PathBuf,
    journal: PathBuf,
    sim: AcronisSim,
}

impl Setup {
    fn tenantctl(&self, secret: &str) -> assert_cmd::Command {
        let mut cmd = tenantctl(self.home.path());
        cmd.envs(acronis_env(&self.sim))
            .env("TENANTCTL_ACRONIS_CLIENT_SECRET", secret)
            .env("TENANTCTL_HOSTILE_URL", self.sim.url())
            .env("TENANTCTL_HOSTILE_API_KEY", API_KEY)
            .env("TENANTCTL_ALLOW_UNSIGNED_PLUGINS", "1")
            .env("TENANTCTL_AUDIT_LOG", &self.journal)
            .arg("--plugin-dir")
            .arg(&self.plugins);
        cmd
    }
}

#[test]
fn no_secret_reaches_any_output_in_any_encoding() {
    let home = tempfile::tempdir().unwrap();
    let plugins = home.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        build_plugin("tenantctl-test-plugin-hostile"),
        plugins.join("hostile.wasm"),
    )
    .unwrap();
    let sim = AcronisSim::start(AcronisConfig {
        client_secret: CLIENT_SECRET.into(),
        ..AcronisConfig::default()
    });
    let setup = Setup {
        journal: home.path().join("audit.jsonl"),
        plugins,
        sim,
        home,
    };
    let acme = setup.sim.acme_id().to_string();
    let dormant = setup.sim.dormant_id().to_string();
    let transcripts = setup.home.path().join("transcripts");
    std::fs::create_dir(&transcripts).unwrap();
    let mut collected = Collected::default();
    let mut run = |label: &str, secret: &str, args: &[&str], expect: i32| {
        let record = transcripts.join(format!("{}.json", label.replace([' ', ','], "-")));
        let mut cmd = setup.tenantctl(secret);
        cmd.arg("-vv").args(args);
        let records = args[0] != "apply";
        if records {
            cmd.arg("--record").arg(&record);
        }
        let output = cmd.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(expect),
            "{label}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        collected.add(label, &output);
        if records && record.exists() {
            collected.add_file(&format!("{label}: transcript"), &record);
        }
    };

    let json = ["--output", "json"];
    let target = |action: &str, vendor: &str, tenant: &str, extra: &[&str]| -> Vec<String> {
        [action, "--vendor", vendor, "--tenant", tenant]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let dry_json = ["--dry-run", "--output", "json"];
    let unknown = "00000000-0000-0000-0000-000000000000";
    let scenarios: Vec<(&str, &str, Vec<String>, i32)> = vec![
        (
            "status",
            CLIENT_SECRET,
            target("status", "acronis", &acme, &json),
            0,
        ),
        (
            "status text",
            CLIENT_SECRET,
            target("status", "acronis", &acme, &[]),
            0,
        ),
        (
            "dry run",
            CLIENT_SECRET,
            target("disable", "acronis", &acme, &dry_json),
            0,
        ),
        (
            "disable",
            CLIENT_SECRET,
            target("disable", "acronis", &acme, &json),
            0,
        ),
        (
            "enable",
            CLIENT_SECRET,
            target("enable", "acronis", &acme, &json),
            0,
        ),
        (
            "not found",
            CLIENT_SECRET,
            target("status", "acronis", unknown, &json),
            1,
        ),
        (
            "wrong secret",
            WRONG_SECRET,
            target("status", "acronis", &acme, &json),
            1,
        ),
        (
            "echo",
            CLIENT_SECRET,
            target("status", "hostile", "echo-secrets", &json),
            0,
        ),
        (
            "echo text",
            CLIENT_SECRET,
            target("status", "hostile", "echo-secrets", &[]),
            0,
        ),
        (
            "echo in error",
            CLIENT_SECRET,
            target("status", "hostile", "echo-secrets-in-error", &json),
            1,
        ),
        (
            "echo in request",
            CLIENT_SECRET,
            target("status", "hostile", "echo-secrets-in-request", &json),
            0,
        ),
        (
            "echo in write, dry run",
            CLIENT_SECRET,
            target("disable", "hostile", "echo-secrets-in-write", &dry_json),
            0,
        ),
        (
            "echo in write",
            CLIENT_SECRET,
            target("disable", "hostile", "echo-secrets-in-write", &json),
            0,
        ),
        (
            "refused request",
            CLIENT_SECRET,
            target("status", "hostile", "userinfo", &json),
            1,
        ),
    ];
    for (label, secret, args, expect) in &scenarios {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(label, secret, &args, *expect);
    }

    // Failures the vendor and the network cause.
    setup.sim.inject(
        FaultRule::new(Fault::status(500).with_body("application/json", "{\"error\":\"boom\"}"))
            .path("/tenants/")
            .always(),
    );
    let args = target("disable", "acronis", &dormant, &json);
    run(
        "vendor error",
        CLIENT_SECRET,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        1,
    );
    setup.sim.clear_faults();
    setup
        .sim
        .inject(FaultRule::new(Fault::Reset).path("/tenants/").always());
    let args = target("status", "acronis", &acme, &json);
    run(
        "transport error",
        CLIENT_SECRET,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        1,
    );
    setup.sim.clear_faults();

    let input = setup.home.path().join("rows.csv");
    std::fs::write(
        &input,
        format!(
            "vendor,action,tenant\nacronis,status,{acme}\nhostile,status,echo-secrets\n\
             hostile,status,echo-secrets-in-error\nhostile,disable,echo-secrets-in-write\n\
             acronis,disable,{dormant}\nhostile,status,header:Host\n"
        ),
    )
    .unwrap();
    let input = input.display().to_string();
    run(
        "batch dry run",
        CLIENT_SECRET,
        &["apply", "--dry-run", "--output", "json", "--input", &input],
        1,
    );
    run(
        "batch",
        CLIENT_SECRET,
        &["apply", "--output", "json", "--input", &input],
        1,
    );
    collected.add_file("audit journal", &setup.journal);

    // The transcripts and the journal were written and hold what they should.
    let journal = String::from_utf8_lossy(&collected.outputs.last().unwrap().1).into_owned();
    assert!(journal.contains("echo-secrets-in-write"), "{journal}");
    assert!(
        collected
            .outputs
            .iter()
            .any(|(label, _)| label == "echo in request: transcript"),
        "transcripts were recorded"
    );

    // Every token the simulator issued, read from the requests that carried it.
    let mut tokens: Vec<String> = setup
        .sim
        .requests()
        .iter()
        .filter_map(|r| {
            r.header("authorization")?
                .strip_prefix("Bearer ")
                .map(str::to_string)
        })
        .collect();
    tokens.sort();
    tokens.dedup();
    assert!(!tokens.is_empty(), "the runs were served with tokens");

    // The scan finds what is there: the plugin really sent the secrets, encoded, to the
    // vendor (where they belong), and the simulator's log of the wire holds them.
    let mut wire = Collected::default();
    for request in setup.sim.requests() {
        wire.outputs.push((
            request.path.clone(),
            request.to_json().to_string().into_bytes(),
        ));
    }
    let on_the_wire = wire.found(API_KEY);
    for form in ["json", "base64 at offset 0", "percent"] {
        assert!(
            on_the_wire.iter().any(|f| f == form),
            "the {form} form of the api key went to the vendor: {on_the_wire:?}"
        );
    }

    collected.assert_free_of("the Acronis client secret", CLIENT_SECRET);
    collected.assert_free_of("the wrong client secret", WRONG_SECRET);
    collected.assert_free_of("the hostile plugin's api key", API_KEY);
    collected.assert_free_of(
        "the hostile plugin's session token",
        &hostile_token(API_KEY),
    );
    for token in &tokens {
        collected.assert_free_of("an Acronis access token", token);
    }
    let bytes: usize = collected.outputs.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "scanned {} outputs ({bytes} bytes) for {} secrets in {} forms each",
        collected.outputs.len(),
        4 + tokens.len(),
        forms(API_KEY).len()
    );
}
