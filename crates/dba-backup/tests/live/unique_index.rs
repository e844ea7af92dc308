//! A natural key repeated in a file, restored into a table that was empty: found through the destination's
//! unique index when one covers only match-key columns (the chunk is refused in its savepoint, then redone
//! with its lookup), through the hashes of the inserted keys otherwise. Counts, rows and errors are the
//! same either way.

use dba_backup::{
    BackupError, BackupSchema, NoProgress, RestoreMode, RestoreOptions, TableDef, restore,
};
use dba_core::{DatabaseClient, Value, json};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::{TestDb, test_path};

use crate::{scalar, scratch};

/// Each destination table (a constraint, then a statement after it), and whether its unique index can
/// stand in for the lookup.
const VARIANTS: [(&str, &[&str], bool); 9] = [
    ("UNIQUE (user_id, slug)", &[], true),
    // Part of the match key (slug + user) is enough: rows equal on the whole key are equal on it.
    ("UNIQUE (slug)", &[], true),
    // Included columns are not part of the key.
    ("UNIQUE (slug, user_id) INCLUDE (name)", &[], true),
    // A column outside the match key: rows equal on the match key may differ there.
    ("UNIQUE (slug, name)", &[], false),
    (
        "UNIQUE (user_id, slug) DEFERRABLE INITIALLY DEFERRED",
        &[],
        false,
    ),
    (
        "",
        &["CREATE UNIQUE INDEX ON items (user_id, slug) WHERE slug <> ''"],
        false,
    ),
    (
        "",
        &["CREATE UNIQUE INDEX ON items (user_id, lower(slug))"],
        false,
    ),
    // A trigger could change what is stored.
    (
        "UNIQUE (user_id, slug)",
        &[
            "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
            "CREATE TRIGGER keep BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION keep()",
        ],
        false,
    ),
    ("", &[], false),
];

fn row(id: u64, slug: &str, name: &str) -> Value {
    json!({"id": id, "user_id": "u1", "slug": slug, "name": name})
}

fn write_file(path: &std::path::Path, rows: &[Value]) {
    let file = json!({
        "metadata": {"version": "1.1", "backup_type": "full", "user_id": "u1", "items_count": rows.len()},
        "items": rows,
    });
    std::fs::write(path, file.to_string()).unwrap();
}

async fn names(db: &dyn DatabaseClient) -> Value {
    scalar(
        db,
        "SELECT coalesce(json_agg(json_build_array(slug, name) ORDER BY slug, id), '[]') FROM items",
    )
    .await
}

