//! `tenantctl apply`: input formats, bad rows, --yes, --max-targets, --dry-run, the audit
//! log, --resume and --fail-fast, through the real binary against the simulators.

mod common;

use std::path::Path;

use common::*;
use predicates::prelude::*;
use serde_json::Value;

impl Sims {
    fn sent_nothing(&self) -> bool {
        self.acronis.requests().is_empty() && self.commvault.requests().is_empty()
    }
}

fn results(assert: &assert_cmd::assert::Assert) -> Vec<Value> {
    let mut lines = json_lines(&assert.get_output().stdout);
    lines.sort_by_key(|line| line["row"].as_u64());
    lines
}

fn audit_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn csv_rows_run_on_both_vendors_with_one_line_each_and_bad_rows_reported_in_place() {
    let env = Sims::start();
    let input = env.write(
        "fleet.csv",
        &format!(
            "vendor,action,tenant,tenant_name,expect_name\n\
             acronis,disable,,Acme Corp,Acme Corp\n\
             commvault,disable,{},,\n\
             nosuch,disable,,X,\n\
             acronis,explode,,X,\n\
             acronis,disable,*,,\n\
             commvault,status,,,\n\
             acronis,disable,{},,\n",
            env.commvault.acme_corp_id(),
            env.acronis.customer_id(1).unwrap()
        ),
    );
    let assert = env.apply(&input, &[]).code(1);
    let lines = results(&assert);
    assert_eq!(
        lines
            .iter()
            .map(|l| l["row"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6, 7, 8]
    );
    let status: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        status,
        [
            "changed", "changed", "failed", "failed", "failed", "failed", "changed"
        ]
    );
    for bad in &lines[2..6] {
        assert_eq!(bad["error"]["kind"], "invalid_input", "{bad}");
        let row = bad["row"].as_u64().unwrap();
        assert!(
            bad["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("line {row}:")),
            "{bad}"
        );
    }
    assert!(
        !env.acronis
            .tenant(env.acronis.acme_corp_id())
            .unwrap()
            .enabled
    );
    assert!(
        !env.commvault
            .organization(env.commvault.acme_corp_id())
            .unwrap()
            .enabled()
    );
    assert_eq!(
        env.acronis.count("POST", "/idp/token"),
        1,
        "one login per vendor"
    );
    assert_eq!(env.commvault.login_count(), 1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(
        stderr.contains("apply: 7 rows"),
        "a summary on stderr: {stderr}"
    );
    assert!(
        stderr.contains("row 4: nosuch"),
        "failures listed: {stderr}"
    );
}

#[test]
fn json_lines_from_stdin_are_checked_as_they_arrive() {
    let env = Sims::start();
    let rows = format!(
        "{{\"vendor\":\"acronis\",\"action\":\"status\",\"tenant_name\":\"Acme\"}}\n\
         {{\"vendor\":\"commvault\",\"action\":\"offboard\",\"tenant\":\"{}\"}}\n\
         {{\"vendor\":\"acronis\",\"action\":\"status\",\"tenant_name\":\"Dormant Ltd\"}}\n\
         {{\"vendor\":\"acronis\",\"action\":\"status\",\"tenant_name\":\"Acme Corp\"}}\n",
        env.commvault.acme_corp_id()
    );
    let assert = tenantctl(env.home.path())
        .envs(acronis_env(&env.acronis))
        .envs(commvault_env(&env.commvault))
        .args([
            "apply",
            "--input",
            "-",
            "--output",
            "json",
            "--max-targets",
            "3",
            "--audit-log",
        ])
        .arg(env.audit())
        .write_stdin(rows)
        .assert()
        .code(1);
    let lines = results(&assert);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["status"], "unchanged");
    assert!(
        lines[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--yes")
    );
    assert_eq!(lines[2]["status"], "unchanged");
    assert!(
        lines[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-targets")
    );
    assert!(!env.commvault.is_offboarded(env.commvault.acme_corp_id()));
}

#[test]
fn a_file_that_offboards_without_yes_or_has_too_many_rows_is_refused_before_anything_is_sent() {
    let env = Sims::start();
    let input = env.write(
        "offboard.csv",
        &format!(
            "vendor,action,tenant\nacronis,status,{}\ncommvault,offboard,{}\n",
            env.acronis.acme_corp_id(),
            env.commvault.acme_corp_id()
        ),
    );
    env.apply(&input, &[])
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("--yes"));
    env.apply(&input, &["--yes", "--max-targets", "1"])
        .code(2)
        .stderr(predicate::str::contains("--max-targets"));
    env.apply(&input, &["--resume"])
        .code(2)
        .stderr(predicate::str::contains("--resume"));
    assert!(env.sent_nothing());
    assert!(!env.audit().exists());
    let assert = env.apply(&input, &["--yes"]).code(0);
    assert_eq!(results(&assert)[1]["status"], "changed");
    assert!(env.commvault.is_offboarded(env.commvault.acme_corp_id()));
}

#[test]
fn a_dry_run_writes_nothing_and_estimates_the_time_under_a_rate_limit() {
    let env = Sims::start();
    let input = env.write(
        "fleet.csv",
        &format!(
            "vendor,action,tenant\ncommvault,disable,{}\ncommvault,offboard,{}\nacronis,disable,{}\n",
            env.commvault.acme_corp_id(),
            env.commvault.halfway_id(),
            env.acronis.acme_corp_id()
        ),
    );
    let config = env.write(
        "tenantctl.toml",
        "[vendors.commvault]\nrate_limit = \"1000/hour\"\n",
    );
    let assert = env
        .apply(&input, &["--dry-run", "--config", config.to_str().unwrap()])
        .code(0);
    let lines = results(&assert);
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "planned" && l["dry_run"] == true),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["planned_request"]["method"].is_string())
    );
    assert_eq!(env.acronis.count("PUT", ""), 0);
    assert_eq!(env.commvault.count("POST", "/action/"), 0);
    assert_eq!(env.commvault.count("POST", "/tenant/offboard"), 0);
    let records = std::fs::read_to_string(env.audit()).unwrap();
    let records: Vec<serde_json::Value> = records
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "one result per row: {records:?}");
    assert!(
        records
            .iter()
            .all(|r| r["record"] == "result" && r["dry_run"] == true && r["outcome"] == "planned"),
        "a dry run writes no intents, only its results, marked as a dry run: {records:?}"
    );
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(
        stderr.contains("commvault: a real run sends about"),
        "{stderr}"
    );
    assert!(stderr.contains("1000 per 1h"), "{stderr}");
}

