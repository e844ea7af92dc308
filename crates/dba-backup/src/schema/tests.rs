//! Tests of the backup schema model: the original's JSON, defaults, several parents, validation.

use serde_json::json;

use crate::schema::{BackupSchema, ForeignKey, TableDef};

#[test]
fn reads_the_originals_json_with_its_defaults() {
    let schema = BackupSchema::from_json(
        r#"{"tables":[{"name":"categories","pk":"id","slug_field":"slug","user_field":"user_id"},
            {"name":"products","parent":{"table":"categories","field":"category_id"},"extra":1},
            {"name":"tags","slug_field":["user_id","label"],"user_field":null,
             "parent":[{"table":"categories","field":"c"},{"table":"products","field":"p"}],
             "optional_refs":[{"table":"products","field":"best"}]}]}"#,
    )
    .unwrap();
    let products = schema.table("products").unwrap();
    assert_eq!(products.pk, ["id"]);
    assert_eq!(products.natural_key, ["slug"]);
    assert_eq!(products.user_field.as_deref(), Some("user_id"));
    assert_eq!(
        products.parents,
        [ForeignKey::new("categories", "category_id")]
    );
    let tags = schema.table("tags").unwrap();
    assert_eq!(tags.natural_key, ["user_id", "label"]);
    assert_eq!(tags.user_field, None);
    assert_eq!(tags.parents.len(), 2);
    // Written back in the original's shape: a single parent is an object, no key means "".
    let back = serde_json::to_value(&schema).unwrap();
    assert_eq!(
        back["tables"][1],
        json!({"name": "products", "pk": "id", "slug_field": "slug", "user_field": "user_id",
               "parent": {"table": "categories", "field": "category_id"}, "optional_refs": []})
    );
    assert_eq!(back["tables"][2]["user_field"], "");
    let again: BackupSchema = serde_json::from_value(back).unwrap();
    assert_eq!(again, schema);
}

