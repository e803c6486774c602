//! `tenantctl serve` with PostgreSQL: two replicas share the jobs, one is killed mid-job,
//! the other finishes its work. Needs a server: `tests/postgres.sh` starts a throwaway one
//! in a temporary directory and runs this with `--ignored` (as `./test.sh` does).

mod common;
#[path = "serve/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use server::{Client, Home, Server};
use tenantctl_simulator::{AcronisConfig, AcronisSim, Fault, FaultRule};

fn database() -> String {
    std::env::var("TENANTCTL_TEST_POSTGRES_URL").expect(
        "TENANTCTL_TEST_POSTGRES_URL names the PostgreSQL server to use; run tests/postgres.sh",
    )
}

/// The jobs a replica's log says it started running.
fn jobs_run_by(server: &Server) -> BTreeSet<String> {
    server
        .log()
        .lines()
        .filter_map(|line| line.split("running job ").nth(1))
        .filter_map(|rest| rest.split(':').next())
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs PostgreSQL: run tests/postgres.sh"]
fn two_replicas_share_jobs_and_one_killed_mid_job_loses_nothing() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 600,
        ..AcronisConfig::default()
    });
    sim.inject(
        FaultRule::new(Fault::Delay(Duration::from_millis(15)))
            .method("PUT")
            .always(),
    );
    let env = common::acronis_env(&sim);
    // Two machines: their own homes and audit journals, one database.
    let (home_a, home_b) = (
        Home::with_database(&database()),
        Home::with_database(&database()),
    );
    let token = home_a.token(&format!("rewst-{}", std::process::id()), "operate");
    let args = ["--lease", "2", "--concurrency", "2", "--job-workers", "1"];
    let a = home_a.serve(&env, &args);
    let b = home_b.serve(&env, &args);
    let client = Client::new();

    let health = client.get(&a.url("/healthz"), None);
    assert_eq!(health.json["database"], "postgres", "{}", health.text);

    let mut ids = Vec::new();
    for job in 0..3 {
        let rows: Vec<_> = (1..=200)
            .map(|i| {
                json!({"vendor": "acronis", "action": "disable",
                       "tenant": sim.customer_id(job * 200 + i).unwrap()})
            })
            .collect();
        let key = format!("job-{job}-{}", std::process::id());
        let accepted = client.post_job(&a, &token, &key, &json!({ "rows": rows }));
        assert_eq!(accepted.status, 202, "{}", accepted.text);
        ids.push(accepted.json["id"].as_str().unwrap().to_string());
        // The other replica sees the same job for the same key.
        let again = client.post_job(&b, &token, &key, &json!({ "rows": rows }));
        assert_eq!(again.json["id"], accepted.json["id"]);
    }

    // Both replicas at work on different jobs, then A dies.
    let started = Instant::now();
    while jobs_run_by(&a).is_empty() || jobs_run_by(&b).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "both replicas should claim a job:\nA: {}\nB: {}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (on_a, on_b) = (jobs_run_by(&a), jobs_run_by(&b));
    assert!(
        on_a.is_disjoint(&on_b),
        "a job claimed twice: {on_a:?} {on_b:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    a.kill();

    for id in &ids {
        let job = client.wait_job(&b, &token, id, Duration::from_secs(300));
        assert_eq!(job["status"], "succeeded", "{job}\n{}", b.log());
        assert_eq!(job["done"], 200);
    }
    let taken_over = jobs_run_by(&b);
    assert!(
        on_a.is_subset(&taken_over),
        "B finishes the job A was running: {on_a:?} {taken_over:?}"
    );
    for i in 1..=600 {
        let id = sim.customer_id(i).unwrap();
        assert!(
            !sim.tenant(&id).unwrap().enabled,
            "customer {i} is disabled"
        );
        let writes = sim
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains(&id) && r.status.is_some())
            .count();
        assert_eq!(writes, 1, "customer {i} written once");
    }
}
