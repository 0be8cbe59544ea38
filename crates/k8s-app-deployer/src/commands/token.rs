//! `token create|list|revoke`: API tokens, managed directly in the configured store.
//!
//! These commands do not talk to the API: they load the configuration the way `serve` does
//! (`--config`, then `K8S_APP_DEPLOYER_*` variables) and open its `[store]`, so that an
//! operator on the server host can create the first `admin:*` token before any token exists.
//! The new token is printed once, alone on standard output; everything else goes to standard
//! error.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deployer_auth::{Expiry, Scopes, TokenId, TokenName};
use deployer_server::config::{RawConfig, Settings, typed};
use deployer_store::{HistoryStore, StoreSettings, TokenListing};

use crate::cli::{TokenArgs, TokenCommand, TokenCreateArgs, TokenRevokeArgs};
use crate::console::{self, errln, outln};
use crate::exit;

/// Runs `token …`.
pub async fn run(args: TokenArgs) -> ExitCode {
    // What was typed is checked before the store is opened.
    let new_token = match &args.command {
        TokenCommand::Create(a) => match parse_create(a) {
            Ok(parsed) => Some(parsed),
            Err(code) => return code,
        },
        _ => None,
    };
    let store = match open_store(&args.config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match (args.command, new_token) {
        (TokenCommand::Create(_), Some(parsed)) => create(&*store, parsed).await,
        (TokenCommand::Revoke(a), _) => revoke(&*store, a).await,
        _ => list(&*store, args.json).await,
    }
}

/// The checked flags of `token create`.
struct NewToken {
    name: TokenName,
    scopes: Scopes,
    expiry: Expiry,
}

fn parse_create(args: &TokenCreateArgs) -> Result<NewToken, ExitCode> {
    let name = TokenName::new(&args.name).map_err(|e| rejected(e, None))?;
    let scopes = Scopes::parse_all(args.scopes.iter().map(String::as_str)).map_err(|e| {
        rejected(
            e,
            Some("a scope is `actions:targets`, e.g. `deploy:staging/*/*/api-*`, `read:*` or `admin:*`"),
        )
    })?;
    let expiry: Expiry = args.expires.parse().map_err(|e| rejected(e, None))?;
    Ok(NewToken { name, scopes, expiry })
}

fn rejected(message: impl std::fmt::Display, hint: Option<&str>) -> ExitCode {
    errln!("error: {message}");
    if let Some(h) = hint {
        errln!("\nhint: {h}");
    }
    ExitCode::from(exit::REJECTED)
}

async fn open_store(config: &std::path::Path) -> Result<Arc<dyn HistoryStore>, ExitCode> {
    let path = config.exists().then_some(config);
    if path.is_none() && config.as_os_str() != "deployer.toml" {
        return Err(rejected(
            format!("configuration file `{}` does not exist", config.display()),
            Some("pass the service's `--config PATH`"),
        ));
    }
    let settings = RawConfig::collect(path)
        .and_then(|raw| Settings::from_raw(&raw))
        .and_then(|s| typed::<StoreSettings>("store", toml::Value::Table(s.store.unwrap_or_default())));
    let store_settings = match settings {
        Ok(s) => s,
        Err(e) => {
            errln!("error: the configuration is invalid");
            for p in &e.problems {
                errln!("  {}: {}", p.key, p.message);
                if let Some(h) = &p.hint {
                    errln!("    hint: {h}");
                }
            }
            errln!("\nhint: run the command with the service's configuration file and environment");
            return Err(ExitCode::from(exit::REJECTED));
        }
    };
    deployer_store::open(&store_settings).await.map_err(|e| {
        errln!("error: cannot open the store `{}`: {e}", store_settings.url.redacted());
        ExitCode::from(exit::FAILED)
    })
}

async fn create(store: &dyn HistoryStore, new: NewToken) -> ExitCode {
    let NewToken { name, scopes, expiry } = new;
    match deployer_store::tokens::create(store, name, scopes, expiry, Utc::now()).await {
        Ok(issued) => {
            let r = &issued.record;
            errln!(
                "Created token `{}` named `{}` with scopes `{}`, {}.",
                r.id,
                r.name,
                r.scopes,
                expires_text(r.expires_at)
            );
            errln!("\nhint: this is the only time the token is shown; keep it in a secret store");
            if let Err(e) = console::write_out(format_args!("{}\n", issued.token.expose_secret())) {
                // Nobody has the secret: a token that cannot be shown is revoked, not left behind.
                let id = &r.id;
                let revoked = deployer_store::tokens::revoke(store, id, Utc::now()).await;
                errln!("error: cannot write the token to standard output: {e}");
                match revoked {
                    Ok(_) => errln!("\nhint: the token `{id}` was revoked again; run the command once more"),
                    Err(e) => errln!("\nhint: revoke the unseen token with `k8s-app-deployer token revoke {id}` ({e})"),
                }
                return ExitCode::from(exit::FAILED);
            }
            ExitCode::from(exit::SUCCEEDED)
        }
        Err(deployer_store::TokenCommandError::NoScopes) => rejected(
            "a token without scopes could do nothing",
            Some("give at least one `--scope`, e.g. `--scope read:*`"),
        ),
        Err(e) => {
            errln!("error: cannot create the token: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

fn expires_text(at: Option<DateTime<Utc>>) -> String {
    match at {
        Some(t) => format!("expires {}", t.format("%Y-%m-%dT%H:%MZ")),
        None => "never expires".to_owned(),
    }
}

fn time_text(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%dT%H:%MZ").to_string())
}

fn listing_json(l: &TokenListing) -> serde_json::Value {
    let r = &l.record;
    serde_json::json!({
        "id": r.id.as_str(),
        "name": r.name.as_str(),
        "status": l.status.as_str(),
        "scopes": r.scopes,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "revoked_at": r.revoked_at,
        "last_used_at": r.last_used_at,
    })
}

async fn list(store: &dyn HistoryStore, json: bool) -> ExitCode {
    let listings = match deployer_store::tokens::list(store, Utc::now()).await {
        Ok(l) => l,
        Err(e) => {
            errln!("error: cannot list the tokens: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    if json {
        let all: Vec<serde_json::Value> = listings.iter().map(listing_json).collect();
        outln!("{}", serde_json::Value::Array(all));
        return ExitCode::from(exit::SUCCEEDED);
    }
    outln!(
        "{:<8}  {:<24}  {:<7}  {:<17}  {:<17}  SCOPES",
        "ID",
        "NAME",
        "STATUS",
        "EXPIRES",
        "LAST USED"
    );
    for l in &listings {
        let r = &l.record;
        outln!(
            "{:<8}  {:<24}  {:<7}  {:<17}  {:<17}  {}",
            r.id,
            r.name,
            l.status.as_str(),
            time_text(r.expires_at),
            time_text(r.last_used_at),
            r.scopes
        );
    }
    ExitCode::from(exit::SUCCEEDED)
}

async fn revoke(store: &dyn HistoryStore, args: TokenRevokeArgs) -> ExitCode {
    // A whole leaked token is accepted too, and reduced to its id.
    let id = match TokenId::new(args.id.trim()) {
        Ok(id) => id,
        Err(e) => return rejected(e, Some("`token list` shows the ids")),
    };
    match deployer_store::tokens::revoke(store, &id, Utc::now()).await {
        Ok(record) => {
            errln!(
                "Revoked token `{}` named `{}` (revoked at {}); it is refused from now on.",
                record.id,
                record.name,
                time_text(record.revoked_at)
            );
            ExitCode::from(exit::SUCCEEDED)
        }
        Err(e @ deployer_store::TokenCommandError::NotFound(_)) => rejected(e, None),
        Err(e) => {
            errln!("error: cannot revoke the token: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}
