-- The service's state: API tokens (hashed), jobs, their rows and their results.

CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    -- SHA-256 (hex) of the token; the token itself is never stored.
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    -- SHA-256 of the request as parsed, so the same key with another body is refused.
    body_sha256 TEXT NOT NULL,
    -- accepting, queued, running, succeeded, failed, cancelled
    status TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    confirm BOOLEAN NOT NULL,
    reason TEXT,
    row_count BIGINT NOT NULL,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- Why the whole job failed before its rows ran (a vendor without credentials, ...).
    error TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    UNIQUE (created_by, idempotency_key)
);

CREATE INDEX jobs_claimable ON jobs (status, lease_until);

CREATE TABLE job_rows (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    row_number BIGINT NOT NULL,
    vendor TEXT NOT NULL,
    action TEXT NOT NULL,
    tenant TEXT,
    tenant_name TEXT,
    expect_name TEXT,
    reason TEXT,
    PRIMARY KEY (job_id, row_number)
);

CREATE TABLE job_results (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    row_number BIGINT NOT NULL,
    status TEXT NOT NULL,
    -- The result object, as the CLI prints it (secrets already scrubbed).
    result TEXT NOT NULL,
    PRIMARY KEY (job_id, row_number)
);
