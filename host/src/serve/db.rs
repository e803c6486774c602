//! The service's database: SQLite by default, PostgreSQL for several replicas, through
//! sqlx with embedded migrations. Tokens are stored as SHA-256 hashes; no vendor credential
//! ever reaches the database.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{FromRow as _, Row as _};

use super::auth::Role;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// An open database.
#[derive(Debug, Clone)]
pub enum Db {
    /// A SQLite file (WAL): one process.
    Sqlite(SqlitePool),
    /// A PostgreSQL server: any number of replicas.
    Postgres(PgPool),
}

/// Runs the same code on whichever pool the database has (the SQL is written to work on
/// both: `$1` placeholders, `ON CONFLICT`).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The default database: `$XDG_STATE_HOME/tenantctl/tenantctl.db`.
pub fn default_url() -> Option<String> {
    crate::dirs::state_dir().map(|dir| format!("sqlite://{}", dir.join("tenantctl.db").display()))
}

/// A token as `tokens list` shows it.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Its name (the operator in the audit journal).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// The token that created it.
    pub created_by: String,
    /// `accepting`, `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// Send nothing that changes a tenant.
    pub dry_run: bool,
    /// Destructive rows are confirmed.
    pub confirm: bool,
    /// The job's reason.
    pub reason: Option<String>,
    /// How many rows it has.
    pub row_count: i64,
    /// A cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// Why the whole job failed, if it did before its rows ran.
    pub error: Option<String>,
    /// SHA-256 of the accepted request.
    pub body_sha256: String,
    /// Times, in ms since the epoch.
    pub created_at: i64,
    /// When it first started running.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
}

