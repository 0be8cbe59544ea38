//! Secrets that the operator gives inline, in a file (a mounted Kubernetes secret) or in an
//! environment variable. They are read once, when the sinks are built.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::settings::SettingsError;

/// Reads the one secret among `inline`, `file` and `env` that is given.
///
/// `key` is the settings key without suffix (`slack.bot_token`), used in messages;
/// `lookup` reads an environment variable (the process environment in production).
///
/// # Errors
/// [`SettingsError`] when none or several are given, the file cannot be read, or the
/// variable is unset or empty.
pub fn resolve(
    key: &str,
    inline: Option<&SecretString>,
    file: Option<&Path>,
    env: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, SettingsError> {
    let given = usize::from(inline.is_some()) + usize::from(file.is_some()) + usize::from(env.is_some());
    if given > 1 {
        return Err(SettingsError::invalid(format!(
            "give only one of `{key}`, `{key}_file` and `{key}_env`"
        )));
    }
    if let Some(secret) = inline {
        return Ok(Some(secret.clone()));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::SecretFileUnreadable {
            key: format!("{key}_file"),
            path: PathBuf::from(path),
            source,
        })?;
        let text = text.trim();
        if text.is_empty() {
            return Err(SettingsError::invalid(format!(
                "`{key}_file` `{}` is empty",
                path.display()
            )));
        }
        return Ok(Some(SecretString::from(text.to_owned())));
    }
    if let Some(name) = env {
        let value = lookup(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| SettingsError::SecretEnvMissing {
                key: format!("{key}_env"),
                name: name.to_owned(),
            })?;
        return Ok(Some(SecretString::from(value.trim().to_owned())));
    }
    Ok(None)
}
