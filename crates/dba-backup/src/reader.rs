//! A pull reader for backup files: walks the top-level object key by key and table arrays row by row, so
//! only one row is in memory at a time, whatever the file size.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::BackupError;
use crate::file::{io_err, open_read};

/// Top-level keys of one JSON object, values read on demand.
pub(crate) struct BackupFile {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    offset: u64,
    /// Whether the cursor is inside the top-level object, past the last key read and its value.
    state: State,
    /// Every top-level key seen so far; complete once `complete` is set.
    keys: HashSet<String>,
    complete: bool,
    scratch: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening brace.
    Start,
    /// After a key and its colon: the value is next.
    Value,
    /// Inside a table array that is being read row by row.
    Array { first: bool },
    /// Between members: a comma or the closing brace is next.
    Between { first: bool },
    /// After the closing brace.
    End,
}

impl BackupFile {
    pub(crate) fn open(path: &Path) -> Result<BackupFile, BackupError> {
        Ok(BackupFile {
            path: path.to_owned(),
            input: open_read(path)?,
            offset: 0,
            state: State::Start,
            keys: HashSet::new(),
            complete: false,
            scratch: Vec::new(),
        })
    }

    fn syntax(&self, what: &str) -> BackupError {
        BackupError::Json {
            path: self.path.clone(),
            reason: format!("{what} at byte {}", self.offset),
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, BackupError> {
        let buf = self.input.fill_buf().map_err(io_err(&self.path))?;
        Ok(buf.first().copied())
    }

    fn bump(&mut self) {
        self.input.consume(1);
        self.offset += 1;
    }

    fn next_byte(&mut self) -> Result<Option<u8>, BackupError> {
        let b = self.peek()?;
        if b.is_some() {
            self.bump();
        }
        Ok(b)
    }

    /// The next byte that is not JSON whitespace, not consumed.
    fn peek_token(&mut self) -> Result<Option<u8>, BackupError> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\n' | b'\r' | b'\t') => self.bump(),
                other => return Ok(other),
            }
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), BackupError> {
        match self.peek_token()? {
            Some(b) if b == byte => {
                self.bump();
                Ok(())
            }
            Some(b) => Err(self.syntax(&format!(
                "expected '{}', found {}",
                byte as char,
                describe_byte(b)
            ))),
            None => Err(self.syntax(&format!("expected '{}', found end of file", byte as char))),
        }
    }

    /// Copies the bytes of one complete JSON value into `scratch`.
    fn capture(&mut self) -> Result<(), BackupError> {
        self.scan(true)
    }

    /// Reads past one complete JSON value, keeping its bytes in `scratch` only when `store` is set, so
    /// skipping a large table costs no memory.
    fn scan(&mut self, store: bool) -> Result<(), BackupError> {
        self.scratch.clear();
        let mut len = 0usize;
        let Some(first) = self.peek_token()? else {
            return Err(self.syntax("expected a value, found end of file"));
        };
        match first {
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut in_string = false;
                let mut escaped = false;
                loop {
                    let Some(b) = self.next_byte()? else {
                        return Err(self.syntax("unterminated value"));
                    };
                    if store {
                        self.scratch.push(b);
                    }
                    if in_string {
                        if escaped {
                            escaped = false;
                        } else if b == b'\\' {
                            escaped = true;
                        } else if b == b'"' {
                            in_string = false;
                        }
                        continue;
                    }
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                }
            }
            b'"' => {
                self.bump();
                self.scratch.push(b'"');
                let mut escaped = false;
                loop {
                    let Some(b) = self.next_byte()? else {
                        return Err(self.syntax("unterminated string"));
                    };
                    if store {
                        self.scratch.push(b);
                    }
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        return Ok(());
                    }
                }
            }
            _ => loop {
                match self.peek()? {
                    Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') | None => {
                        if len == 0 {
                            return Err(self.syntax("expected a value"));
                        }
                        return Ok(());
                    }
                    Some(b) => {
                        if store {
                            self.scratch.push(b);
                        }
                        len += 1;
                        self.bump();
                    }
                }
            },
        }
    }

    fn parse_scratch(&self) -> Result<Value, BackupError> {
        serde_json::from_slice(&self.scratch).map_err(|e| {
            self.syntax(&format!(
                "{e} (in the value ending before byte {})",
                self.offset
            ))
        })
    }

    /// Finishes whatever the cursor is inside (a value or an array) so the next key can be read.
    fn skip_rest(&mut self) -> Result<(), BackupError> {
        match self.state {
            State::Value => {
                self.scan(false)?;
                self.state = State::Between { first: false };
            }
            State::Array { .. } => while self.next_row()?.is_some() {},
            _ => {}
        }
        Ok(())
    }

    /// The next top-level key, or `None` at the end of the object.
    pub(crate) fn next_key(&mut self) -> Result<Option<String>, BackupError> {
        self.skip_rest()?;
        match self.state {
            State::Start => {
                self.expect(b'{')?;
                self.state = State::Between { first: true };
            }
            State::End => return Ok(None),
            _ => {}
        }
        let State::Between { first } = self.state else {
            return Err(self.syntax("reader out of step"));
        };
        match self.peek_token()? {
            Some(b'}') => {
                self.bump();
                self.state = State::End;
                self.complete = true;
                if self.peek_token()?.is_some() {
                    return Err(self.syntax("trailing characters after the top-level object"));
                }
                return Ok(None);
            }
            Some(b',') if !first => self.bump(),
            _ if first => {}
            _ => return Err(self.syntax("expected ',' or '}'")),
        }
        if self.peek_token()? != Some(b'"') {
            return Err(self.syntax("expected a string key"));
        }
        self.capture()?;
        let key = match self.parse_scratch()? {
            Value::String(s) => s,
            _ => return Err(self.syntax("expected a string key")),
        };
        self.expect(b':')?;
        self.state = State::Value;
        self.keys.insert(key.clone());
        Ok(Some(key))
    }

    /// Reads the current key's whole value (for metadata and small values).
    pub(crate) fn read_value(&mut self) -> Result<Value, BackupError> {
        if self.state != State::Value {
            return Err(self.syntax("no value to read"));
        }
        self.capture()?;
        self.state = State::Between { first: false };
        self.parse_scratch()
    }

    /// Enters the current key's value when it is an array (then read it with [`BackupFile::next_row`]);
    /// returns false, leaving the value unread, when it is something else.
    pub(crate) fn enter_array(&mut self) -> Result<bool, BackupError> {
        if self.state != State::Value {
            return Err(self.syntax("no value to read"));
        }
        if self.peek_token()? != Some(b'[') {
            return Ok(false);
        }
        self.bump();
        self.state = State::Array { first: true };
        Ok(true)
    }

    /// The next element of the array entered with [`BackupFile::enter_array`], or `None` after its end.
    pub(crate) fn next_row(&mut self) -> Result<Option<Value>, BackupError> {
        let State::Array { first } = self.state else {
            return Ok(None);
        };
        match self.peek_token()? {
            Some(b']') => {
                self.bump();
                self.state = State::Between { first: false };
                return Ok(None);
            }
            Some(b',') if !first => self.bump(),
            _ if first => {}
            _ => return Err(self.syntax("expected ',' or ']'")),
        }
        self.capture()?;
        self.state = State::Array { first: false };
        self.parse_scratch().map(Some)
    }

    /// Positions the cursor at the value of `key`: forward from here, then once more from the start of
    /// the file when the key lies behind. Returns false when the file has no such key. Files whose keys are
    /// in schema order (every file either tool writes) are read in one pass.
    pub(crate) fn seek(&mut self, key: &str) -> Result<bool, BackupError> {
        if self.complete && !self.keys.contains(key) {
            return Ok(false);
        }
        for pass in 0..2 {
            if pass == 1 {
                let keys = std::mem::take(&mut self.keys);
                let complete = self.complete;
                *self = BackupFile::open(&self.path)?;
                self.keys = keys;
                self.complete = complete;
            }
            while let Some(k) = self.next_key()? {
                if k == key {
                    return Ok(true);
                }
            }
            if !self.keys.contains(key) {
                return Ok(false);
            }
        }
        Ok(false)
    }
}

