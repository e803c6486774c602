//! The soak of `tests/soak.rs` at a larger size, against the release binary, with its
//! figures; then a memory-flatness check of `tenantctl apply` on a long input.
//!
//! ```sh
//! cargo bench -p tenantctl --bench soak                         # 10,000 tenants
//! TENANTCTL_SOAK_TENANTS=40000 cargo bench -p tenantctl --bench soak
//! ```
//!
//! `TENANTCTL_SOAK_TENANTS` is the number of rows (tenants to disable), split evenly
//! between Acronis and Commvault; each simulator also holds 10% more tenants that the
//! input leaves alone, which the soak checks are left untouched.
#![allow(missing_docs)]

#[path = "../tests/soak.rs"]
mod soak;

use std::fmt::Write as _;
use std::path::Path;

use soak::{Finished, SoakConfig, run_watched, spawnable};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` (or `--all-targets`) does not,
    // and a soak of 10,000 tenants is no unit test.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("soak: a benchmark; run it with `cargo bench -p tenantctl --bench soak`");
        return;
    }
    // A filter given after `--` that does not name this bench means it is not wanted.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if !filter.is_empty() && !filter.iter().any(|f| "soak".contains(f.as_str())) {
        return;
    }
    let tenants: usize = std::env::var("TENANTCTL_SOAK_TENANTS")
        .ok()
        .map(|n| n.parse().expect("TENANTCTL_SOAK_TENANTS is a number"))
        .unwrap_or(10_000);
    let config = SoakConfig {
        per_vendor: tenants / 2,
        concurrency: 16,
        seed: 7,
    };
    eprintln!(
        "soak: {} rows ({} per vendor), --concurrency {}, faults: 503 {}%, 502 {}%, 429 {}%, \
         reset {}%, {} ms answers {}%, Acronis conflicts 10% of tenants + {}% of PUTs, \
         Commvault companies deactivated behind tenantctl's back 2%, tokens expired {} times per vendor",
        2 * config.per_vendor,
        config.per_vendor,
        config.concurrency,
        soak::RATE_503 * 100.0,
        soak::RATE_502 * 100.0,
        soak::RATE_429 * 100.0,
        soak::RATE_RESET * 100.0,
        soak::SLOW_MS,
        soak::RATE_SLOW * 100.0,
        soak::RATE_CONFLICT * 100.0,
        soak::EXPIRIES_PER_VENDOR,
    );
    let figures = soak::soak(&config);
    figures.print();
    let rows = figures.rows as f64;
    eprintln!(
        "  throughput: {:.0} rows/s; all checks passed",
        rows / figures.elapsed.as_secs_f64()
    );

    // Memory: the same cheap input, 1,000 rows and 100,000 rows. Rows for a vendor no
    // plugin serves fail one by one without a request, so this measures the batch pipeline
    // itself: reading (twice), checking, printing, the journal's bookkeeping, the summary.
    let dir = tempfile::tempdir().unwrap();
    let small = cheap_run(dir.path(), 1_000);
    let large = cheap_run(dir.path(), 100_000);
    eprintln!(
        "memory: peak RSS {:.1} MiB for 1,000 rows ({:.2} s), {:.1} MiB for 100,000 rows ({:.2} s): ratio {:.2}",
        small.peak_rss_kb as f64 / 1024.0,
        small.elapsed.as_secs_f64(),
        large.peak_rss_kb as f64 / 1024.0,
        large.elapsed.as_secs_f64(),
        large.peak_rss_kb as f64 / small.peak_rss_kb.max(1) as f64
    );
    let grown_kb = large.peak_rss_kb.saturating_sub(small.peak_rss_kb);
    eprintln!(
        "  {:.1} KiB more for 99,000 more rows: {}",
        grown_kb as f64,
        if grown_kb < 8 * 1024 {
            "flat"
        } else {
            "NOT FLAT: memory grows with the input"
        }
    );
}

/// `tenantctl apply` on `rows` `status` rows for an unknown vendor.
fn cheap_run(dir: &Path, rows: usize) -> Finished {
    let input = dir.join(format!("cheap-{rows}.csv"));
    let mut text = String::from("vendor,action,tenant,tenant_name,expect_name\n");
    for n in 0..rows {
        writeln!(text, "nosuchvendor,status,tenant-{n:06},,").unwrap();
    }
    std::fs::write(&input, text).unwrap();
    let mut cmd = spawnable(dir);
    cmd.arg("apply")
        .arg("--input")
        .arg(&input)
        .args(["--output", "json"])
        .arg("--audit-log")
        .arg(dir.join(format!("audit-{rows}.jsonl")));
    let finished = run_watched(cmd);
    let lines = finished.stdout.iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, rows, "one line per row");
    assert_eq!(
        finished.code,
        Some(1),
        "every row fails: {}",
        finished.stderr
    );
    finished
}
