//! Rows: JSON objects that keep column order.

use serde_json::{Map, Value};

/// One row: column names to JSON values, in column order.
pub type Row = Map<String, Value>;

/// Removes keys that start with `_` (caller metadata such as `_project_slug`), as the Python original does on
/// insert; dba does it on update and upsert too.
pub fn strip_private_keys(row: &Row) -> Row {
    row.iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The text a backend sends for a JSON value when the database parses it with the column type's own input
/// function: strings as themselves, numbers with every digit, booleans as `true`/`false`, arrays and objects
/// as JSON text, and `null` as SQL NULL (`None`).
pub fn value_to_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        // The number's own text (serde_json keeps it, `arbitrary_precision`), as `to_string` gives it.
        Value::Number(n) => Some(n.as_str().to_owned()),
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn private_keys_are_dropped_and_order_is_kept() {
        let row: Row = serde_json::from_str(r#"{"z": 1, "_meta": 2, "a": 3}"#).unwrap();
        let keys: Vec<_> = strip_private_keys(&row).keys().cloned().collect();
        assert_eq!(keys, ["z", "a"]);
    }

    #[test]
    fn numbers_keep_every_digit() {
        let v: Value = serde_json::from_str("1234567890123456789012345678.0123456789").unwrap();
        assert_eq!(
            value_to_text(&v).unwrap(),
            "1234567890123456789012345678.0123456789"
        );
        assert_eq!(value_to_text(&json!(null)), None);
        assert_eq!(value_to_text(&json!({"a": [1]})).unwrap(), r#"{"a":[1]}"#);
    }
}
