//! Crash and resume of `tenantctl apply`: the binary is killed (SIGKILL) again and again in
//! the middle of a batch, resumed with `--resume` each time, and finally run to its end.
//!
//! Wherever a kill lands (between rows, after an intent was written but before its write
//! was sent or answered, after the write but before its result was written), these hold:
//! - the final run exits 0 and prints a line for every row, `skipped` for rows done before;
//! - every tenant in the input ends disabled, and no other tenant is touched;
//! - no tenant is mutated twice: Acronis versions bumped exactly once, Commvault companies
//!   deactivated once (twice only where a kill left a deactivate in flight);
//! - across all runs, exactly one `result` record per row in the audit log, and no row is
//!   reported on stdout before its result is in the audit log.
#![allow(missing_docs)]

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tenantctl_simulator::{
    AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim, Fault, FaultRule,
};

/// Rows per vendor.
const PER_VENDOR: usize = 150;

/// The tenantctl binary as a plain `std::process::Command` (to spawn and kill), with the
/// same clean environment as [`tenantctl`] gives.
fn spawnable(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
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

/// The records of the audit log from byte `from` on; a last line still being written is
/// left out (only while polling: the final checks read every line strictly).
fn records_from(path: &Path, from: u64) -> Vec<Value> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let start = usize::try_from(from).unwrap().min(bytes.len());
    String::from_utf8_lossy(&bytes[start..])
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn is_result(record: &Value) -> bool {
    record["record"] == "result"
}

/// The rows with a result record among `records`.
fn rows_done(records: &[Value]) -> BTreeSet<u64> {
    records
        .iter()
        .filter(|r| is_result(r))
        .map(|r| r["row"].as_u64().unwrap())
        .collect()
}

/// Rows with an intent but no result among `records`.
fn open_intents(records: &[Value]) -> BTreeSet<u64> {
    let done = rows_done(records);
    records
        .iter()
        .filter(|r| r["record"] == "intent")
        .map(|r| r["row"].as_u64().unwrap())
        .filter(|row| !done.contains(row))
        .collect()
}

struct Batch {
    dir: tempfile::TempDir,
    input: PathBuf,
    audit: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Batch {
    fn command(&self, resume: bool) -> Command {
        let mut cmd = spawnable(self.dir.path());
        cmd.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("apply")
            .arg("--input")
            .arg(&self.input)
            .args(["--output", "json", "--concurrency", "4"])
            .arg("--audit-log")
            .arg(&self.audit)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if resume {
            cmd.arg("--resume");
        }
        cmd
    }

    fn audit_len(&self) -> u64 {
        std::fs::metadata(&self.audit).map(|m| m.len()).unwrap_or(0)
    }

    /// Starts a run and kills it (SIGKILL) as soon as `ready` holds for the records it has
    /// written. Returns what it printed on stdout before dying and the records it wrote.
    fn kill_when(
        &self,
        resume: bool,
        what: &str,
        ready: impl Fn(&[Value]) -> bool,
    ) -> (Vec<Value>, Vec<Value>) {
        let from = self.audit_len();
        let mut child = self.command(resume).spawn().expect("starting tenantctl");
        let out = drain(&mut child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready(&records_from(&self.audit, from)) {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let (_, stderr) = out.join().unwrap();
                panic!("the run ended ({status}) before it could be killed {what}:\n{stderr}");
            }
            assert!(Instant::now() < deadline, "never got to kill it {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let (stdout, _) = out.join().unwrap();
        assert_eq!(
            status.code(),
            None,
            "killed {what}, yet it exited: {status}"
        );
        let records = records_from(&self.audit, from);
        eprintln!(
            "killed {what}: {} results, {} open intents in that run's records",
            rows_done(&records).len(),
            open_intents(&records).len()
        );
        (json_lines(&stdout), records)
    }
}

/// Cuts the audit log in the middle of its last record, as a crash in the middle of
/// writing it (a power cut, a full disk) leaves it. Returns the part left and the record
/// as it was.
fn tear_last_record(audit: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(audit).unwrap();
    let body = text.strip_suffix('\n').unwrap();
    let start = body.rfind('\n').map_or(0, |at| at + 1);
    let keep = start + (body.len() - start) / 2;
    std::fs::write(audit, &text[..keep]).unwrap();
    (
        text[start..keep].to_string(),
        serde_json::from_str(&body[start..]).unwrap(),
    )
}

/// Reads the child's stdout and stderr to their ends on threads of their own.
fn drain(child: &mut Child) -> std::thread::JoinHandle<(Vec<u8>, String)> {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        (bytes, err.join().unwrap())
    })
}

fn slow_writes(acronis: &AcronisSim, commvault: &CommvaultSim, millis: u64) {
    acronis.clear_faults();
    commvault.clear_faults();
    acronis.inject(
        FaultRule::new(Fault::delay_ms(millis))
            .method("PUT")
            .always(),
    );
    commvault.inject(
        FaultRule::new(Fault::delay_ms(millis))
            .method("POST")
            .path("/action/")
            .always(),
    );
}

#[test]
fn killed_again_and_again_then_resumed_every_row_done_once() {
    let acronis = AcronisSim::start(AcronisConfig {
        tenants: PER_VENDOR + 20,
        seed: 11,
        ..Default::default()
    });
    let commvault = CommvaultSim::start(CommvaultConfig {
        tenants: PER_VENDOR + 20,
        seed: 11,
        ..Default::default()
    });
    // The first PER_VENDOR generated tenants are disabled; the rest, and the fixtures,
    // are left alone.
    let acronis_ids: Vec<String> = (1..=PER_VENDOR)
        .map(|n| acronis.customer_id(n).unwrap())
        .collect();
    let commvault_ids: Vec<u32> = (1..=PER_VENDOR)
        .map(|n| commvault.company_id(n).unwrap())
        .collect();
    let acronis_before: HashMap<String, _> = (1..=PER_VENDOR + 20)
        .map(|n| acronis.customer_id(n).unwrap())
        .chain([
            acronis.acme_corp_id().to_string(),
            acronis.acme_id().to_string(),
            acronis.dormant_id().to_string(),
        ])
        .map(|id| (id.clone(), acronis.tenant(&id).unwrap()))
        .collect();
    let commvault_before: HashMap<u32, _> = (1..=PER_VENDOR + 20)
        .map(|n| commvault.company_id(n).unwrap())
        .chain([
            commvault.acme_corp_id(),
            commvault.dormant_id(),
            commvault.halfway_id(),
        ])
        .map(|id| (id, commvault.organization(id).unwrap()))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("disable.csv");
    let mut text = String::from("vendor,action,tenant,tenant_name,expect_name\n");
    let mut rows: BTreeMap<u64, (&str, String)> = BTreeMap::new();
    for (i, (a, c)) in acronis_ids.iter().zip(&commvault_ids).enumerate() {
        text.push_str(&format!("acronis,disable,{a},,\ncommvault,disable,{c},,\n"));
        rows.insert(2 * i as u64 + 2, ("acronis", a.clone()));
        rows.insert(2 * i as u64 + 3, ("commvault", c.to_string()));
    }
    std::fs::write(&input, text).unwrap();
    let total = rows.len();
    let mut env = acronis_env(&acronis);
    env.extend(commvault_env(&commvault));
    let batch = Batch {
        audit: dir.path().join("audit.jsonl"),
        input,
        env,
        dir,
    };

    // Each kill: what the run had printed, and the rows it left with an intent but no result.
    let mut printed_by_killed_runs: Vec<Vec<Value>> = Vec::new();
    let mut in_flight_at_kill: HashMap<u64, usize> = HashMap::new();
    let mut note_kill = |(stdout, records): (Vec<Value>, Vec<Value>)| {
        for row in open_intents(&records) {
            *in_flight_at_kill.entry(row).or_default() += 1;
        }
        printed_by_killed_runs.push(stdout);
    };

    // Writes take 20 ms, so that a run lasts long enough to be killed at chosen points.
    slow_writes(&acronis, &commvault, 20);
    let results_so_far = |batch: &Batch| rows_done(&records_from(&batch.audit, 0)).len();
    let mut torn = None;
    for (resume, share) in [(false, 10), (true, 40), (true, 70)] {
        let target = total * share / 100;
        let audit = batch.audit.clone();
        note_kill(
            batch.kill_when(resume, &format!("at {share}% of the rows"), |_| {
                rows_done(&records_from(&audit, 0)).len() >= target
            }),
        );
        if share == 40 {
            torn = Some(tear_last_record(&batch.audit));
        }
    }
    assert!(results_so_far(&batch) < total);

    // Now kill right after an intent whose result is not written yet. Writes take 1.5 s
    // here, so the kill almost surely lands while the write is in flight; the checks below
    // hold wherever it lands.
    slow_writes(&acronis, &commvault, 1500);
    let (stdout, records) = batch.kill_when(true, "right after an intent", |records| {
        !open_intents(records).is_empty()
    });
    // Those writes were cut off with the process. Have them land anyway, as a write the
    // server applied just before the crash would: the resumed run must find the tenant
    // already disabled, leave it, and report it unchanged.
    let landed = open_intents(&records);
    assert!(!landed.is_empty());
    for row in &landed {
        match &rows[row] {
            ("acronis", id) => acronis.set_enabled(id, false),
            (_, id) => commvault.set_deactivate_options(id.parse().unwrap(), true, true, true),
        }
    }
    note_kill((stdout, records));

    // Finish: the rows done so far are skipped, the others run, once.
    slow_writes(&acronis, &commvault, 20);
    let done_before = rows_done(&records_from(&batch.audit, 0));
    // Rows whose write may have landed: an intent written (the torn record may have been
    // one), or a result lost with the torn record.
    let (torn, torn_record) = torn.unwrap();
    let intents_before: BTreeSet<u64> = records_from(&batch.audit, 0)
        .iter()
        .filter(|r| r["record"] == "intent")
        .map(|r| r["row"].as_u64().unwrap())
        .chain(torn_record["row"].as_u64())
        .collect();
    let mut child = batch.command(true).spawn().unwrap();
    let out = drain(&mut child);
    let status = child.wait().unwrap();
    let (stdout, stderr) = out.join().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the last --resume failed:\n{stderr}"
    );
    eprintln!("{}", stderr.trim_end());

    let mut lines: BTreeMap<u64, Value> = BTreeMap::new();
    for line in json_lines(&stdout) {
        let row = line["row"].as_u64().unwrap();
        assert!(lines.insert(row, line).is_none(), "row {row} printed twice");
    }
    assert_eq!(
        lines.keys().collect::<Vec<_>>(),
        rows.keys().collect::<Vec<_>>(),
        "the last run prints a line for every row"
    );
    for (row, line) in &lines {
        let status = line["status"].as_str().unwrap();
        if done_before.contains(row) {
            assert_eq!(status, "skipped", "row {row} was done before: {line}");
        } else if landed.contains(row) {
            assert_eq!(status, "unchanged", "row {row}'s write had landed: {line}");
        } else if intents_before.contains(row) {
            // Its write may or may not have landed before the kill.
            assert!(
                status == "changed" || status == "unchanged",
                "row {row}: {line}"
            );
        } else {
            assert_eq!(status, "changed", "row {row}: {line}");
        }
        assert!(line["error"].is_null(), "row {row}: {line}");
    }
    eprintln!(
        "{total} rows: {} done before the last run; {} left in flight by a kill, {} of which \
         had their write land",
        done_before.len(),
        in_flight_at_kill.len(),
        landed.len()
    );

    // Across all runs: exactly one result record per row, every line readable but the one
    // torn on purpose, which stays a line of its own.
    let text = std::fs::read_to_string(&batch.audit).unwrap();
    let records: Vec<Value> = text
        .lines()
        .filter(|line| *line != torn)
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(text.lines().filter(|line| *line == torn).count(), 1);
    let mut results: BTreeMap<u64, usize> = BTreeMap::new();
    for record in records.iter().filter(|r| is_result(r)) {
        *results.entry(record["row"].as_u64().unwrap()).or_default() += 1;
        assert!(record["error"].is_null(), "{record}");
        assert!(
            matches!(record["outcome"].as_str(), Some("changed" | "unchanged")),
            "{record}"
        );
    }
    assert_eq!(
        results.keys().collect::<Vec<_>>(),
        rows.keys().collect::<Vec<_>>(),
        "a result record for every row"
    );
    for (row, n) in &results {
        assert_eq!(*n, 1, "row {row}: {n} result records across the runs");
    }
    // A killed run never reported a row done that the audit log does not know.
    let recorded = rows_done(&records);
    for printed in &printed_by_killed_runs {
        for line in printed {
            let row = line["row"].as_u64().unwrap();
            assert!(
                line["status"] == "skipped" || recorded.contains(&row),
                "row {row} was printed but has no result record: {line}"
            );
        }
    }

    // The tenants: each listed one disabled exactly once; nothing else touched.
    let listed: HashSet<&String> = acronis_ids.iter().collect();
    for (id, before) in &acronis_before {
        let after = acronis.tenant(id).unwrap();
        if listed.contains(id) {
            assert!(!after.enabled, "Acronis tenant {id} ends disabled");
            assert_eq!(
                after.version,
                before.version + 1,
                "tenant {id} updated once"
            );
        } else {
            assert_eq!(&after, before, "Acronis tenant {id} is not in the input");
        }
    }
    let requests = acronis.requests();
    for request in requests.iter().filter(|r| r.method != "GET") {
        let path = request.path_only();
        if path.ends_with("/idp/token") {
            continue;
        }
        let id = path.strip_prefix("/api/2/tenants/").unwrap().to_string();
        assert!(
            listed.contains(&id),
            "a write outside the input: {request:?}"
        );
    }
    let accepted = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.status == Some(200))
        .count();
    let landed_acronis = landed.iter().filter(|row| rows[row].0 == "acronis").count();
    assert_eq!(
        accepted,
        PER_VENDOR - landed_acronis,
        "one accepted PUT per Acronis tenant, none where the write had landed"
    );

    let row_of: HashMap<u32, u64> = rows
        .iter()
        .filter(|(_, (vendor, _))| *vendor == "commvault")
        .map(|(row, (_, id))| (id.parse().unwrap(), *row))
        .collect();
    let mut deactivations: HashMap<u32, usize> = HashMap::new();
    for request in commvault.requests() {
        let path = request.path_only().to_ascii_lowercase();
        if request.method == "GET" || path.ends_with("/login") {
            continue;
        }
        let id: u32 = path
            .strip_prefix("/commandcenter/api/organization/")
            .and_then(|rest| rest.strip_suffix("/action/deactivate"))
            .unwrap_or_else(|| panic!("an unexpected write: {request:?}"))
            .parse()
            .unwrap();
        assert!(
            row_of.contains_key(&id),
            "a write outside the input: {request:?}"
        );
        if request.status == Some(200) {
            *deactivations.entry(id).or_default() += 1;
        }
    }
    for (id, before) in &commvault_before {
        let after = commvault.organization(*id).unwrap();
        match row_of.get(id) {
            Some(row) => {
                assert!(
                    after.deactivate_options.is_deactivated(),
                    "company {id} ends deactivated"
                );
                // Twice only if a kill caught its deactivate in flight, and the resumed run
                // read the company before that deactivate landed; none if it landed.
                let in_flight = in_flight_at_kill.get(row).copied().unwrap_or(0);
                let done = deactivations.get(id).copied().unwrap_or(0);
                let least = usize::from(!landed.contains(row));
                assert!(
                    (least..=1 + in_flight).contains(&done),
                    "company {id}: {done} deactivations"
                );
            }
            None => assert_eq!(&after, before, "company {id} is not in the input"),
        }
    }
}

