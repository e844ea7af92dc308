//! Applying a fix plan: every step in one transaction, verified before commit.

use std::time::Duration;

use dba_core::DatabaseClient;
use serde::{Deserialize, Serialize};

use crate::compare::{Difference, ValidationResult, validate};
use crate::error::SchemaError;
use crate::introspect::introspect;
use crate::model::Catalog;
use crate::plan::{FixPlan, StepKind};
use crate::views::render_views;

/// Limits of [`apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// `lock_timeout` for the transaction: a step waiting longer for a lock fails (and everything rolls back)
    /// instead of queueing behind, and blocking, the application's traffic. 5 s by default.
    pub lock_timeout: Duration,
    /// `statement_timeout` for each step. 5 minutes by default.
    pub statement_timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(300),
        }
    }
}

/// What a committed fix did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixReport {
    /// Steps run.
    pub steps_applied: usize,
    /// Tables created.
    pub tables_created: usize,
    /// Columns added.
    pub columns_added: usize,
    /// Error differences still present (allowed by the plan: not fixed, or NOT NULL columns with NULLs).
    /// Tables and columns still missing are in [`FixReport::validation`]; [`FixReport::is_complete`] counts
    /// them all.
    pub remaining: Vec<Difference>,
    /// The validation of the database after the fix, against the plan's target.
    pub validation: ValidationResult,
}

impl FixReport {
    /// Whether the database now matches the plan's target: nothing left, neither a [`remaining`]
    /// difference nor a table or column the plan left missing ([`FixPlan::tables_left_missing`],
    /// [`FixPlan::columns_left_missing`]).
    ///
    /// [`remaining`]: FixReport::remaining
    pub fn is_complete(&self) -> bool {
        self.validation.valid
    }
}

/// Runs `plan` on `client` in one transaction with `lock_timeout` and `statement_timeout`, re-introspects
/// inside the transaction and commits only if the result is what the plan promised: no missing table or
/// column it was meant to add (beyond [`FixPlan::tables_left_missing`] and [`FixPlan::columns_left_missing`]),
/// and no error difference beyond [`FixPlan::may_remain`].
///
/// On any failure the transaction is rolled back and the database is exactly as before:
/// [`SchemaError::StepFailed`] names the step and its table, [`SchemaError::VerificationFailed`] lists what
/// still differs. Backups are the caller's business; [`FixPlan::tables_to_back_up`] says which tables.
pub async fn apply(
    plan: &FixPlan,
    client: &dyn DatabaseClient,
    options: &ApplyOptions,
) -> Result<FixReport, SchemaError> {
    let caps = client.capabilities();
    if !caps.transactions || !caps.raw_sql {
        return Err(SchemaError::Unsupported {
            operation: "apply a fix plan",
        });
    }
    let tx = client.begin().await?;
    tx.execute(
        &format!(
            "SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{}ms'",
            options.lock_timeout.as_millis(),
            options.statement_timeout.as_millis()
        ),
        &[],
    )
    .await?;
    for (i, step) in plan.steps.iter().enumerate() {
        if let Err(source) = tx.execute(&step.sql, &[]).await {
            // Dropping would roll back too; an explicit rollback returns the connection cleanly.
            let _ = tx.rollback().await;
            return Err(SchemaError::StepFailed {
                number: i + 1,
                description: step.description.clone(),
                table: step.table.clone(),
                source,
            });
        }
    }
    let inner: &dyn DatabaseClient = &*tx;
    let after = match introspect(inner, &plan.introspect).await {
        Ok(after) => after,
        Err(e) => {
            let _ = tx.rollback().await;
            return Err(e);
        }
    };
    // The views the plan creates or replaces are rendered again, from the tables as the steps left them, so
    // they compare with what was just created. The others keep the rendering they were planned with, which
    // is what they were compared by before (a `SELECT *` view the plan does not touch may now render with a
    // new column; that drift is for the next validation to report, not a reason to undo this fix).
    let mut target = plan.target.clone();
    let mut rendered = Catalog {
        views: plan
            .steps
            .iter()
            .filter_map(|s| s.view.as_ref())
            .filter_map(|k| target.views.get(k).map(|v| (k.clone(), v.clone())))
            .collect(),
        ..Catalog::default()
    };
    if let Err(e) = render_views(inner, &mut rendered).await {
        let _ = tx.rollback().await;
        return Err(e);
    }
    target.views.extend(rendered.views);
    let validation = validate(&target, &after);
    let mut unexpected: Vec<String> = Vec::new();
    for t in &validation.missing_tables {
        if !plan.tables_left_missing.contains(t) {
            unexpected.push(format!("table {t} is still missing"));
        }
    }
    for c in &validation.missing_columns {
        if !plan
            .columns_left_missing
            .iter()
            .any(|l| l.table == c.table && l.column == c.column)
        {
            unexpected.push(format!("column {}.{} is still missing", c.table, c.column));
        }
    }
    let remaining: Vec<Difference> = validation.errors().cloned().collect();
    for d in &remaining {
        if !plan.may_remain.iter().any(|m| same_drift(m, d)) {
            unexpected.push(d.to_string());
        }
    }
    if !unexpected.is_empty() {
        let _ = tx.rollback().await;
        return Err(SchemaError::VerificationFailed {
            summary: unexpected.join("; "),
        });
    }
    tx.commit().await?;
    let count = |kind: StepKind| plan.steps.iter().filter(|s| s.kind == kind).count();
    Ok(FixReport {
        steps_applied: plan.steps.len(),
        tables_created: count(StepKind::CreateTable),
        columns_added: count(StepKind::AddColumn),
        remaining,
        validation,
    })
}

/// Whether `after` is the drift `allowed` that the plan left alone. A changed view counts by its name: its
/// expected side may have been rendered only now, so its text can differ from the plan's copy.
fn same_drift(allowed: &Difference, after: &Difference) -> bool {
    match (allowed, after) {
        (Difference::ViewChanged { view: a, .. }, Difference::ViewChanged { view: b, .. }) => {
            a == b
        }
        _ => allowed == after,
    }
}
