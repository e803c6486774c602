//! The real `tenantctl serve` as a child process, and a small HTTP client for it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<String>>,
    log_thread: Option<std::thread::JoinHandle<()>>,
}

/// A home of its own (HOME, audit log, database) for one test's servers.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub database: String,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}", dir.path().join("tenantctl.db").display());
        Home { dir, database }
    }

    pub fn with_database(database: &str) -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
            database: database.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// `tenantctl ARGS` with this home's environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
        for (name, _) in std::env::vars() {
            if name.starts_with("TENANTCTL_") || name.starts_with("XDG_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("HOME", self.path())
            .env("TENANTCTL_CACHE_DIR", crate::common::cache_dir())
            .env("TENANTCTL_DATABASE_URL", &self.database)
            .env("TENANTCTL_AUDIT_LOG", self.audit_log())
            .env("NO_COLOR", "1");
        cmd
    }

    /// Creates a token and returns it (stdout holds only the token).
    pub fn token(&self, name: &str, role: &str) -> String {
        let out = self
            .command()
            .args(["tokens", "create", name, "--role", role])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tokens create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            stdout.lines().count(),
            1,
            "stdout holds only the token: {stdout:?}"
        );
        stdout.trim().to_string()
    }

    /// Starts `tenantctl serve --listen 127.0.0.1:0 ARGS` with `envs`, and waits until it
    /// says where it listens.
    pub fn serve(&self, envs: &[(&str, String)], args: &[&str]) -> Server {
        let mut cmd = self.command();
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tell, told) = mpsc::channel();
        let kept = log.clone();
        let log_thread = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tell.send(addr);
                }
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match told.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {}", log.lock().unwrap());
            }
        };
        Server {
            child,
            addr,
            log,
            log_thread: Some(log_thread),
        }
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit code (within `within`).
    pub fn terminate(mut self, within: Duration) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(thread) = self.log_thread.take() {
                    let _ = thread.join();
                }
                return (status.code(), self.log());
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("the server did not stop within {within:?}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, headers, body as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Asserts the error envelope `{"error": {"kind", "message"}}` with `kind`.
    pub fn assert_error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.json["error"]["kind"], kind, "{}", self.text);
        assert!(
            self.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
    }
}

/// A blocking HTTP client.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Client {
    pub fn new() -> Client {
        Client {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
        }
    }

    pub fn send(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        self.runtime.block_on(async {
            let mut request = self
                .http
                .request(method.parse().unwrap(), url)
                .timeout(Duration::from_secs(120));
            if let Some(token) = token {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let text = response.text().await.unwrap();
            let json = serde_json::from_str(&text).unwrap_or(Value::Null);
            Answer {
                status,
                headers,
                text,
                json,
            }
        })
    }

    pub fn get(&self, url: &str, token: Option<&str>) -> Answer {
        self.send("GET", url, token, &[], None)
    }

    pub fn post(&self, url: &str, token: Option<&str>, body: Value) -> Answer {
        self.send("POST", url, token, &[], Some(body.to_string()))
    }

    pub fn post_job(&self, server: &Server, token: &str, key: &str, body: &Value) -> Answer {
        self.send(
            "POST",
            &server.url("/v1/jobs"),
            Some(token),
            &[("Idempotency-Key", key)],
            Some(body.to_string()),
        )
    }

    /// Polls job `id` until it has ended (or `within` passes) and returns it.
    pub fn wait_job(&self, server: &Server, token: &str, id: &str, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let job = self.get(&server.url(&format!("/v1/jobs/{id}")), Some(token));
            assert_eq!(job.status, 200, "{}", job.text);
            let status = job.json["status"].as_str().unwrap_or_default().to_string();
            if matches!(status.as_str(), "succeeded" | "failed" | "cancelled") {
                return job.json;
            }
            assert!(
                started.elapsed() < within,
                "job {id} still {status} after {within:?}: {}\n{}",
                job.text,
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every result of job `id`, following `next` (pages of `limit`).
    pub fn all_results(&self, server: &Server, token: &str, id: &str, limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = server.url(&format!("/v1/jobs/{id}/results?limit={limit}"));
            if let Some(after) = &after {
                url.push_str(&format!("&after={after}"));
            }
            let page = self.get(&url, Some(token));
            assert_eq!(page.status, 200, "{}", page.text);
            let got = page.json["items"].as_array().unwrap().clone();
            let empty = got.is_empty();
            items.extend(got);
            match page.json["next"].as_str() {
                Some(next) if !empty => after = Some(next.to_string()),
                _ => return items,
            }
        }
    }
}
