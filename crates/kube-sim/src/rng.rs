//! Deterministic pseudo-random numbers for uids, name suffixes and event names.
//!
//! kube-sim has no other source of randomness: every uid and every generated name comes from a
//! [`SimRng`] seeded with `--seed`, so the same seed and the same sequence of requests give the
//! same objects. The generator is SplitMix64, which is tiny, fast and good enough for names.

/// The alphabet Kubernetes uses for generated name suffixes and `pod-template-hash` values
/// (`k8s.io/apimachinery/pkg/util/rand`): consonants and digits that cannot spell words.
pub const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A deterministic SplitMix64 generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random (version 4, variant 1) UUID in its canonical lowercase text form.
    pub fn uid(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// `n` characters drawn from [`NAME_ALPHABET`], as appended to `metadata.generateName`.
    pub fn suffix(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                let index = (self.next_u64() % NAME_ALPHABET.len() as u64) as usize;
                char::from(NAME_ALPHABET[index])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let mut a = SimRng::new(42);
        let mut b = SimRng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_eq!(a.uid(), b.uid());
        assert_eq!(a.suffix(5), b.suffix(5));
    }

    #[test]
    fn different_seeds_give_different_sequences() {
        assert_ne!(SimRng::new(1).next_u64(), SimRng::new(2).next_u64());
    }

    #[test]
    fn uids_are_version_four_uuids() {
        let mut rng = SimRng::new(7);
        for _ in 0..50 {
            let uid = rng.uid();
            let parts: Vec<&str> = uid.split('-').collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
            assert!(parts[2].starts_with('4'), "{uid}");
            assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'), "{uid}");
            assert!(
                uid.chars()
                    .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn suffixes_use_only_the_name_alphabet() {
        let mut rng = SimRng::new(3);
        let s = rng.suffix(1000);
        assert_eq!(s.len(), 1000);
        assert!(s.bytes().all(|b| NAME_ALPHABET.contains(&b)));
        // Every letter of the alphabet shows up in a long enough draw.
        assert!(NAME_ALPHABET.iter().all(|b| s.as_bytes().contains(b)));
    }
}
