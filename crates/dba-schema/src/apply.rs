//! Applying a fix plan: every step in one transaction, verified before commit.

use std::time::Duration;

use dba_core::DatabaseClient;
use serde::{Deserialize, Serialize};

use crate::compare::{Difference, ValidationResult, validate};
use crate::error::SchemaError;
use crate::introspect::introspect;
use crate::plan::{FixPlan, StepKind};

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
    pub remaining: Vec<Difference>,
    /// The validation of the database after the fix, against the plan's target.
    pub validation: ValidationResult,
}

/// Runs `plan` on `client` in one transaction with `lock_timeout` and `statement_timeout`, re-introspects
/// inside the transaction and commits only if the result is what the plan promised: no missing table or
/// column it was meant to add, and no error difference beyond [`FixPlan::may_remain`].
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
    let validation = validate(&plan.target, &after);
    let mut unexpected: Vec<String> = Vec::new();
    for t in &validation.missing_tables {
        if !plan.tables_left_missing.contains(t) {
            unexpected.push(format!("table {t} is still missing"));
        }
    }
    for c in &validation.missing_columns {
        unexpected.push(format!("column {}.{} is still missing", c.table, c.column));
    }
    let remaining: Vec<Difference> = validation.errors().cloned().collect();
    for d in &remaining {
        if !plan.may_remain.contains(d) {
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
