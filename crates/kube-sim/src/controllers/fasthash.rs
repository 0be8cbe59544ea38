//! A small, fast, non-cryptographic hasher for the controllers' per-pass lookup tables, whose
//! keys are short strings (uids, namespaces) and object addresses made by the simulator
//! itself. The tables are only ever looked up, never iterated in an order that reaches the
//! output, so the hash function cannot change what a pass does.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The multiplier of the FxHash family (as in `rustc-hash` 2).
const SEED: u64 = 0xf135_7aea_2e62_a9c5;

/// A word-at-a-time multiplicative hasher.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = self.0.wrapping_add(word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
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
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The low bits of a product depend only on the low bits of its factors (and object
        // addresses are aligned): rotate the well-mixed high bits down.
        self.0.rotate_left(26)
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, Hash};

    use super::*;

    fn hash<T: Hash + ?Sized>(value: &T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(value)
    }

    #[test]
    fn strings_that_differ_anywhere_hash_differently() {
        let base = "0b6f1c2e-7d3a-4c59-9e21-5f0d8a7b6c4e";
        let mut seen = FastSet::default();
        seen.insert(hash(base));
        for i in 0..base.len() {
            let mut changed = base.as_bytes().to_vec();
            changed[i] ^= 1;
            let changed = String::from_utf8(changed).unwrap_or_default();
            assert!(seen.insert(hash(changed.as_str())), "a change at byte {i} collided");
        }
        assert_ne!(hash("ab"), hash("ab\0"), "a trailing zero byte changes the hash");
    }

    #[test]
    fn aligned_addresses_spread_over_the_low_bits() {
        let low_bits: FastSet<u64> = (0..256usize)
            .map(|i| hash(&(0x7f00_0000_0000 + i * 64)) & 0xff)
            .collect();
        assert!(low_bits.len() > 128, "only {} of 256 buckets used", low_bits.len());
    }

    #[test]
    fn maps_with_string_keys_find_what_was_inserted() {
        let mut map: FastMap<&str, usize> = FastMap::default();
        let keys: Vec<String> = (0..1000).map(|i| format!("pod-{i}")).collect();
        for (i, k) in keys.iter().enumerate() {
            map.insert(k, i);
        }
        assert!(keys.iter().enumerate().all(|(i, k)| map.get(k.as_str()) == Some(&i)));
        assert_eq!(map.get("pod-1000"), None);
    }
}