#[test]
fn validation_names_the_problem() {
    let cases = [
        (
            vec![TableDef::new("p").parent("c", "c_id"), TableDef::new("c")],
            "invalid backup schema: table 'p' references 'c', which is listed after it; list parents before children",
        ),
        (
            vec![TableDef::new("p").optional_ref("x", "x_id")],
            "invalid backup schema: table 'p' references 'x', which is not in the schema",
        ),
        (
            vec![TableDef::new("metadata")],
            "invalid backup schema: table name \"metadata\" is reserved by the backup file format",
        ),
        (
            vec![TableDef::new("a"), TableDef::new("a")],
            "invalid backup schema: table 'a' is listed twice",
        ),
        (vec![], "invalid backup schema: no tables"),
        (
            vec![TableDef::new("c").parent("c", "id")],
            "invalid backup schema: table 'c' references itself through its own pk 'id'; name the column holding the parent's key",
        ),
    ];
    for (tables, message) in cases {
        let err = BackupSchema::new(tables).validate().unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    let ok = BackupSchema::new(vec![
        TableDef::new("c").optional_ref("c", "parent_id"),
        TableDef::new("p").parent("c", "c_id"),
    ]);
    assert!(ok.validate().is_ok(), "a table may reference itself");
}

#[test]
fn a_subset_lets_references_to_left_out_tables_pass() {
    let full = BackupSchema::new(vec![
        TableDef::new("c"),
        TableDef::new("p").parent("c", "c_id"),
    ]);
    let only_p = full.subset(&["p"]).unwrap();
    assert!(only_p.validate().is_ok());
    assert!(only_p.is_subset() && only_p.is_external("c"));
    assert!(full.subset(&["nope"]).is_err());
}

#[test]
fn natural_keys_for_messages() {
    let row = json!({"slug": "a", "n": 1}).as_object().cloned().unwrap();
    assert_eq!(TableDef::new("t").natural_key_of(&row), json!("a"));
    assert_eq!(
        TableDef::new("t").natural_key(&[]).natural_key_of(&row),
        json!("unknown")
    );
    assert_eq!(
        TableDef::new("t")
            .natural_key(&["slug", "n"])
            .natural_key_of(&row),
        json!({"slug": "a", "n": 1})
    );
}

#[test]
fn a_malformed_parent_says_what_is_wrong() {
    for (parent, message) in [
        (r#"{"table": "c"}"#, "parent: missing field `field`"),
        (
            r#"[{"table": "c", "field": 1}]"#,
            "parent: invalid type: number, expected a string",
        ),
        (
            r#""c""#,
            r#"parent must be an object {"table": ..., "field": ...} or a list of them, got "c""#,
        ),
    ] {
        let text =
            format!(r#"{{"tables": [{{"name": "c"}}, {{"name": "p", "parent": {parent}}}]}}"#);
        let err = serde_json::from_str::<BackupSchema>(&text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(message), "{parent}: {err}");
    }
}

#[test]
fn a_composite_pk_is_a_list_and_a_single_one_stays_a_string() {
    let schema = BackupSchema::from_json(
        r#"{"tables":[{"name":"products"},{"name":"tags","pk":"id"},
            {"name":"product_tags","pk":["product_id","tag_id"],"slug_field":null,"user_field":null,
             "parent":[{"table":"products","field":"product_id"},{"table":"tags","field":"tag_id"}]}]}"#,
    )
    .unwrap();
    let joins = schema.table("product_tags").unwrap();
    assert_eq!(joins.pk, ["product_id", "tag_id"]);
    assert!(joins.has_composite_pk());
    assert_eq!(joins.match_columns(), ["product_id", "tag_id"]);
    assert_eq!(schema.table("products").unwrap().pk, ["id"]);
    let back = serde_json::to_value(&schema).unwrap();
    assert_eq!(
        back["tables"][1]["pk"], "id",
        "a single key is written as the original's string"
    );
    assert_eq!(back["tables"][2]["pk"], json!(["product_id", "tag_id"]));
    let again: BackupSchema = serde_json::from_value(back).unwrap();
    assert_eq!(again, schema);
    // Built in code, the same table.
    let built = TableDef::new("product_tags")
        .pk_columns(&["product_id", "tag_id"])
        .natural_key(&[])
        .user_field(None)
        .parent("products", "product_id")
        .parent("tags", "tag_id");
    assert_eq!(&built, joins);
    // A natural key, when configured, is what rows are matched by.
    let with_key = built.clone().natural_key(&["label"]);
    assert_eq!(with_key.match_columns(), ["label"]);
    assert!(TableDef::new("t").match_columns() == ["slug"]);
    assert!(
        TableDef::new("t")
            .natural_key(&[])
            .match_columns()
            .is_empty()
    );
}

#[test]
fn composite_keys_of_rows() {
    let row = json!({"product_id": 5, "tag_id": "x", "weight": 1})
        .as_object()
        .cloned()
        .unwrap();
    let joins = TableDef::new("pt").pk_columns(&["product_id", "tag_id"]);
    assert_eq!(joins.pk_of(&row), json!({"product_id": 5, "tag_id": "x"}));
    let partial = json!({"product_id": 5}).as_object().cloned().unwrap();
    assert_eq!(
        joins.pk_of(&partial),
        json!({"product_id": 5, "tag_id": null})
    );
    assert_eq!(TableDef::new("t").pk_of(&row), json!("<unknown>"));
    assert_eq!(TableDef::new("t").pk("weight").pk_of(&row), json!(1));
    let no_natural = joins.clone().natural_key(&[]);
    assert_eq!(
        no_natural.match_key_of(&row),
        json!({"product_id": 5, "tag_id": "x"})
    );
}

#[test]
fn composite_keys_are_validated() {
    for (pk, message) in [
        (r#"[]"#, "invalid backup schema: table 'pt' has an empty pk"),
        (
            r#"["a", ""]"#,
            "invalid backup schema: table 'pt' has an empty pk",
        ),
        (
            r#"["a", "b", "a"]"#,
            "invalid backup schema: table 'pt' lists pk column 'a' twice",
        ),
    ] {
        let text = format!(r#"{{"tables": [{{"name": "pt", "pk": {pk}}}]}}"#);
        let err = BackupSchema::from_json(&text).unwrap_err().to_string();
        assert_eq!(err, message, "{pk}");
    }
    for pk in ["1", r#"["a", 2]"#, "null", r#"{"a": 1}"#] {
        let text = format!(r#"{{"tables": [{{"name": "pt", "pk": {pk}}}]}}"#);
        let err = BackupSchema::from_json(&text).unwrap_err().to_string();
        assert!(
            err.contains("pk must be a column name or a list of column names, got"),
            "{pk}: {err}"
        );
    }
    // A reference names one column, so nothing may reference a composite key, itself included.
    let err = BackupSchema::new(vec![
        TableDef::new("pt").pk_columns(&["p", "t"]),
        TableDef::new("votes").parent("pt", "pt_p"),
    ])
    .validate()
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid backup schema: table 'votes' references 'pt' through 'pt_p', but the primary key of 'pt' has \
         several columns (p, t); a reference to a composite key cannot be remapped: reference the tables \
         behind its columns instead"
    );
    let selfref = BackupSchema::new(vec![
        TableDef::new("pt")
            .pk_columns(&["p", "t"])
            .optional_ref("pt", "p"),
    ]);
    assert!(selfref.validate().is_err());
    // A composite key may hold its own reference columns.
    let ok = BackupSchema::new(vec![
        TableDef::new("p"),
        TableDef::new("pt")
            .pk_columns(&["p_id", "n"])
            .parent("p", "p_id"),
    ]);
    assert!(ok.validate().is_ok());
}
