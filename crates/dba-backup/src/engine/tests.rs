//! The pure parts of the engine: match keys and quoted column lists.

use serde_json::json;

use crate::engine::{group_key, matches_through_references, pk_list, quoted_list};
use crate::schema::TableDef;

#[test]
fn group_keys_combine_natural_key_and_user() {
    let row = json!({"id": 1, "slug": "a", "user_id": "u1"})
        .as_object()
        .cloned()
        .unwrap();
    let def = TableDef::new("t");
    assert_eq!(group_key(&def, &row).unwrap(), r#"["a","u1"]"#);
    let no_user = TableDef::new("t").user_field(None);
    assert_eq!(group_key(&no_user, &row).unwrap(), r#"["a"]"#);
    assert_eq!(group_key(&TableDef::new("t").natural_key(&[]), &row), None);
    let null_slug = json!({"slug": null}).as_object().cloned().unwrap();
    assert_eq!(
        group_key(&def, &null_slug),
        None,
        "a NULL key never matches"
    );
}

/// The key text is an array of the parts: strings quoted with their quotes and backslashes escaped,
/// numbers as their own text, the rest as compact JSON. Equal parts give equal keys and any difference in
/// any part gives another key, however the strings are made up.
#[test]
fn group_keys_tell_every_different_row_apart() {
    let def = TableDef::new("t").natural_key(&["a", "b"]);
    let values = [
        json!("plain"),
        json!("quote \" backslash \\ newline \n tab \t \u{1} caf\u{e9} \u{1F600}"),
        json!("\\\""),
        json!("\\"),
        json!("\","),
        json!("a\",\"b"),
        json!("1"),
        json!("null"),
        json!(0),
        json!(-12345678901234567_i64),
        json!(1.5),
        json!(true),
        json!(null),
        json!({"k": [1, "x"], "z": null}),
        json!([]),
        json!(["a", "b"]),
    ];
    let mut seen = std::collections::HashMap::new();
    for a in &values {
        for b in &values {
            for user in [json!("u"), json!(null), json!("u\"")] {
                let row = json!({"a": a, "b": b, "user_id": user})
                    .as_object()
                    .cloned()
                    .unwrap();
                let Some(key) = group_key(&def, &row) else {
                    assert!(a.is_null() || b.is_null(), "{row:?}");
                    continue;
                };
                assert_eq!(group_key(&def, &row.clone()).as_ref(), Some(&key));
                if let Some(earlier) = seen.insert(key.clone(), row.clone()) {
                    panic!("{earlier:?} and {row:?} both give {key}");
                }
            }
        }
    }
    let row = json!({"a": "x\"y", "b": 1, "user_id": "u"})
        .as_object()
        .cloned()
        .unwrap();
    assert_eq!(group_key(&def, &row).unwrap(), r#"["x\"y",1,"u"]"#);
    let no_user = json!({"a": "x", "b": 1}).as_object().cloned().unwrap();
    assert_eq!(group_key(&def, &no_user).unwrap(), r#"["x",1,null]"#);
}

#[test]
fn column_lists_are_quoted_exactly() {
    assert_eq!(
        quoted_list(&["id", "Mixed \"q\""]),
        r#""id", "Mixed ""q""""#
    );
    let parsed = dba_core::Columns::parse(&quoted_list(&["Id", "x y"])).unwrap();
    let dba_core::Columns::List(list) = parsed else {
        panic!("a list")
    };
    assert_eq!(list[0].as_str(), "Id");
    assert_eq!(list[1].as_str(), "x y");
}

#[test]
fn a_join_table_without_natural_key_matches_by_its_whole_key() {
    let row = json!({"product_id": 8, "tag_id": 5, "weight": 1, "user_id": "u1"})
        .as_object()
        .cloned()
        .unwrap();
    let joins = TableDef::new("pt")
        .pk_columns(&["product_id", "tag_id"])
        .natural_key(&[])
        .user_field(None)
        .parent("p", "product_id");
    assert_eq!(group_key(&joins, &row).unwrap(), "[8,5]");
    assert!(matches_through_references(&joins, true));
    assert!(!matches_through_references(&joins, false));
    // With a user field, the user takes part, as for a natural key.
    let owned = joins.clone().user_field(Some("user_id"));
    assert_eq!(group_key(&owned, &row).unwrap(), r#"[8,5,"u1"]"#);
    // A single key without natural key still never matches (every row is new).
    assert_eq!(group_key(&TableDef::new("t").natural_key(&[]), &row), None);
    assert!(!matches_through_references(&TableDef::new("t"), true));
    assert_eq!(pk_list(&joins), r#""product_id", "tag_id""#);
}
