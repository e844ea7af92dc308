//! The pull reader: order, positions of errors, and the Python original's non-finite float tokens.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;

use super::*;

fn file_with(name: &str, text: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("dba-reader-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text).unwrap();
    gz.finish().unwrap()
}

/// Reads every key, every table row and every other value; the first error.
fn read_all(path: &Path) -> Result<(), BackupError> {
    let mut f = BackupFile::open(path)?;
    while f.next_key()?.is_some() {
        if f.enter_array()? {
            while f.next_row()?.is_some() {}
        } else {
            f.read_value()?;
        }
    }
    Ok(())
}

/// The 1-based line and column (in characters) of the first `@` in `text`.
fn place_of_marker(text: &str) -> (usize, usize) {
    let at = text.find('@').unwrap();
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A backup laid out as the Python original writes it (`json.dump(..., indent=2)`), 60 rows per table, with
/// `bad` spliced into row 40 of the second table.
fn python_layout(bad: &str) -> String {
    let mut text = String::from(
        "{\n  \"metadata\": {\n    \"version\": \"1.1\",\n    \"user_id\": \"u1\"\n  },\n  \"categories\": [\n",
    );
    for table in ["categories", "products"] {
        if table == "products" {
            text.push_str("  \"products\": [\n");
        }
        for i in 0..60 {
            let extra = if table == "products" && i == 40 {
                bad
            } else {
                "\"price\": \"12.50\""
            };
            text.push_str(&format!(
                "    {{\n      \"id\": {i},\n      \"slug\": \"s{i}\",\n      \"name\": \"Name {i}\",\n      {extra},\n      \"note\": null\n    }}{}\n",
                if i == 59 { "" } else { "," }
            ));
        }
        text.push_str(if table == "products" {
            "  ]\n"
        } else {
            "  ],\n"
        });
    }
    text.push_str("}\n");
    text
}

#[test]
fn reads_keys_values_and_rows_in_any_order() {
    let path = file_with(
        "order.json",
        br#" { "b": [ {"x": "a]}\"b"}, 2 , [3] ] , "metadata": {"version": "1.1"}, "a": [] , "n": 1.50 } "#,
    );
    let mut f = BackupFile::open(&path).unwrap();
    assert!(f.seek("metadata").unwrap());
    assert_eq!(f.read_value().unwrap(), json!({"version": "1.1"}));
    assert!(f.seek("b").unwrap(), "found again from the start");
    assert_eq!(f.times_opened(), 2);
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
fn an_error_deep_in_a_table_names_its_line_and_column_in_the_file() {
    // Errors the JSON parser finds inside a row, and errors the reader finds between rows.
    for (name, bad, message) in [
        ("token", "\"price\": @", "expected value"),
        ("escape", "\"price\": \"12\\@\"", "invalid escape"),
        ("after-nan", "\"price\": NaN, \"x\": @", "expected value"),
        ("comma", "\"price\": 1 @", "expected `,` or `}`"),
        (
            "between-rows",
            "\"price\": 1\n    } @ {\n      \"a\": 1",
            "expected ',' or ']'",
        ),
    ] {
        let text = python_layout(bad);
        let (line, column) = place_of_marker(&text);
        assert!(line > 100, "{name}: the error lies deep in the file");
        if name != "after-nan" {
            // serde_json reading the whole file agrees on the place.
            let whole = serde_json::from_str::<Value>(&text).unwrap_err();
            assert_eq!((whole.line(), whole.column()), (line, column), "{name}");
        }
        let expected = format!("{message} at line {line} column {column}");
        for (kind, bytes) in [
            ("plain", text.clone().into_bytes()),
            ("gzip", gzip(text.as_bytes())),
        ] {
            let path = file_with(&format!("deep-{name}-{kind}.json"), &bytes);
            let err = read_all(&path).unwrap_err();
            let BackupError::Json { reason, .. } = &err else {
                panic!("{name} {kind}: {err}")
            };
            assert_eq!(reason, &expected, "{name} {kind}");
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = "{\"metadata\": {},\n \"t\": [{\"name\": \"crème brûlée\", \"x\": @}]}";
    let (line, column) = place_of_marker(text);
    let path = file_with("chars.json", text.as_bytes());
    let err = read_all(&path).unwrap_err().to_string();
    assert!(
        err.ends_with(&format!("expected value at line {line} column {column}")),
        "{err}"
    );
    assert_eq!(
        (line, column),
        (2, 38),
        "counted in characters: the bytes would say 42"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn the_originals_non_finite_float_tokens_are_read_as_postgresql_strings() {
    let path = file_with(
        "nonfinite.json",
        b"{\"metadata\": {\"n\": NaN},\n \"t\": [\n  {\"a\": NaN, \"b\": [Infinity, -Infinity, 1.5], \
          \"s\": \"NaN Infinity\", \"nested\": {\"x\": -Infinity}},\n  -Infinity\n ]}",
    );
    let mut f = BackupFile::open(&path).unwrap();
    assert!(f.seek("metadata").unwrap());
    assert_eq!(f.read_value().unwrap(), json!({"n": "NaN"}));
    assert!(f.seek("t").unwrap());
    assert!(f.enter_array().unwrap());
    assert_eq!(
        f.next_row().unwrap(),
        Some(
            json!({"a": "NaN", "b": ["Infinity", "-Infinity", 1.5], "s": "NaN Infinity",
                    "nested": {"x": "-Infinity"}})
        )
    );
    assert_eq!(f.next_row().unwrap(), Some(json!("-Infinity")));
    assert_eq!(f.next_row().unwrap(), None);
    assert_eq!(f.next_key().unwrap(), None);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn other_capitalised_tokens_are_still_invalid() {
    for (name, text) in [
        ("nan-lower", "{\"t\": [{\"a\": nan}]}"),
        ("none", "{\"t\": [{\"a\": None}]}"),
        ("inf", "{\"t\": [{\"a\": Inf}]}"),
        ("nanx", "{\"t\": [{\"a\": NaNx}]}"),
    ] {
        let path = file_with(name, text.as_bytes());
        let err = read_all(&path).unwrap_err().to_string();
        assert!(err.contains("at line 1 column "), "{name}: {err}");
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn names_unprintable_first_bytes_in_hex() {
    for (name, text, found) in [
        (
            "bom.json",
            "\u{feff}{}",
            "found byte 0xEF (a UTF-8 byte order mark",
        ),
        ("nul.json", "\0{}", "found byte 0x00 at line 1 column 1"),
        ("list.json", "[]", "found '[' at line 1 column 1"),
    ] {
        let path = file_with(name, text.as_bytes());
        let err = BackupFile::open(&path)
            .unwrap()
            .next_key()
            .unwrap_err()
            .to_string();
        assert!(err.contains(found), "{name}: {err}");
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn a_place_moved_over_many_bytes_at_once_is_the_place_moved_byte_by_byte() {
    let texts: [&[u8]; 6] = [
        b"",
        b"{\"a\": 1}",
        "caf\u{e9} \u{1F600}\nna\u{ef}ve\n\n  x".as_bytes(),
        b"\n",
        "\u{e9}\n\u{e9}\u{e9}".as_bytes(),
        b"[{\"s\": \"a\\\"b\\\\\"},\n {\"t\": [1, 2]}]",
    ];
    for text in texts {
        for split in 0..=text.len() {
            let mut each = Pos::START;
            for &b in text {
                each.advance(b);
            }
            let mut over = Pos::START;
            over.advance_over(&text[..split]);
            over.advance_over(&text[split..]);
            assert_eq!(
                over,
                each,
                "{:?} split at {split}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

#[test]
fn values_spanning_buffers_with_escapes_and_brackets_in_strings_are_read_whole() {
    // Strings holding brackets, escaped quotes and backslashes, longer than the reader's buffer, so a
    // string and an escape are cut between two reads.
    let long = "x\\\"]}{[\\\\".repeat(3000);
    let text = format!(
        "{{\"rows\": [{{\"id\": 1, \"s\": \"{long}\"}}, {{\"id\": 2, \"s\": \"]\"}}], \"after\": [\"{long}\"]}}"
    );
    let path = file_with("spanning", text.as_bytes());
    let mut f = BackupFile::open(&path).unwrap();
    assert_eq!(f.next_key().unwrap().as_deref(), Some("rows"));
    assert!(f.enter_array().unwrap());
    let first = f.next_row().unwrap().unwrap();
    assert_eq!(first["s"].as_str().unwrap().len(), 7 * 3000);
    assert_eq!(f.next_row().unwrap().unwrap()["s"], json!("]"));
    assert!(f.next_row().unwrap().is_none());
    assert_eq!(f.next_key().unwrap().as_deref(), Some("after"));
    assert_eq!(f.read_value().unwrap()[0].as_str().unwrap().len(), 7 * 3000);
    assert!(f.next_key().unwrap().is_none());
    std::fs::remove_file(path).unwrap();
}
