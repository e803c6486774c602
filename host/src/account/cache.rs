//! The read cache of one account: answers to reads a plugin marked cacheable
//! (`http-request.cache-for`), shared by the operations of the same session for a short
//! while, so a batch of name rows lists the vendor once instead of once per row.
//!
//! - Only `GET` requests declared `read`, during actions (never logins), are cached, and
//!   only their successful (2xx) answers are kept; an error is handed to the operations that
//!   were waiting for it and then forgotten, so the next one asks again.
//! - Entries are keyed by the session's generation, the URL and the non-secret headers:
//!   a renewed session starts cold, and a secret (the token) is never part of a key.
//! - Single flight: operations that ask for the same read at once share one request. If the
//!   operation making it is cancelled (its deadline, an interrupt), the next waiter makes it.
//! - Lifetimes are capped at [`MAX_TTL`]; at most [`MAX_ENTRIES`] are kept per account.
//! - Invalidation follows HTTP caching (RFC 9111, section 4.4): a successful write removes
//!   the entries of the URL it wrote to; a successful `DELETE` removes every entry of the
//!   account, since a tenant that no longer exists changes every listing. Disabling or
//!   enabling a tenant changes neither names nor ids, which is what plugins cache lists for;
//!   a plugin reads the tenant itself (uncached) before it decides anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;
use url::Url;

use crate::http::SendError;
use crate::plugin::bindings::{HttpRequest, HttpResponse, Method};

/// The longest a cached answer is served, whatever the plugin asks.
pub const MAX_TTL: Duration = Duration::from_secs(300);

/// Entries kept per account; past it, reads go to the vendor uncached.
pub const MAX_ENTRIES: usize = 64;

/// What identifies a cacheable read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    generation: u64,
    url: String,
    /// Non-secret headers, names lower-cased, sorted.
    headers: Vec<(String, String)>,
}

type Answer = Result<HttpResponse, SendError>;

struct Entry {
    ttl: Duration,
    /// The answer, and when it came.
    answer: OnceCell<(Answer, Instant)>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.answer
            .get()
            .is_some_and(|(_, at)| now.duration_since(*at) >= self.ttl)
    }
}

/// Whether an answer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This operation sent the request.
    Sent,
    /// Another operation's request answered it (cached, or shared while in flight).
    Shared,
}

/// One account's cache of reads.
#[derive(Default)]
pub struct ReadCache {
    entries: Mutex<HashMap<Key, Arc<Entry>>>,
}

impl ReadCache {
    /// How long `request` may be cached, or `None` when it may not be: not a `GET` read, or
    /// no (or a zero) `cache-for`.
    pub fn ttl(request: &HttpRequest) -> Option<Duration> {
        let secs = request.cache_for.filter(|secs| *secs > 0)?;
        let cacheable = request.method == Method::Get
            && request.effect == crate::plugin::bindings::Effect::Read;
        cacheable.then(|| Duration::from_secs(u64::from(secs)).min(MAX_TTL))
    }

