//! Durations in the configuration, written the humantime way (`"30s"`, `"5m"`).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `"30s"`, `"5m"`, `"1h 30m"`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("invalid duration `{text}`: {e} (write e.g. `30s`, `5m`)")))
}
