//! Ctrl-C during `restore`, `fix` and `sync`: the verb's task is dropped, which closes its connections, so
//! the server rolls back the open transaction; the user is told what was committed, and `dba` exits 130.
//!
//! Each of these verbs writes in one transaction and commits once at the end (restore also with
//! `--continue-on-error`, which uses savepoints; the CLI's sync never uses per-table transactions), so
//! before that commit nothing is kept. The verbs record when their write starts and when it has been
//! committed, so an interrupt while the results are printed does not claim a rollback.

use std::sync::atomic::{AtomicU8, Ordering};

/// The exit code of an interrupted run (128 + SIGINT), as shells report it.
pub(crate) const EXIT: u8 = 130;

const READING: u8 = 0;
const WRITING: u8 = 1;
const COMMITTING: u8 = 2;
const COMMITTED: u8 = 3;

static PHASE: AtomicU8 = AtomicU8::new(READING);

/// The verb starts its transaction.
pub(crate) fn writing() {
    PHASE.store(WRITING, Ordering::SeqCst);
}

/// The verb's transaction is being committed: the server may keep it even if the run stops now.
pub(crate) fn committing() {
    PHASE.store(COMMITTING, Ordering::SeqCst);
}

/// The verb's transaction has been committed.
pub(crate) fn committed() {
    PHASE.store(COMMITTED, Ordering::SeqCst);
}

/// What to print when the run is interrupted now.
pub(crate) fn message(verb: &str) -> String {
    match PHASE.load(Ordering::SeqCst) {
        COMMITTED => {
            format!(
                "Interrupted: the {verb} had already been committed; its report was not printed"
            )
        }
        COMMITTING => format!(
            "Interrupted while committing: the {verb} may have been committed; check the destination \
             before running it again"
        ),
        _ => "Interrupted: nothing was committed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_was_committed() {
        assert_eq!(message("fix"), "Interrupted: nothing was committed");
        writing();
        assert_eq!(message("fix"), "Interrupted: nothing was committed");
        committing();
        assert_eq!(
            message("sync"),
            "Interrupted while committing: the sync may have been committed; check the destination \
             before running it again"
        );
        committed();
        assert!(message("restore").contains("the restore had already been committed"));
    }
}
