//! The backup file format, version "1.1" of the Python original: metadata, reserved keys, timestamps and
//! default file names.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::BackupError;
use crate::schema::BackupSchema;

/// The format version dba writes and the only one the original reads.
pub const FORMAT_VERSION: &str = "1.1";

/// The metadata fields whose absence the validator warns about, in the original's order.
pub(crate) const METADATA_FIELDS: [&str; 4] = ["created_at", "user_id", "backup_type", "version"];

/// dba's additive metadata key listing the tables of a subset backup. The original ignores it.
pub const TABLES_KEY: &str = "tables";

/// Builds the metadata object in the original's key order: `created_at`, `user_id`, `backup_type`,
/// `version`, then the caller's keys, then `tables` for a subset backup (the counts are appended by the
/// writer). Caller keys may replace `created_at`, `user_id` and `backup_type` as in the original, but not
/// `version`, `tables` or a `{table}_count` key.
pub(crate) fn build_metadata(
    schema: &BackupSchema,
    user_id: Option<&Value>,
    created_at: &str,
    caller: &Map<String, Value>,
    subset: bool,
) -> Result<Map<String, Value>, BackupError> {
    let mut meta = Map::new();
    meta.insert("created_at".into(), Value::String(created_at.to_owned()));
    meta.insert("user_id".into(), user_id.cloned().unwrap_or(Value::Null));
    meta.insert("backup_type".into(), Value::String("full".into()));
    meta.insert("version".into(), Value::String(FORMAT_VERSION.into()));
    for (key, value) in caller {
        let reserved = key == "version"
            || key == TABLES_KEY
            || schema
                .tables
                .iter()
                .any(|t| key.strip_suffix("_count") == Some(t.name.as_str()));
        if reserved {
            return Err(BackupError::ReservedMetadataKey { key: key.clone() });
        }
        meta.insert(key.clone(), value.clone());
    }
    if subset {
        let names = schema
            .tables
            .iter()
            .map(|t| Value::String(t.name.clone()))
            .collect();
        meta.insert(TABLES_KEY.into(), Value::Array(names));
    }
    Ok(meta)
}

/// A UTC civil time, split from the Unix epoch by hand (no time crate needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UtcTime {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

impl UtcTime {
    pub(crate) fn now() -> UtcTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        UtcTime::from_unix(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// Howard Hinnant's `civil_from_days`.
    pub(crate) fn from_unix(secs: i64) -> UtcTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let narrow = |v: i64| u32::try_from(v).unwrap_or(0);
        UtcTime {
            year,
            month: narrow(month),
            day: narrow(day),
            hour: narrow(rem / 3600),
            minute: narrow(rem % 3600 / 60),
            second: narrow(rem % 60),
        }
    }

    /// RFC 3339 with an explicit offset, as Python's `isoformat()` writes an aware datetime:
    /// `2026-11-22T10:00:00+00:00`.
    pub(crate) fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `20261122-100000`, for file names.
    pub(crate) fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The default backup path: `{dir}/backup-{profile}-{YYYYMMDD-HHMMSS}.json` (UTC, `.json.gz` when
/// gzipped). An existing file is never replaced: a `-2`, `-3`, … suffix is added instead.
pub fn default_backup_path(dir: &Path, profile: &str, gzip: bool) -> PathBuf {
    default_path_at(dir, profile, gzip, UtcTime::now())
}

pub(crate) fn default_path_at(dir: &Path, profile: &str, gzip: bool, at: UtcTime) -> PathBuf {
    let profile: String = profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ext = if gzip { "json.gz" } else { "json" };
    let stem = format!("backup-{profile}-{}", at.compact());
    let mut path = dir.join(format!("{stem}.{ext}"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{n}.{ext}"));
        n += 1;
    }
    path
}

/// Whether `path` names a gzip file by its extension.
pub(crate) fn is_gzip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The canonical text of a key value, so JSON values can key hash maps (numbers keep their exact text).
pub(crate) fn key_text(value: &Value) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::TableDef;

    #[test]
    fn a_numbers_key_text_is_its_own_text() {
        // Engine::lookup relies on it to look numbers up without building a string.
        for text in [
            "0",
            "-0",
            "12",
            "-7",
            "1.50",
            "1e400",
            "1E5",
            "123456789012345678901234567890",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let Value::Number(n) = &value else {
                panic!("{text} is a number")
            };
            assert_eq!(key_text(&value), n.as_str(), "{text}");
        }
    }

    #[test]
    fn civil_time_from_unix_seconds() {
        assert_eq!(UtcTime::from_unix(0).rfc3339(), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            UtcTime::from_unix(1_795_341_600).rfc3339(),
            "2026-11-22T10:00:00+00:00"
        );
        assert_eq!(
            UtcTime::from_unix(951_782_400).rfc3339(),
            "2000-02-29T00:00:00+00:00"
        );
        assert_eq!(
            UtcTime::from_unix(1_795_341_601).compact(),
            "20261122-100001"
        );
    }

    #[test]
    fn metadata_keeps_the_original_order_and_refuses_reserved_keys() {
        let schema = BackupSchema::new(vec![TableDef::new("items")]);
        let caller = json!({"note": "x", "backup_type": "manual"});
        let meta = build_metadata(
            &schema,
            Some(&json!("u1")),
            "2026-11-22T10:00:00+00:00",
            caller.as_object().unwrap(),
            false,
        )
        .unwrap();
        let keys: Vec<&str> = meta.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["created_at", "user_id", "backup_type", "version", "note"]
        );
        assert_eq!(meta["backup_type"], "manual");
        for bad in ["version", "items_count", "tables"] {
            let caller = Map::from_iter([(bad.to_owned(), json!("9"))]);
            let err = build_metadata(&schema, None, "t", &caller, false).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("metadata key {bad:?} is reserved by the backup format")
            );
        }
    }

    #[test]
    fn default_names_carry_profile_and_second() {
        let dir = std::env::temp_dir().join(format!("dba-backup-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let at = UtcTime::from_unix(1_795_341_600);
        let first = default_path_at(&dir, "dev/x", true, at);
        assert_eq!(
            first.file_name().unwrap(),
            "backup-dev_x-20261122-100000.json.gz"
        );
        std::fs::write(&first, b"x").unwrap();
        let second = default_path_at(&dir, "dev/x", true, at);
        assert_eq!(
            second.file_name().unwrap(),
            "backup-dev_x-20261122-100000-2.json.gz"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
