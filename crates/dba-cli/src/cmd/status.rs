//! `dba status`: which profile the one rule selects, where the choice came from, and its tables' row counts.
//! Exits 1 when the selected database cannot be reached (or the config file itself is broken), else 0, also
//! when nothing is selected.

use dba::config::{Config, ConfigError};
use serde_json::json;

use crate::cmd::Report;
use crate::counts;
use crate::ctx::{Ctx, source_label};

pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.config()?;
    let resolver = ctx.resolver();
    let resolved = match ctx.resolve(config.as_ref()) {
        Ok(resolved) => resolved,
        Err(err) => return unresolved(ctx, &resolver.profile_var(), err),
    };

    let mut rows = vec![
        vec!["Current profile".to_owned(), resolved.display_target()],
        vec!["Profile source".to_owned(), source_label(&resolved.source)],
        vec!["Provider".to_owned(), resolved.provider.to_string()],
    ];
    if !resolved.description.is_empty() {
        rows.push(vec!["Description".to_owned(), resolved.description.clone()]);
    }

    let (connected, connection_error, counts) = match ctx.connect(&resolved).await {
        Ok(client) => {
            let counts = counts::row_counts(client.as_ref(), resolved.schema()).await;
            client.close().await;
            match counts {
                Ok(counts) => (true, None, counts.unwrap_or_default()),
                Err(err) => {
                    out.warn(format!("could not count rows: {err}"));
                    (true, None, Vec::new())
                }
            }
        }
        Err(err) => {
            let message = crate::exit::render(&err);
            out.warn(format!("cannot reach the database: {message}"));
            (false, Some(message), Vec::new())
        }
    };
    rows.push(vec![
        "Connection".to_owned(),
        if connected { "ok" } else { "failed" }.to_owned(),
    ]);
    out.table(Some("Connection Status"), None, &rows, &[])?;
    counts::print_counts(out, &counts)?;

    let fields = json!({
        "profile": resolved.profile,
        "target": resolved.display_target(),
        "source": resolved.source.to_string(),
        "provider": resolved.provider.to_string(),
        "description": resolved.description,
        "warning": null,
        "connected": connected,
        "connection_error": connection_error,
        "tables": counts::counts_json(&counts),
    });
    // Scripts run `dba status` to learn whether the database answers.
    Ok(if connected {
        Report::ok(fields)
    } else {
        Report::failed(fields)
    })
}

/// Status when no database could be resolved: no selection at all, or a selection the config cannot
/// satisfy (no db.toml, a profile it lacks). Still exit 0, as in the original.
fn unresolved(ctx: &Ctx, profile_var: &str, err: anyhow::Error) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let (name, from, warning) = match err.downcast_ref::<ConfigError>() {
        Some(ConfigError::NothingSelected { .. }) => {
            out.line("No validated profile.")?;
            out.line(format!("Run: {profile_var}=<name> dba connect"))?;
            return Ok(Report::ok(json!({
                "profile": null,
                "source": null,
                "warning": "no profile selected",
                "connected": false,
                "tables": {},
            })));
        }
        Some(ConfigError::NoConfig { name, from }) => (
            name.clone(),
            from.clone(),
            format!(
                "{} not found",
                Config::locate(ctx.global.config.as_deref()).display()
            ),
        ),
        Some(ConfigError::ProfileNotFound {
            name, from, path, ..
        }) => (
            name.clone(),
            from.clone(),
            format!("profile not in {}", path.display()),
        ),
        _ => return Err(err),
    };
    let source = from.unwrap_or_else(|| "--profile".to_owned());
    let rows = vec![
        vec!["Current profile".to_owned(), name.clone()],
        vec!["Profile source".to_owned(), source.clone()],
        vec!["Warning".to_owned(), warning.clone()],
    ];
    out.table(Some("Connection Status"), None, &rows, &[])?;
    Ok(Report::ok(json!({
        "profile": name,
        "source": source,
        "warning": warning,
        "connected": false,
        "tables": {},
    })))
}
