//! A pull reader for backup files: walks the top-level object key by key and table arrays row by row, so
//! only one row is in memory at a time, whatever the file size.
//!
//! It keeps the line and column of every byte it reads, so an error names its real place in the file
//! (gzip files included, counted in the decompressed text). It also reads the bare `NaN`, `Infinity` and
//! `-Infinity` tokens that the Python original's `json.dump` writes for non-finite floats (they are not
//! JSON): each becomes the string PostgreSQL reads for that float.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::checker::Checker;
use crate::error::BackupError;
use crate::file::{io_err, open_read};

/// A place in the file: 1-based line, 1-based column in characters, and the byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) offset: u64,
}

impl Pos {
    const START: Pos = Pos {
        line: 1,
        column: 1,
        offset: 0,
    };

    /// The place after `bytes`.
    fn advance_over(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        // A UTF-8 continuation byte belongs to the character already counted.
        let chars = |b: &[u8]| b.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        match memchr::memrchr(b'\n', bytes) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
                self.column = 1 + chars(&bytes[last + 1..]);
            }
            None => self.column += chars(bytes),
        }
    }

    /// The place after `byte`.
    fn advance(&mut self, byte: u8) {
        self.offset += 1;
        if byte == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if byte & 0xC0 != 0x80 {
            // A UTF-8 continuation byte belongs to the character already counted.
            self.column += 1;
        }
    }
}

