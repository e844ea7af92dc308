//! The `.db-profile` lock file: the profile the last successful `connect` chose.
//!
//! The content is the bare profile name with no newline; reading trims surrounding whitespace, and an empty file
//! means "no profile", as in the Python original.
//!
//! **Only a connect that really reached the database** (and, when `[schema] validate_on_connect` is on, found the
//! schema valid) may call [`write_lock`]. Validate, fix, backup, restore and sync never write it, and an
//! unreachable server must never lead to a write. This crate cannot connect, so the rule is the callers' (the
//! facade's `connect` and the CLI's `connect` command) to keep.
//!
//! The lock file's folder is chosen at call time (the [`Resolver`](crate::Resolver)'s `lock_dir`, by default the
//! current directory), never fixed when the program starts.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{ConfigError, Result};

/// The lock file's name.
pub const LOCK_FILE: &str = ".db-profile";

/// The lock file's path in `dir`.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(LOCK_FILE)
}

/// The profile name in `dir/.db-profile`, trimmed; `None` when the file is missing or blank.
pub fn read_lock(dir: &Path) -> Result<Option<String>> {
    let path = lock_path(dir);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let name = text.trim();
            Ok((!name.is_empty()).then(|| name.to_owned()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

/// Writes `name` to `dir/.db-profile` atomically: a temporary file in the same folder is written, flushed to
/// disk and renamed over the lock file, so a concurrent reader sees the old name or the new one, never a torn
/// write.
///
/// Call it only after a connect that really reached the database (see the [module docs](self)).
pub fn write_lock(dir: &Path, name: &str) -> Result<()> {
    let path = lock_path(dir);
    if name.is_empty() || name.trim() != name || name.contains(['\n', '\r']) {
        return Err(ConfigError::Invalid {
            location: path.display().to_string(),
            message: format!(
                "refusing to write profile name {name:?}: it is empty or has surrounding whitespace"
            ),
        });
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!("{LOCK_FILE}.{}.{nanos}.tmp", std::process::id()));
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(name.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(source) = written {
        // Best effort: the temporary file is useless once the write failed.
        let _ = fs::remove_file(&tmp);
        return Err(ConfigError::Io {
            action: "write",
            path,
            source,
        });
    }
    // Make the rename itself durable where the platform allows opening a folder.
    #[cfg(unix)]
    if let Ok(folder) = fs::File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// Removes `dir/.db-profile`; a missing file is not an error.
pub fn clear_lock(dir: &Path) -> Result<()> {
    let path = lock_path(dir);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ConfigError::Io {
            action: "remove",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    #[test]
    fn round_trips_a_bare_name() {
        let dir = TempDir::new("lock-roundtrip");
        assert_eq!(read_lock(dir.path()).unwrap(), None);
        write_lock(dir.path(), "prod").unwrap();
        assert_eq!(fs::read_to_string(lock_path(dir.path())).unwrap(), "prod");
        assert_eq!(read_lock(dir.path()).unwrap().as_deref(), Some("prod"));
        write_lock(dir.path(), "dev").unwrap();
        assert_eq!(read_lock(dir.path()).unwrap().as_deref(), Some("dev"));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        clear_lock(dir.path()).unwrap();
        assert_eq!(read_lock(dir.path()).unwrap(), None);
        clear_lock(dir.path()).unwrap();
    }

    #[test]
    fn trims_and_treats_blank_as_none() {
        let dir = TempDir::new("lock-trim");
        fs::write(lock_path(dir.path()), "  staging\n").unwrap();
        assert_eq!(read_lock(dir.path()).unwrap().as_deref(), Some("staging"));
        fs::write(lock_path(dir.path()), " \n").unwrap();
        assert_eq!(read_lock(dir.path()).unwrap(), None);
    }

    #[test]
    fn rejects_names_that_would_not_read_back() {
        let dir = TempDir::new("lock-bad-name");
        let err = write_lock(dir.path(), " dev").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: refusing to write profile name \" dev\": it is empty or has surrounding whitespace",
                lock_path(dir.path()).display()
            )
        );
        assert!(write_lock(dir.path(), "").is_err());
        assert!(write_lock(dir.path(), "a\nb").is_err());
    }

    #[test]
    fn reports_io_errors_with_the_path() {
        let dir = TempDir::new("lock-io");
        let missing = dir.path().join("no-such-folder");
        let err = write_lock(&missing, "dev").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to write {}", lock_path(&missing).display())
        );
        // A folder where the file should be cannot be read as a lock.
        fs::create_dir(lock_path(dir.path())).unwrap();
        let err = read_lock(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to read {}", lock_path(dir.path()).display())
        );
        let err = clear_lock(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to remove {}", lock_path(dir.path()).display())
        );
    }
}
