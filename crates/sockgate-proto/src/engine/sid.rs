use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::session::SessionConfig;

/// Length of an Engine.IO session id: 15 random bytes in base64url.
pub const SID_LEN: usize = 20;

/// An Engine.IO session id: 20 base64url characters, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; SID_LEN]);

impl Sid {
    /// Builds a sid from 15 random bytes (the caller owns the randomness; this crate has none).
    pub fn from_random(bytes: [u8; 15]) -> Self {
        let mut out = [0u8; SID_LEN];
        // 15 bytes encode to exactly 20 base64 characters, so this cannot fail.
        let written = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut out)
            .unwrap_or_default();
        debug_assert_eq!(written, SID_LEN);
        Sid(out)
    }

    /// Parses a sid received from a client; `None` when it cannot be one of ours.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != SID_LEN
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return None;
        }
        let mut out = [0u8; SID_LEN];
        out.copy_from_slice(bytes);
        Some(Sid(out))
    }

    /// The sid as text.
    pub fn as_str(&self) -> &str {
        // Only base64url characters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

/// The longest `pingInterval` and `pingTimeout` the handshake advertises: 2^30 − 1 ms (about
/// 12.4 days); longer settings are advertised as this.
///
/// Why: a client arms one timer for `pingInterval + pingTimeout`, and JavaScript's
/// `setTimeout` fires *at once* when the delay exceeds 2^31 − 1 ms, so advertising
/// `Duration::MAX` (a "never" setting) would make every official client time out right after
/// connecting. Two clamped values still add up to less than 2^31 ms.
pub const MAX_ADVERTISED_HEARTBEAT: Duration = Duration::from_millis((1 << 30) - 1);

/// The body of the Engine.IO `open` packet (without the leading `0`), with exactly the keys
/// `sid`, `upgrades`, `pingInterval`, `pingTimeout` and `maxPayload`, in Node's order.
/// `pingInterval` and `pingTimeout` are clamped to [`MAX_ADVERTISED_HEARTBEAT`].
pub fn handshake_json(sid: Sid, upgrades: &[&str], config: &SessionConfig) -> String {
    let upgrades = serde_json::to_string(upgrades).unwrap_or_else(|_| "[]".to_owned());
    format!(
        r#"{{"sid":"{}","upgrades":{},"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
        sid,
        upgrades,
        config
            .ping_interval
            .min(MAX_ADVERTISED_HEARTBEAT)
            .as_millis(),
        config
            .ping_timeout
            .min(MAX_ADVERTISED_HEARTBEAT)
            .as_millis(),
        config.max_payload
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_is_20_base64url_chars() {
        let sid = Sid::from_random([0xff; 15]);
        assert_eq!(sid.as_str(), "____________________");
        let sid = Sid::from_random([0xfb; 15]);
        assert_eq!(sid.as_str().len(), 20);
        assert!(sid.as_str().contains('-'));
        assert_eq!(Sid::parse(sid.as_str()), Some(sid));
    }

    #[test]
    fn parse_rejects_foreign_ids() {
        assert_eq!(Sid::parse("short"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa+"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaaaa"), None);
    }

    #[test]
    fn handshake_has_exact_keys() {
        let config = SessionConfig::default();
        let json = handshake_json(Sid::from_random([0; 15]), &["websocket"], &config);
        assert_eq!(
            json,
            r#"{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 5);
    }

    #[test]
    fn handshake_clamps_huge_heartbeats_below_the_javascript_timer_limit() {
        let config = SessionConfig {
            ping_interval: Duration::MAX,
            ping_timeout: Duration::MAX,
            ..SessionConfig::default()
        };
        let json = handshake_json(Sid::from_random([0; 15]), &[], &config);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let interval = value["pingInterval"].as_u64().unwrap();
        let timeout = value["pingTimeout"].as_u64().unwrap();
        assert_eq!(interval, (1 << 30) - 1);
        assert_eq!(timeout, (1 << 30) - 1);
        // The client's timer (interval + timeout) stays within `setTimeout`'s 2^31 - 1 ms.
        assert!(interval + timeout < (1 << 31));
    }
}
