//! Fleet runs that finish the job: sessions renewed through repeated revocations, resume
//! that runs failed rows again, interrupts, per-vendor fairness, preflight of credentials,
//! every write journaled with its reason and plugin, no vanished rows, the per-operation
//! deadline — through the real binary (and the library where a fault must be injected
//! inside the host) against the simulators.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tenantctl::batch::{Batch, BatchOptions, Source};
use tenantctl::http::{BoxFuture, Delivered, HttpClient, SendError, Transport};
use tenantctl::plugin::bindings::HttpRequest;
use tenantctl::report::TenantResult;
use tenantctl_simulator::{
    AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim, Fault, FaultRule,
};

struct Env {
    acronis: AcronisSim,
    commvault: CommvaultSim,
    home: tempfile::TempDir,
}

fn env_with(tenants: usize) -> Env {
    Env {
        acronis: AcronisSim::start(AcronisConfig {
            tenants,
            ..AcronisConfig::default()
        }),
        commvault: CommvaultSim::start(CommvaultConfig {
            tenants,
            ..CommvaultConfig::default()
        }),
        home: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn audit(&self) -> PathBuf {
        self.home.path().join("audit.jsonl")
    }

    fn command(&self) -> assert_cmd::Command {
        let mut cmd = tenantctl(self.home.path());
        cmd.envs(acronis_env(&self.acronis))
            .envs(commvault_env(&self.commvault))
            .arg("--output")
            .arg("json");
        cmd
    }

    fn apply(&self, input: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.command()
            .arg("apply")
            .arg("--input")
            .arg(input)
            .arg("--audit-log")
            .arg(self.audit())
            .args(extra)
            .assert()
    }

    /// Starts `tenantctl apply` as a child process, stdout piped.
    fn spawn_apply(&self, input: &Path, extra: &[&str]) -> Child {
        let cmd = self.command();
        let mut child = Command::new(cmd.get_program());
        for (name, value) in cmd.get_envs() {
            match value {
                Some(value) => child.env(name, value),
                None => child.env_remove(name),
            };
        }
        child
            .args(cmd.get_args())
            .arg("apply")
            .arg("--input")
            .arg(input)
            .arg("--audit-log")
            .arg(self.audit())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `n` Acronis customers to disable, as a CSV input.
    fn acronis_disables(&self, name: &str, n: usize) -> (PathBuf, Vec<String>) {
        let ids: Vec<String> = (1..=n)
            .map(|k| self.acronis.customer_id(k).unwrap())
            .collect();
        let rows: String = ids
            .iter()
            .map(|id| format!("acronis,disable,{id}\n"))
            .collect();
        (
            self.write(name, &format!("vendor,action,tenant\n{rows}")),
            ids,
        )
    }
}

fn results(stdout: &[u8]) -> Vec<Value> {
    let mut lines = json_lines(stdout);
    lines.sort_by_key(|line| line["row"].as_u64());
    lines
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn statuses(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_batch_survives_several_revocations_of_every_token_with_no_row_failing() {
    let env = env_with(200);
    let (acronis_input, ids) = env.acronis_disables("a.csv", 150);
    let mut rows = std::fs::read_to_string(&acronis_input).unwrap();
    for n in 1..=150 {
        rows.push_str(&format!(
            "commvault,disable,{}\n",
            env.commvault.company_id(n).unwrap()
        ));
    }
    let input = env.write("fleet.csv", &rows);
    // Every token revoked three times, spread over the run, on each vendor.
    for after in [20, 70, 130] {
        env.acronis.inject(
            FaultRule::new(Fault::ExpireTokens)
                .path("/api/2/tenants/")
                .after(after),
        );
        env.commvault.inject(
            FaultRule::new(Fault::ExpireTokens)
                .path("/organization/")
                .after(after),
        );
    }
    let assert = env.apply(&input, &["--concurrency", "16"]).code(0);
    let lines = results(&assert.get_output().stdout);
    assert_eq!(lines.len(), 300);
    assert!(lines.iter().all(|l| l["status"] == "changed"), "{lines:?}");
    assert!(
        ids.iter()
            .all(|id| !env.acronis.tenant(id).unwrap().enabled)
    );
    let revoked = |sim_requests: Vec<tenantctl_simulator::RecordedRequest>| {
        sim_requests
            .iter()
            .filter(|r| r.fault.as_deref() == Some("expire_tokens"))
            .count()
    };
    assert_eq!(revoked(env.acronis.requests()), 3);
    assert_eq!(revoked(env.commvault.requests()), 3);
    assert!(
        env.acronis.tokens_issued() >= 4,
        "renewed after each revocation"
    );
}

#[test]
fn credentials_that_log_in_but_never_reach_a_tenant_fail_as_auth() {
    let env = env_with(5);
    env.acronis.inject(
        FaultRule::new(Fault::status(401))
            .path("/api/2/tenants/")
            .always(),
    );
    let id = env.acronis.customer_id(1).unwrap();
    let assert = env
        .command()
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant",
            &id,
            "--audit-log",
        ])
        .arg(env.audit())
        .assert()
        .code(1);
    let result = one_result(&assert.get_output().stdout);
    assert_eq!(result["error"]["kind"], "auth", "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer reach"),
        "{result}"
    );
    assert!(
        env.acronis.tokens_issued() <= 3,
        "a bounded number of logins"
    );
}

#[test]
fn resume_runs_failed_rows_again_and_a_fixed_row_keeps_the_rest_resumable() {
    let env = env_with(10);
    let ids: Vec<String> = (1..=4)
        .map(|k| env.acronis.customer_id(k).unwrap())
        .collect();
    let rows = |third: &str| {
        format!(
            "vendor,action,tenant\nacronis,disable,{}\nacronis,disable,{}\n{third}\nacronis,disable,{}\nacronis,disable,{}\n",
            ids[0], ids[1], ids[2], ids[3]
        )
    };
    // Row 3 names a vendor that does not exist; the tenant of row 4 is refused for now.
    let input = env.write("fleet.csv", &rows("acronsi,disable,typo"));
    env.acronis.inject(
        FaultRule::new(Fault::status(403))
            .path(format!("/tenants/{}", ids[2]))
            .always(),
    );
    let first = env.apply(&input, &[]).code(1);
    assert_eq!(
        statuses(&results(&first.get_output().stdout)),
        ["changed", "changed", "failed", "failed", "changed"]
    );

    // The operator fixes the typo and the vendor recovers: resume runs exactly the two
    // rows that did not end as asked.
    env.acronis.clear_faults();
    std::fs::write(
        &input,
        rows(&format!(
            "acronis,disable,{}",
            env.acronis.customer_id(5).unwrap()
        )),
    )
    .unwrap();
    env.acronis.clear_requests();
    let resumed = env.apply(&input, &["--resume"]).code(0);
    assert_eq!(
        statuses(&results(&resumed.get_output().stdout)),
        ["skipped", "skipped", "changed", "changed", "skipped"]
    );
    assert_eq!(env.acronis.count("PUT", "/api/2/tenants/"), 2);
}

#[test]
fn a_file_naming_a_vendor_without_credentials_is_refused_whole() {
    let env = env_with(5);
    let input = env.write(
        "fleet.csv",
        &format!(
            "vendor,action,tenant\nacronis,disable,{}\ncommvault,disable,{}\n",
            env.acronis.customer_id(1).unwrap(),
            env.commvault.company_id(1).unwrap()
        ),
    );
    let assert = env
        .command()
        .env_remove("TENANTCTL_COMMVAULT_PASSWORD")
        .args(["apply", "--input"])
        .arg(&input)
        .arg("--audit-log")
        .arg(env.audit())
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("TENANTCTL_COMMVAULT_PASSWORD"), "{stderr}");
    assert!(assert.get_output().stdout.is_empty());
    assert!(env.acronis.requests().is_empty() && env.commvault.requests().is_empty());

    // From standard input the rows of that vendor fail one by one; the others run.
    let rows = std::fs::read_to_string(&input).unwrap();
    let assert = env
        .command()
        .env_remove("TENANTCTL_COMMVAULT_PASSWORD")
        .args(["apply", "--input", "-", "--audit-log"])
        .arg(env.audit())
        .write_stdin(rows)
        .assert()
        .code(1);
    let lines = results(&assert.get_output().stdout);
    assert_eq!(statuses(&lines), ["changed", "failed"]);
    assert!(
        lines[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TENANTCTL_COMMVAULT_PASSWORD")
    );
}

#[test]
fn every_write_is_journaled_with_its_reason_and_plugin() {
    let env = env_with(5);
    let id = env.acronis.customer_id(1).unwrap();
    env.command()
        .args([
            "disable",
            "--vendor",
            "acronis",
            "--tenant",
            &id,
            "--reason",
            "ticket 4711",
        ])
        .arg("--audit-log")
        .arg(env.audit())
        .assert()
        .code(0);
    let single = records(&env.audit());
    assert_eq!(
        single
            .iter()
            .map(|r| r["record"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["intent", "result"]
    );
    let sha = common::catalog()
        .get("acronis")
        .unwrap()
        .sha256()
        .to_string();
    for record in &single {
        assert_eq!(record["reason"], "ticket 4711");
        assert_eq!(record["plugin"], "acronis@0.1.0");
        assert_eq!(record["plugin_sha256"], sha);
        assert_eq!(record["tenant_id"], id.as_str());
        assert!(record["operator"].as_str().unwrap().contains('@'));
    }
    assert_eq!(single[1]["outcome"], "changed");
    // A status command and a dry run write nothing.
    env.command()
        .args([
            "status",
            "--vendor",
            "acronis",
            "--tenant",
            &id,
            "--audit-log",
        ])
        .arg(env.audit())
        .assert()
        .code(0);
    assert_eq!(records(&env.audit()).len(), 2);

    // A batch: the row's reason column wins over --reason.
    let input = env.write(
        "fleet.csv",
        &format!(
            "vendor,action,tenant,reason\nacronis,disable,{},\nacronis,disable,{},customer left\n",
            env.acronis.customer_id(2).unwrap(),
            env.acronis.customer_id(3).unwrap()
        ),
    );
    env.apply(&input, &["--reason", "offboarding wave 3"])
        .code(0);
    let batch: Vec<Value> = records(&env.audit()).into_iter().skip(2).collect();
    assert_eq!(batch.len(), 4);
    for record in &batch {
        let expected = if record["row"] == 2 {
            "offboarding wave 3"
        } else {
            "customer left"
        };
        assert_eq!(record["reason"], expected, "{record}");
        assert_eq!(record["plugin"], "acronis@0.1.0");
        assert_eq!(record["occurrence"], 1);
    }
}

#[test]
fn one_operation_is_bounded_by_its_deadline() {
    let env = env_with(5);
    env.acronis.inject(
        FaultRule::new(Fault::delay_ms(4000))
            .path("/api/2/tenants/")
            .always(),
    );
    let id = env.acronis.customer_id(1).unwrap();
    let started = Instant::now();
    let assert = env
        .command()
        .args([
            "status",
            "--vendor",
            "acronis",
            "--tenant",
            &id,
            "--deadline",
            "1",
        ])
        .assert()
        .code(1);
    let result = one_result(&assert.get_output().stdout);
    assert_eq!(result["error"]["kind"], "timeout", "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deadline")
    );
    println!("deadline 1 s: the command took {:?}", started.elapsed());
}

#[test]
fn a_slow_vendor_held_to_one_slot_does_not_hold_up_another() {
    let env = env_with(60);
    let mut rows = String::from("vendor,action,tenant\n");
    for n in 1..=20 {
        rows.push_str(&format!(
            "commvault,status,{}\n",
            env.commvault.company_id(n).unwrap()
        ));
    }
    for n in 1..=40 {
        rows.push_str(&format!(
            "acronis,status,{}\n",
            env.acronis.customer_id(n).unwrap()
        ));
    }
    let input = env.write("fleet.csv", &rows);
    let config = env.write("config.toml", "[vendors.commvault]\nconcurrency = 1\n");
    env.commvault.inject(
        FaultRule::new(Fault::delay_ms(300))
            .path("/organization/")
            .always(),
    );
    let assert = env
        .command()
        .args(["apply", "--config"])
        .arg(&config)
        .args(["--concurrency", "4", "--input"])
        .arg(&input)
        .arg("--audit-log")
        .arg(env.audit())
        .assert()
        .code(0);
    // Completion order: the Acronis rows must not wait behind the Commvault ones.
    let order: Vec<String> = json_lines(&assert.get_output().stdout)
        .iter()
        .map(|l| l["vendor"].as_str().unwrap().to_string())
        .collect();
    let last_acronis = order.iter().rposition(|v| v == "acronis").unwrap();
    let commvault_before = order[..last_acronis]
        .iter()
        .filter(|v| *v == "commvault")
        .count();
    println!("commvault rows finished before the last acronis row: {commvault_before} of 20");
    assert!(commvault_before <= 10, "{order:?}");
}

#[test]
fn a_rate_limited_vendor_gives_its_global_slots_back_while_it_waits() {
    let env = env_with(40);
    let mut rows = String::from("vendor,action,tenant\n");
    for n in 1..=12 {
        rows.push_str(&format!(
            "commvault,status,{}\n",
            env.commvault.company_id(n).unwrap()
        ));
    }
    for n in 1..=30 {
        rows.push_str(&format!(
            "acronis,status,{}\n",
            env.acronis.customer_id(n).unwrap()
        ));
    }
    let input = env.write("fleet.csv", &rows);
    // Commvault at 4 requests a second with every global slot available to it.
    let config = env.write(
        "config.toml",
        "[vendors.commvault]\nrate_limit = \"4/second\"\n",
    );
    let assert = env
        .command()
        .args(["apply", "--config"])
        .arg(&config)
        .args(["--concurrency", "2", "--input"])
        .arg(&input)
        .arg("--audit-log")
        .arg(env.audit())
        .assert()
        .code(0);
    let order: Vec<String> = json_lines(&assert.get_output().stdout)
        .iter()
        .map(|l| l["vendor"].as_str().unwrap().to_string())
        .collect();
    let last_acronis = order.iter().rposition(|v| v == "acronis").unwrap();
    let commvault_before = order[..last_acronis]
        .iter()
        .filter(|v| *v == "commvault")
        .count();
    println!("commvault rows finished before the last acronis row: {commvault_before} of 12");
    assert!(commvault_before <= 8, "{order:?}");
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until the journal holds `n` result records.
fn wait_for_results(path: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while records(path)
        .iter()
        .filter(|r| r["record"] == "result")
        .count()
        < n
    {
        assert!(Instant::now() < deadline, "the batch did not get going");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_finishes_rows_under_way_and_resume_does_the_rest() {
    let env = env_with(60);
    let (input, ids) = env.acronis_disables("fleet.csv", 40);
    env.acronis.inject(
        FaultRule::new(Fault::delay_ms(150))
            .path("/api/2/tenants/")
            .method("PUT")
            .always(),
    );
    let child = env.spawn_apply(&input, &["--concurrency", "4"]);
    wait_for_results(&env.audit(), 6);
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--resume"), "{stderr}");
    let printed = results(&output.stdout);
    assert!(printed.len() < 40, "rows stopped being started");
    assert!(
        printed.iter().all(|l| l["status"] == "changed"),
        "rows under way finished: {printed:?}"
    );
    // Every row printed has its result in the journal, and every intent has a result.
    let journal = records(&env.audit());
    let results_in_journal = journal.iter().filter(|r| r["record"] == "result").count();
    let intents = journal.iter().filter(|r| r["record"] == "intent").count();
    assert_eq!(results_in_journal, printed.len());
    assert_eq!(intents, printed.len());

    env.acronis.clear_faults();
    let resumed = env.apply(&input, &["--resume"]).code(0);
    let lines = results(&resumed.get_output().stdout);
    assert_eq!(lines.len(), 40);
    assert_eq!(
        lines.iter().filter(|l| l["status"] == "skipped").count(),
        printed.len()
    );
    for id in &ids {
        assert!(!env.acronis.tenant(id).unwrap().enabled);
        assert_eq!(
            env.acronis.count("PUT", &format!("/tenants/{id}")),
            1,
            "{id} written exactly once"
        );
    }
}

#[test]
fn a_second_ctrl_c_aborts_rows_under_way_as_interrupted() {
    let env = env_with(20);
    let (input, ids) = env.acronis_disables("fleet.csv", 10);
    // Writes take long enough that the rows are under way when interrupted.
    env.acronis.inject(
        FaultRule::new(Fault::delay_ms(20_000))
            .path("/api/2/tenants/")
            .method("PUT")
            .always(),
    );
    let child = env.spawn_apply(&input, &["--concurrency", "3", "--timeout", "60"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while records(&env.audit())
        .iter()
        .filter(|r| r["record"] == "intent")
        .count()
        < 3
    {
        assert!(Instant::now() < deadline, "the rows did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "aborted, not waited out"
    );
    assert_eq!(output.status.code(), Some(130));
    let printed = results(&output.stdout);
    assert_eq!(printed.len(), 3, "{printed:?}");
    assert!(
        printed.iter().all(|l| l["error"]["kind"] == "interrupted"),
        "{printed:?}"
    );
    let journal = records(&env.audit());
    assert_eq!(
        journal.iter().filter(|r| r["record"] == "result").count(),
        3
    );

    env.acronis.clear_faults();
    let resumed = env.apply(&input, &["--resume"]).code(0);
    let lines = results(&resumed.get_output().stdout);
    assert_eq!(lines.len(), 10);
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "changed" || l["status"] == "unchanged")
    );
    for id in &ids {
        assert!(!env.acronis.tenant(id).unwrap().enabled);
        let accepted = env
            .acronis
            .requests()
            .iter()
            .filter(|r| r.matches("PUT", &format!("/tenants/{id}")) && r.status == Some(200))
            .count();
        assert!(accepted <= 1, "{id} written once at most");
    }
}

/// Panics for requests whose URL contains `poison`, otherwise sends over HTTP.
struct Poisoned {
    http: HttpClient,
    poison: String,
}

impl Transport for Poisoned {
    fn send<'a>(
        &'a self,
        url: &'a url::Url,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<Delivered, SendError>> {
        assert!(
            !url.as_str().contains(&self.poison),
            "injected panic for {url}"
        );
        Transport::send(&self.http, url, request)
    }
}

#[test]
fn a_row_whose_task_panics_fails_with_a_message_and_the_others_finish() {
    let env = env_with(10);
    let (input, ids) = env.acronis_disables("fleet.csv", 5);
    let poison = ids[2].clone();
    let vars: std::collections::HashMap<String, String> = acronis_env(&env.acronis)
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    let options = BatchOptions {
        source: Source::File(input),
        action: None,
        concurrency: 2,
        dry_run: false,
        yes: false,
        max_targets: None,
        fail_fast: false,
        audit_log: env.audit(),
        resume: false,
        reason: None,
        deadline: Some(Duration::from_secs(60)),
        config: Default::default(),
        http: quick_http(),
    };
    let catalog = catalog();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<TenantResult>::new()));
    let collect = seen.clone();
    let summary = block_on(async {
        let transport = Arc::new(Poisoned {
            http: HttpClient::new(quick_http()).unwrap(),
            poison,
        });
        Batch::new(catalog, options, move |name| vars.get(name).cloned())
            .unwrap()
            .with_transport(move |vendor| {
                (vendor == "acronis").then(|| transport.clone() as Arc<dyn Transport>)
            })
            .run(
                Arc::new(move |result: &TenantResult| collect.lock().unwrap().push(result.clone())),
                |_| {},
            )
            .await
            .unwrap()
    });
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|r| r.row);
    assert_eq!(seen.len(), 5, "no row vanished");
    assert_eq!(summary.failed, 1);
    let failed = &seen[2];
    assert_eq!(failed.row, Some(4));
    assert!(
        failed
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("injected panic"),
        "{failed:?}"
    );
    assert!(seen.iter().filter(|r| r.error.is_none()).all(|r| r.changed));
    let journal = records(&env.audit());
    assert_eq!(
        journal.iter().filter(|r| r["record"] == "result").count(),
        5
    );
}
