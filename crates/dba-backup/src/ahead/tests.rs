//! Reading ahead: rows in order, read beside the consumer but never far ahead of it, errors where they
//! were, and the backup file given back where the reading stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::stream;
use serde_json::json;

use super::*;

fn file_with(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("dba-ahead-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A source of `n` rows that counts the rows taken from it.
fn counted_stream(n: usize) -> (dba_core::RowStream, Arc<AtomicUsize>) {
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    let rows = stream::iter(0..n).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        let mut row = dba_core::Row::new();
        row.insert("i".into(), json!(i));
        Ok(row)
    });
    (Box::pin(rows), taken)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_is_read_beside_the_consumer_and_never_far_ahead_of_it() {
    let (source, taken) = counted_stream(100_000);
    let mut rows = Rows::start(Source::Stream(source));
    // Nothing is taken here, yet the rows are read, up to the channel's bound.
    let mut waited = 0;
    while taken.load(Ordering::SeqCst) < CHUNK * CHUNKS && waited < 500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ahead = taken.load(Ordering::SeqCst);
    assert!(ahead >= CHUNK * CHUNKS, "read ahead: {ahead}");
    // The chunks in the channel, the one the reader waits to send, and the one it reads into.
    assert!(ahead <= CHUNK * (CHUNKS + 2), "bounded: {ahead}");
    for i in 0..1_000 {
        assert_eq!(rows.next().await.unwrap(), Some(json!({ "i": i })));
    }
    rows.finish().await;
    assert!(taken.load(Ordering::SeqCst) < 100_000, "stopped early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_comes_in_order_then_the_end_and_a_source_error_where_it_was() {
    let (source, _) = counted_stream(1_000);
    let mut rows = Rows::start(Source::Stream(source));
    for i in 0..1_000 {
        assert_eq!(rows.next().await.unwrap(), Some(json!({ "i": i })));
    }
    assert_eq!(rows.next().await.unwrap(), None);
    assert_eq!(rows.next().await.unwrap(), None);
    rows.finish().await;

    let failing = stream::iter(0..3).map(|i| {
        if i == 2 {
            Err(dba_core::Error::new(
                dba_core::ErrorKind::Connection,
                "gone",
            ))
        } else {
            Ok(dba_core::Row::new())
        }
    });
    let mut rows = Rows::start(Source::Stream(Box::pin(failing)));
    assert_eq!(rows.next().await.unwrap(), Some(json!({})));
    assert_eq!(rows.next().await.unwrap(), Some(json!({})));
    let err = rows.next().await.unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
    rows.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_read_on_another_thread_and_given_back_after_the_table() {
    let table: Vec<String> = (0..1_000).map(|i| format!("{{\"i\": {i}}}")).collect();
    let path = file_with(
        "table.json",
        &format!("{{\"t\": [{}], \"after\": 7}}", table.join(", ")),
    );
    let mut file = BackupFile::open(&path).unwrap();
    assert!(file.seek("t").unwrap());
    assert!(file.enter_array().unwrap());
    let mut rows = Rows::start(Source::File(&mut file));
    assert!(matches!(rows.0, Inner::Ahead { .. }), "read ahead");
    for i in 0..1_000 {
        assert_eq!(rows.next().await.unwrap(), Some(json!({ "i": i })));
    }
    assert_eq!(rows.next().await.unwrap(), None);
    rows.finish().await;
    assert_eq!(file.next_key().unwrap().as_deref(), Some("after"));
    assert_eq!(file.read_value().unwrap(), json!(7));
    std::fs::remove_file(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_given_back_early_is_where_the_reader_stopped() {
    // A syntax error after two rows: the reader stops there, and the file is back, at the error.
    let path = file_with(
        "broken.json",
        "{\"t\": [{\"i\": 0}, {\"i\": 1} {\"i\": 2}]}",
    );
    let mut file = BackupFile::open(&path).unwrap();
    assert!(file.seek("t").unwrap());
    assert!(file.enter_array().unwrap());
    let mut rows = Rows::start(Source::File(&mut file));
    assert_eq!(rows.next().await.unwrap(), Some(json!({"i": 0})));
    assert_eq!(rows.next().await.unwrap(), Some(json!({"i": 1})));
    let err = rows.next().await.unwrap_err();
    assert!(err.to_string().contains("expected ',' or ']'"), "{err}");
    rows.finish().await;
    assert!(file.in_array(), "the file is back, inside the table");

    // Stopped by the consumer before the end: the file comes back all the same.
    let table: Vec<String> = (0..10_000).map(|i| format!("{{\"i\": {i}}}")).collect();
    let path2 = file_with("long.json", &format!("{{\"t\": [{}]}}", table.join(",")));
    let mut file = BackupFile::open(&path2).unwrap();
    assert!(file.seek("t").unwrap());
    assert!(file.enter_array().unwrap());
    let mut rows = Rows::start(Source::File(&mut file));
    assert_eq!(rows.next().await.unwrap(), Some(json!({"i": 0})));
    rows.finish().await;
    assert!(file.in_array());
    let next = file.next_row().unwrap().unwrap();
    assert!(
        next["i"].as_u64().unwrap() > 0,
        "read on from where the reader stopped"
    );
    std::fs::remove_file(path).unwrap();
    std::fs::remove_file(path2).unwrap();
}

#[test]
fn without_a_runtime_the_rows_are_read_in_place() {
    let (source, taken) = counted_stream(10);
    let rows = Rows::start(Source::Stream(source));
    assert!(matches!(rows.0, Inner::InPlace(_)));
    assert_eq!(taken.load(Ordering::SeqCst), 0);
}
