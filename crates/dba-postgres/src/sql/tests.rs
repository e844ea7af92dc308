//! Exact SQL for each builder: names quoted, values bound.

use dba_core::{Filter, Query, Row, TableName, json};

use super::*;

fn table(name: &str) -> TableName {
    TableName::parse(name).unwrap()
}

fn row(value: Value) -> Row {
    value.as_object().cloned().unwrap()
}

#[test]
fn select_quotes_names_and_binds_values() {
    let q = Query::new()
        .columns("id, Name")
        .filter(
            Filter::new()
                .eq("a", 1)
                .is_in("b", ["x", "y\"z"])
                .is_null("c")
                .ilike("d", "%q%"),
        )
        .order_by("id DESC NULLS LAST, \"Name\"")
        .limit(10)
        .offset(5);
    let st = select(&table("public.items"), &q).unwrap();
    assert_eq!(
        st.sql,
        "SELECT row_to_json(\"_dba_r\")::text FROM (SELECT \"id\", \"name\" FROM \"public\".\"items\" \
         WHERE \"a\" = $1 AND \"b\" = ANY($2) AND \"c\" IS NULL AND \"d\" ILIKE $3 \
         ORDER BY \"id\" DESC NULLS LAST, \"Name\" LIMIT $4::bigint OFFSET $5::bigint) \"_dba_r\""
    );
    assert_eq!(
        st.params,
        [
            Some("1".into()),
            Some(r#"{"x","y\"z"}"#.into()),
            Some("%q%".into()),
            Some("10".into()),
            Some("5".into())
        ]
    );
}

#[test]
fn hostile_filter_keys_stay_inside_quotes() {
    let q = Query::new().filter(
        Filter::new()
            .eq("1=1 OR d", 0)
            .eq("x\"; DROP TABLE t; --", "v"),
    );
    let st = select(&table("t"), &q).unwrap();
    assert!(
        st.sql
            .contains("WHERE \"1=1 OR d\" = $1 AND \"x\"\"; DROP TABLE t; --\" = $2"),
        "{}",
        st.sql
    );
}

#[test]
fn insert_uses_json_populate_recordset() {
    let cols = write_columns(&row(json!({"a": 1, "_meta": 2, "B": "x"}))).unwrap();
    let st = insert(&table("t"), &cols, "[]".into(), None, Returning::Row);
    assert_eq!(
        st.sql,
        "INSERT INTO \"t\" AS \"_dba_t\" (\"a\", \"B\") SELECT \"a\", \"B\" \
         FROM json_populate_recordset(NULL::\"t\", $1::json) RETURNING row_to_json(\"_dba_t\")::text"
    );
    let defaults = insert(&table("t"), &[], "[]".into(), None, Returning::Nothing);
    assert_eq!(
        defaults.sql,
        "INSERT INTO \"t\" AS \"_dba_t\" DEFAULT VALUES"
    );
    assert!(defaults.params.is_empty());
}

#[test]
fn upsert_updates_every_non_key_column() {
    let cols = write_columns(&row(json!({"id": 1, "name": "x"}))).unwrap();
    let key = [Ident::exact("id").unwrap()];
    let st = insert(
        &table("t"),
        &cols,
        "[]".into(),
        Some(&key),
        Returning::Nothing,
    );
    assert!(
        st.sql
            .ends_with("ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\""),
        "{}",
        st.sql
    );
    let only_key = insert(&table("t"), &key, "[]".into(), Some(&key), Returning::Row);
    assert!(
        only_key
            .sql
            .contains("DO UPDATE SET \"id\" = EXCLUDED.\"id\" RETURNING"),
        "{}",
        only_key.sql
    );
}

#[test]
fn update_and_delete_refuse_missing_filters() {
    let data = row(json!({"name": "x", "_skip": 1}));
    let err = update(&table("t"), &data, &Filter::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: refusing update of t without a filter; pass Filter::all_rows() to touch every row"
    );
    assert!(delete(&table("t"), &Filter::new()).is_err());
    let st = update(&table("t"), &data, &Filter::all_rows()).unwrap();
    assert_eq!(
        st.sql,
        "UPDATE \"t\" AS \"_dba_t\" SET (\"name\") = (SELECT \"name\" FROM json_populate_record(NULL::\"t\", \
         $1::json)) RETURNING row_to_json(\"_dba_t\")::text"
    );
    assert_eq!(
        delete(&table("t"), &Filter::new().neq("a", Value::Null))
            .unwrap()
            .sql,
        "DELETE FROM \"t\" WHERE \"a\" IS NOT NULL"
    );
}

#[test]
fn raw_queries_are_wrapped_once() {
    assert_eq!(
        wrap_query("select 1 as a; \n"),
        "WITH \"_dba_q\" AS (\nselect 1 as a\n) SELECT row_to_json(\"_dba_q\")::text FROM \"_dba_q\""
    );
}

#[test]
fn array_literals_escape_quotes_and_backslashes() {
    assert_eq!(
        array_literal(&[json!(1), Value::Null, json!("a\\b"), json!(true)]),
        r#"{"1",NULL,"a\\b","true"}"#
    );
}

#[test]
fn compound_values_convert_through_the_column_type() {
    let st = count(&table("t"), &Filter::new().eq("tags", json!(["a", "b"]))).unwrap();
    assert_eq!(
        st.sql,
        "SELECT count(*) FROM \"t\" WHERE \"tags\" = (json_populate_record(NULL::\"t\", $1::json)).\"tags\""
    );
    assert_eq!(st.params, [Some(r#"{"tags":["a","b"]}"#.to_owned())]);
}

#[test]
fn in_lists_and_patterns_are_planned_with_their_values() {
    let by_key = select(&table("t"), &Query::new().filter(Filter::new().eq("id", 1))).unwrap();
    assert!(!by_key.value_dependent);
    let by_list = select(
        &table("t"),
        &Query::new().filter(Filter::new().is_in("slug", ["a"])),
    )
    .unwrap();
    assert!(by_list.value_dependent);
    let by_pattern = count(&table("t"), &Filter::new().like("name", "a%")).unwrap();
    assert!(by_pattern.value_dependent);
}

#[test]
fn returning_chosen_columns_binds_their_names() {
    let cols = write_columns(&row(json!({"a": 1}))).unwrap();
    let back = [
        Ident::exact("id").unwrap(),
        Ident::exact("x'); DROP TABLE t; --").unwrap(),
    ];
    let st = insert(
        &table("t"),
        &cols,
        "[]".into(),
        None,
        Returning::Columns(&back),
    );
    assert!(
        st.sql.ends_with(
            "RETURNING json_build_object($2::text, \"_dba_t\".\"id\", $3::text, \"_dba_t\".\"x'); DROP TABLE t; --\")::text"
        ),
        "{}",
        st.sql
    );
    assert_eq!(
        st.params[1..],
        [
            Some("id".to_owned()),
            Some("x'); DROP TABLE t; --".to_owned())
        ]
    );
}

#[test]
fn copy_quotes_the_table_and_columns() {
    let columns = [
        Ident::exact("id").unwrap(),
        Ident::exact("Odd \"col\"").unwrap(),
    ];
    assert_eq!(
        copy_from_stdin(&table("app.\"Items\""), &columns),
        "COPY \"app\".\"Items\" (\"id\", \"Odd \"\"col\"\"\") FROM STDIN"
    );
}

#[test]
fn projected_selects_are_never_cached_statements() {
    let projection = [
        (Ident::exact("a").unwrap(), false),
        (Ident::exact("b").unwrap(), true),
    ];
    let st = select_projected(&table("t"), &Query::new().order_by("a"), &projection).unwrap();
    assert_eq!(
        st.sql,
        "SELECT \"_dba_r\".\"a\", to_json(\"_dba_r\".\"b\")::text FROM (SELECT * FROM \"t\" \
         ORDER BY \"a\") \"_dba_r\""
    );
    assert!(st.value_dependent);
}

/// Selects of one shape with other values, and selects of other shapes: the cache's answer is always
/// what `select` builds, and a kept shape is not built again.
#[test]
fn select_cache_gives_what_select_builds_and_builds_each_shape_once() {
    let cache = SelectCache::new();
    let queries = [
        ("items", Query::new().filter(Filter::new().eq("id", 1))),
        ("items", Query::new().filter(Filter::new().eq("id", 2))),
        ("items", Query::new().filter(Filter::new().eq("id", "x\"y"))),
        // Same column and operator, another kind of value: another statement.
        (
            "items",
            Query::new().filter(Filter::new().eq("id", Value::Null)),
        ),
        (
            "items",
            Query::new().filter(Filter::new().eq("id", json!([1, 2]))),
        ),
        (
            "items",
            Query::new().filter(Filter::new().eq("id", json!({"a": 1}))),
        ),
        (
            "items",
            Query::new().filter(Filter::new().neq("id", Value::Null)),
        ),
        (
            "items",
            Query::new().filter(Filter::new().gt("id", Value::Null)),
        ),
        ("items", Query::new().filter(Filter::new().gt("id", 3))),
        (
            "items",
            Query::new().filter(Filter::new().is_in("id", [1, 2])),
        ),
        (
            "items",
            Query::new().filter(Filter::new().is_in("id", ["a"])),
        ),
        (
            "items",
            Query::new().filter(Filter::new().like("name", "a%")),
        ),
        ("items", Query::new().filter(Filter::new().is_null("id"))),
        (
            "items",
            Query::new().filter(Filter::new().is_not_null("id")),
        ),
        ("items", Query::new().filter(Filter::new().eq("ID", 1))),
        ("Items", Query::new().filter(Filter::new().eq("id", 1))),
        ("\"Items\"", Query::new().filter(Filter::new().eq("id", 1))),
        (
            "public.items",
            Query::new().filter(Filter::new().eq("id", 1)),
        ),
        (
            "items",
            Query::new().filter(Filter::new().eq("id", 1).eq("name", "n")),
        ),
        (
            "items",
            Query::new().filter(Filter::new().eq("name", "n").eq("id", 1)),
        ),
        (
            "items",
            Query::new().columns("id").filter(Filter::new().eq("id", 1)),
        ),
        (
            "items",
            Query::new()
                .columns("name")
                .filter(Filter::new().eq("id", 1)),
        ),
        ("items", Query::new().order_by("id").limit(3)),
        ("items", Query::new().order_by("id").limit(4)),
        ("items", Query::new().order_by("id DESC").limit(4)),
        (
            "items",
            Query::new().order_by("id DESC NULLS FIRST").limit(4),
        ),
        ("items", Query::new().order_by("id").offset(4)),
        ("items", Query::new().order_by("id").limit(1).offset(4)),
        ("items", Query::new()),
    ];
    let mut numbers = std::collections::HashMap::new();
    for round in 0..2 {
        for (name, query) in &queries {
            let built = select(&table(name), query).unwrap();
            let mut ran = false;
            let cached = cache
                .select(name, query, || {
                    ran = true;
                    select(&table(name), query)
                })
                .unwrap();
            assert_eq!(
                (&cached.sql, &cached.params, cached.value_dependent),
                (&built.sql, &built.params, built.value_dependent),
                "{name} {query:?}"
            );
            // A number stands for one text (a text may have several: `> NULL` and `> 3` are two shapes).
            let number = cached.number.expect("a kept shape has a number");
            assert_eq!(
                numbers.entry(number).or_insert_with(|| cached.sql.clone()),
                &cached.sql
            );
            if round == 1 {
                assert!(!ran, "built again: {name} {query:?}");
            }
        }
    }
}

/// A query that `select` refuses is refused even when a valid query of the same shape is kept.
#[test]
fn select_cache_still_validates_a_kept_shape() {
    let cache = SelectCache::new();
    let good = Query::new().filter(Filter::new().is_in("id", [1]));
    cache
        .select("items", &good, || select(&table("items"), &good))
        .unwrap();
    // `in` with an object: the same shape (an array or object value), refused by validation.
    let bad = Query::new().filter(Filter::new().push("id", Op::In, json!({"a": 1})));
    let err = cache
        .select("items", &bad, || select(&table("items"), &bad))
        .unwrap_err();
    assert_eq!(
        err.message(),
        select(&table("items"), &bad).unwrap_err().message()
    );
    let bad_order = Query::new().order_by("id DESC sideways");
    assert!(select(&table("items"), &bad_order).is_err());
    let ok_order = Query::new().order_by("id DESC");
    cache
        .select("items", &ok_order, || select(&table("items"), &ok_order))
        .unwrap();
    assert!(
        cache
            .select("items", &bad_order, || select(&table("items"), &bad_order))
            .is_err()
    );
}
