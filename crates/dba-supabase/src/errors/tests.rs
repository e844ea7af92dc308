use dba_core::ErrorKind;

use crate::errors::from_response;

fn kind(status: u16, body: &str) -> ErrorKind {
    from_response(status, body.as_bytes()).kind()
}

#[test]
fn sqlstates_keep_their_kinds_and_fields() {
    let err = from_response(
        409,
        br#"{"code":"23505","details":"Key (slug)=(tools) already exists.","hint":null,"message":"duplicate key value violates unique constraint \"categories_slug_key\""}"#,
    );
    assert_eq!(err.kind(), ErrorKind::UniqueViolation);
    assert_eq!(err.sqlstate(), Some("23505"));
    assert_eq!(
        err.db().and_then(|d| d.detail.as_deref()),
        Some("Key (slug)=(tools) already exists.")
    );
    assert_eq!(
        err.to_string(),
        "unique violation: duplicate key value violates unique constraint \"categories_slug_key\": \
         Key (slug)=(tools) already exists. (SQLSTATE 23505)"
    );
    assert_eq!(
        kind(409, r#"{"code":"23503","message":"fk"}"#),
        ErrorKind::ForeignKeyViolation
    );
    assert_eq!(
        kind(400, r#"{"code":"23502","message":"nn"}"#),
        ErrorKind::NotNullViolation
    );
    assert_eq!(
        kind(400, r#"{"code":"23514","message":"ck"}"#),
        ErrorKind::CheckViolation
    );
    assert_eq!(
        kind(400, r#"{"code":"22P02","message":"bad uuid"}"#),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            500,
            r#"{"code":"57014","message":"canceling statement due to statement timeout"}"#
        ),
        ErrorKind::Timeout
    );
    let denied = from_response(
        403,
        br#"{"code":"42501","message":"permission denied for table items"}"#,
    );
    assert_eq!(denied.kind(), ErrorKind::Database);
    assert_eq!(denied.sqlstate(), Some("42501"));
}

#[test]
fn postgrest_codes_map_like_postgresql_would() {
    let missing = from_response(
        404,
        br#"{"code":"PGRST205","details":null,"hint":"Perhaps you meant the table 'public.items'","message":"Could not find the table 'public.itemz' in the schema cache"}"#,
    );
    assert_eq!(missing.kind(), ErrorKind::Database);
    assert_eq!(missing.sqlstate(), Some("42P01"));
    assert!(missing.to_string().contains("PGRST205"), "{missing}");
    assert!(missing.to_string().contains("itemz"), "{missing}");
    let column = from_response(400, br#"{"code":"PGRST204","message":"Could not find the 'nope' column of 'items' in the schema cache"}"#);
    assert_eq!(column.sqlstate(), Some("42703"));
    assert_eq!(
        kind(
            406,
            r#"{"code":"PGRST116","message":"JSON object requested, multiple (or no) rows returned"}"#
        ),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(
            400,
            r#"{"code":"PGRST100","message":"failed to parse filter"}"#
        ),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            504,
            r#"{"code":"PGRST003","message":"Timed out acquiring connection from connection pool."}"#
        ),
        ErrorKind::Timeout
    );
    assert_eq!(
        kind(
            503,
            r#"{"code":"PGRST001","message":"Database client error"}"#
        ),
        ErrorKind::Connection
    );
    assert_eq!(
        from_response(
            406,
            br#"{"code":"PGRST106","message":"The schema must be one of the following: public"}"#
        )
        .sqlstate(),
        Some("3F000")
    );
}

#[test]
fn authentication_failures_are_connection_errors_that_say_so() {
    let err = from_response(
        401,
        br#"{"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."}"#,
    );
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(
        err.to_string()
            .starts_with("connection error: authentication failed (HTTP 401"),
        "{err}"
    );
    assert_eq!(
        kind(401, r#"{"code":"PGRST301","message":"JWT expired"}"#),
        ErrorKind::Connection
    );
    assert_eq!(kind(403, ""), ErrorKind::Connection);
}

#[test]
fn bare_statuses_still_map() {
    assert_eq!(kind(404, ""), ErrorKind::Database);
    assert_eq!(from_response(404, b"").sqlstate(), Some("42P01"));
    assert_eq!(kind(502, "<html>bad gateway</html>"), ErrorKind::Connection);
    assert_eq!(kind(504, ""), ErrorKind::Timeout);
    assert_eq!(kind(400, "nonsense"), ErrorKind::InvalidInput);
    assert_eq!(kind(500, ""), ErrorKind::Database);
    assert!(from_response(500, b"").to_string().contains("HTTP 500"));
}