/// Top-level keys of one JSON object, values read on demand.
pub(crate) struct BackupFile {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    /// Where the next byte lies.
    pos: Pos,
    /// Whether the cursor is inside the top-level object, past the last key read and its value.
    state: State,
    /// Every top-level key seen so far; complete once `complete` is set.
    keys: HashSet<String>,
    complete: bool,
    /// The bytes of the value being read, exactly as in the file.
    scratch: Vec<u8>,
    /// Where the value in `scratch` starts.
    start: Pos,
    /// Whether `scratch` may hold a bare non-finite token (an `N` or `I` outside a string).
    nonfinite: bool,
    /// `scratch` with the non-finite tokens quoted, and the indexes of the quotes added.
    quoted: Vec<u8>,
    added: Vec<usize>,
    /// How many keys the last row read had.
    row_keys: usize,
    /// How many times the file was opened (a key found behind the cursor opens it again).
    opened: u32,
    /// Checks (and, for a restore, decodes) every row read by [`BackupFile::next_row`].
    pub(crate) checker: Option<Checker>,
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
        Ok(BackupFile::reading(
            path.to_owned(),
            open_read(path)?,
            Pos::START,
            State::Start,
            1,
        ))
    }

    /// A file read from `input`, at `pos` in state `state`, with nothing read into it yet.
    fn reading(
        path: PathBuf,
        input: Box<dyn BufRead + Send>,
        pos: Pos,
        state: State,
        opened: u32,
    ) -> BackupFile {
        BackupFile {
            path,
            input,
            pos,
            state,
            keys: HashSet::new(),
            complete: false,
            scratch: Vec::new(),
            start: Pos::START,
            nonfinite: false,
            quoted: Vec::new(),
            added: Vec::new(),
            row_keys: 0,
            opened,
            checker: None,
        }
    }

    /// Moves the file out (to be read on another thread), leaving in its place one that reads nothing
    /// until the file is put back.
    pub(crate) fn lend(&mut self) -> BackupFile {
        let placeholder = BackupFile::reading(
            self.path.clone(),
            Box::new(std::io::empty()),
            self.pos,
            State::End,
            self.opened,
        );
        std::mem::replace(self, placeholder)
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// How many times the file was opened: 1 unless a key had to be looked for from the start again.
    #[cfg(test)]
    pub(crate) fn times_opened(&self) -> u32 {
        self.opened
    }

    /// Whether the file has the top-level key `key`; only certain once [`BackupFile::is_complete`].
    pub(crate) fn has_key(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    fn syntax_at(&self, what: &str, at: Pos) -> BackupError {
        BackupError::Json {
            path: self.path.clone(),
            reason: format!("{what} at line {} column {}", at.line, at.column),
        }
    }

    fn syntax(&self, what: &str) -> BackupError {
        self.syntax_at(what, self.pos)
    }

    fn peek(&mut self) -> Result<Option<u8>, BackupError> {
        let buf = self.input.fill_buf().map_err(io_err(&self.path))?;
        Ok(buf.first().copied())
    }

    /// Consumes `byte`, the byte [`BackupFile::peek`] returned.
    fn bump(&mut self, byte: u8) {
        self.input.consume(1);
        self.pos.advance(byte);
    }

    fn next_byte(&mut self) -> Result<Option<u8>, BackupError> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.bump(b);
        }
        Ok(b)
    }

    /// The next byte that is not JSON whitespace, not consumed.
    fn peek_token(&mut self) -> Result<Option<u8>, BackupError> {
        loop {
            match self.peek()? {
                Some(b @ (b' ' | b'\n' | b'\r' | b'\t')) => self.bump(b),
                other => return Ok(other),
            }
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), BackupError> {
        match self.peek_token()? {
            Some(b) if b == byte => {
                self.bump(b);
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
        self.nonfinite = false;
        let Some(first) = self.peek_token()? else {
            return Err(self.syntax("expected a value, found end of file"));
        };
        self.start = self.pos;
        match first {
            b'{' | b'[' => {
                // A buffer at a time: through `dyn BufRead`, a call per byte cost a fifth of a restore's
                // client time.
                let mut depth = 0usize;
                let mut strings = Strings::default();
                loop {
                    let buf = self.input.fill_buf().map_err(io_err(&self.path))?;
                    if buf.is_empty() {
                        return Err(self.syntax("unterminated value"));
                    }
                    let mut end = None;
                    let mut i = 0;
                    while i < buf.len() {
                        if strings.inside && !strings.escaped {
                            // Nothing in a string but its end or an escape means anything here.
                            match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                                Some(skip) => i += skip,
                                None => break,
                            }
                        }
                        let b = buf[i];
                        i += 1;
                        if strings.step(b) {
                            continue;
                        }
                        match b {
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = Some(i);
                                    break;
                                }
                            }
                            // Outside strings, JSON has no capital letters but E: a NaN or Infinity token.
                            b'N' | b'I' => self.nonfinite = true,
                            _ => {}
                        }
                    }
                    let taken = &buf[..end.unwrap_or(buf.len())];
                    if store {
                        self.scratch.extend_from_slice(taken);
                    }
                    self.pos.advance_over(taken);
                    let n = taken.len();
                    self.input.consume(n);
                    if end.is_some() {
                        return Ok(());
                    }
                }
            }
            b'"' => {
                self.bump(b'"');
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
            _ => {
                let mut len = 0usize;
                loop {
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
                            if matches!(b, b'N' | b'I') {
                                self.nonfinite = true;
                            }
                            len += 1;
                            self.bump(b);
                        }
                    }
                }
            }
        }
    }

    /// Parses `scratch`, an object into a map with room for `capacity` keys; an error names the line and
    /// column in the file where the parser stopped.
    fn parse_scratch(&mut self, capacity: usize) -> Result<Value, BackupError> {
        if !self.nonfinite {
            return parse_json(&self.scratch, capacity).map_err(|e| self.parse_error(&e, false));
        }
        quote_nonfinite(&self.scratch, &mut self.quoted, &mut self.added);
        parse_json(&self.quoted, capacity).map_err(|e| self.parse_error(&e, true))
    }

    fn parse_error(&self, e: &serde_json::Error, quoted: bool) -> BackupError {
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let what = text.strip_suffix(&suffix).unwrap_or(&text);
        let parsed = if quoted { &self.quoted } else { &self.scratch };
        let mut index = index_of(parsed, e.line(), e.column());
        if quoted {
            index -= self.added.iter().filter(|&&a| a < index).count();
        }
        let mut at = self.start;
        for &b in &self.scratch[..index.min(self.scratch.len())] {
            at.advance(b);
        }
        self.syntax_at(what, at)
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
                self.bump(b'}');
                self.state = State::End;
                self.complete = true;
                if self.peek_token()?.is_some() {
                    return Err(self.syntax("trailing characters after the top-level object"));
                }
                return Ok(None);
            }
            Some(b',') if !first => self.bump(b','),
            _ if first => {}
            _ => return Err(self.syntax("expected ',' or '}'")),
        }
        if self.peek_token()? != Some(b'"') {
            return Err(self.syntax("expected a string key"));
        }
        self.capture()?;
        let key = match self.parse_scratch(0)? {
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
        self.parse_scratch(0)
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
        self.bump(b'[');
        self.state = State::Array { first: true };
        Ok(true)
    }

    /// Whether the cursor is inside a table array.
    pub(crate) fn in_array(&self) -> bool {
        matches!(self.state, State::Array { .. })
    }

    /// The next element of the array entered with [`BackupFile::enter_array`], or `None` after its end.
    /// With a [`Checker`] set, the row is checked (and decoded) first, and the table's end is checked too.
    pub(crate) fn next_row(&mut self) -> Result<Option<Value>, BackupError> {
        let State::Array { first } = self.state else {
            return Ok(None);
        };
        match self.peek_token()? {
            Some(b']') => {
                self.bump(b']');
                self.state = State::Between { first: false };
                if let Some(checker) = &mut self.checker {
                    checker.end_table(&self.path)?;
                }
                return Ok(None);
            }
            Some(b',') if !first => self.bump(b','),
            _ if first => {}
            _ => return Err(self.syntax("expected ',' or ']'")),
        }
        self.capture()?;
        self.state = State::Array { first: false };
        // A table's rows have the same keys, as a rule: each row's map is made with room for as many as
        // the row before had, so it does not grow while it is filled.
        let row = self.parse_scratch(self.row_keys)?;
        if let Value::Object(map) = &row {
            self.row_keys = map.len();
        }
        match &mut self.checker {
            Some(checker) => checker.row(row, self.start.line, &self.path).map(Some),
            None => Ok(Some(row)),
        }
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
                // A pipe (or any file that is not a regular one) can be read only once.
                if !std::fs::metadata(&self.path).is_ok_and(|m| m.is_file()) {
                    return Err(BackupError::ReadOnce {
                        path: self.path.clone(),
                        key: key.to_owned(),
                    });
                }
                let keys = std::mem::take(&mut self.keys);
                let complete = self.complete;
                let checker = self.checker.take();
                let opened = self.opened;
                *self = BackupFile::open(&self.path)?;
                self.keys = keys;
                self.complete = complete;
                self.checker = checker;
                self.opened = opened + 1;
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

/// The index in `text` of the byte serde_json's error position (1-based line; column = bytes of that line
/// up to and including the byte) points at.
fn index_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    let mut n = 1;
    while n < line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => break,
        }
        n += 1;
    }
    (start + column.saturating_sub(1)).min(text.len())
}