#[tokio::test]
async fn a_repeated_natural_key_counts_the_same_with_or_without_a_unique_index() {
    let schema = BackupSchema::new(vec![TableDef::new("items")]);
    let dir = scratch("unique_index");
    let path = dir.join("b.json");
    let repeated = [
        row(1, "a", "A"),
        row(2, "b", "B"),
        row(3, "c", "C"),
        row(4, "a", "A again"),
        row(5, "d", "D"),
    ];
    let with_bad_row = [
        row(1, "a", "A"),
        row(2, "b", "B"),
        row(3, "c", "C"),
        row(6, "e", "bad"),
        row(4, "a", "A again"),
        row(5, "d", "D"),
    ];
    for (constraint, statements, indexed) in VARIANTS {
        let db = TestDb::create(test_path!("unique_index")).await;
        let pg = PostgresAdapter::new(db.url(), PostgresOptions::default()).unwrap();
        let comma = if constraint.is_empty() { "" } else { ", " };
        pg.execute(
            &format!(
                "CREATE TABLE items (id bigserial PRIMARY KEY, user_id text, slug text NOT NULL, \
                 name text CHECK (name <> 'bad'){comma}{constraint})"
            ),
            &[],
        )
        .await
        .unwrap();
        for statement in statements {
            pg.execute(statement, &[]).await.unwrap();
        }
        let constraint = format!("{constraint} {statements:?}");
        let opts = |mode, continue_on_error| RestoreOptions {
            mode,
            continue_on_error,
            user_id: Some(json!("u1")),
            batch_size: 2,
            ..RestoreOptions::default()
        };
        let reset = "TRUNCATE items RESTART IDENTITY";

        // Chunks [a, b], [c, a again], [d]: the second holds a key inserted by the first.
        write_file(&path, &repeated);
        let summary = restore(
            &pg,
            &schema,
            &path,
            &opts(RestoreMode::Skip, false),
            &NoProgress,
        )
        .await
        .unwrap();
        let t = summary.table("items").unwrap();
        assert_eq!(
            (t.inserted, t.skipped, t.updated),
            (4, 1, 0),
            "{constraint}"
        );
        assert_eq!(
            names(&pg).await,
            json!([["a", "A"], ["b", "B"], ["c", "C"], ["d", "D"]]),
            "{constraint}"
        );
        // The index refused the streamed rows once (one `COPY`, each row drawing its id before the
        // refusal): the ids they drew are gone from the sequence.
        let last = if indexed { 9 } else { 4 };
        assert_eq!(
            scalar(&pg, "SELECT max(id) FROM items").await,
            json!(last),
            "{constraint}: {}",
            if indexed {
                "the unique index stood in for the lookup"
            } else {
                "the inserted keys were remembered"
            }
        );

        pg.execute(reset, &[]).await.unwrap();
        let summary = restore(
            &pg,
            &schema,
            &path,
            &opts(RestoreMode::Overwrite, false),
            &NoProgress,
        )
        .await
        .unwrap();
        let t = summary.table("items").unwrap();
        assert_eq!(
            (t.inserted, t.skipped, t.updated),
            (4, 0, 1),
            "{constraint}"
        );
        assert_eq!(
            names(&pg).await,
            json!([["a", "A again"], ["b", "B"], ["c", "C"], ["d", "D"]]),
            "{constraint}"
        );

        pg.execute(reset, &[]).await.unwrap();
        let err = restore(
            &pg,
            &schema,
            &path,
            &opts(RestoreMode::Fail, false),
            &NoProgress,
        )
        .await
        .unwrap_err();
        match &err {
            BackupError::Conflicts { conflicts, .. } => {
                assert_eq!(conflicts.len(), 1, "{constraint}");
                assert_eq!(
                    (conflicts[0].row_index, &conflicts[0].old_pk),
                    (3, &json!(4)),
                    "{constraint}"
                );
            }
            other => panic!("{constraint}: {other}"),
        }
        assert_eq!(
            names(&pg).await,
            json!([]),
            "{constraint}: nothing committed"
        );

        // A bad row beside the repeated key: chunks [a, b], [c, bad], [a again, d].
        write_file(&path, &with_bad_row);
        let summary = restore(
            &pg,
            &schema,
            &path,
            &opts(RestoreMode::Skip, true),
            &NoProgress,
        )
        .await
        .unwrap();
        let t = summary.table("items").unwrap();
        assert_eq!((t.inserted, t.skipped, t.failed), (4, 1, 1), "{constraint}");
        assert_eq!(t.failure_details[0].old_pk, json!(6), "{constraint}");
        assert!(
            t.failure_details[0].error.contains("items_name_check"),
            "{constraint}: {}",
            t.failure_details[0].error
        );
        assert_eq!(
            names(&pg).await,
            json!([["a", "A"], ["b", "B"], ["c", "C"], ["d", "D"]]),
            "{constraint}"
        );

        // Without continuing past bad rows, the bad row's error names it, as without the index.
        pg.execute(reset, &[]).await.unwrap();
        let err = restore(
            &pg,
            &schema,
            &path,
            &opts(RestoreMode::Skip, false),
            &NoProgress,
        )
        .await
        .unwrap_err();
        let BackupError::RowFailed(failed) = &err else {
            panic!("{constraint}: {err}")
        };
        assert_eq!(
            (failed.table.as_str(), failed.row_index, &failed.old_pk),
            ("items", 3, &json!(6)),
            "{constraint}"
        );
        assert!(
            failed.reason.contains("items_name_check"),
            "{constraint}: {err}"
        );
        assert_eq!(
            names(&pg).await,
            json!([]),
            "{constraint}: nothing committed"
        );

        pg.close().await;
        db.drop_db().await;
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A file for [`streamed_segments_store_and_count_every_row`]: its rows changed at (index, field, value),
/// and the row numbers of the twins those changes make.
struct Scenario {
    what: &'static str,
    changes: Vec<(usize, &'static str, Value)>,
    twins: Option<(u64, u64)>,
}

/// Rows of a table a unique index guards are streamed, segment after segment (five chunks each, one
/// `COPY`). A key repeated in a later segment (the segment is refused, rolled back and written again
/// chunk by chunk), a key repeated within a chunk, and a row that has to be looked up (its user is null,
/// so the index cannot refuse its twin) each leave the stream for the usual way; every row is counted and
/// stored as row-by-row restore would.
#[tokio::test]
async fn streamed_segments_store_and_count_every_row() {
    let schema = BackupSchema::new(vec![TableDef::new("items")]);
    let dir = scratch("streamed_segments");
    let path = dir.join("b.json");
    let db = TestDb::create(test_path!("streamed_segments")).await;
    let pg = PostgresAdapter::new(db.url(), PostgresOptions::default()).unwrap();
    pg.execute(
        "CREATE TABLE items (id bigserial PRIMARY KEY, user_id text, slug text NOT NULL, name text, \
         UNIQUE (user_id, slug))",
        &[],
    )
    .await
    .unwrap();
    let scenarios = [
        Scenario {
            what: "no repeats",
            changes: vec![],
            twins: None,
        },
        // Batches of two, segments of ten rows: row 60 is in a later segment than row 3.
        Scenario {
            what: "a key repeated in a later segment",
            changes: vec![(59, "slug", json!("s3"))],
            twins: Some((3, 60)),
        },
        // [79, 80] is one chunk: the repeat splits it.
        Scenario {
            what: "a key repeated within a chunk",
            changes: vec![(79, "slug", json!("s79"))],
            twins: Some((79, 80)),
        },
        Scenario {
            what: "a row looked up",
            changes: vec![(24, "user_id", Value::Null)],
            twins: None,
        },
    ];
    for Scenario {
        what,
        changes,
        twins,
    } in scenarios
    {
        let mut rows: Vec<Value> = (1..=95)
            .map(|i| row(i, &format!("s{i}"), &format!("n{i}")))
            .collect();
        for (at, field, value) in changes {
            rows[at][field] = value;
        }
        write_file(&path, &rows);
        for mode in [RestoreMode::Skip, RestoreMode::Overwrite] {
            pg.execute("TRUNCATE items RESTART IDENTITY", &[])
                .await
                .unwrap();
            let options = RestoreOptions {
                mode,
                batch_size: 2,
                ..RestoreOptions::default()
            };
            let summary = restore(&pg, &schema, &path, &options, &NoProgress)
                .await
                .unwrap();
            let t = summary.table("items").unwrap();
            let repeated = u64::from(twins.is_some());
            let (skipped, updated) = match mode {
                RestoreMode::Skip => (repeated, 0),
                _ => (0, repeated),
            };
            assert_eq!(
                (t.inserted, t.skipped, t.updated),
                (95 - repeated, skipped, updated),
                "{what}, {mode:?}"
            );
            assert_eq!(
                scalar(&pg, "SELECT count(*) FROM items").await,
                json!(95 - repeated),
                "{what}, {mode:?}"
            );
            if let Some((first, second)) = twins {
                // The first keeps its name when skipping; the second's overwrites it.
                let kept = if mode == RestoreMode::Skip {
                    first
                } else {
                    second
                };
                assert_eq!(
                    scalar(
                        &pg,
                        &format!("SELECT json_agg(name) FROM items WHERE slug = 's{first}'")
                    )
                    .await,
                    json!([format!("n{kept}")]),
                    "{what}, {mode:?}"
                );
            }
        }
    }
    pg.close().await;
    db.drop_db().await;
    std::fs::remove_dir_all(dir).unwrap();
}