/// One row of a job, as submitted.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    sqlx::FromRow,
)]
#[serde(deny_unknown_fields)]
pub struct JobRow {
    /// The vendor id.
    pub vendor: String,
    /// The action.
    pub action: String,
    /// The tenant's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The tenant's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
    /// Fail unless the tenant's name is exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_name: Option<String>,
    /// Why, for the journal (overrides the job's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What accepting a job came to.
#[derive(Debug)]
pub enum Accepted {
    /// A new job.
    New(String),
    /// The job this key already made, with the same body.
    Existing(String),
    /// The key was used with another body.
    OtherBody(String),
    /// The first request with this key is still being accepted.
    InProgress,
}

/// A request with the same key still `accepting` after this long died part-way: it is
/// dropped and the key accepted anew.
const ABANDONED_AFTER_MS: i64 = 60_000;

/// Rows inserted per statement.
const CHUNK: usize = 500;

/// A [`Job`] from a row of `SELECT {JOB_COLUMNS}` (either database's row type).
macro_rules! job_from {
    ($row:expr) => {{
        let row = $row;
        Job {
            id: row.try_get("id")?,
            created_by: row.try_get("created_by")?,
            status: row.try_get("status")?,
            dry_run: row.try_get("dry_run")?,
            confirm: row.try_get("confirm")?,
            reason: row.try_get("reason")?,
            row_count: row.try_get("row_count")?,
            cancel_requested: row.try_get("cancel_requested")?,
            error: row.try_get("error")?,
            body_sha256: row.try_get("body_sha256")?,
            created_at: row.try_get("created_at")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        }
    }};
}

const JOB_COLUMNS: &str = "id, created_by, status, dry_run, confirm, reason, row_count, \
    cancel_requested, error, body_sha256, created_at, started_at, finished_at";

impl Db {
    /// Opens the database at `url` (`sqlite://PATH` or `postgres://…`), creating a SQLite
    /// file and its directory when missing, and applies the migrations.
    pub async fn open(url: &str) -> Result<Db> {
        let db = if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = PathBuf::from(path.split('?').next().unwrap_or(path));
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("the database URL {url:?}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .with_context(|| format!("opening the SQLite database {}", path.display()))?;
            SQLITE_MIGRATIONS
                .run(&pool)
                .await
                .context("migrating the SQLite database")?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await
                .context("connecting to PostgreSQL (check --database / TENANTCTL_DATABASE_URL)")?;
            POSTGRES_MIGRATIONS
                .run(&pool)
                .await
                .context("migrating the PostgreSQL database")?;
            Db::Postgres(pool)
        } else {
            bail!(
                "the database URL must start with sqlite:// or postgres:// (got {:?})",
                url.split(':').next().unwrap_or_default()
            );
        };
        Ok(db)
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    // ---- tokens -------------------------------------------------------------------------

    /// Stores a new token's hash under `name`; false when an unrevoked token has the name
    /// (a revoked one is replaced).
    pub async fn create_token(&self, name: &str, role: Role, hash: &str) -> Result<bool> {
        let sql = "INSERT INTO tokens (name, role, hash, created_at, revoked_at) \
                   VALUES ($1, $2, $3, $4, NULL) \
                   ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, \
                   created_at = excluded.created_at, revoked_at = NULL \
                   WHERE tokens.revoked_at IS NOT NULL";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(name).bind(role.name()).bind(hash).bind(now_ms())
            .execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// Every token, by name.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let sql = "SELECT name, role, created_at, revoked_at FROM tokens ORDER BY name";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(|row| -> Result<TokenInfo> {
                let role: String = row.try_get("role")?;
                Ok(TokenInfo {
                    name: row.try_get("name")?,
                    role: Role::parse(&role).unwrap_or(Role::Read),
                    created_at: row.try_get("created_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            }).collect()
        })
    }

    /// Revokes the token `name`; false when there is no such unrevoked token.
    pub async fn revoke_token(&self, name: &str) -> Result<bool> {
        let sql = "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(now_ms()).bind(name).execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// The name and role of the unrevoked token whose hash is `hash`.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<(String, Role)>> {
        let sql = "SELECT name, role FROM tokens WHERE hash = $1 AND revoked_at IS NULL";
        on_pool!(self, pool => {
            let row = sqlx::query(sql).bind(hash).fetch_optional(pool).await?;
            match row {
                None => Ok(None),
                Some(row) => {
                    let role: String = row.try_get("role")?;
                    Ok(Role::parse(&role).map(|role| (row.try_get("name").unwrap_or_default(), role)))
                }
            }
        })
    }

    // ---- jobs: accepting and reading --------------------------------------------------

    /// Accepts a job: claims `key` for `created_by`, then stores the rows and queues it.
    #[allow(clippy::too_many_arguments)]
    pub async fn accept_job(
        &self,
        id: &str,
        created_by: &str,
        key: &str,
        body_sha256: &str,
        dry_run: bool,
        confirm: bool,
        reason: Option<&str>,
        rows: &[JobRow],
    ) -> Result<Accepted> {
        for _ in 0..2 {
            let claim = "INSERT INTO jobs (id, created_by, idempotency_key, body_sha256, status, \
                         dry_run, confirm, reason, row_count, created_at) \
                         VALUES ($1, $2, $3, $4, 'accepting', $5, $6, $7, $8, $9) \
                         ON CONFLICT (created_by, idempotency_key) DO NOTHING";
            let claimed = on_pool!(self, pool => sqlx::query(claim)
                .bind(id).bind(created_by).bind(key).bind(body_sha256).bind(dry_run)
                .bind(confirm).bind(reason).bind(rows.len() as i64).bind(now_ms())
                .execute(pool).await?.rows_affected());
            if claimed == 1 {
                self.store_rows(id, rows).await?;
                return Ok(Accepted::New(id.to_string()));
            }
            let existing = format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE created_by = $1 AND idempotency_key = $2"
            );
            let Some(job) = on_pool!(self, pool => match sqlx::query(&existing)
            .bind(created_by).bind(key).fetch_optional(pool).await? {
                Some(row) => Some(job_from!(&row)),
                None => None,
            }) else {
                continue;
            };
            if job.body_sha256 != body_sha256 {
                return Ok(Accepted::OtherBody(job.id));
            }
            if job.status != "accepting" {
                return Ok(Accepted::Existing(job.id));
            }
            if now_ms() - job.created_at < ABANDONED_AFTER_MS {
                return Ok(Accepted::InProgress);
            }
            // The request that claimed the key died part-way: start over.
            let drop = "DELETE FROM jobs WHERE id = $1 AND status = 'accepting'";
            on_pool!(self, pool => {
                sqlx::query(drop).bind(&job.id).execute(pool).await?;
            });
        }
        Ok(Accepted::InProgress)
    }

    /// Stores a claimed job's rows and queues it, in one transaction.
    async fn store_rows(&self, id: &str, rows: &[JobRow]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (chunk_no, chunk) in rows.chunks(CHUNK).enumerate() {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO job_rows (job_id, row_number, vendor, action, tenant, \
                     tenant_name, expect_name, reason) ",
                );
                insert.push_values(chunk.iter().enumerate(), |mut values, (n, row)| {
                    values
                        .push_bind(id)
                        .push_bind((chunk_no * CHUNK + n + 1) as i64)
                        .push_bind(&row.vendor)
                        .push_bind(&row.action)
                        .push_bind(&row.tenant)
                        .push_bind(&row.tenant_name)
                        .push_bind(&row.expect_name)
                        .push_bind(&row.reason);
                });
                insert.build().execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE jobs SET status = 'queued' WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The job `id`.
    pub async fn job(&self, id: &str) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND status <> 'accepting'");
        on_pool!(self, pool => match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
            Some(row) => Ok(Some(job_from!(&row))),
            None => Ok(None),
        })
    }

