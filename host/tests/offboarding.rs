//! The offboarding lifecycle through the real binary against the simulators: `list` feeding
//! `apply`, `delete` refusing enabled tenants and deleting disabled ones on both seed
//! vendors, delete rows in batches, and a batch of name rows that lists the vendor once.

mod common;

use common::*;
use serde_json::Value;
use tenantctl_simulator::RecordedRequest;

fn deletes(requests: &[RecordedRequest]) -> usize {
    requests.iter().filter(|r| r.method == "DELETE").count()
}

fn writes(requests: &[RecordedRequest]) -> usize {
    requests.iter().filter(|r| r.method != "GET").count()
}

fn status(line: &Value) -> &str {
    line["status"].as_str().unwrap_or_default()
}

#[test]
fn acronis_delete_refuses_an_enabled_tenant_and_deletes_it_once_disabled() {
    let env = Sims::start();
    let id = env.acronis.acme_corp_id().to_string();
    let name = env.acronis.tenant(&id).unwrap().name;
    let delete = |extra: &[&str]| {
        env.command()
            .args(["delete", "--vendor", "acronis", "--tenant", &id])
            .args(extra)
            .assert()
    };

    // Without --yes or without --expect-name: refused before anything is sent.
    delete(&["--expect-name", &name]).code(2);
    delete(&["--yes"]).code(2);
    assert!(env.acronis.requests().is_empty());

    // Enabled: refused, nothing deleted.
    let out = delete(&["--expect-name", &name, "--yes"]).code(1);
    let line = one_result(&out.get_output().stdout);
    assert_eq!(status(&line), "failed", "{line}");
    let message = line["error"]["message"].as_str().unwrap();
    assert!(message.contains("disable"), "{message}");
    assert_eq!(deletes(&env.acronis.requests()), 0);
    assert!(!env.acronis.is_deleted(&id));

    // A wrong expected name: refused before any write.
    let out = delete(&["--expect-name", "Someone Else", "--yes"]).code(1);
    assert_eq!(status(&one_result(&out.get_output().stdout)), "failed");

    // Disabled, then a dry run shows the DELETE and sends none; then the delete.
    env.command()
        .args(["disable", "--vendor", "acronis", "--tenant", &id])
        .assert()
        .code(0);
    let out = delete(&["--expect-name", &name, "--dry-run"]).code(0);
    let line = one_result(&out.get_output().stdout);
    assert_eq!(status(&line), "planned", "{line}");
    assert_eq!(line["planned_request"]["method"], "DELETE", "{line}");
    assert_eq!(deletes(&env.acronis.requests()), 0);

    let out = delete(&["--expect-name", &name, "--yes"]).code(0);
    let line = one_result(&out.get_output().stdout);
    assert_eq!(status(&line), "changed", "{line}");
    assert!(env.acronis.is_deleted(&id));
    assert_eq!(deletes(&env.acronis.requests()), 1);
}

#[test]
fn commvault_delete_refuses_active_and_partly_deactivated_companies() {
    let env = Sims::start();
    let id = env.commvault.acme_corp_id();
    let name = env.commvault.organization(id).unwrap().name;
    let id_text = id.to_string();
    let delete = || {
        env.command()
            .args(["delete", "--vendor", "commvault", "--tenant", &id_text])
            .args(["--expect-name", &name, "--yes"])
            .assert()
    };

    let out = delete().code(1);
    assert_eq!(status(&one_result(&out.get_output().stdout)), "failed");

    // Backup and restore off, login still on: partly deactivated is refused as well.
    env.commvault.set_deactivate_options(id, true, true, false);
    let out = delete().code(1);
    let line = one_result(&out.get_output().stdout);
    assert_eq!(status(&line), "failed", "{line}");
    assert!(
        line["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not fully disabled"),
        "{line}"
    );
    assert_eq!(deletes(&env.commvault.requests()), 0);
    assert!(!env.commvault.is_deleted(id));

    env.command()
        .args(["disable", "--vendor", "commvault", "--tenant", &id_text])
        .assert()
        .code(0);
    let out = delete().code(0);
    assert_eq!(status(&one_result(&out.get_output().stdout)), "changed");
    assert!(env.commvault.is_deleted(id));
    assert_eq!(deletes(&env.commvault.requests()), 1);
}

