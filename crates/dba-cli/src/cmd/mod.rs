//! One module per verb; each has `run(ctx, args) -> anyhow::Result<Report>`.

use serde_json::{Map, Value};

use crate::exit;

pub(crate) mod backup;
pub(crate) mod connect;
pub(crate) mod fix;
pub(crate) mod profiles;
pub(crate) mod restore;
pub(crate) mod status;
pub(crate) mod sync;
pub(crate) mod validate;

/// What a verb hands back to `main`: its exit code and its JSON document.
#[derive(Debug)]
pub(crate) struct Report {
    /// The exit code (0 success, 1 failure or drift).
    pub(crate) code: u8,
    /// The `--json` document, without `command` and `ok`, which `main` adds.
    pub(crate) fields: Map<String, Value>,
}

impl Report {
    /// A successful result.
    pub(crate) fn ok(fields: Value) -> Report {
        Report::with_code(exit::SUCCESS, fields)
    }

    /// A result that exits 1 without an error message (drift, invalid backup, refused confirmation): the
    /// output already said what happened.
    pub(crate) fn failed(fields: Value) -> Report {
        Report::with_code(exit::FAILURE, fields)
    }

    fn with_code(code: u8, fields: Value) -> Report {
        let fields = match fields {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                let mut map = Map::new();
                map.insert("result".to_owned(), other);
                map
            }
        };
        Report { code, fields }
    }
}