/// A byte for a message: printable ASCII quoted, anything else (binary, a UTF-8 byte order mark) in hex.
fn describe_byte(b: u8) -> String {
    match b {
        0xEF => "byte 0xEF (a UTF-8 byte order mark? save the file without one)".to_owned(),
        b if b.is_ascii_graphic() => format!("'{}'", b as char),
        b => format!("byte 0x{b:02X}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file_with(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("dba-reader-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_keys_values_and_rows_in_any_order() {
        let path = file_with(
            "order.json",
            r#" { "b": [ {"x": "a]}\"b"}, 2 , [3] ] , "metadata": {"version": "1.1"}, "a": [] , "n": 1.50 } "#,
        );
        let mut f = BackupFile::open(&path).unwrap();
        assert!(f.seek("metadata").unwrap());
        assert_eq!(f.read_value().unwrap(), json!({"version": "1.1"}));
        assert!(f.seek("b").unwrap(), "found again from the start");
        assert!(f.enter_array().unwrap());
        assert_eq!(f.next_row().unwrap(), Some(json!({"x": "a]}\"b"})));
        assert_eq!(f.next_row().unwrap(), Some(json!(2)));
        assert_eq!(f.next_row().unwrap(), Some(json!([3])));
        assert_eq!(f.next_row().unwrap(), None);
        assert!(f.seek("n").unwrap());
        assert_eq!(f.read_value().unwrap().to_string(), "1.50");
        assert!(!f.seek("missing").unwrap());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn reports_bad_json_with_a_position() {
        let path = file_with("bad.json", r#"{"metadata": {"a": 1}, "t": [ {"x": } ]}"#);
        let mut f = BackupFile::open(&path).unwrap();
        assert!(f.seek("t").unwrap());
        assert!(f.enter_array().unwrap());
        let err = f.next_row().unwrap_err().to_string();
        assert!(err.starts_with("invalid JSON in "), "{err}");
        assert!(err.contains("at byte"), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn names_unprintable_first_bytes_in_hex() {
        for (name, text, found) in [
            (
                "bom.json",
                "\u{feff}{}",
                "found byte 0xEF (a UTF-8 byte order mark",
            ),
            ("nul.json", "\0{}", "found byte 0x00 at byte 0"),
            ("list.json", "[]", "found '[' at byte 0"),
        ] {
            let path = file_with(name, text);
            let err = BackupFile::open(&path)
                .unwrap()
                .next_key()
                .unwrap_err()
                .to_string();
            assert!(err.contains(found), "{name}: {err}");
            std::fs::remove_file(path).unwrap();
        }
    }
}
