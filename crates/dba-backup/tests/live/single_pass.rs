//! Restore reads its file once, checking it while the rows stream, and a file that turns out invalid part
//! way leaves the destination exactly as it was.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dba_backup::{
    BackupError, BackupOptions, NoProgress, Phase, Progress, ProgressUpdate, RestoreOptions,
    backup, restore,
};
use dba_core::{DatabaseClient, Value, json};
use dba_testkit::test_path;

use crate::{checksums, scalar, scratch, setup, shop_schema};

/// The shop's rows of u1 backed up from a fresh source, as pretty-printed JSON text.
async fn shop_backup(name: &str) -> (PathBuf, String) {
    // A source per caller: tests run at once, and each database is named after its test path.
    let test = format!(concat!(module_path!(), "::single_pass_src_{}"), name);
    let (src_db, src) = setup(&test, &["shop", "shop_data"]).await;
    let dir = scratch(name);
    let path = dir.join("b.json");
    let options = BackupOptions {
        user_id: Some(json!("u1")),
        ..BackupOptions::default()
    };
    backup(&src, &shop_schema(), &path, &options, &NoProgress)
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    src_db.drop_db().await;
    (dir, serde_json::to_string_pretty(&doc).unwrap())
}

/// Feeds `bytes` through a pipe, which can be read only once, and returns a path that opens it.
fn through_pipe(bytes: Vec<u8>) -> (PathBuf, std::io::PipeReader, std::thread::JoinHandle<()>) {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let path = Path::new("/proc/self/fd").join(reader.as_raw_fd().to_string());
    // The write fails (broken pipe) only if the reader stops early, which the test then reports itself.
    let feeder = std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    (path, reader, feeder)
}

#[tokio::test]
async fn restore_reads_a_file_that_can_be_read_only_once() {
    let (dir, text) = shop_backup("once").await;
    let (dst_db, dst) = setup(test_path!("single_pass_once"), &["shop"]).await;
    let gz = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap()
    };
    for (round, bytes) in [("plain", text.clone().into_bytes()), ("gzip", gz)] {
        let (path, reader, feeder) = through_pipe(bytes);
        let options = RestoreOptions {
            user_id: Some(json!(format!("u-{round}"))),
            ..RestoreOptions::default()
        };
        let summary = restore(&dst, &shop_schema(), &path, &options, &NoProgress)
            .await
            .unwrap_or_else(|e| panic!("{round}: {e}"));
        feeder.join().unwrap();
        drop(reader);
        let inserted: Vec<u64> = ["categories", "products", "reviews"]
            .iter()
            .map(|t| summary.table(t).unwrap().inserted)
            .collect();
        assert_eq!(inserted, [2, 3, 3], "{round}");
    }
    assert_eq!(
        scalar(&dst, "SELECT count(*) AS n FROM reviews").await,
        json!(6)
    );
    std::fs::remove_dir_all(dir).unwrap();
    dst_db.drop_db().await;
}

