//! Tables others refer to, restored and synced in batches of 1,000 rows or more: their rows go by `COPY`
//! with keys drawn from the destination's sequence first (`DatabaseClient::insert_many_keyed`), and every
//! child's reference is remapped to the key its parent got, as with `INSERT … RETURNING`.

use dba_backup::{BackupSchema, NoProgress, RestoreOptions, SyncOptions, TableDef, restore, sync};
use dba_core::{DatabaseClient, Value, json};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::{TestDb, test_path};

use crate::{scalar, scratch};

const TABLES: &str = "
CREATE TABLE authors (id bigserial PRIMARY KEY, user_id text, slug text NOT NULL, tags text[],
                      UNIQUE (user_id, slug));
CREATE TABLE posts (id serial PRIMARY KEY, user_id text, slug text NOT NULL,
                    author_id bigint NOT NULL REFERENCES authors (id), UNIQUE (user_id, slug));
CREATE TABLE stmt_log (tbl text, stmt text);
CREATE FUNCTION log_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO stmt_log VALUES (TG_TABLE_NAME, left(current_query(), 4)); RETURN NULL; END $$;
CREATE TRIGGER log_stmt AFTER INSERT ON authors FOR EACH STATEMENT EXECUTE FUNCTION log_stmt();";

/// Three batches of 1,000 (the default batch size): each goes by `COPY`.
const AUTHORS: u64 = 3_000;
const POSTS: u64 = 4_000;

fn schema() -> BackupSchema {
    BackupSchema::new(vec![
        TableDef::new("authors"),
        TableDef::new("posts").parent("authors", "author_id"),
    ])
}

/// A database with the tables, whose sequences have moved on (rows added and deleted), so keys differ
/// between databases.
async fn database(path: &str, skip: u64) -> (TestDb, PostgresAdapter) {
    let db = TestDb::create(path).await;
    let pg = PostgresAdapter::new(db.url(), PostgresOptions::default()).unwrap();
    pg.execute(TABLES, &[]).await.unwrap();
    pg.execute(
        &format!(
            "SELECT setval('authors_id_seq', {skip}); SELECT setval('posts_id_seq', {});",
            skip * 3
        ),
        &[],
    )
    .await
    .unwrap();
    (db, pg)
}

/// Each post's slug with its author's slug and tags, as the database joins them.
async fn pairs(db: &dyn DatabaseClient) -> Value {
    scalar(
        db,
        "SELECT json_agg(json_build_array(p.slug, a.slug, a.tags) ORDER BY p.slug) \
         FROM posts p JOIN authors a ON a.id = p.author_id",
    )
    .await
}

async fn how_authors_went(db: &dyn DatabaseClient) -> Value {
    scalar(
        db,
        "SELECT coalesce(json_agg(DISTINCT stmt), '[]') FROM stmt_log WHERE tbl = 'authors'",
    )
    .await
}

#[tokio::test]
async fn parents_by_copy_keep_every_reference() {
    let (src_db, src) = database(test_path!("keyed_source"), 7).await;
    src.execute(
        &format!(
            "INSERT INTO authors (user_id, slug, tags)
               SELECT 'u1', 'a' || g, ARRAY['t' || g, NULL, 'q\"uote', 'back\\slash']
               FROM generate_series(1, {AUTHORS}) g;
             INSERT INTO posts (user_id, slug, author_id)
               SELECT 'u1', 'p' || g, 7 + 1 + (g * 7919) % {AUTHORS} FROM generate_series(1, {POSTS}) g;"
        ),
        &[],
    )
    .await
    .unwrap();
    let expected = pairs(&src).await;
    assert_eq!(
        expected.as_array().map(Vec::len),
        Some(usize::try_from(POSTS).unwrap())
    );

    // Restore of the source's backup into a database whose keys are elsewhere.
    let dir = scratch("keyed");
    let file = dir.join("b.json");
    dba_backup::backup(
        &src,
        &schema(),
        &file,
        &dba_backup::BackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    let (dst_db, dst) = database(test_path!("keyed_restore"), 100_000).await;
    let summary = restore(
        &dst,
        &schema(),
        &file,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(summary.table("authors").unwrap().inserted, AUTHORS);
    assert_eq!(summary.table("posts").unwrap().inserted, POSTS);
    assert_eq!(pairs(&dst).await, expected);
    assert_eq!(how_authors_went(&dst).await, json!(["COPY"]));
    // The destination's own keys, drawn from its sequence.
    assert_eq!(
        scalar(&dst, "SELECT min(id) FROM authors").await,
        json!(100_001)
    );

    // Sync into another.
    let (sync_db, synced) = database(test_path!("keyed_sync"), 50_000).await;
    let result = sync(
        &src,
        &synced,
        &schema(),
        &SyncOptions::default(),
        &NoProgress,
    )
    .await;
    assert!(result.success, "{:?}", result.errors);
    assert_eq!(result.synced_count, AUTHORS + POSTS);
    assert_eq!(pairs(&synced).await, expected);
    assert_eq!(how_authors_went(&synced).await, json!(["COPY"]));

    for db in [src_db, dst_db, sync_db] {
        db.drop_db().await;
    }
    std::fs::remove_dir_all(dir).unwrap();
}
