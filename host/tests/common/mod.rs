//! Helpers shared by the end-to-end tests: the real binary, the real plugins, the
//! simulators on loopback.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use tenantctl::http::{HttpClient, HttpSettings};
use tenantctl::plugin::catalog::Catalog;
use tenantctl::plugin::{Compilation, Compiler, Limits, Runtime};
use tenantctl::{Account, ActionRequest, TenantSelector};
use tenantctl_simulator::{AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim};

/// One compile cache for all tests, so each plugin is compiled once per test binary.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tenantctl-test-cache")
}

/// A runtime whose plugins run `compiler`'s code: Cranelift's from the shared cache, or
/// Winch's compiled afresh (no cache, so no Cranelift artifact is preferred to it).
pub fn runtime_compiling_with(compiler: Compiler, limits: Limits) -> Runtime {
    match compiler {
        Compiler::Cranelift => Runtime::new(Some(cache_dir()), limits, Compilation::Optimized),
        Compiler::Winch => Runtime::new(None, limits, Compilation::QuickStart),
    }
    .unwrap()
}

/// The tenantctl binary with a clean environment: no TENANTCTL_* or XDG_* variables from
/// the caller, an empty home, the shared compile cache.
pub fn tenantctl(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_tenantctl"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TENANTCTL_") || name.starts_with("XDG_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOME", home)
        .env("TENANTCTL_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1");
    cmd
}

/// Both seed vendors' simulators (default fixtures) and an empty home for the binary.
pub struct Sims {
    pub acronis: AcronisSim,
    pub commvault: CommvaultSim,
    pub home: tempfile::TempDir,
}

impl Sims {
    pub fn start() -> Self {
        Sims {
            acronis: AcronisSim::start(AcronisConfig::default()),
            commvault: CommvaultSim::start(CommvaultConfig::default()),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `content` to `name` in the home directory.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// The binary with both vendors' URLs and credentials, answering in JSON.
    pub fn command(&self) -> assert_cmd::Command {
        let mut cmd = tenantctl(self.home.path());
        cmd.envs(acronis_env(&self.acronis))
            .envs(commvault_env(&self.commvault))
            .args(["--output", "json"]);
        cmd
    }

    /// The audit journal `apply` writes to.
    pub fn audit(&self) -> PathBuf {
        self.home.path().join("audit.jsonl")
    }

    /// `tenantctl apply --input INPUT --audit-log AUDIT EXTRA…`, run to completion.
    pub fn apply(&self, input: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.command()
            .args(["apply", "--input"])
            .arg(input)
            .arg("--audit-log")
            .arg(self.audit())
            .args(extra)
            .assert()
    }
}

pub fn acronis_env(sim: &AcronisSim) -> Vec<(&'static str, String)> {
    vec![
        ("TENANTCTL_ACRONIS_URL", sim.url()),
        ("TENANTCTL_ACRONIS_CLIENT_ID", sim.client_id().to_string()),
        (
            "TENANTCTL_ACRONIS_CLIENT_SECRET",
            sim.client_secret().to_string(),
        ),
    ]
}

pub fn commvault_env(sim: &CommvaultSim) -> Vec<(&'static str, String)> {
    vec![
        ("TENANTCTL_COMMVAULT_URL", sim.url()),
        ("TENANTCTL_COMMVAULT_USERNAME", sim.username().to_string()),
        ("TENANTCTL_COMMVAULT_PASSWORD", sim.password().to_string()),
    ]
}

/// The JSON lines on stdout.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect()
}

/// The one JSON result line of a single-tenant command.
pub fn one_result(stdout: &[u8]) -> Value {
    let mut lines = json_lines(stdout);
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one result line, got {lines:?}"
    );
    lines.remove(0)
}

/// The plugin runtime and built-in catalog, loaded once per test binary.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<(Runtime, Catalog)> = OnceLock::new();
    &CATALOG
        .get_or_init(|| {
            let runtime =
                Runtime::new(Some(cache_dir()), Limits::default(), Compilation::Optimized).unwrap();
            let catalog = block_on(Catalog::discover(&runtime, None)).unwrap();
            (runtime, catalog)
        })
        .1
}

/// Fast retries for tests: the behaviour is the same, the waits are short.
pub fn quick_http() -> HttpSettings {
    HttpSettings {
        backoff: std::time::Duration::from_millis(10),
        max_backoff: std::time::Duration::from_millis(50),
        timeout: std::time::Duration::from_secs(10),
        ..HttpSettings::default()
    }
}

pub fn acronis_account(sim: &AcronisSim, http: HttpSettings) -> Account {
    let plugin = catalog()
        .get("acronis")
        .expect("built-in acronis plugin")
        .clone();
    let config = vec![
        ("client-id".to_string(), sim.client_id().to_string()),
        ("client-secret".to_string(), sim.client_secret().to_string()),
    ];
    Account::new(plugin, &sim.url(), config, HttpClient::new(http).unwrap()).unwrap()
}

pub fn commvault_account(sim: &CommvaultSim, http: HttpSettings) -> Account {
    let plugin = catalog()
        .get("commvault")
        .expect("built-in commvault plugin")
        .clone();
    let config = vec![
        ("username".to_string(), sim.username().to_string()),
        ("password".to_string(), sim.password().to_string()),
    ];
    Account::new(plugin, &sim.url(), config, HttpClient::new(http).unwrap()).unwrap()
}

pub fn by_id(action: tenantctl::Action, id: impl ToString) -> ActionRequest {
    ActionRequest {
        action,
        tenant: Some(TenantSelector::Id(id.to_string())),
    }
}

pub fn by_name(action: tenantctl::Action, name: &str) -> ActionRequest {
    ActionRequest {
        action,
        tenant: Some(TenantSelector::Name(name.to_string())),
    }
}

/// Runs a future on a fresh runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Builds a workspace plugin crate for wasm32-wasip2 (for test fixtures that are not
/// built into the binary) and returns the `.wasm` file.
pub fn build_plugin(package: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guest-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = StdCommand::new(cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--quiet",
            "--profile",
            "plugin",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo");
    assert!(
        status.success(),
        "building {package} for wasm32-wasip2 failed"
    );
    target_dir
        .join("wasm32-wasip2/plugin")
        .join(format!("{}.wasm", package.replace('-', "_")))
}
