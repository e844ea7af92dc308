//! Line and column of a place in a text file, as an editor shows them: 1-based, columns counted in
//! characters. Shared by the crates that parse files (schema.sql, column-defs and backup-schema JSON), so that
//! every parse error names the same place an editor would.

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (to_u64(line), to_u64(column))
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Byte offset of the start of 1-based `line` in `text` (the end of the text past its last line).
fn line_start(text: &str, line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 2)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// The true line, column (in characters) and message of a serde_json error on `text`.
///
/// serde_json counts columns in bytes and appends ` at line x column y` to its message; this converts the
/// column to characters and returns the message without the position.
pub fn json_error(text: &str, error: &serde_json::Error) -> (u64, u64, String) {
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    };
    let start = line_start(text, error.line());
    // Column 0 means the error lies at the start of its line (or at the end of the input).
    let offset = start + error.column().saturating_sub(1);
    let (line, column) = line_col(text, offset);
    (line, column, message)
}

/// Decodes `bytes` as UTF-8, or says where the first invalid byte is and whether the file is UTF-16 (starts
/// with its byte order mark).
///
/// # Errors
///
/// The line and column of the first byte that is not UTF-8, and whether the file looks like UTF-16.
pub fn utf8(bytes: Vec<u8>) -> Result<String, (u64, u64, bool)> {
    String::from_utf8(bytes).map_err(|e| {
        let utf16 =
            e.as_bytes().starts_with(&[0xff, 0xfe]) || e.as_bytes().starts_with(&[0xfe, 0xff]);
        let valid = e.utf8_error().valid_up_to();
        let text = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        let (line, column) = line_col(text, valid);
        (line, column, utf16)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_lines_count_newlines() {
        let text = "ab\r\nçé✓x\n\ny";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (2, 1));
        assert_eq!(line_col(text, text.find('x').unwrap()), (2, 4));
        assert_eq!(line_col(text, text.find('y').unwrap()), (4, 1));
        assert_eq!(line_col(text, text.len() + 10), (4, 2));
    }

    #[test]
    fn invalid_utf8_is_located() {
        let mut bytes = "a\n  é".as_bytes().to_vec();
        bytes.push(0xff);
        assert_eq!(utf8(bytes), Err((2, 4, false)));
        assert_eq!(utf8(vec![0xff, 0xfe, b'a', 0]), Err((1, 1, true)));
    }
}
