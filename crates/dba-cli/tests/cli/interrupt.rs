//! Ctrl-C during restore, fix and sync: exit 130, say that nothing was committed, and commit nothing.
//!
//! Each test holds a SHARE lock on a table of the destination (reads pass, writes wait), runs the real
//! binary, waits until `pg_stat_activity` shows it waiting for that lock (so part of its work is already
//! written inside its transaction), sends SIGINT, and checks the exit code, the message and that the
//! destination is exactly as before.

use dba_testkit::{TestDb, test_path};

use crate::support::{SCHEMA_SECTIONS, Workdir, backed_up_pair, checksum, db};

/// Runs `args` while `table` of `dest` is locked against writes, interrupts the command once it waits for
/// that lock, and returns its exit code, stdout and stderr after it ended and its sessions are gone.
async fn interrupt_while_blocked(
    dir: &Workdir,
    args: &[&str],
    dest: &TestDb,
    table: &str,
) -> (Option<i32>, String, String) {
    let holder = dest.client().await;
    holder
        .batch_execute(&format!("BEGIN; LOCK TABLE {table} IN SHARE MODE"))
        .await
        .unwrap();
    let mut child = dir.spawn(args);
    let watcher = dest.client().await;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "dba ended ({status}) before waiting for the lock\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    holder.batch_execute("ROLLBACK").await.unwrap();
    drop(holder);
    // The interrupted session ends once it gets the lock and finds its client gone; only then is the
    // destination's committed state final.
    loop {
        let others: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if others == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_interrupted(code: Option<i32>, stdout: &str, stderr: &str) {
    assert_eq!(
        code,
        Some(130),
        "--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stderr.contains("Interrupted: nothing was committed"),
        "--- stderr\n{stderr}"
    );
    assert!(!stdout.contains("complete"), "--- stdout\n{stdout}");
}

#[tokio::test]
async fn an_interrupted_restore_commits_nothing() {
    let (full, empty, dir) = backed_up_pair(
        test_path!("interrupt_restore_src"),
        test_path!("interrupt_restore_dst"),
        "interrupt-restore",
    )
    .await;
    let before = checksum(&empty).await;
    let (code, stdout, stderr) = interrupt_while_blocked(
        &dir,
        &[
            "restore",
            "b.json",
            "--profile",
            "empty",
            "--user-id",
            "u1",
            "-y",
            "--continue-on-error",
        ],
        &empty,
        "products",
    )
    .await;
    assert_interrupted(code, &stdout, &stderr);
    assert_eq!(checksum(&empty).await, before);
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}

#[tokio::test]
async fn an_interrupted_fix_commits_nothing() {
    let drift = db(test_path!("interrupt_fix"), "drift").await;
    let dir = Workdir::with_profiles("interrupt-fix", &[("drift", drift.url())], SCHEMA_SECTIONS);
    let before = checksum(&drift).await;
    // items gets its columns first, then the fix waits for products.
    let (code, stdout, stderr) = interrupt_while_blocked(
        &dir,
        &["fix", "--profile", "drift", "--confirm", "--no-backup"],
        &drift,
        "products",
    )
    .await;
    assert_interrupted(code, &stdout, &stderr);
    assert_eq!(checksum(&drift).await, before);
    dir.remove();
    drift.drop_db().await;
}

#[tokio::test]
async fn an_interrupted_sync_commits_nothing() {
    let full = db(test_path!("interrupt_sync_src"), "full").await;
    let empty = db(test_path!("interrupt_sync_dst"), "empty").await;
    let dir = Workdir::with_profiles(
        "interrupt-sync",
        &[("full", full.url()), ("empty", empty.url())],
        SCHEMA_SECTIONS,
    );
    let before = checksum(&empty).await;
    // categories are written first, then the sync waits for products.
    let (code, stdout, stderr) = interrupt_while_blocked(
        &dir,
        &[
            "sync",
            "-f",
            "full",
            "--profile",
            "empty",
            "--user-id",
            "u1",
            "--mode",
            "upsert",
            "--confirm",
        ],
        &empty,
        "products",
    )
    .await;
    assert_interrupted(code, &stdout, &stderr);
    assert_eq!(checksum(&empty).await, before);
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}
