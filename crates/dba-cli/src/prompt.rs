//! Confirmation before destructive work: an interactive `yes` on a terminal, never a wait without one.

use std::io::{self, BufRead, IsTerminal, Write};

/// The answer to a confirmation question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The user typed `yes`.
    Yes,
    /// The user typed something else, or closed stdin.
    No,
    /// stdin is not a terminal, so nobody was asked.
    NoTerminal,
}

/// Asks `question` on stderr and reads one line from stdin; only `yes` (any case, trimmed) confirms.
/// Without a terminal on stdin it returns [`Answer::NoTerminal`] at once instead of waiting.
pub(crate) fn confirm(question: &str) -> Answer {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Answer::NoTerminal;
    }
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{question}");
    let _ = write!(stderr, "Type 'yes' to confirm: ");
    let _ = stderr.flush();
    drop(stderr);
    let read = || {
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(n) if n > 0 && line.trim().eq_ignore_ascii_case("yes") => Answer::Yes,
            _ => Answer::No,
        }
    };
    // The verb runs on a runtime worker: waiting for a person there would stall the tasks queued on it,
    // so the runtime is told to hand them to another worker first.
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(read)
        }
        _ => read(),
    }
}
