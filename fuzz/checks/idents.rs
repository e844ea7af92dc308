// Shared by the cargo-fuzz target fuzz_targets/idents.rs and the corpus regression test that runs in the
// normal test suite (see docs/testing.md, "Fuzzing"). Included with `include!`, so plain comments only.
//
// Identifier, table-name, column-list and order-list parsing in `dba_core`, and the query and filter
// values built from them. Parsed names must render (quoted) back to themselves.
//
// Input: lines of text. Every line goes through every parser; line 4 (if any) is also read as a filter
// JSON object.

use dba_core::{Columns, Filter, Ident, OrderBy, Query, TableName, Value, value_to_text};

pub(crate) fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        if let Ok(ident) = Ident::parse(line) {
            let quoted = ident.to_string();
            assert_eq!(Ident::parse(&quoted).ok(), Some(ident.clone()), "{quoted}");
            assert_eq!(Ident::exact(ident.as_str()).ok(), Some(ident));
        }
        let _ = Ident::exact(line);
        if let Ok(table) = TableName::parse(line) {
            let quoted = table.to_string();
            assert_eq!(TableName::parse(&quoted).ok(), Some(table.clone()), "{quoted}");
            let _ = table.display_name();
        }
        if let Ok(Columns::List(list)) = Columns::parse(line) {
            let quoted: Vec<String> = list.iter().map(ToString::to_string).collect();
            assert_eq!(Columns::parse(&quoted.join(", ")).ok(), Some(Columns::List(list)));
        }
        let _ = OrderBy::parse_list(line);
        let _ = OrderBy::asc(line);
        let query = Query::new().columns(line).order_by(line);
        let _ = query.validate();
        if let Ok(value) = serde_json::from_str::<Value>(line) {
            let _ = value_to_text(&value);
            if let Ok(filter) = Filter::from_json(&value) {
                for condition in filter.conditions() {
                    let _ = condition.validate();
                }
                let _ = filter.check_write("fuzz");
                let _ = Query::new().filter(filter).validate();
            }
            if let Some(map) = value.as_object() {
                let _ = Filter::from_map(map).check_write("fuzz");
            }
        }
    }
}
