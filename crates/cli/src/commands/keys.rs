//! `sommelier keys …`: API keys, user tokens and the audit log, straight on
//! the store (a running server picks changes up within a second).

use super::{config, open};
use crate::args::{Cli, KeysCommand};
use sommelier_auth::{Scopes, ServerSecret, TokenSigner, create_key, revoke_key};
use sommelier_engine::Engine;
use std::process::ExitCode;

pub(crate) fn run(cli: &Cli, c: &KeysCommand) -> anyhow::Result<ExitCode> {
    let engine = open(config(cli, None)?)?;
    match c {
        KeysCommand::Create { name, scopes, rate } => {
            let scopes = Scopes::parse(scopes).map_err(anyhow::Error::msg)?;
            let k = create_key(engine.store(), name, scopes, *rate, "cli")?;
            eprintln!(
                "created key {} `{}` with scopes {} (shown only now; store it safely):",
                k.info.id, k.info.name, k.info.scopes
            );
            println!("{}", k.key);
        }
        KeysCommand::List => {
            for k in engine.store().api_keys()? {
                let state = match k.revoked_ms {
                    Some(at) => format!("revoked {}", sommelier_types::Timestamp(at)),
                    None => "live".into(),
                };
                println!(
                    "{}  {:<20} {:<18} {}  created {}",
                    k.id,
                    k.name,
                    k.scopes,
                    state,
                    sommelier_types::Timestamp(k.created_ms)
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !revoke_key(engine.store(), id, "cli")? {
                anyhow::bail!("no live key with id `{id}` (see `sommelier keys list`)");
            }
            println!("revoked {id}");
        }
        KeysCommand::Token { user, ttl } => {
            sommelier_types::UserId::new(user.as_str()).map_err(|e| anyhow::anyhow!("user {e}"))?;
            let signer = signer(&engine)?;
            let now = sommelier_types::Timestamp::now().0 / 1000;
            println!("{}", signer.sign(user, *ttl, now)?);
        }
        KeysCommand::Audit { after, n } => {
            for e in engine.store().audit_log(*after, *n)? {
                println!(
                    "{:>6}  {}  {:<22} {:<34} {:<30} {}",
                    e.seq,
                    sommelier_types::Timestamp(e.at_ms),
                    e.actor,
                    e.action,
                    e.target,
                    e.outcome
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The user-token signer the server of this data folder uses.
pub(crate) fn signer(engine: &Engine) -> anyhow::Result<TokenSigner> {
    let cfg = engine.config();
    Ok(ServerSecret::load_or_create(&cfg.data_dir)?
        .token_signer(&cfg.auth.token_secret, cfg.auth.max_token_ttl_secs))
}

/// The demo's keys, kept in `<data dir>/secrets/demo-keys.json` (0600) so a
/// second run reuses them: one for the web UI (`read,ingest`) and one for
/// the operator (`all`). Revoked or missing keys are made again.
pub(crate) fn demo_keys(engine: &Engine) -> anyhow::Result<(String, String)> {
    use sommelier_auth::{Scope, hash_key};
    let path = engine
        .config()
        .data_dir
        .join("secrets")
        .join("demo-keys.json");
    let live: std::collections::HashSet<String> = engine
        .store()
        .api_keys()?
        .into_iter()
        .filter(|k| k.revoked_ms.is_none())
        .map(|k| k.hash)
        .collect();
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let (Some(ui), Some(admin)) = (v["ui"].as_str(), v["admin"].as_str())
        && live.contains(&hash_key(ui))
        && live.contains(&hash_key(admin))
    {
        return Ok((ui.to_string(), admin.to_string()));
    }
    let ui = create_key(
        engine.store(),
        "demo web UI",
        Scopes::of(&[Scope::Read, Scope::Ingest]),
        None,
        "demo",
    )?;
    let admin = create_key(engine.store(), "demo operator", Scopes::all(), None, "demo")?;
    // The secrets folder, made private with the server secret.
    ServerSecret::load_or_create(&engine.config().data_dir)?;
    let body = serde_json::json!({ "ui": ui.key, "admin": admin.key }).to_string();
    sommelier_auth::write_private(&path, body.as_bytes())?;
    Ok((ui.key, admin.key))
}