    /// The answer to `request` made with session `generation`: a fresh cached one, the one
    /// another operation is fetching, or the one `fetch` gets.
    pub async fn get<F>(
        &self,
        generation: u64,
        request: &HttpRequest,
        ttl: Duration,
        fetch: F,
    ) -> (Answer, Source)
    where
        F: Future<Output = Answer>,
    {
        let key = Key {
            generation,
            url: request.url.clone(),
            headers: {
                let mut headers: Vec<(String, String)> = request
                    .headers
                    .iter()
                    .filter(|h| !h.secret)
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
                    .collect();
                headers.sort();
                headers
            },
        };
        let entry = {
            let mut entries = self.lock();
            let now = Instant::now();
            entries.retain(|_, entry| !entry.expired(now));
            match entries.get(&key) {
                Some(entry) => Some(entry.clone()),
                None if entries.len() >= MAX_ENTRIES => None,
                None => {
                    let entry = Arc::new(Entry {
                        ttl,
                        answer: OnceCell::new(),
                    });
                    entries.insert(key.clone(), entry.clone());
                    Some(entry)
                }
            }
        };
        let Some(entry) = entry else {
            return (fetch.await, Source::Sent);
        };
        let mut sent = false;
        let (answer, _) = entry
            .answer
            .get_or_init(|| async {
                sent = true;
                (fetch.await, Instant::now())
            })
            .await;
        let answer = answer.clone();
        let success = answer
            .as_ref()
            .is_ok_and(|response| (200..300).contains(&response.status));
        if !success {
            let mut entries = self.lock();
            if entries.get(&key).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
                entries.remove(&key);
            }
        }
        (answer, if sent { Source::Sent } else { Source::Shared })
    }

    /// Forgets what a successful write made stale: the entries of the URL it wrote to, and
    /// after a `DELETE`, everything.
    pub fn written(&self, method: Method, url: &Url) {
        let mut entries = self.lock();
        if method == Method::Delete {
            entries.clear();
            return;
        }
        let written = url.as_str();
        entries.retain(|key, _| {
            Url::parse(&key.url).map_or(true, |cached| cached.as_str() != written)
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::{Effect, Header};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn get(url: &str, cache_for: Option<u32>, token: &str) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: url.into(),
            headers: vec![
                Header {
                    name: "Authtoken".into(),
                    value: token.into(),
                    secret: true,
                },
                Header {
                    name: "Accept".into(),
                    value: "application/json".into(),
                    secret: false,
                },
            ],
            body: Vec::new(),
            body_secret: false,
            effect: Effect::Read,
            cache_for,
        }
    }

    fn ok(body: &str) -> Answer {
        Ok(HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn only_get_reads_with_a_hint_are_cacheable_and_lifetimes_are_capped() {
        let url = "https://v.test/Organization";
        assert_eq!(ReadCache::ttl(&get(url, None, "t")), None);
        assert_eq!(ReadCache::ttl(&get(url, Some(0), "t")), None);
        assert_eq!(
            ReadCache::ttl(&get(url, Some(30), "t")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(ReadCache::ttl(&get(url, Some(86_400), "t")), Some(MAX_TTL));
        let post = HttpRequest {
            method: Method::Post,
            ..get(url, Some(30), "t")
        };
        assert_eq!(ReadCache::ttl(&post), None);
        let write = HttpRequest {
            effect: Effect::IdempotentWrite,
            ..get(url, Some(30), "t")
        };
        assert_eq!(ReadCache::ttl(&write), None);
    }

    #[tokio::test]
    async fn concurrent_reads_share_one_request() {
        let cache = Arc::new(ReadCache::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let (go, gate) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (cache, fetches, mut gate) = (cache.clone(), fetches.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                let request = get("https://v.test/Organization", Some(60), "t");
                let fetch = async {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let _ = gate.wait_for(|open| *open).await;
                    ok("list")
                };
                cache.get(1, &request, Duration::from_secs(60), fetch).await
            }));
        }
        while fetches.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        go.send_replace(true);
        let mut sent = 0;
        for task in tasks {
            let (answer, source) = task.await.unwrap();
            assert_eq!(answer.unwrap().body, b"list");
            sent += usize::from(source == Source::Sent);
        }
        assert_eq!((fetches.load(Ordering::SeqCst), sent), (1, 1));
    }

    #[tokio::test]
    async fn keys_leave_out_secrets_but_not_the_session_and_errors_are_not_kept() {
        let cache = ReadCache::default();
        let ttl = Duration::from_secs(60);
        let url = "https://v.test/Organization";
        let (_, first) = cache
            .get(1, &get(url, Some(60), "a"), ttl, async { ok("1") })
            .await;
        // Another token of the same session generation: the same entry.
        let (answer, again) = cache
            .get(1, &get(url, Some(60), "b"), ttl, async { ok("2") })
            .await;
        assert_eq!((first, again), (Source::Sent, Source::Shared));
        assert_eq!(answer.unwrap().body, b"1");
        // A renewed session starts cold.
        let (answer, renewed) = cache
            .get(2, &get(url, Some(60), "c"), ttl, async { ok("3") })
            .await;
        assert_eq!(
            (renewed, answer.unwrap().body),
            (Source::Sent, b"3".to_vec())
        );
        // An error is shared with nobody later.
        let other = "https://v.test/Organization?x=1";
        let failing = async {
            Ok(HttpResponse {
                status: 500,
                headers: Vec::new(),
                body: Vec::new(),
            })
        };
        let (failed, _) = cache.get(2, &get(other, Some(60), "c"), ttl, failing).await;
        assert_eq!(failed.unwrap().status, 500);
        let (answer, source) = cache
            .get(2, &get(other, Some(60), "c"), ttl, async { ok("4") })
            .await;
        assert_eq!(
            (source, answer.unwrap().body),
            (Source::Sent, b"4".to_vec())
        );
    }

    #[tokio::test]
    async fn writes_invalidate_their_url_and_deletes_everything() {
        let cache = ReadCache::default();
        let ttl = Duration::from_secs(60);
        let list = "https://v.test/Organization";
        let one = "https://v.test/Organization/5";
        for url in [list, one] {
            let (answer, _) = cache
                .get(1, &get(url, Some(60), "t"), ttl, async { ok("old") })
                .await;
            assert!(answer.is_ok());
        }
        let hit = |url: &'static str| {
            let cache = &cache;
            async move {
                cache
                    .get(1, &get(url, Some(60), "t"), ttl, async { ok("new") })
                    .await
                    .1
            }
        };
        cache.written(Method::Post, &Url::parse(one).unwrap());
        assert_eq!(hit(one).await, Source::Sent, "the written URL is forgotten");
        assert_eq!(hit(list).await, Source::Shared, "other URLs stay");
        cache.written(Method::Delete, &Url::parse(one).unwrap());
        assert_eq!(hit(list).await, Source::Sent, "a delete forgets everything");
    }

    #[tokio::test]
    async fn entries_expire() {
        let cache = ReadCache::default();
        let url = "https://v.test/Organization";
        let ttl = Duration::from_millis(5);
        let (answer, _) = cache
            .get(1, &get(url, Some(5), "t"), ttl, async { ok("1") })
            .await;
        assert!(answer.is_ok());
        // Sleeping past the lifetime makes the entry stale, however slow the machine.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let (_, source) = cache
            .get(1, &get(url, Some(5), "t"), ttl, async { ok("2") })
            .await;
        assert_eq!(source, Source::Sent);
    }
}
