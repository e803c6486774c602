//! Trust (DESIGN.md "Trust: who may run code inside tenantctl"): plugin files signed with
//! real minisign keys, tampered, pinned, unsigned; `plugins verify`, `plugins install` and
//! `plugins list`; the configuration file's precedence; the plain-http rule. Everything
//! through the real binary, the real plugins and the simulators on loopback.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use common::*;
use predicates::str::contains;
use serde_json::Value;
use tenantctl_simulator::{AcronisConfig, AcronisSim, VspcConfig, VspcSim};

/// A minisign key pair made for the test.
struct Signer {
    pair: minisign::KeyPair,
    /// The public key as `keys = [...]` takes it.
    public: String,
    /// The key id as minisign prints it.
    id: String,
}

impl Signer {
    fn new() -> Signer {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let public = pair.pk.to_base64();
        let id = format!(
            "{:016X}",
            u64::from_le_bytes(pair.pk.keynum().try_into().unwrap())
        );
        Signer { pair, public, id }
    }

    /// Writes `FILE.minisig`, as `minisign -Sm FILE` would.
    fn sign(&self, file: &Path) {
        let bytes = std::fs::read(file).unwrap();
        let signature = minisign::sign(
            Some(&self.pair.pk),
            &self.pair.sk,
            Cursor::new(bytes),
            None,
            None,
        )
        .unwrap();
        std::fs::write(signature_path(file), signature.into_string()).unwrap();
    }
}

fn signature_path(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.minisig", file.display()))
}

/// A home with a plugin directory, a compile cache of its own and the default
/// configuration file location (`~/.config/tenantctl/config.toml`, since the tests clear
/// XDG_*).
struct Home {
    home: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let home = Home {
            home: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(home.plugins()).unwrap();
        home
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    fn plugins(&self) -> PathBuf {
        self.path().join("plugins")
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// Copies a plugin file into the plugin directory as `name`.
    fn drop_in(&self, file: &Path, name: &str) -> PathBuf {
        let target = self.plugins().join(name);
        std::fs::copy(file, &target).unwrap();
        target
    }

    /// Writes the default configuration file.
    fn config(&self, text: &str) {
        let path = self.path().join(".config/tenantctl/config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// tenantctl with this plugin directory and this home's compile cache.
    fn tenantctl(&self) -> assert_cmd::Command {
        let mut cmd = tenantctl(self.path());
        cmd.env("TENANTCTL_PLUGIN_DIR", self.plugins())
            .env("TENANTCTL_CACHE_DIR", self.cache());
        cmd
    }

    /// `plugins list --output json`, every line.
    fn list(&self) -> Vec<Value> {
        let out = self
            .tenantctl()
            .args(["plugins", "list", "--output", "json"])
            .assert()
            .code(0);
        json_lines(&out.get_output().stdout)
    }

    /// Whether the compile cache holds an artifact of the file with this SHA-256.
    fn compiled(&self, sha256: &str) -> bool {
        std::fs::read_dir(self.cache())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().starts_with(sha256))
            })
            .unwrap_or(false)
    }
}

/// The `plugins list` line of the file named `name`.
fn listed<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|p| p["source"].as_str().unwrap_or_default().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not listed: {list:?}"))
}

fn chosen<'a>(list: &'a [Value], vendor: &str) -> &'a Value {
    list.iter()
        .find(|p| p["vendor"] == vendor && p["chosen"] == true)
        .unwrap_or_else(|| panic!("no plugin chosen for {vendor}: {list:?}"))
}

/// The Acronis plugin re-released as 0.2.0 (newer than the built-in 0.1.0).
fn acronis_next() -> PathBuf {
    build_plugin("tenantctl-test-plugin-acronis-next")
}

fn sha256_of(file: &Path) -> String {
    tenantctl::plugin::sha256_hex(&std::fs::read(file).unwrap())
}

fn keys_for(vendor: &str, signer: &Signer) -> String {
    format!("[trust.vendors.{vendor}]\nkeys = [\"{}\"]\n", signer.public)
}