#[tokio::test]
async fn a_pipe_whose_metadata_comes_last_is_refused_with_the_reason_and_nothing_written() {
    let (dir, text) = shop_backup("metadata_last").await;
    let (dst_db, dst) = setup(test_path!("single_pass_metadata_last"), &["shop"]).await;
    let before = checksums(&dst).await;
    // The same document with its metadata moved to the end: valid, but out of the order both tools write.
    let mut doc: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let metadata = doc.remove("metadata").unwrap();
    doc.insert("metadata".into(), metadata);
    let (path, reader, feeder) = through_pipe(serde_json::to_vec(&doc).unwrap());
    let options = RestoreOptions {
        user_id: Some(json!("u1")),
        ..RestoreOptions::default()
    };
    let err = restore(&dst, &shop_schema(), &path, &options, &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    drop(reader);
    feeder.join().unwrap();
    assert!(
        err.contains("is not a regular file (a pipe?) and is read only once")
            && err.contains("the metadata must come first")
            && !err.contains("Invalid JSON"),
        "{err}"
    );
    assert_eq!(checksums(&dst).await, before);
    std::fs::remove_dir_all(dir).unwrap();
    dst_db.drop_db().await;
}

/// Every phase reported, in order, with its `done`.
#[derive(Default)]
struct Phases(Mutex<Vec<(Phase, u64)>>);

impl Progress for Phases {
    fn update(&self, update: &ProgressUpdate<'_>) {
        self.0.lock().unwrap().push((update.phase, update.done));
    }
}

#[tokio::test]
async fn the_commit_is_announced_last_and_only_when_something_is_committed() {
    let (dir, text) = shop_backup("commit_phase").await;
    let path = dir.join("b.json");
    std::fs::write(&path, &text).unwrap();
    let (dst_db, dst) = setup(test_path!("single_pass_commit_phase"), &["shop"]).await;
    for dry_run in [true, false] {
        let phases = Phases::default();
        let options = RestoreOptions {
            user_id: Some(json!("u1")),
            dry_run,
            ..RestoreOptions::default()
        };
        restore(&dst, &shop_schema(), &path, &options, &phases)
            .await
            .unwrap();
        let seen = phases.0.into_inner().unwrap();
        let commits: Vec<usize> = (0..seen.len())
            .filter(|&i| seen[i].0 == Phase::Commit)
            .collect();
        if dry_run {
            assert!(commits.is_empty(), "{seen:?}");
        } else {
            // Once, after every row was written, counting them all (2 categories, 3 products, 3 reviews).
            assert_eq!(commits, [seen.len() - 1], "{seen:?}");
            assert_eq!(seen[seen.len() - 1].1, 8);
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
    dst_db.drop_db().await;
}

/// Records how far each table got, to show that rows were written before the failure.
#[derive(Default)]
struct Furthest(Mutex<Vec<(String, u64)>>);

impl Progress for Furthest {
    fn update(&self, update: &ProgressUpdate<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((update.table.to_owned(), update.done));
    }
}

impl Furthest {
    fn done(&self, table: &str) -> u64 {
        let seen = self.0.lock().unwrap();
        seen.iter()
            .filter(|(t, _)| t == table)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    }
}

/// The 1-based line of the start of the row of `table` whose slug is `slug` in pretty-printed `text`.
fn row_line(text: &str, slug: &str) -> usize {
    let at = text.find(&format!("\"slug\": \"{slug}\"")).unwrap();
    let start = text[..at].rfind('{').unwrap();
    text[..start].matches('\n').count() + 1
}

#[tokio::test]
async fn a_file_invalid_after_valid_rows_leaves_the_destination_as_it_was() {
    let (dir, text) = shop_backup("halfway").await;
    let (dst_db, dst) = setup(test_path!("single_pass_halfway"), &["shop"]).await;
    dst.execute(
        "INSERT INTO categories (user_id, slug, name) VALUES ('u9', 'keep', 'Keep')",
        &[],
    )
    .await
    .unwrap();
    let before = checksums(&dst).await;

    let mut doc: Value = serde_json::from_str(&text).unwrap();
    // The second product loses its primary key: found after both categories and a product were written.
    let saw = doc["products"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["slug"] == "saw")
        .unwrap();
    saw.as_object_mut().unwrap().remove("id");
    let no_pk = serde_json::to_string_pretty(&doc).unwrap();
    let index = doc["products"]
        .as_array()
        .unwrap()
        .iter()
        .position(|p| p["slug"] == "saw")
        .unwrap();
    assert!(index >= 1, "valid products come first");
    // The last review cut off: the file ends in the middle of the last table.
    let cut_at = text.rfind("\"body\"").unwrap();
    let cut = text[..cut_at].to_owned();
    // One review more than the metadata counts.
    let mut extra: Value = serde_json::from_str(&text).unwrap();
    let first = extra["reviews"][0].clone();
    extra["reviews"].as_array_mut().unwrap().push(first);
    let extra = serde_json::to_string_pretty(&extra).unwrap();

    let cases = [
        (
            "no-pk",
            no_pk.clone(),
            format!(
                "products row missing 'id' field: saw (row {index}, line {})",
                row_line(&no_pk, "saw")
            ),
            "products",
        ),
        (
            "cut",
            cut.clone(),
            format!(
                "Invalid JSON: unterminated value at line {} column {}",
                cut.matches('\n').count() + 1,
                cut.len() - cut.rfind('\n').unwrap()
            ),
            "reviews",
        ),
        (
            "extra-row",
            extra,
            "reviews has 4 rows but metadata reviews_count says 3".to_owned(),
            "reviews",
        ),
    ];
    for (name, text, problem, table) in cases {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, &text).unwrap();
        for continue_on_error in [false, true] {
            let progress = Furthest::default();
            let options = RestoreOptions {
                user_id: Some(json!("u1")),
                batch_size: 1,
                continue_on_error,
                ..RestoreOptions::default()
            };
            let err = restore(&dst, &shop_schema(), &path, &options, &progress)
                .await
                .unwrap_err();
            let BackupError::InvalidBackup { errors, .. } = &err else {
                panic!("{name}: {err}")
            };
            assert_eq!(errors, std::slice::from_ref(&problem), "{name}");
            assert_eq!(
                progress.done("categories"),
                2,
                "{name}: rows were written before the problem in {table} was read"
            );
            assert_eq!(
                checksums(&dst).await,
                before,
                "{name} (continue_on_error {continue_on_error}): the destination is unchanged"
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
    dst_db.drop_db().await;
}
