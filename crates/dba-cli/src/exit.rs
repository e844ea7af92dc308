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

/// The error and its causes joined by `: ` (as `{err:#}` does), leaving out a cause whose text is already
/// part of what is printed. `dba_core::Error` carries the driver's whole chain in its message (a driver's
/// own text often hides the cause) and keeps the driver's error as its source, whose parts
/// (`error connecting to server`, then `Connection refused (os error 111)`) would otherwise be printed a
/// second time.
pub(crate) fn render(err: &anyhow::Error) -> String {
    dba::chain_text(err.as_ref())
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

    /// The shape of a refused PostgreSQL connection: the message holds the driver's chain, and the
    /// driver's error (whose own text is only its first part) follows as the source.
    #[test]
    fn skips_causes_already_embedded() {
        let io = io::Error::new(io::ErrorKind::ConnectionRefused, "refused (os error 111)");
        let driver = Wrapped("error connecting to server", io);
        let err = anyhow::Error::new(Wrapped(
            "cannot connect: error connecting to server: refused (os error 111)",
            io::Error::other(driver),
        ))
        .context("profile dev");
        assert_eq!(
            render(&err),
            "profile dev: cannot connect: error connecting to server: refused (os error 111)"
        );
    }

    #[test]
    fn maps_codes() {
        assert_eq!(code_for(&anyhow::anyhow!("x")), FAILURE);
        let pipe =
            anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&pipe));
    }
}
