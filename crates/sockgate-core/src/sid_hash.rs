//! A hasher for maps keyed by [`Sid`](crate::Sid): the per-recipient lookups of a broadcast
//! hash one sid each, and SipHash (std's default) cost about 230 instructions of the ~3,200 a
//! delivery took (callgrind, broadcast to 200 clients); this one costs a few dozen.
//!
//! Why it need not resist collision attacks: the keys of these maps are socket ids a server
//! drew from its own randomness (20 base64url characters of 15 random bytes; this node's, a
//! cluster peer's, or a recovered session's, which the server also drew once), never chosen
//! by a client, so nobody can fill a map with colliding keys. Maps whose keys a client chooses keep
//! std's `RandomState`.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// Builds a [`SidHasher`]; stateless, so maps using it carry no seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct SidBuildHasher;

impl BuildHasher for SidBuildHasher {
    type Hasher = SidHasher;

    fn build_hasher(&self) -> SidHasher {
        SidHasher(0)
    }
}

/// A multiply-rotate hasher (the "Fx" scheme of rustc) over 8-byte words, with a final mix so
/// that the low bits hashbrown picks buckets with depend on every input word.
#[derive(Debug, Clone, Copy, Default)]
pub struct SidHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl SidHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for SidHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 32)).wrapping_mul(SEED) ^ (h >> 29)
    }
}

/// A map keyed by server-drawn sids (see the module docs).
pub type SidMap<V> = HashMap<crate::Sid, V, SidBuildHasher>;

/// A set of server-drawn sids (see the module docs).
pub type SidSet = HashSet<crate::Sid, SidBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sid;

    #[test]
    fn sids_spread_over_buckets() {
        // 4,096 sids from distinct random-looking bytes: the low 12 bits of their hashes (the
        // bucket index of a 4,096-bucket table) must not pile up.
        let mut buckets = vec![0u32; 4096];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..4096 {
            let mut bytes = [0u8; 15];
            for b in &mut bytes {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let sid = Sid::from_random(bytes);
            buckets[(SidBuildHasher.hash_one(sid) & 4095) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| n <= 8),
            "a bucket got more than 8 of 4,096 sids"
        );
    }

    #[test]
    fn a_map_finds_what_it_holds() {
        let mut map = SidMap::default();
        let a = Sid::from_random([1; 15]);
        let b = Sid::from_random([2; 15]);
        map.insert(a, 1);
        map.insert(b, 2);
        assert_eq!(map.get(&a), Some(&1));
        assert_eq!(map.get(&b), Some(&2));
        assert_eq!(map.get(&Sid::from_random([3; 15])), None);
    }
}