#[test]
fn the_audit_log_has_an_intent_before_each_write_and_one_result_per_row_without_secrets() {
    let env = Sims::start();
    let input = env.write(
        "fleet.csv",
        "vendor,action,tenant_name\nacronis,disable,Acme Corp\nacronis,disable,Dormant Ltd\ncommvault,disable,acme corp\nacronis,disable,No Such\n",
    );
    env.apply(&input, &[]).code(1);
    let records = audit_records(&env.audit());
    let intents: Vec<&Value> = records.iter().filter(|r| r["record"] == "intent").collect();
    let results: Vec<&Value> = records.iter().filter(|r| r["record"] == "result").collect();
    assert_eq!(intents.len(), 2, "two writes: {records:?}");
    assert_eq!(results.len(), 4);
    for intent in &intents {
        let row = &intent["row"];
        let intent_at = records
            .iter()
            .position(|r| std::ptr::eq(r, *intent))
            .unwrap();
        let result_at = records
            .iter()
            .position(|r| r["record"] == "result" && r["row"] == *row)
            .unwrap();
        assert!(intent_at < result_at, "intent before result for row {row}");
        for field in [
            "run_id",
            "time",
            "operator",
            "vendor",
            "tenant_id",
            "tenant_name",
            "action",
            "method",
            "url",
        ] {
            assert!(intent[field].is_string(), "intent lacks {field}: {intent}");
        }
        assert_eq!(intent["enabled_before"], true);
        assert_eq!(intent["enabled_after"], false);
    }
    let acme = results
        .iter()
        .find(|r| r["tenant_name"] == "Acme Corp" && r["vendor"] == "acronis")
        .unwrap();
    assert_eq!(
        (
            acme["outcome"].as_str(),
            acme["http_status"].as_u64(),
            acme["method"].as_str()
        ),
        (Some("changed"), Some(200), Some("PUT"))
    );
    let text = std::fs::read_to_string(env.audit()).unwrap();
    assert!(
        !text.contains(env.acronis.client_secret()) && !text.contains(env.commvault.password())
    );
    assert!(
        !text.contains("Bearer") && !text.contains("QSDK"),
        "no tokens in the audit log"
    );
}