/// Disables Acme Corp through the plugin directory and returns the `plugin` the audit
/// journal names (vendor@version).
fn disable_and_name_plugin(home: &Home, sim: &AcronisSim) -> String {
    let journal = home.path().join("audit.jsonl");
    home.tenantctl()
        .envs(acronis_env(sim))
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
        ])
        .arg("--audit-log")
        .arg(&journal)
        .assert()
        .code(0);
    let records = json_lines(&std::fs::read(&journal).unwrap());
    let record = records
        .iter()
        .find(|r| r["plugin"].is_string())
        .unwrap_or_else(|| panic!("no record names a plugin: {records:?}"));
    record["plugin"].as_str().unwrap().to_string()
}

#[test]
fn a_file_signed_by_a_key_trusted_for_its_vendor_is_used() {
    let home = Home::new();
    let signer = Signer::new();
    let file = home.drop_in(&acronis_next(), "acronis-next.wasm");
    signer.sign(&file);
    home.config(&keys_for("acronis", &signer));

    let list = home.list();
    let next = chosen(&list, "acronis");
    assert_eq!(next["version"], "0.2.0", "{list:?}");
    assert_eq!(next["trust"], "signature");
    assert_eq!(next["trusted"], true);
    assert_eq!(next["key_id"], signer.id.as_str());
    assert_eq!(listed(&list, "acronis-next.wasm")["chosen"], true);
    let builtin = list
        .iter()
        .find(|p| p["vendor"] == "acronis" && p["source"] == "built-in")
        .unwrap();
    assert_eq!(builtin["trust"], "built-in");
    assert_eq!(builtin["chosen"], false);

    let sim = AcronisSim::start(AcronisConfig::default());
    assert_eq!(disable_and_name_plugin(&home, &sim), "acronis@0.2.0");
    assert!(!sim.tenant(sim.acme_corp_id()).unwrap().enabled);
}

#[test]
fn a_file_signed_by_another_vendors_key_is_refused_and_the_builtin_serves() {
    let home = Home::new();
    let vspc_key = Signer::new();
    let file = home.drop_in(&acronis_next(), "acronis-next.wasm");
    vspc_key.sign(&file);
    // The key is trusted, but for vspc: it does not vouch for a file that says acronis.
    home.config(&keys_for("vspc", &vspc_key));

    let list = home.list();
    let refused = listed(&list, "acronis-next.wasm");
    assert_eq!(refused["chosen"], false);
    assert_eq!(refused["trusted"], false);
    assert_eq!(refused["trust"], "refused");
    assert_eq!(refused["vendor"], "acronis");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("refused") && reason.contains("vspc") && reason.contains(&vspc_key.id),
        "{reason}"
    );
    let used = chosen(&list, "acronis");
    assert_eq!(used["source"], "built-in");
    assert_eq!(used["version"], "0.1.0");

    let sim = AcronisSim::start(AcronisConfig::default());
    assert_eq!(disable_and_name_plugin(&home, &sim), "acronis@0.1.0");
}

#[test]
fn a_file_signed_by_an_unknown_key_is_refused() {
    let home = Home::new();
    let trusted = Signer::new();
    let stranger = Signer::new();
    let file = home.drop_in(&acronis_next(), "acronis-next.wasm");
    stranger.sign(&file);
    home.config(&keys_for("acronis", &trusted));
    let list = home.list();
    let reason = listed(&list, "acronis-next.wasm")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains(&stranger.id) && reason.contains("not trusted"),
        "{reason}"
    );
    assert_eq!(chosen(&list, "acronis")["source"], "built-in");
}