    /// How many results the job has, by result status.
    pub async fn counts(&self, id: &str) -> Result<BTreeMap<String, i64>> {
        let sql = "SELECT status, COUNT(*) AS n FROM job_results WHERE job_id = $1 GROUP BY status";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(id).fetch_all(pool).await?;
            rows.iter().map(|row| -> Result<(String, i64)> { Ok((row.try_get::<String, _>("status")?, row.try_get::<i64, _>("n")?)) }).collect()
        })
    }

    /// Up to `limit` results after row `after`, each with its row as submitted.
    pub async fn results(
        &self,
        id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, JobRow, String)>> {
        let sql = "SELECT r.row_number, r.vendor, r.action, r.tenant, r.tenant_name, \
                   r.expect_name, r.reason, x.result FROM job_results x JOIN job_rows r \
                   ON r.job_id = x.job_id AND r.row_number = x.row_number \
                   WHERE x.job_id = $1 AND x.row_number > $2 ORDER BY x.row_number LIMIT $3";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(id).bind(after).bind(limit).fetch_all(pool).await?;
            rows.iter().map(|row| -> Result<(i64, JobRow, String)> { Ok((
                row.try_get("row_number")?,
                JobRow::from_row(row)?,
                row.try_get("result")?,
            )) }).collect()
        })
    }

    /// Cancels a job: a queued one at once, a running one once its rows under way finish.
    pub async fn cancel(&self, id: &str) -> Result<()> {
        let queued = "UPDATE jobs SET status = 'cancelled', finished_at = $1 \
                      WHERE id = $2 AND status = 'queued'";
        let running =
            "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'";
        on_pool!(self, pool => {
            sqlx::query(queued).bind(now_ms()).bind(id).execute(pool).await?;
            sqlx::query(running).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Jobs by status, for `/metrics`.
    pub async fn job_counts(&self) -> Result<BTreeMap<String, i64>> {
        let sql = "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(|row| -> Result<(String, i64)> { Ok((row.try_get::<String, _>("status")?, row.try_get::<i64, _>("n")?)) }).collect()
        })
    }

    // ---- jobs: running ----------------------------------------------------------------

    /// Claims the oldest job that is queued, or running under an expired lease, for
    /// `owner` until `lease_ms` from now. With PostgreSQL, replicas skip each other's
    /// locked rows (`FOR UPDATE SKIP LOCKED`).
    pub async fn claim(&self, owner: &str, lease_ms: i64) -> Result<Option<String>> {
        let now = now_ms();
        let pick = "SELECT id FROM jobs WHERE status = 'queued' \
                    OR (status = 'running' AND (lease_until IS NULL OR lease_until < $3)) \
                    ORDER BY created_at, id LIMIT 1";
        let lock = match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, \
             started_at = COALESCE(started_at, $3) WHERE id = ({pick}{lock}) RETURNING id"
        );
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(owner).bind(now + lease_ms).bind(now)
                .fetch_optional(pool).await?;
            Ok(match row { Some(row) => Some(row.try_get("id")?), None => None })
        })
    }

    /// Extends `owner`'s lease on job `id`; `None` when the lease was lost (another replica
    /// took the job over), else whether a cancel was asked for.
    pub async fn heartbeat(&self, id: &str, owner: &str, lease_ms: i64) -> Result<Option<bool>> {
        let sql = "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 \
                   AND status = 'running' RETURNING cancel_requested";
        on_pool!(self, pool => {
            let row = sqlx::query(sql).bind(now_ms() + lease_ms).bind(id).bind(owner)
                .fetch_optional(pool).await?;
            Ok(match row { Some(row) => Some(row.try_get("cancel_requested")?), None => None })
        })
    }

    /// The rows of job `id` that have no result yet, by row number.
    pub async fn pending_rows(&self, id: &str) -> Result<Vec<(i64, JobRow)>> {
        let sql = "SELECT r.row_number, r.vendor, r.action, r.tenant, r.tenant_name, \
                   r.expect_name, r.reason FROM job_rows r LEFT JOIN job_results x \
                   ON x.job_id = r.job_id AND x.row_number = r.row_number \
                   WHERE r.job_id = $1 AND x.row_number IS NULL ORDER BY r.row_number";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(id).fetch_all(pool).await?;
            rows.iter().map(|row| -> Result<(i64, JobRow)> { Ok((
                row.try_get("row_number")?,
                JobRow::from_row(row)?,
            )) }).collect()
        })
    }

    /// Records results of job `id` (row number, status, result object), in one
    /// transaction; a row that already has a result keeps it.
    pub async fn record_results(&self, id: &str, results: &[(i64, String, String)]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in results.chunks(CHUNK) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO job_results (job_id, row_number, status, result) ",
                );
                insert.push_values(chunk, |mut values, (row, status, result)| {
                    values.push_bind(id).push_bind(*row).push_bind(status).push_bind(result);
                });
                insert.push(" ON CONFLICT (job_id, row_number) DO NOTHING");
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Ends job `id` as `status` (with `error` when the job as a whole failed), if `owner`
    /// still holds it.
    pub async fn finish(
        &self,
        id: &str,
        owner: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let sql = "UPDATE jobs SET status = $1, error = $2, finished_at = $3, lease_owner = NULL, \
                   lease_until = NULL WHERE id = $4 AND lease_owner = $5 AND status = 'running'";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(status).bind(error).bind(now_ms())
                .bind(id).bind(owner).execute(pool).await?;
        });
        Ok(())
    }

    /// Gives job `id` back (a shutdown): it stays `running`, and the next replica or the
    /// next start claims it at once.
    pub async fn release(&self, id: &str, owner: &str) -> Result<()> {
        let sql = "UPDATE jobs SET lease_until = 0 WHERE id = $1 AND lease_owner = $2 \
                   AND status = 'running'";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(id).bind(owner).execute(pool).await?;
        });
        Ok(())
    }

    /// How many results of job `id` failed.
    pub async fn failed_count(&self, id: &str) -> Result<i64> {
        let sql = "SELECT COUNT(*) AS n FROM job_results WHERE job_id = $1 AND status = 'failed'";
        on_pool!(self, pool => Ok(sqlx::query(sql).bind(id).fetch_one(pool).await?.try_get("n")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenant: &str) -> JobRow {
        JobRow {
            vendor: "acronis".into(),
            action: "disable".into(),
            tenant: Some(tenant.into()),
            tenant_name: None,
            expect_name: None,
            reason: None,
        }
    }

    /// A second request with a key whose first request is still between claiming the key
    /// and storing its rows gets `InProgress` (409); once that first request is long dead,
    /// the key is accepted anew; a finished acceptance answers with its job.
    #[tokio::test]
    async fn a_key_still_being_accepted_conflicts_until_it_is_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        let db = Db::open(&url).await.unwrap();
        let rows = [row("t-1")];
        let accept = |id: &'static str, body: &'static str| {
            let db = &db;
            let rows = &rows;
            async move {
                db.accept_job(id, "ops", "key-1", body, false, false, None, rows)
                    .await
                    .unwrap()
            }
        };
        // What the first request leaves while it stores its rows: the claimed key.
        let claim = "INSERT INTO jobs (id, created_by, idempotency_key, body_sha256, status, \
                     dry_run, confirm, reason, row_count, created_at) \
                     VALUES ('first', 'ops', 'key-1', 'body', 'accepting', false, false, NULL, \
                     1, $1)";
        let Db::Sqlite(pool) = &db else {
            unreachable!("a sqlite:// URL opens SQLite")
        };
        sqlx::query(claim)
            .bind(now_ms())
            .execute(pool)
            .await
            .unwrap();

        assert!(matches!(
            accept("second", "body").await,
            Accepted::InProgress
        ));
        assert!(
            matches!(accept("second", "other").await, Accepted::OtherBody(id) if id == "first")
        );
        assert!(
            db.job("second").await.unwrap().is_none(),
            "nothing stored for the retry"
        );

        // The first request died part-way, long ago: the key starts over.
        sqlx::query("UPDATE jobs SET created_at = $1 WHERE id = 'first'")
            .bind(now_ms() - 2 * ABANDONED_AFTER_MS)
            .execute(pool)
            .await
            .unwrap();
        assert!(matches!(accept("third", "body").await, Accepted::New(id) if id == "third"));
        assert!(
            db.job("first").await.unwrap().is_none(),
            "the abandoned claim is gone"
        );
        assert_eq!(db.job("third").await.unwrap().unwrap().status, "queued");
        assert!(matches!(accept("fourth", "body").await, Accepted::Existing(id) if id == "third"));
    }
}
