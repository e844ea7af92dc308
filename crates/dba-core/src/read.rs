//! Reads that need no fresh write: [`Reader`], the client a backend hands out for them (a standby when one
//! is configured and keeps up, else the primary).

use std::fmt;

use crate::client::DatabaseClient;

/// Where a [`Reader`]'s reads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadTarget {
    /// The primary: the standby is down, lags too far or is not a standby ([`Reader::fallback`] says
    /// which).
    Primary,
    /// The read-only standby.
    Standby,
}

impl ReadTarget {
    /// `"primary"` or `"standby"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadTarget::Primary => "primary",
            ReadTarget::Standby => "standby",
        }
    }
}

impl fmt::Display for ReadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client for reads that need no fresh write, from [`DatabaseClient::reader`].
///
/// The choice is made once, when the reader is asked for: ask for a new one per unit of work (a backup, a
/// validation), not once per process. Through [`client`](Reader::client), `select`, `select_one`,
/// `select_stream`, `select_json_stream`, `count`, `query` and [`begin_snapshot`](DatabaseClient::begin_snapshot)
/// run on the [`target`](Reader::target); every write (`insert*`, `update*`, `upsert*`, `delete`, `execute`)
/// and every transaction from `begin` run on the primary, so a reader never sends a write to a standby.
pub struct Reader {
    client: Box<dyn DatabaseClient>,
    target: ReadTarget,
    server: String,
    fallback: Option<String>,
}

impl Reader {
    /// A reader whose reads run on `target`, the server shown as `server` (with no secret in it), and the
    /// reason the standby was passed over when it was.
    pub fn new(
        client: Box<dyn DatabaseClient>,
        target: ReadTarget,
        server: String,
        fallback: Option<String>,
    ) -> Reader {
        Reader {
            client,
            target,
            server,
            fallback,
        }
    }

    /// The client to read through.
    pub fn client(&self) -> &dyn DatabaseClient {
        &*self.client
    }

    /// Where reads run.
    pub fn target(&self) -> ReadTarget {
        self.target
    }

    /// The server reads run on, for display (passwords redacted).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Why reads went to the primary although a standby is configured (a warning for the user), if they
    /// did.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("target", &self.target)
            .field("server", &self.server)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}
