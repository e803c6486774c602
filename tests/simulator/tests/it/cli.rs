//! The standalone program.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{client, send};

#[tokio::test]
async fn prints_exports_serves_and_exits_when_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantctl-simulator"))
        .args([
            "--tenants",
            "5",
            "--vspc-async-polls",
            "0",
            "--exit-on-stdin-close",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut vars = std::collections::HashMap::new();
    for _ in 0..9 {
        let line = lines.next().unwrap().unwrap();
        let rest = line.strip_prefix("export ").unwrap();
        let (name, value) = rest.split_once('=').unwrap();
        vars.insert(name.to_string(), value.trim_matches('\'').to_string());
    }
    assert_eq!(vars["TENANTCTL_ACRONIS_CLIENT_ID"], "tenantctl-demo");
    assert_eq!(vars["TENANTCTL_ACRONIS_CLIENT_SECRET"], "demo-secret");
    assert_eq!(vars["TENANTCTL_COMMVAULT_USERNAME"], "admin");
    assert_eq!(vars["TENANTCTL_COMMVAULT_PASSWORD"], "demo-password");
    assert_eq!(vars["TENANTCTL_VSPC_USERNAME"], "vspc\\administrator");
    assert_eq!(vars["TENANTCTL_VSPC_PASSWORD"], "demo-password");
    let companies =
        send(client().get(format!("{}/_sim/tenants", vars["TENANTCTL_VSPC_URL"]))).await;
    assert_eq!(companies.json["companies"].as_array().unwrap().len(), 5 + 6);
    assert_eq!(companies.json["deletions"], serde_json::json!([]));

    // --vspc-async-polls 0: a company delete finishes at the first poll.
    let vspc = &vars["TENANTCTL_VSPC_URL"];
    let fixtures = send(client().get(format!("{vspc}/_sim/fixtures"))).await;
    let token = send(
        client()
            .post(format!("{vspc}/api/v3/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=password&username=vspc%5Cadministrator&password=demo-password"),
    )
    .await;
    let bearer = format!("Bearer {}", token.json["access_token"].as_str().unwrap());
    let dormant = fixtures.json["dormant_uid"].as_str().unwrap();
    let accepted = send(
        client()
            .delete(format!(
                "{vspc}/api/v3/organizations/companies/{dormant}?removeAllAgents=true&removeBackups=false"
            ))
            .header("Authorization", &bearer),
    )
    .await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let polled = send(
        client()
            .get(accepted.header("location").unwrap())
            .header("Authorization", &bearer),
    )
    .await;
    assert_eq!(polled.json["data"]["status"], "succeed");

    let probe = send(client().get(format!("{}/", vars["TENANTCTL_COMMVAULT_URL"]))).await;
    assert_eq!(probe.status, 200);
    let tenants =
        send(client().get(format!("{}/_sim/tenants", vars["TENANTCTL_ACRONIS_URL"]))).await;
    assert_eq!(tenants.json["tenants"].as_array().unwrap().len(), 5 + 10);

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "the simulator did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
