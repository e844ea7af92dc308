//! Transactions through the trait: commit, rollback, drop, savepoints, isolation between tasks.

use std::time::Duration;

use dba_core::{DatabaseClient, ErrorKind, Filter, json};
use dba_testkit::test_path;

use crate::{row, setup};

async fn names(db: &dyn DatabaseClient) -> Vec<String> {
    let rows = db
        .query("SELECT slug FROM categories ORDER BY slug", &[])
        .await
        .unwrap();
    rows.iter()
        .map(|r| r["slug"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn commit_rollback_and_drop() {
    let (db, pg) = setup(test_path!("commit_rollback_and_drop"), &["shop"]).await;
    let tx = pg.begin().await.unwrap();
    tx.insert("categories", &row(json!({"slug": "a", "name": "A"})))
        .await
        .unwrap();
    assert_eq!(names(&*tx).await, ["a"]);
    assert!(
        names(&pg).await.is_empty(),
        "uncommitted rows are invisible outside"
    );
    tx.commit().await.unwrap();
    assert_eq!(names(&pg).await, ["a"]);

    let tx = pg.begin().await.unwrap();
    tx.insert("categories", &row(json!({"slug": "b", "name": "B"})))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(names(&pg).await, ["a"]);

    {
        let tx = pg.begin().await.unwrap();
        tx.insert("categories", &row(json!({"slug": "c", "name": "C"})))
            .await
            .unwrap();
    }
    // The rollback of a dropped transaction runs on the runtime; give it a moment, then prove the
    // connection went back to the pool clean.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(names(&pg).await, ["a"]);
    let status = pg.pool_status();
    assert_eq!(
        status.size, status.available,
        "every connection is back in the pool"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_failed_statement_refuses_commit() {
    let (db, pg) = setup(test_path!("a_failed_statement_refuses_commit"), &["shop"]).await;
    let tx = pg.begin().await.unwrap();
    tx.insert("categories", &row(json!({"slug": "a", "name": "A"})))
        .await
        .unwrap();
    let err = tx
        .insert("categories", &row(json!({"slug": "a", "name": "dup"})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation);
    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TransactionAborted);
    assert!(names(&pg).await.is_empty(), "nothing was committed");
    db.drop_db().await;
}

#[tokio::test]
async fn savepoints_nest() {
    let (db, pg) = setup(test_path!("savepoints_nest"), &["shop"]).await;
    let outer = pg.begin().await.unwrap();
    outer
        .insert("categories", &row(json!({"slug": "outer", "name": "O"})))
        .await
        .unwrap();

    let inner = outer.begin().await.unwrap();
    inner
        .insert("categories", &row(json!({"slug": "kept", "name": "K"})))
        .await
        .unwrap();
    inner.commit().await.unwrap();

    let inner = outer.begin().await.unwrap();
    inner
        .insert("categories", &row(json!({"slug": "undone", "name": "U"})))
        .await
        .unwrap();
    inner.rollback().await.unwrap();

    // A failing statement inside a savepoint does not poison the outer transaction.
    let inner = outer.begin().await.unwrap();
    assert!(
        inner
            .insert("categories", &row(json!({"slug": "outer", "name": "dup"})))
            .await
            .is_err()
    );
    assert_eq!(
        inner.commit().await.unwrap_err().kind(),
        ErrorKind::TransactionAborted
    );

    {
        let dropped = outer.begin().await.unwrap();
        dropped
            .insert("categories", &row(json!({"slug": "dropped", "name": "D"})))
            .await
            .unwrap();
        let deeper = dropped.begin().await.unwrap();
        deeper
            .insert("categories", &row(json!({"slug": "deeper", "name": "D2"})))
            .await
            .unwrap();
    }
    assert_eq!(names(&*outer).await, ["kept", "outer"]);
    outer.commit().await.unwrap();
    assert_eq!(names(&pg).await, ["kept", "outer"]);
    db.drop_db().await;
}

/// A savepoint's start and release wait to go with the next statement: savepoints begun and ended with
/// nothing run inside them, or ended just before another begins, still nest as they were opened.
#[tokio::test]
async fn savepoints_with_nothing_run_inside_still_nest() {
    let (db, pg) = setup(
        test_path!("savepoints_with_nothing_run_inside_still_nest"),
        &["shop"],
    )
    .await;
    let outer = pg.begin().await.unwrap();
    let a = outer.begin().await.unwrap();
    let b = a.begin().await.unwrap();
    b.commit().await.unwrap();
    let c = a.begin().await.unwrap();
    c.rollback().await.unwrap();
    a.insert("categories", &row(json!({"slug": "in-a", "name": "A"})))
        .await
        .unwrap();
    a.rollback().await.unwrap();
    assert!(names(&*outer).await.is_empty(), "a's insert was undone");

    let d = outer.begin().await.unwrap();
    d.insert("categories", &row(json!({"slug": "in-d", "name": "D"})))
        .await
        .unwrap();
    d.commit().await.unwrap();
    // d's release is still queued: a failing statement right after it fails alone, in its savepoint.
    let e = outer.begin().await.unwrap();
    assert!(
        e.insert("categories", &row(json!({"slug": "in-d", "name": "dup"})))
            .await
            .is_err()
    );
    e.rollback().await.unwrap();
    outer.commit().await.unwrap();
    assert_eq!(names(&pg).await, ["in-d"]);
    db.drop_db().await;
}

#[tokio::test]
async fn concurrent_tasks_never_share_a_transaction() {
    let (db, pg) = setup(
        test_path!("concurrent_tasks_never_share_a_transaction"),
        &["shop"],
    )
    .await;
    let tx = pg.begin().await.unwrap();
    tx.insert("categories", &row(json!({"slug": "in-tx", "name": "T"})))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pg = pg.clone();
        tasks.push(tokio::spawn(async move {
            pg.insert(
                "categories",
                &row(json!({"slug": format!("task-{i}"), "name": "N"})),
            )
            .await
            .unwrap();
            pg.count("categories", &Filter::new().eq("slug", "in-tx"))
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            0,
            "a task outside the transaction never sees its rows"
        );
    }
    tx.rollback().await.unwrap();
    assert_eq!(
        pg.count("categories", &Filter::new()).await.unwrap(),
        8,
        "the tasks' own writes committed"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn code_written_for_the_trait_runs_inside_a_transaction() {
    let (db, pg) = setup(
        test_path!("code_written_for_the_trait_runs_inside_a_transaction"),
        &["shop"],
    )
    .await;
    let tx = pg.begin().await.unwrap();
    dba_testkit::contract::crud_contract(&*tx, dba_testkit::contract::SHOP).await;
    tx.rollback().await.unwrap();
    assert_eq!(pg.count("categories", &Filter::new()).await.unwrap(), 0);
    db.drop_db().await;
}