impl Batch {
    /// Starts a run and sends it SIGINT (what Ctrl-C sends) as soon as `ready` holds for the
    /// records it has written, then waits for it to end. Returns its exit code, its stdout
    /// lines, its stderr and the records it wrote.
    fn interrupt_when(
        &self,
        resume: bool,
        ready: impl Fn(&[Value]) -> bool,
    ) -> (Option<i32>, Vec<Value>, String, Vec<Value>) {
        let from = self.audit_len();
        let mut child = self.command(resume).spawn().expect("starting tenantctl");
        let out = drain(&mut child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(&records_from(&self.audit, from)) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before it could be interrupted"
            );
            assert!(Instant::now() < deadline, "never got to interrupt it");
            std::thread::sleep(Duration::from_millis(1));
        }
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait().unwrap();
        let (stdout, stderr) = out.join().unwrap();
        (
            status.code(),
            json_lines(&stdout),
            stderr,
            records_from(&self.audit, from),
        )
    }
}

#[test]
fn interrupted_with_sigint_again_and_again_then_resumed_every_row_done_once() {
    let acronis = AcronisSim::start(AcronisConfig {
        tenants: 60,
        seed: 12,
        ..Default::default()
    });
    let ids: Vec<String> = (1..=60).map(|n| acronis.customer_id(n).unwrap()).collect();
    let versions_before: HashMap<String, u64> = ids
        .iter()
        .map(|id| (id.clone(), acronis.tenant(id).unwrap().version))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("disable.csv");
    let mut text = String::from("vendor,action,tenant\n");
    for id in &ids {
        text.push_str(&format!("acronis,disable,{id}\n"));
    }
    std::fs::write(&input, text).unwrap();
    let batch = Batch {
        audit: dir.path().join("audit.jsonl"),
        input,
        env: acronis_env(&acronis),
        dir,
    };
    // Writes take 300 ms, so each interrupt finds writes under way (4 at a time).
    acronis.inject(FaultRule::new(Fault::delay_ms(300)).method("PUT").always());

    let mut done = 0;
    for (resume, at) in [(false, 8), (true, 24), (true, 40)] {
        let (code, lines, stderr, records) =
            batch.interrupt_when(resume, |records| rows_done(records).len() + done >= at);
        assert_eq!(code, Some(130), "an interrupted run exits 130:\n{stderr}");
        assert!(
            stderr.contains("interrupted"),
            "stderr says the run was interrupted:\n{stderr}"
        );
        // Rows under way were let finish: no intent is left without its result.
        assert!(
            open_intents(&records).is_empty(),
            "rows under way finish on the first Ctrl-C: {records:?}"
        );
        // Every row this run finished was printed, and nothing it printed is unrecorded.
        let finished = rows_done(&records);
        let printed: BTreeSet<u64> = lines
            .iter()
            .filter(|line| line["status"] != "skipped")
            .map(|line| line["row"].as_u64().unwrap())
            .collect();
        assert_eq!(printed, finished, "a result line for every row finished");
        for line in &lines {
            assert!(line["error"].is_null(), "{line}");
        }
        done = rows_done(&records_from(&batch.audit, 0)).len();
        assert!(
            done < ids.len(),
            "the interrupt stopped new rows from starting"
        );
    }

    let mut child = batch.command(true).spawn().unwrap();
    let out = drain(&mut child);
    let status = child.wait().unwrap();
    let (stdout, stderr) = out.join().unwrap();
    assert_eq!(status.code(), Some(0), "the last --resume:\n{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), ids.len(), "a line for every row");
    assert_eq!(
        lines.iter().filter(|l| l["status"] == "skipped").count(),
        done,
        "rows done by the interrupted runs are skipped"
    );

    // Across the runs: one result per row, and each tenant written exactly once.
    let mut results: BTreeMap<u64, usize> = BTreeMap::new();
    for record in records_from(&batch.audit, 0)
        .iter()
        .filter(|r| is_result(r))
    {
        *results.entry(record["row"].as_u64().unwrap()).or_default() += 1;
        assert_eq!(record["outcome"], "changed", "{record}");
    }
    assert_eq!(results.len(), ids.len());
    assert!(results.values().all(|n| *n == 1), "{results:?}");
    for id in &ids {
        let after = acronis.tenant(id).unwrap();
        assert!(!after.enabled, "{id} ends disabled");
        assert_eq!(after.version, versions_before[id] + 1, "{id} written once");
    }
}