#[test]
fn a_listing_as_csv_feeds_apply_and_every_listed_tenant_is_disabled() {
    let env = Sims::start();
    for vendor in ["acronis", "commvault"] {
        let out = env
            .command()
            .args(["list", "--vendor", vendor, "--output", "csv"])
            .assert()
            .code(0);
        let csv = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let listed = csv.lines().count() - 1;
        assert!(listed >= 25, "{vendor}: {csv}");
        assert_eq!(
            csv.lines().next().unwrap(),
            "vendor,tenant,tenant_name,enabled"
        );
        let input = env.write(&format!("{vendor}.csv"), &csv);

        let out = env.apply(&input, &["--action", "disable", "--yes"]).code(0);
        let lines = json_lines(&out.get_output().stdout);
        assert_eq!(lines.len(), listed, "{vendor}");
        assert!(
            lines
                .iter()
                .all(|line| matches!(status(line), "changed" | "unchanged")),
            "{vendor}: {lines:?}"
        );

        // Listed again: nothing is enabled any more.
        let out = env
            .command()
            .args(["list", "--vendor", vendor])
            .assert()
            .code(0);
        let after = json_lines(&out.get_output().stdout);
        assert_eq!(after.len(), listed);
        assert!(
            after.iter().all(|t| t["enabled"] == false),
            "{vendor}: {after:?}"
        );
    }
}

#[test]
fn delete_rows_need_expect_name_a_file_is_refused_whole_and_a_stdin_row_fails() {
    let env = Sims::start();
    let id = env.acronis.dormant_id().to_string();
    let named = env.acronis.tenant(&id).unwrap().name;
    let file = env.write(
        "delete.csv",
        &format!(
            "vendor,action,tenant,expect_name\nacronis,delete,{id},{named}\nacronis,delete,{},\n",
            env.acronis.acme_id()
        ),
    );
    let out = env.apply(&file, &["--yes"]).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(stderr.contains("expect_name"), "{stderr}");
    assert!(env.acronis.requests().is_empty());

    let rows = format!(
        "{{\"vendor\":\"acronis\",\"action\":\"disable\",\"tenant\":\"{id}\"}}\n\
         {{\"vendor\":\"acronis\",\"action\":\"delete\",\"tenant\":\"{}\"}}\n",
        env.acronis.acme_id()
    );
    let out = env
        .command()
        .args(["apply", "--input", "-", "--yes"])
        .write_stdin(rows)
        .assert()
        .code(1);
    let lines = json_lines(&out.get_output().stdout);
    let failed: Vec<&Value> = lines.iter().filter(|l| status(l) == "failed").collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert_eq!(failed[0]["action"], "delete");
    assert_eq!(deletes(&env.acronis.requests()), 0);
}

#[test]
fn a_batch_of_commvault_name_rows_lists_the_companies_once_not_once_per_row() {
    let env = Sims::start();
    let names: Vec<String> = (1..=20)
        .map(|n| {
            let id = env.commvault.company_id(n).unwrap();
            env.commvault.organization(id).unwrap().name
        })
        .collect();
    let mut csv = String::from("vendor,action,tenant_name\n");
    for name in &names {
        csv.push_str(&format!("commvault,disable,{name}\n"));
    }
    let input = env.write("names.csv", &csv);
    let out = env.apply(&input, &["--yes"]).code(0);
    let lines = json_lines(&out.get_output().stdout);
    assert_eq!(lines.len(), names.len());
    assert!(lines.iter().all(|l| status(l) == "changed"), "{lines:?}");

    let requests = env.commvault.requests();
    let listings = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.trim_end_matches('/').ends_with("/Organization"))
        .count();
    assert!(
        (1..=2).contains(&listings),
        "{listings} company listings for {} name rows",
        names.len()
    );
    assert_eq!(writes(&requests) - logins(&requests), names.len());
}

fn logins(requests: &[RecordedRequest]) -> usize {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Login"))
        .count()
}
