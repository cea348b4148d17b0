//! Answers of the read routes kept in memory until the store changes. Dashboards ask the same
//! questions many times between two ingests, and each answer costs queries over months of
//! costs; a kept answer costs one lookup of the store's version. Every writer bumps that
//! version in the transaction that changes the data (on any daemon sharing the store), so
//! an answer is never served once the figures it was made of have changed.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use lru::LruCache;

/// A route's answer as sent: its content type and body.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub content_type: &'static str,
    pub body: Bytes,
}

/// Kept answers, least recently used dropped first, in at most `capacity_bytes` of bodies.
pub struct ResponseCache {
    capacity_bytes: usize,
    kept: Mutex<Kept>,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct Kept {
    /// The store version the answers were made at.
    version: i64,
    answers: LruCache<String, Answer>,
    bytes: usize,
}

impl ResponseCache {
    /// A cache of at most `mib` MiB of answers; 0 keeps none.
    pub fn new(mib: usize) -> ResponseCache {
        ResponseCache {
            capacity_bytes: mib.saturating_mul(1024 * 1024),
            kept: Mutex::new(Kept { version: i64::MIN, answers: LruCache::unbounded(), bytes: 0 }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity_bytes > 0
    }

    /// Answers served from the cache and answers made, since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// The answer to `key` at store `version`: the kept one, or `make`'s, kept when it
    /// succeeds. `key` must name everything the answer depends on besides the store.
    pub(super) async fn answer<E>(
        &self,
        version: i64,
        key: String,
        make: impl Future<Output = Result<Answer, E>>,
    ) -> Result<Answer, E> {
        {
            let mut kept = self.kept.lock().expect("the cache lock is never poisoned");
            if kept.version != version {
                kept.answers.clear();
                kept.bytes = 0;
                kept.version = version;
            }
            if let Some(answer) = kept.answers.get(&key) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(answer.clone());
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let answer = make.await?;
        let (key_bytes, size) = (key.len(), answer.body.len() + key.len());
        let mut kept = self.kept.lock().expect("the cache lock is never poisoned");
        // An answer made while a newer version arrived may hold older figures: not kept.
        if kept.version == version && size <= self.capacity_bytes {
            if let Some(old) = kept.answers.put(key, answer.clone()) {
                kept.bytes -= old.body.len() + key_bytes;
            }
            kept.bytes += size;
            while kept.bytes > self.capacity_bytes {
                let Some((dropped_key, dropped)) = kept.answers.pop_lru() else { break };
                kept.bytes -= dropped.body.len() + dropped_key.len();
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Answer {
        Answer { content_type: "text/plain", body: Bytes::from(body.to_string()) }
    }

    async fn ask(cache: &ResponseCache, version: i64, key: &str, body: &str) -> String {
        let made = cache.answer(version, key.into(), async { Ok::<_, ()>(answer(body)) }).await.unwrap();
        String::from_utf8(made.body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn answers_are_kept_until_the_store_version_changes() {
        let cache = ResponseCache::new(1);
        assert_eq!(ask(&cache, 1, "a", "first").await, "first");
        assert_eq!(ask(&cache, 1, "a", "second").await, "first");
        assert_eq!(ask(&cache, 2, "a", "third").await, "third");
        assert_eq!(cache.counts(), (1, 2));
        let failed = cache.answer(2, "b".into(), async { Err::<Answer, _>("no") }).await;
        assert!(failed.is_err());
        assert_eq!(ask(&cache, 2, "b", "made").await, "made", "failures are not kept");
    }

    #[tokio::test]
    async fn the_least_recently_used_answers_go_when_full() {
        let cache = ResponseCache::new(1);
        let half = "x".repeat(600 * 1024);
        ask(&cache, 1, "a", &half).await;
        ask(&cache, 1, "b", &half).await;
        assert_eq!(ask(&cache, 1, "a", "again").await, "again", "a was dropped to keep b");
        assert_eq!(ask(&cache, 1, "b", "again").await, half, "b is kept beside the small a");
        let off = ResponseCache::new(0);
        ask(&off, 1, "a", "one").await;
        assert_eq!(ask(&off, 1, "a", "two").await, "two");
    }
}
