//! Offline validation: the original's texts, with its defects fixed.

use std::path::PathBuf;

use serde_json::json;

use crate::schema::{BackupSchema, TableDef};
use crate::validate::validate_backup;

fn schema() -> BackupSchema {
    BackupSchema::new(vec![
        TableDef::new("categories"),
        TableDef::new("products").parent("categories", "category_id"),
    ])
}

fn write(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("dba-validate-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn missing_file_and_bad_json() {
    let missing = PathBuf::from("/nonexistent/b.json");
    let r = validate_backup(&missing, &schema());
    assert_eq!(r.errors, ["Backup file not found: /nonexistent/b.json"]);
    assert!(!r.valid);
    let path = write("bad.json", "{\"metadata\": ");
    let r = validate_backup(&path, &schema());
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].starts_with("Invalid JSON: "), "{:?}", r.errors);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn missing_keys_are_reported_alone() {
    let path = write("keys.json", r#"{"categories": [{"slug": "x"}]}"#);
    let r = validate_backup(&path, &schema());
    assert_eq!(
        r.errors,
        [
            "Missing required key: metadata",
            "Missing required key: products"
        ]
    );
    assert!(r.warnings.is_empty());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn the_originals_row_messages_with_its_defects_fixed() {
    let doc = json!({
        "metadata": {"user_id": "u1", "version": 1.1},
        "categories": [
            {"id": 0, "slug": "zero"},
            {"slug": "nopk"},
            {"id": null, "slug": "nullpk"},
            {"id": "", "slug": "emptypk"},
            {"id": 5},
            "not a row"
        ],
        "products": [
            {"id": 1, "slug": "kept", "category_id": 0},
            {"id": 2, "slug": "orphan", "category_id": 99},
            {"id": 3, "slug": "no-parent", "category_id": null}
        ],
        "ignored": 1
    });
    let path = write("rows.json", &doc.to_string());
    let r = validate_backup(&path, &schema());
    assert_eq!(
        r.errors,
        [
            "Unsupported backup version '1.1' (expected '1.1')",
            "categories row missing 'id' field: nopk",
            "categories row has empty 'id': nullpk",
            "categories row has empty 'id': emptypk",
            "categories row missing 'slug' field",
            "categories row 5 is not an object",
        ]
    );
    assert_eq!(
        r.warnings,
        [
            "Missing metadata field: created_at",
            "Missing metadata field: backup_type",
            "Orphaned products 'orphan': category_id not in backup",
        ]
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn counts_must_match_and_a_non_object_metadata_is_an_error() {
    let path = write(
        "counts.json",
        r#"{"metadata": {"created_at": "t", "user_id": "u", "backup_type": "full", "version": "1.1",
            "categories_count": 2, "products_count": 0}, "categories": [{"id": 1, "slug": "a"}], "products": []}"#,
    );
    let r = validate_backup(&path, &schema());
    assert_eq!(
        r.errors,
        ["categories has 1 rows but metadata categories_count says 2"]
    );
    std::fs::remove_file(path).unwrap();
    let path = write(
        "meta.json",
        r#"{"metadata": [1], "categories": [], "products": []}"#,
    );
    let r = validate_backup(&path, &schema());
    assert_eq!(r.errors, ["Invalid metadata: expected an object, got [1]"]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn serializes_in_the_originals_shape() {
    let r = crate::ValidationReport {
        valid: true,
        errors: vec![],
        warnings: vec!["w".into()],
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"valid": true, "errors": [], "warnings": ["w"]})
    );
}

#[test]
fn a_file_cut_off_or_followed_by_more_is_invalid_json() {
    let good =
        r#"{"metadata": {"user_id": "u1", "version": "1.1"}, "categories": [], "products": []"#;
    for (name, text) in [
        ("cut.json", good.to_owned()),
        ("cut-later.json", format!("{good}, \"extra\": [1, 2")),
        ("trailing.json", format!("{good}}}\n{{}}\n")),
    ] {
        let path = write(name, &text);
        let r = validate_backup(&path, &schema());
        assert_eq!(r.errors.len(), 1, "{name}: {:?}", r.errors);
        assert!(
            r.errors[0].starts_with("Invalid JSON: "),
            "{name}: {:?}",
            r.errors
        );
        std::fs::remove_file(path).unwrap();
    }
    let path = write("whole.json", &format!("{good}}}\n"));
    assert!(validate_backup(&path, &schema()).valid);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn an_unreadable_gzip_file_says_why() {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(
        br#"{"metadata": {"user_id": "u1", "version": "1.1"}, "categories": [], "products": []}"#,
    )
    .unwrap();
    let bytes = gz.finish().unwrap();
    let path =
        std::env::temp_dir().join(format!("dba-validate-{}-cut.json.gz", std::process::id()));
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let r = validate_backup(&path, &schema());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0].starts_with("Unreadable backup: i/o error on "),
        "{:?}",
        r.errors
    );
    assert!(
        r.errors[0].ends_with(": incomplete deflate stream"),
        "{:?}",
        r.errors
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn strict_checking_stops_at_the_first_bad_row_with_all_its_problems_then_collects_the_rest() {
    use crate::checker::Checker;
    use crate::reader::BackupFile;
    use crate::validate::{check_rest, enter_table, read_metadata};

    let path = write(
        "strict.json",
        "{\"metadata\": {\"version\": \"1.1\", \"products_count\": 5},\n \"categories\": [\n  {\"id\": 1, \"slug\": \"a\"},\n  \
         {\"name\": \"x\"},\n  {\"id\": 3}\n ],\n \"products\": [{\"id\": 1, \"slug\": \"p\"}]}",
    );
    let mut file = BackupFile::open(&path).unwrap();
    let metadata = read_metadata(&mut file).unwrap();
    file.checker = Some(Checker::new(&schema(), metadata.as_ref(), true));
    assert!(file.seek("categories").unwrap());
    assert!(enter_table(&mut file, &schema().tables[0], None).unwrap());
    assert_eq!(
        file.next_row().unwrap(),
        Some(json!({"id": 1, "slug": "a"}))
    );
    let err = file.next_row().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid backup file {}: categories row missing 'id' field: unknown (row 1, line 4); \
             categories row missing 'slug' field (row 1, line 4)",
            path.display()
        )
    );
    // Collecting the rest of the file, as a failed restore does to report every problem.
    let checker = file.checker.as_mut().unwrap();
    checker.collect_all();
    let missing = check_rest(&mut file, 1, Vec::new()).unwrap();
    let report = file.checker.take().unwrap().report(missing);
    assert_eq!(
        report.errors,
        [
            "categories row missing 'id' field: unknown (row 1, line 4)",
            "categories row missing 'slug' field (row 1, line 4)",
            "categories row missing 'slug' field (row 2, line 5)",
            "products has 1 rows but metadata products_count says 5",
        ]
    );
    std::fs::remove_file(path).unwrap();
}
