//! The sessions the admin UI reuses (`{sessionId}` in its `auth`), Node's `InMemoryStore`
//! with two bounds Node does not have: an age and a count, so that logins cannot grow memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a session id stays valid (the lifetime of Node's `RedisStore` sessions).
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);
/// At most this many live sessions; the oldest is forgotten first.
pub(crate) const MAX_SESSIONS: usize = 1024;

/// Session ids with the instant each was issued. Time is passed in (tests use a base
/// `Instant` and offsets).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    issued: HashMap<String, Instant>,
}

impl Sessions {
    /// Whether `id` was issued and has not expired at `now`.
    pub(crate) fn is_valid(&self, id: &str, now: Instant) -> bool {
        self.issued
            .get(id)
            .is_some_and(|at| now.saturating_duration_since(*at) < SESSION_TTL)
    }

    /// Records a new session id; drops expired ones, then the oldest past [`MAX_SESSIONS`].
    pub(crate) fn insert(&mut self, id: String, now: Instant) {
        self.issued
            .retain(|_, at| now.saturating_duration_since(*at) < SESSION_TTL);
        while self.issued.len() >= MAX_SESSIONS {
            let oldest = self
                .issued
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.issued.remove(&id),
                None => break,
            };
        }
        self.issued.insert(id, now);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.issued.len()
    }
}

/// A new session id: 16 hex digits of randomness, like Node's `randomBytes(8)`.
pub(crate) fn new_session_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_until_it_expires() {
        let t0 = Instant::now();
        let mut sessions = Sessions::default();
        sessions.insert("a".into(), t0);
        assert!(sessions.is_valid("a", t0 + Duration::from_secs(10)));
        assert!(!sessions.is_valid("b", t0));
        assert!(!sessions.is_valid("a", t0 + SESSION_TTL));
    }

    #[test]
    fn sessions_are_bounded_oldest_first() {
        let t0 = Instant::now();
        let mut sessions = Sessions::default();
        for i in 0..MAX_SESSIONS + 10 {
            sessions.insert(format!("s{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        let now = t0 + Duration::from_secs(1);
        assert!(!sessions.is_valid("s0", now));
        assert!(!sessions.is_valid("s9", now));
        assert!(sessions.is_valid("s10", now));
        assert!(sessions.is_valid(&format!("s{}", MAX_SESSIONS + 9), now));
    }

    #[test]
    fn expired_sessions_are_dropped_on_insert() {
        let t0 = Instant::now();
        let mut sessions = Sessions::default();
        sessions.insert("old".into(), t0);
        sessions.insert("new".into(), t0 + SESSION_TTL);
        assert_eq!(sessions.len(), 1);
    }

    #[test]
    fn ids_are_16_hex_digits() {
        let id = new_session_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_session_id());
    }
}
