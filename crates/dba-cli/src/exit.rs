//! Exit codes and the error types that choose them.

use std::io;

/// Success.
pub(crate) const SUCCESS: u8 = 0;
/// A failure, schema drift, an invalid backup or a refused confirmation.
pub(crate) const FAILURE: u8 = 1;
/// The command line was wrong (clap uses the same code).
pub(crate) const USAGE: u8 = 2;

/// The exit code for an error that reached `main`: usage errors never get this far (clap exits 2 itself), so
/// every such error is a failure.
pub(crate) fn code_for(_err: &anyhow::Error) -> u8 {
    FAILURE
}

/// Whether the error is a closed stdout (`dba status | head -1`), which counts as success.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes joined by `: ` (as `{err:#}` does), leaving out a cause whose text the message
/// before it already ends with, so that a library that repeats its source is not printed twice.
pub(crate) fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fmt;

    #[derive(Debug)]
    struct Wrapped(&'static str, io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn skips_repeated_causes() {
        let inner = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let err =
            anyhow::Error::new(Wrapped("cannot connect: refused", inner)).context("profile dev");
        assert_eq!(render(&err), "profile dev: cannot connect: refused");
        let inner = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let err = anyhow::Error::new(Wrapped("cannot connect", inner));
        assert_eq!(render(&err), "cannot connect: refused");
    }

    #[test]
    fn maps_codes() {
        assert_eq!(code_for(&anyhow::anyhow!("x")), FAILURE);
        let pipe =
            anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&pipe));
    }
}
