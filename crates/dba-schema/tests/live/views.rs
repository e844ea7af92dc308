//! Views compared by what their queries mean (PostgreSQL's own rendering), and replaced in place when the
//! hazard is opted into and their columns allow it.

use dba_core::DatabaseClient;
use dba_schema::{
    ApplyOptions, Catalog, Difference, Hazard, IntrospectOptions, PlanOptions, StepKind, apply,
    introspect, parse_schema_sql, plan_fix, render_views, validate,
};
use dba_testkit::test_path;

use crate::setup;

const EXPECTED: &str = "\
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2) DEFAULT 0);
-- Another price limit: the same columns, so it can be replaced in place.
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10;
-- The live view's meaning, spelled differently: no drift.
create view everything as
    select items.id, items.name, items.price
    from items;
-- The columns swap places, which CREATE OR REPLACE VIEW cannot do.
CREATE VIEW narrow AS SELECT name, id FROM items;
-- Column names after the view's name, the live view's meaning.
CREATE VIEW renamed (key, label) AS SELECT id, name FROM items;
-- A materialized view with another query.
CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM items WHERE price > 0;
";

async fn live(client: &dyn DatabaseClient) -> Catalog {
    introspect(client, &IntrospectOptions::default())
        .await
        .unwrap()
}

fn changed_views(differences: &[Difference]) -> Vec<String> {
    differences
        .iter()
        .filter_map(|d| match d {
            Difference::ViewChanged { view, .. } => Some(view.clone()),
            _ => None,
        })
        .collect()
}

async fn rows(client: &dyn DatabaseClient, sql: &str) -> usize {
    client.query(sql, &[]).await.unwrap().len()
}

#[tokio::test]
async fn views_are_compared_by_their_rendered_definition() {
    let (db, adapter) = setup(test_path!("views_by_definition"), &["views"]).await;
    let mut expected = parse_schema_sql(EXPECTED, "schema.sql").unwrap().catalog;
    let not_rendered = render_views(&adapter, &mut expected).await.unwrap();
    assert!(not_rendered.is_empty(), "{not_rendered:?}");
    // Rendering left nothing behind.
    assert_eq!(
        rows(
            &adapter,
            "SELECT 1 FROM pg_class WHERE relname = '_dba_render_view'"
        )
        .await,
        0
    );
    let actual = live(&adapter).await;
    let result = validate(&expected, &actual);
    assert!(!result.valid);
    assert_eq!(
        changed_views(&result.differences),
        ["cheap", "narrow", "totals"],
        "{}",
        result.format_report()
    );
    assert!(
        result
            .format_report()
            .contains("cheap: view is `SELECT items.id, items.name FROM items WHERE items.price < 5::numeric`, expected `SELECT items.id, items.name FROM items WHERE items.price < 10::numeric`"),
        "{}",
        result.format_report()
    );

    // By default no existing view is altered; each is reported with its reason.
    let plan = plan_fix(&expected, &actual, &PlanOptions::default()).unwrap();
    assert!(plan.steps.is_empty(), "{}", plan.script());
    let reasons: Vec<(String, String)> = plan
        .not_fixed
        .iter()
        .map(|n| {
            (
                n.subject.split(':').next().unwrap().to_owned(),
                n.reason.clone(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, "cheap");
    assert!(reasons[0].1.contains("opt into that hazard"), "{reasons:?}");
    assert_eq!(reasons[1].0, "narrow");
    assert!(
        reasons[1]
            .1
            .contains("columns change from (id integer, name text) to (name text, id integer)"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2].0, "totals");
    assert!(reasons[2].1.contains("materialized view"), "{reasons:?}");

    // With the lock hazard, the one view whose columns allow it is replaced; the others remain, as allowed.
    let options = PlanOptions {
        max_hazard: Hazard::Lock,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &options).unwrap();
    assert_eq!(plan.steps.len(), 1, "{}", plan.script());
    assert_eq!(plan.steps[0].kind, StepKind::ReplaceView);
    assert_eq!(plan.steps[0].hazard, Hazard::Lock);
    assert_eq!(
        plan.steps[0].sql,
        "CREATE OR REPLACE VIEW \"public\".\"cheap\" AS SELECT id, name FROM items WHERE price < 10"
    );
    assert_eq!(rows(&adapter, "SELECT * FROM cheap").await, 1);
    let report = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(changed_views(&report.remaining), ["narrow", "totals"]);
    assert_eq!(rows(&adapter, "SELECT * FROM cheap").await, 2);
    let after = validate(&expected, &live(&adapter).await);
    assert_eq!(changed_views(&after.differences), ["narrow", "totals"]);
    drop(adapter);
    db.drop_db().await;
}

#[tokio::test]
async fn a_view_that_cannot_be_rendered_is_compared_by_name_and_a_star_view_follows_new_columns() {
    let (db, adapter) = setup(test_path!("view_not_rendered"), &["views"]).await;
    // `gone` reads a table that does not exist, so PostgreSQL cannot render it: it is compared by name only,
    // and reported missing. `everything` is `SELECT *`, which means three columns now and four once the
    // plan has added `note`.
    let sql = "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2) DEFAULT 0, \
               note text);\n\
               CREATE VIEW everything AS SELECT * FROM items;\n\
               CREATE VIEW gone AS SELECT * FROM nowhere;\n";
    let mut expected = parse_schema_sql(sql, "schema.sql").unwrap().catalog;
    let not_rendered = render_views(&adapter, &mut expected).await.unwrap();
    assert_eq!(not_rendered.keys().collect::<Vec<_>>(), ["gone"]);
    assert!(not_rendered["gone"].contains("nowhere"), "{not_rendered:?}");
    let actual = live(&adapter).await;
    let result = validate(&expected, &actual);
    assert!(
        changed_views(&result.differences).is_empty(),
        "{}",
        result.format_report()
    );
    assert!(
        result.differences.contains(&Difference::MissingView {
            view: "gone".to_owned()
        }),
        "{}",
        result.format_report()
    );
    expected.views.remove("gone");

    // The fix adds the column and leaves the view alone: the verification compares the view as planned.
    let plan = plan_fix(&expected, &actual, &PlanOptions::default()).unwrap();
    assert_eq!(plan.steps.len(), 1, "{}", plan.script());
    assert_eq!(plan.steps[0].kind, StepKind::AddColumn);
    apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();

    // Rendered again, schema.sql's `SELECT *` now has four columns: drift, which a replacement fixes
    // because the new column comes last.
    let mut expected = parse_schema_sql(sql, "schema.sql").unwrap().catalog;
    expected.views.remove("gone");
    render_views(&adapter, &mut expected).await.unwrap();
    let actual = live(&adapter).await;
    assert_eq!(
        changed_views(&validate(&expected, &actual).differences),
        ["everything"]
    );
    let options = PlanOptions {
        max_hazard: Hazard::Lock,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &options).unwrap();
    assert_eq!(plan.steps.len(), 1, "{}", plan.script());
    assert_eq!(plan.steps[0].kind, StepKind::ReplaceView);
    assert_eq!(plan.steps[0].view.as_deref(), Some("everything"));
    let report = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.remaining.is_empty(), "{:?}", report.remaining);
    assert!(validate(&expected, &live(&adapter).await).valid);
    let columns = adapter
        .query("SELECT * FROM everything", &[])
        .await
        .unwrap();
    assert_eq!(
        columns[0].keys().collect::<Vec<_>>(),
        ["id", "name", "price", "note"]
    );
    drop(adapter);
    db.drop_db().await;
}