#[test]
fn a_tampered_file_is_refused_and_never_compiled() {
    let home = Home::new();
    let signer = Signer::new();
    home.config(&keys_for("acronis", &signer));
    let original = acronis_next();

    // The control: the same file, intact, is compiled into this home's cache.
    let intact = home.drop_in(&original, "intact.wasm");
    signer.sign(&intact);
    assert_eq!(listed(&home.list(), "intact.wasm")["trusted"], true);
    assert!(home.compiled(&sha256_of(&intact)));
    std::fs::remove_file(&intact).unwrap();
    std::fs::remove_file(signature_path(&intact)).unwrap();

    // One byte flipped after signing, in the last byte (the file stays a component) and in
    // the first (it would no longer parse as WebAssembly: the refusal must be about the
    // signature, found before anything parses the bytes).
    for (name, at_end) in [("tail.wasm", true), ("head.wasm", false)] {
        let file = home.drop_in(&original, name);
        signer.sign(&file);
        let mut bytes = std::fs::read(&file).unwrap();
        let index = if at_end { bytes.len() - 1 } else { 0 };
        bytes[index] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();

        let list = home.list();
        let refused = listed(&list, name);
        assert_eq!(refused["trusted"], false, "{refused}");
        let reason = refused["reason"].as_str().unwrap();
        assert!(
            reason.contains("does not match the file") && reason.contains(&signer.id),
            "{reason}"
        );
        assert!(
            refused["vendor"].is_null(),
            "a refused file is never described"
        );
        assert!(
            !home.compiled(&sha256_of(&file)),
            "the tampered {name} was compiled"
        );
        assert_eq!(chosen(&list, "acronis")["source"], "built-in");

        let out = home
            .tenantctl()
            .args(["plugins", "verify"])
            .arg(&file)
            .assert()
            .code(1);
        assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("does not match"));
        assert!(!home.compiled(&sha256_of(&file)));
        std::fs::remove_file(&file).unwrap();
        std::fs::remove_file(signature_path(&file)).unwrap();
    }
}

#[test]
fn an_unsigned_file_is_refused_unless_unsigned_plugins_are_allowed() {
    let home = Home::new();
    let file = home.drop_in(&acronis_next(), "acronis-next.wasm");

    let out = home
        .tenantctl()
        .args(["plugins", "list", "--output", "json"])
        .assert()
        .code(0);
    let list = json_lines(&out.get_output().stdout);
    let reason = listed(&list, "acronis-next.wasm")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("no signature") && reason.contains(&sha256_of(&file)),
        "{reason}"
    );
    assert!(!home.compiled(&sha256_of(&file)));
    assert!(!String::from_utf8_lossy(&out.get_output().stderr).contains("warning: unsigned"));

    // The variable allows it, with a warning at every run.
    for _ in 0..2 {
        let out = home
            .tenantctl()
            .env("TENANTCTL_ALLOW_UNSIGNED_PLUGINS", "1")
            .args(["plugins", "list", "--output", "json"])
            .assert()
            .code(0);
        let list = json_lines(&out.get_output().stdout);
        let used = chosen(&list, "acronis");
        assert_eq!(used["version"], "0.2.0");
        assert_eq!(used["trust"], "unsigned");
        let stderr = String::from_utf8_lossy(&out.get_output().stderr);
        assert!(
            stderr.contains("warning: unsigned plugin files are allowed")
                && stderr.contains("TENANTCTL_ALLOW_UNSIGNED_PLUGINS=1")
                && stderr.contains("acronis-next.wasm"),
            "{stderr}"
        );
    }

    // So does the configuration file; the variable set to 0 overrides it.
    home.config("[trust]\nallow_unsigned = true\n");
    let sim = AcronisSim::start(AcronisConfig::default());
    let journal = home.path().join("audit.jsonl");
    home.tenantctl()
        .envs(acronis_env(&sim))
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant-name",
            "Acme Corp",
        ])
        .arg("--audit-log")
        .arg(&journal)
        .assert()
        .code(0)
        .stderr(contains("allow_unsigned = true in"));
    assert!(String::from_utf8_lossy(&std::fs::read(&journal).unwrap()).contains("acronis@0.2.0"));
    let out = home
        .tenantctl()
        .env("TENANTCTL_ALLOW_UNSIGNED_PLUGINS", "0")
        .args(["plugins", "list", "--output", "json"])
        .assert()
        .code(0);
    let list = json_lines(&out.get_output().stdout);
    assert_eq!(chosen(&list, "acronis")["source"], "built-in");
    assert_eq!(listed(&list, "acronis-next.wasm")["trusted"], false);
}