#[test]
fn resume_skips_rows_with_a_result_and_finishes_the_rest() {
    let env = Sims::start();
    let ids: Vec<String> = (1..=4)
        .map(|n| env.acronis.customer_id(n).unwrap())
        .collect();
    let input = env.write(
        "fleet.csv",
        &format!(
            "vendor,action,tenant\n{}",
            ids.iter()
                .map(|id| format!("acronis,disable,{id}\n"))
                .collect::<String>()
        ),
    );
    // An earlier run finished rows 2 and 3, and was killed after sending row 4's write.
    env.apply(
        &env.write(
            "first.csv",
            &format!(
                "vendor,action,tenant\nacronis,disable,{}\nacronis,disable,{}\n",
                ids[0], ids[1]
            ),
        ),
        &[],
    )
    .code(0);
    let canonical = std::fs::canonicalize(&input).unwrap().display().to_string();
    let mut records = String::new();
    for (row, id) in [(2, &ids[0]), (3, &ids[1])] {
        records.push_str(&serde_json::json!({"record": "result", "run_id": "earlier", "time": "2026-01-01T00:00:00Z", "operator": "me@here", "input": canonical, "row": row, "occurrence": 1, "vendor": "acronis", "action": "disable", "target": format!("id:{id}"), "outcome": "changed"}).to_string());
        records.push('\n');
    }
    records.push_str(&serde_json::json!({"record": "intent", "run_id": "earlier", "time": "2026-01-01T00:00:00Z", "operator": "me@here", "input": canonical, "row": 4, "occurrence": 1, "vendor": "acronis", "action": "disable", "target": format!("id:{}", ids[2]), "method": "PUT"}).to_string());
    records.push_str("\n{\"record\": \"resu"); // a line cut short by the crash
    std::fs::write(env.audit(), records).unwrap();
    env.acronis.set_enabled(&ids[2], false); // that write had landed
    let versions: Vec<u64> = ids
        .iter()
        .map(|id| env.acronis.tenant(id).unwrap().version)
        .collect();
    env.acronis.clear_requests();

    let assert = env.apply(&input, &["--resume"]).code(0);
    let lines = results(&assert);
    let status: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["skipped", "skipped", "unchanged", "changed"]);
    assert_eq!(
        env.acronis.count("PUT", ""),
        1,
        "only the row never started is written"
    );
    for (id, version) in ids.iter().zip(&versions) {
        assert!(!env.acronis.tenant(id).unwrap().enabled);
        let expected = if id == &ids[3] { version + 1 } else { *version };
        assert_eq!(
            env.acronis.tenant(id).unwrap().version,
            expected,
            "{id} mutated exactly as needed"
        );
    }
}

#[test]
fn fail_fast_stops_starting_rows_after_a_failure() {
    let env = Sims::start();
    let mut rows = String::from("vendor,action,tenant_name\nacronis,disable,No Such Tenant\n");
    for n in 1..=30 {
        rows.push_str(&format!("acronis,status,Customer {n:05}\n"));
    }
    let input = env.write("fleet.csv", &rows);
    let assert = env
        .apply(&input, &["--fail-fast", "--concurrency", "1"])
        .code(1);
    let lines = results(&assert);
    assert_eq!(lines[0]["status"], "failed");
    assert!(
        lines.len() < 31,
        "rows after the failure were not started: {}",
        lines.len()
    );
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("--resume"), "{stderr}");
}

/// The summary lists the failed rows that come first in the file, in row order, however the
/// rows finished: 60 failing rows at concurrency 16 list rows 2 to 51 (line 1 is the header)
/// and say how many more there are.
#[test]
fn the_summary_lists_the_first_failed_rows_of_the_file_in_order() {
    let env = Sims::start();
    let mut rows = String::from("vendor,action,tenant\n");
    for n in 0..60 {
        rows.push_str(&format!(
            "acronis,disable,00000000-0000-4000-8000-{n:012}\n"
        ));
    }
    let input = env.write("missing.csv", &rows);
    let assert = env.apply(&input, &["--concurrency", "16"]).code(1);
    assert_eq!(results(&assert).len(), 60);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    let listed: Vec<u64> = stderr
        .lines()
        .filter_map(|line| line.trim().strip_prefix("row "))
        .map(|rest| rest.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(listed, (2..=51).collect::<Vec<u64>>(), "{stderr}");
    assert!(stderr.contains("failed rows (60):"), "{stderr}");
    assert!(stderr.contains("... and 10 more"), "{stderr}");
    assert!(stderr.contains("not_found"), "{stderr}");
}