/// Parses JSON `text`; an object comes as a map made with room for `capacity` keys.
///
/// Text that is valid UTF-8 as a whole is parsed as a `str`, so that its strings are not checked again
/// one by one; other text is parsed as bytes, which reports where the bad byte is.
fn parse_json(text: &[u8], capacity: usize) -> serde_json::Result<Value> {
    let object = text.first() == Some(&b'{');
    match std::str::from_utf8(text) {
        Ok(text) => parse_from(serde_json::Deserializer::from_str(text), object, capacity),
        Err(_) => parse_from(serde_json::Deserializer::from_slice(text), object, capacity),
    }
}

/// Parses what `de` reads: an `object` into a map with room for `capacity` keys.
fn parse_from<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    object: bool,
    capacity: usize,
) -> serde_json::Result<Value> {
    let value = if object {
        serde::Deserializer::deserialize_map(&mut de, ObjectWithRoom(capacity))?
    } else {
        serde::Deserialize::deserialize(&mut de)?
    };
    de.end()?;
    Ok(value)
}

/// Reads a JSON object into a map made with room for this many keys (values as `Value` reads them).
struct ObjectWithRoom(usize);

impl<'de> serde::de::Visitor<'de> for ObjectWithRoom {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = serde_json::Map::with_capacity(self.0);
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Where a scan of JSON text stands with respect to its strings.
#[derive(Clone, Copy, Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Takes the next byte; true when it belongs to a string (its quotes included), where it means
    /// nothing to the text's structure.
    #[inline]
    fn step(&mut self, b: u8) -> bool {
        if self.inside {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.inside = false;
            }
            return true;
        }
        if b == b'"' {
            self.inside = true;
            return true;
        }
        false
    }
}

/// Copies `text` into `out`, putting quotes around each `NaN`, `Infinity` and `-Infinity` outside strings
/// (as Python's `json.dump` writes non-finite floats), and notes in `added` the index of every quote added.
fn quote_nonfinite(text: &[u8], out: &mut Vec<u8>, added: &mut Vec<usize>) {
    out.clear();
    added.clear();
    let mut strings = Strings::default();
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if !strings.step(b)
            && let Some(token) = [&b"NaN"[..], b"Infinity", b"-Infinity"]
                .into_iter()
                .find(|t| text[i..].starts_with(t))
        {
            added.push(out.len());
            out.push(b'"');
            out.extend_from_slice(token);
            added.push(out.len());
            out.push(b'"');
            i += token.len();
            continue;
        }
        out.push(b);
        i += 1;
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
mod tests;
