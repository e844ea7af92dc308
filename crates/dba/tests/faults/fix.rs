//! Applying a fix plan of two steps, stopped while its second step waits for a lock on the second table.

use dba::schema::{
    ApplyOptions, IntrospectOptions, PlanOptions, SchemaError, apply, introspect, parse_schema_sql,
    plan_fix, validate,
};
use std::time::Duration;

use crate::{DB, Fault, assert_connection_lost, assert_pool_sane, checksums, hold, inject, lab};

const SETUP: &str = "
CREATE TABLE fix_a (id serial PRIMARY KEY, v text NOT NULL);
CREATE TABLE fix_b (id serial PRIMARY KEY, v text NOT NULL);
INSERT INTO fix_a (v) SELECT 'a' || g FROM generate_series(1, 5000) g;
INSERT INTO fix_b (v) SELECT 'b' || g FROM generate_series(1, 5000) g;";

const EXPECTED: &str = "
CREATE TABLE fix_a (id serial PRIMARY KEY, v text NOT NULL, note text);
CREATE TABLE fix_b (id serial PRIMARY KEY, v text NOT NULL, score int DEFAULT 0);";

async fn fix_survives(fault: Fault) {
    let (cluster, adapter) = lab(SETUP).await;
    let tables = ["fix_a", "fix_b"];
    let before = checksums(&cluster, DB, &tables).await;
    let expected = parse_schema_sql(EXPECTED, "schema.sql").unwrap().catalog;
    let live = introspect(&adapter, &IntrospectOptions::default())
        .await
        .unwrap();
    let plan = plan_fix(&expected, &live, &PlanOptions::default()).unwrap();
    assert_eq!(plan.steps.len(), 2, "{}", plan.script());
    assert!(plan.steps[1].sql.contains("fix_b"), "{}", plan.script());
    let options = ApplyOptions {
        lock_timeout: Duration::from_secs(120),
        ..ApplyOptions::default()
    };

    // The first step (fix_a) runs; the second waits for the holder's lock on fix_b.
    let holder = hold(&cluster, DB, "LOCK TABLE fix_b IN ACCESS SHARE MODE").await;
    let (result, ()) = tokio::join!(
        apply(&plan, &adapter, &options),
        inject(&cluster, DB, fault, holder)
    );
    let err = result.expect_err("the fix must fail when its session ends");
    let SchemaError::StepFailed { number, source, .. } = &err else {
        panic!("expected StepFailed, got {err:?}");
    };
    assert_eq!(*number, 2, "{err}");
    assert_connection_lost(source);

    // The very next call on the same adapter works: the schema is exactly as before (both columns still
    // missing), and so is every row.
    let after = introspect(&adapter, &IntrospectOptions::default())
        .await
        .unwrap();
    assert_eq!(after, live, "the schema changed under a failed fix");
    assert_eq!(checksums(&cluster, DB, &tables).await, before);

    // And the fix succeeds.
    let report = apply(&plan, &adapter, &options).await.unwrap();
    assert_eq!(report.columns_added, 2);
    let now = introspect(&adapter, &IntrospectOptions::default())
        .await
        .unwrap();
    assert!(validate(&expected, &now).valid);
    assert_pool_sane(&adapter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_with_its_session_terminated() {
    fix_survives(Fault::Terminate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_with_the_server_restarted() {
    fix_survives(Fault::Restart).await;
}