#[test]
fn a_pin_trusts_exactly_that_file_for_that_vendor() {
    let home = Home::new();
    let file = home.drop_in(&acronis_next(), "acronis-next.wasm");
    let sha = sha256_of(&file);

    home.config(&format!("[trust.vendors.acronis]\nsha256 = [\"{sha}\"]\n"));
    let list = home.list();
    let used = chosen(&list, "acronis");
    assert_eq!(used["version"], "0.2.0");
    assert_eq!(used["trust"], "pin");

    // A pin of other bytes does not vouch.
    let other = "0".repeat(64);
    home.config(&format!(
        "[trust.vendors.acronis]\nsha256 = [\"{other}\"]\n"
    ));
    let list = home.list();
    assert_eq!(listed(&list, "acronis-next.wasm")["trusted"], false);
    assert_eq!(chosen(&list, "acronis")["source"], "built-in");

    // Nor does the right pin listed for another vendor.
    home.config(&format!("[trust.vendors.vspc]\nsha256 = [\"{sha}\"]\n"));
    let list = home.list();
    let refused = listed(&list, "acronis-next.wasm");
    assert_eq!(refused["trusted"], false);
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("pinned for vspc"),
        "{refused}"
    );
}

#[test]
fn verify_prints_the_verdict_and_exits_0_only_when_trusted() {
    let home = Home::new();
    let signer = Signer::new();
    let outside = home.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let file = outside.join("acronis-next.wasm");
    std::fs::copy(acronis_next(), &file).unwrap();
    let sha = sha256_of(&file);

    // Unsigned, nothing configured: 1, and the file is not read as a plugin.
    let out = home
        .tenantctl()
        .args(["plugins", "verify"])
        .arg(&file)
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for expected in [
        "vendor    ?",
        "version   ?",
        &format!("sha256    {sha}"),
        "refused",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    assert!(!home.compiled(&sha));

    // Signed by a key trusted for acronis: 0, with the key id.
    signer.sign(&file);
    home.config(&keys_for("acronis", &signer));
    let out = home
        .tenantctl()
        .args(["plugins", "verify"])
        .arg(&file)
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for expected in [
        "vendor    acronis",
        "version   0.2.0",
        "contract  0.2.0",
        &format!("sha256    {sha}"),
        &format!("verdict   trusted: signed by key {}", signer.id),
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    let out = home
        .tenantctl()
        .args(["plugins", "verify", "--output", "json"])
        .arg(&file)
        .assert()
        .code(0);
    let json = one_result(&out.get_output().stdout);
    assert_eq!(json["vendor"], "acronis");
    assert_eq!(json["version"], "0.2.0");
    assert_eq!(json["contract"], "0.2.0");
    assert_eq!(json["sha256"], sha.as_str());
    assert_eq!(json["trusted"], true);
    assert_eq!(json["verdict"], "signature");
    assert_eq!(json["key_id"], signer.id.as_str());

    // Pinned: 0, verdict pin.
    std::fs::remove_file(signature_path(&file)).unwrap();
    home.config(&format!("[trust.vendors.acronis]\nsha256 = [\"{sha}\"]\n"));
    let out = home
        .tenantctl()
        .args(["plugins", "verify", "--output", "json"])
        .arg(&file)
        .assert()
        .code(0);
    assert_eq!(one_result(&out.get_output().stdout)["verdict"], "pin");

    // A key for another vendor: 1, naming the vendor the file says it is.
    signer.sign(&file);
    home.config(&keys_for("vspc", &signer));
    let out = home
        .tenantctl()
        .args(["plugins", "verify", "--output", "json"])
        .arg(&file)
        .assert()
        .code(1);
    let json = one_result(&out.get_output().stdout);
    assert_eq!(json["trusted"], false);
    assert_eq!(json["vendor"], "acronis");
    assert_eq!(json["verdict"], "refused");

    // A file that does not exist is a usage error.
    home.tenantctl()
        .args(["plugins", "verify"])
        .arg(outside.join("missing.wasm"))
        .assert()
        .code(2);
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn install_copies_a_trusted_file_and_its_signature_and_nothing_else() {
    let home = Home::new();
    let signer = Signer::new();
    let outside = home.path().join("download");
    std::fs::create_dir(&outside).unwrap();
    let file = outside.join("acronis-next.wasm");
    std::fs::copy(acronis_next(), &file).unwrap();
    let plugins = home.path().join("new-plugin-dir");

    // Unsigned: refused, nothing copied (the directory is not even created).
    home.tenantctl()
        .arg("--plugin-dir")
        .arg(&plugins)
        .args(["plugins", "install"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("not installed"));
    assert!(!plugins.exists());

    // Signed by a key for another vendor: refused, nothing copied.
    std::fs::create_dir(&plugins).unwrap();
    signer.sign(&file);
    home.config(&keys_for("vspc", &signer));
    home.tenantctl()
        .arg("--plugin-dir")
        .arg(&plugins)
        .args(["plugins", "install"])
        .arg(&file)
        .assert()
        .code(2);
    assert!(
        dir_listing(&plugins).is_empty(),
        "{:?}",
        dir_listing(&plugins)
    );

    // Tampered after signing: refused, nothing copied.
    home.config(&keys_for("acronis", &signer));
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    let tampered = outside.join("tampered.wasm");
    std::fs::write(&tampered, &bytes).unwrap();
    std::fs::copy(signature_path(&file), signature_path(&tampered)).unwrap();
    home.tenantctl()
        .arg("--plugin-dir")
        .arg(&plugins)
        .args(["plugins", "install"])
        .arg(&tampered)
        .assert()
        .code(2);
    assert!(
        dir_listing(&plugins).is_empty(),
        "{:?}",
        dir_listing(&plugins)
    );

    // Trusted: the file and its signature, byte for byte, and no temporary left behind.
    home.tenantctl()
        .arg("--plugin-dir")
        .arg(&plugins)
        .args(["plugins", "install"])
        .arg(&file)
        .assert()
        .code(0)
        .stdout(contains("installed acronis 0.2.0"))
        .stdout(contains(signer.id.as_str()));
    assert_eq!(
        dir_listing(&plugins),
        vec!["acronis-next.wasm", "acronis-next.wasm.minisig"]
    );
    assert_eq!(
        std::fs::read(plugins.join("acronis-next.wasm")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    assert_eq!(
        std::fs::read(plugins.join("acronis-next.wasm.minisig")).unwrap(),
        std::fs::read(signature_path(&file)).unwrap()
    );
    let out = home
        .tenantctl()
        .arg("--plugin-dir")
        .arg(&plugins)
        .args(["plugins", "list", "--output", "json"])
        .assert()
        .code(0);
    assert_eq!(
        chosen(&json_lines(&out.get_output().stdout), "acronis")["version"],
        "0.2.0"
    );
}

#[test]
fn list_shows_each_files_trust_in_text() {
    let home = Home::new();
    let signer = Signer::new();
    let signed = home.drop_in(&acronis_next(), "signed.wasm");
    signer.sign(&signed);
    home.drop_in(&acronis_next(), "unsigned.wasm");
    std::fs::write(home.plugins().join("junk.wasm"), b"not a component").unwrap();
    home.config(&keys_for("acronis", &signer));
    let out = home.tenantctl().args(["plugins", "list"]).assert().code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not in {text}"))
            .to_string()
    };
    assert!(
        line("signed.wasm").contains(&format!("signed:{}", signer.id)),
        "{text}"
    );
    assert!(line("signed.wasm").contains("used"), "{text}");
    assert!(line("unsigned.wasm").contains("refused"), "{text}");
    assert!(line("junk.wasm").contains("refused"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("commvault") && l.contains("built-in")),
        "{text}"
    );
}

fn vspc_env(sim: &VspcSim) -> Vec<(&'static str, String)> {
    vec![
        ("TENANTCTL_VSPC_URL", sim.url()),
        ("TENANTCTL_VSPC_USERNAME", sim.username().to_string()),
        ("TENANTCTL_VSPC_PASSWORD", sim.password().to_string()),
    ]
}

#[test]
fn a_vendor_whose_only_plugin_is_refused_exits_2_saying_what_to_do() {
    let home = Home::new();
    let sim = VspcSim::start(VspcConfig::default());
    let file = home.drop_in(&build_plugin("tenantctl-plugin-vspc"), "vspc.wasm");
    let status = ["status", "--vendor", "vspc", "--tenant-name", "Acme Corp"];

    // Unsigned: the vendor is not known, the refused file is named with what to do.
    let out = home
        .tenantctl()
        .envs(vspc_env(&sim))
        .args(status)
        .assert()
        .code(2)
        .stdout("");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for expected in ["vspc.wasm", "minisign", "sha256", "allow_unsigned"] {
        assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
    }

    // Signed by a key trusted for acronis only: refused, the message names vspc's file.
    let signer = Signer::new();
    signer.sign(&file);
    home.config(&keys_for("acronis", &signer));
    let out = home
        .tenantctl()
        .envs(vspc_env(&sim))
        .args(status)
        .assert()
        .code(2)
        .stdout("");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("the plugin file for vspc") && stderr.contains("[trust.vendors.vspc]"),
        "{stderr}"
    );

    // A batch refuses the same way, before anything is sent.
    let input = home.write(
        "rows.csv",
        "vendor,action,tenant_name\nvspc,disable,Acme Corp\n",
    );
    home.tenantctl()
        .envs(vspc_env(&sim))
        .args(["apply", "--input"])
        .arg(&input)
        .arg("--audit-log")
        .arg(home.path().join("audit.jsonl"))
        .assert()
        .code(2)
        .stderr(contains("vspc"));
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());

    // Trusted for vspc: it runs.
    home.config(&keys_for("vspc", &signer));
    home.tenantctl()
        .envs(vspc_env(&sim))
        .args(status)
        .assert()
        .code(0);
}

#[test]
fn the_config_file_comes_from_the_flag_then_the_variable_then_xdg() {
    let home = Home::new();
    let sim = AcronisSim::start(AcronisConfig::default());
    // Credentials from the environment, the URL only from a configuration file.
    let credentials: Vec<(&str, String)> = acronis_env(&sim)
        .into_iter()
        .filter(|(name, _)| *name != "TENANTCTL_ACRONIS_URL")
        .collect();
    let good = format!("[vendors.acronis]\nurl = \"{}\"\n", sim.url());
    let broken = "[vendors.acronis]\nurll = \"typo\"\n";
    let status = [
        "status",
        "--vendor",
        "acronis",
        "--tenant-name",
        "Acme Corp",
    ];
    let xdg = home.path().join("xdg");
    std::fs::create_dir_all(xdg.join("tenantctl")).unwrap();

    // $XDG_CONFIG_HOME/tenantctl/config.toml.
    std::fs::write(xdg.join("tenantctl/config.toml"), &good).unwrap();
    home.tenantctl()
        .envs(credentials.clone())
        .env("XDG_CONFIG_HOME", &xdg)
        .args(status)
        .assert()
        .code(0);

    // $TENANTCTL_CONFIG beats it (a broken XDG file is not read).
    std::fs::write(xdg.join("tenantctl/config.toml"), broken).unwrap();
    let from_env = home.write("env.toml", &good);
    home.tenantctl()
        .envs(credentials.clone())
        .env("XDG_CONFIG_HOME", &xdg)
        .env("TENANTCTL_CONFIG", &from_env)
        .args(status)
        .assert()
        .code(0);

    // --config beats both.
    let broken_env = home.write("broken-env.toml", broken);
    let from_flag = home.write("flag.toml", &good);
    home.tenantctl()
        .envs(credentials.clone())
        .env("XDG_CONFIG_HOME", &xdg)
        .env("TENANTCTL_CONFIG", &broken_env)
        .arg("--config")
        .arg(&from_flag)
        .args(status)
        .assert()
        .code(0);

    // Unknown keys are named; every command reads the file, `plugins list` too.
    for args in [&status[..], &["plugins", "list"]] {
        home.tenantctl()
            .envs(credentials.clone())
            .env("XDG_CONFIG_HOME", &xdg)
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(contains("urll"));
    }

    // A missing file named by the flag or the variable is an error; a missing default is not.
    let missing = home.path().join("missing.toml");
    home.tenantctl()
        .arg("--config")
        .arg(&missing)
        .args(["plugins", "list"])
        .assert()
        .code(2)
        .stderr(contains("missing.toml"));
    home.tenantctl()
        .env("TENANTCTL_CONFIG", &missing)
        .args(["plugins", "list"])
        .assert()
        .code(2)
        .stderr(contains("missing.toml"));
    home.tenantctl()
        .env("XDG_CONFIG_HOME", home.path().join("nowhere"))
        .args(["plugins", "list"])
        .assert()
        .code(0);

    // Flags and the environment override the file: a URL in the file that would be refused
    // is never used when TENANTCTL_ACRONIS_URL or --url gives another.
    let elsewhere = home.write(
        "elsewhere.toml",
        "[vendors.acronis]\nurl = \"http://example.invalid\"\n",
    );
    home.tenantctl()
        .envs(acronis_env(&sim))
        .arg("--config")
        .arg(&elsewhere)
        .args(status)
        .assert()
        .code(0);
    home.tenantctl()
        .envs(credentials.clone())
        .arg("--config")
        .arg(&elsewhere)
        .args(status)
        .arg("--url")
        .arg(sim.url())
        .assert()
        .code(0);
    // `apply --config` keeps working (the flag is global).
    let input = home.write(
        "rows.csv",
        "vendor,action,tenant_name\nacronis,status,Acme Corp\n",
    );
    home.tenantctl()
        .envs(credentials)
        .args(["apply", "--input"])
        .arg(&input)
        .arg("--config")
        .arg(&from_flag)
        .arg("--audit-log")
        .arg(home.path().join("audit.jsonl"))
        .assert()
        .code(0);
}

#[test]
fn plain_http_goes_only_to_loopback_unless_allowed() {
    let home = Home::new();
    let sim = AcronisSim::start(AcronisConfig::default());
    let credentials: Vec<(&str, String)> = acronis_env(&sim)
        .into_iter()
        .filter(|(name, _)| *name != "TENANTCTL_ACRONIS_URL")
        .collect();
    let status = [
        "status",
        "--vendor",
        "acronis",
        "--tenant-name",
        "Acme Corp",
    ];

    // A remote name: refused before anything is looked up or sent.
    let out = home
        .tenantctl()
        .envs(credentials.clone())
        .args(status)
        .args(["--url", "http://example.invalid/"])
        .assert()
        .code(2)
        .stdout("");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("example.invalid")
            && stderr.contains("allow_http = true under [vendors.acronis]"),
        "{stderr}"
    );

    // 0.0.0.0 reaches this machine but is not a loopback address: refused, nothing sent...
    let port = sim.url().rsplit(':').next().unwrap().to_string();
    let unspecified = format!("http://0.0.0.0:{port}");
    home.tenantctl()
        .envs(credentials.clone())
        .args(status)
        .args(["--url", &unspecified])
        .assert()
        .code(2);
    assert!(sim.requests().is_empty());

    // ...until allow_http is set for the vendor; then it is sent and works.
    home.config("[vendors.acronis]\nallow_http = true\n");
    home.tenantctl()
        .envs(credentials.clone())
        .args(status)
        .args(["--url", &unspecified])
        .assert()
        .code(0);
    assert!(!sim.requests().is_empty());
    sim.clear_requests();

    // Loopback names and addresses need nothing.
    home.config("");
    for url in [sim.url(), format!("http://localhost:{port}")] {
        home.tenantctl()
            .envs(credentials.clone())
            .args(status)
            .args(["--url", &url])
            .assert()
            .code(0);
    }

    // A batch whose vendor URL is plain http to a remote host is refused whole.
    home.config("[vendors.acronis]\nurl = \"http://example.invalid\"\n");
    sim.clear_requests();
    let input = home.write(
        "rows.csv",
        "vendor,action,tenant_name\nacronis,disable,Acme Corp\n",
    );
    home.tenantctl()
        .envs(credentials)
        .args(["apply", "--input"])
        .arg(&input)
        .arg("--audit-log")
        .arg(home.path().join("audit.jsonl"))
        .assert()
        .code(2)
        .stderr(contains("allow_http"));
    assert!(sim.requests().is_empty());
}
