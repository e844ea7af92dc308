//! `dba profiles`: the profiles of db.toml, the selected one marked `*`. Never touches a database.

use serde_json::json;

use crate::cmd::Report;
use crate::ctx::Ctx;

pub(crate) fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.require_config()?;
    let current = match ctx.resolver().resolve(Some(&config)) {
        Ok(resolved) => resolved.profile,
        Err(err) => {
            out.verbose(format!("no current profile: {err}"));
            None
        }
    };
    let mut rows = Vec::new();
    let mut list = Vec::new();
    for profile in config.profiles() {
        let is_current = current.as_deref() == Some(profile.name());
        rows.push(vec![
            if is_current { "*" } else { "" }.to_owned(),
            profile.name().to_owned(),
            profile.provider().to_string(),
            profile.description().to_owned(),
        ]);
        list.push(json!({
            "name": profile.name(),
            "provider": profile.provider().to_string(),
            "description": profile.description(),
            "current": is_current,
        }));
    }
    out.table(
        Some("Database Profiles"),
        Some(&["", "Profile", "Provider", "Description"]),
        &rows,
        &[],
    )?;
    if current.is_some() {
        out.blank()?;
        out.line("* = current profile")?;
    }
    Ok(Report::ok(json!({
        "config": config.path().display().to_string(),
        "current": current,
        "profiles": list,
    })))
}
