use dba_core::{Filter, Op, OrderBy, Query, json};

use crate::render::{self, ident, quoted};

fn params(f: &Filter) -> Vec<(String, String)> {
    render::filter(f)
        .unwrap()
        .params
        .into_iter()
        .map(|p| (p.key.clone(), p.value()))
        .collect()
}

#[test]
fn names_are_bare_only_when_unambiguous() {
    assert_eq!(ident("price"), "price");
    assert_eq!(ident("Mixed_Case9"), "Mixed_Case9");
    assert_eq!(ident("Mixed Case"), "\"Mixed Case\"");
    assert_eq!(ident("a.b"), "\"a.b\"");
    assert_eq!(ident("a,b:c(d)"), "\"a,b:c(d)\"");
    assert_eq!(ident("x\"y\\z"), "\"x\\\"y\\\\z\"");
    assert_eq!(ident("select"), "\"select\"");
    assert_eq!(ident("ORDER"), "\"ORDER\"");
    assert_eq!(ident("prix_€"), "\"prix_€\"");
    assert_eq!(quoted(""), "\"\"");
}

#[test]
fn every_operator_renders_to_postgrest() {
    let f = Filter::new()
        .eq("a", 1)
        .neq("b", "x")
        .gt("c", json!(1.50))
        .gte("d", true)
        .lt("e", "2024-01-01T00:00:00+00:00")
        .lte("f", 0)
        .is_in("g", [json!(1), json!("two"), json!(null)])
        .is_null("h")
        .is_not_null("i")
        .like("j", "S%")
        .ilike("k", "s_%")
        .eq("l", json!(null))
        .neq("m", json!(null));
    assert_eq!(
        params(&f),
        [
            ("a", "eq.1"),
            ("b", "neq.x"),
            ("c", "gt.1.5"),
            ("d", "gte.true"),
            ("e", "lt.2024-01-01T00:00:00+00:00"),
            ("f", "lte.0"),
            ("g", "in.(\"1\",\"two\")"),
            ("h", "is.null"),
            ("i", "not.is.null"),
            ("j", "like.S%"),
            ("k", "ilike.s_%"),
            ("l", "is.null"),
            ("m", "not.is.null"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn numbers_keep_every_digit() {
    let n: dba_core::Value = serde_json::from_str("12345678901234567890.0123456789").unwrap();
    assert_eq!(
        params(&Filter::new().eq("n", n.clone()).is_in("n", [n])),
        [
            (
                "n".to_owned(),
                "eq.12345678901234567890.0123456789".to_owned()
            ),
            (
                "n".to_owned(),
                "in.(\"12345678901234567890.0123456789\")".to_owned()
            ),
        ]
    );
}

#[test]
fn hostile_values_stay_one_value() {
    let f = Filter::new()
        .eq("Mixed Case", "a,b.c(d):e\"f\\g")
        .is_in(
            "name",
            [
                "a,b",
                "c)",
                "(d",
                "e.f",
                "say \"hi\"",
                "back\\slash",
                "&x=1",
                "",
            ],
        )
        .eq("x\"; drop", "1&select=*");
    assert_eq!(
        params(&f),
        [
            ("\"Mixed Case\"", "eq.a,b.c(d):e\"f\\g"),
            (
                "name",
                r#"in.("a,b","c)","(d","e.f","say \"hi\"","back\\slash","&x=1","")"#
            ),
            ("\"x\\\"; drop\"", "eq.1&select=*"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn an_in_list_that_cannot_match_is_reported() {
    let r = render::filter(&Filter::new().eq("a", 1).is_in("b", Vec::<i32>::new())).unwrap();
    assert!(r.matches_nothing);
    let r = render::filter(&Filter::new().is_in("b", [json!(null)])).unwrap();
    assert!(r.matches_nothing);
    assert!(
        !render::filter(&Filter::new().eq("a", 1))
            .unwrap()
            .matches_nothing
    );
}

#[test]
fn bad_conditions_are_refused() {
    assert!(render::filter(&Filter::new().push("a", Op::In, json!(1))).is_err());
    assert!(render::filter(&Filter::new().push("a", Op::Like, json!(1))).is_err());
    assert!(render::filter(&Filter::new().eq("", 1)).is_err());
}

#[test]
fn projection_and_order_render() {
    let q = Query::new()
        .columns("id, \"Mixed Case\", \"select\"")
        .order_by("price DESC NULLS LAST, name, \"Mixed Case\" ASC NULLS FIRST, d desc");
    assert_eq!(
        render::select_list(&q.columns),
        "id,\"Mixed Case\",\"select\""
    );
    assert_eq!(
        render::order(&q.order).unwrap(),
        "price.desc.nullslast,name.asc,\"Mixed Case\".asc.nullsfirst,d.desc"
    );
    assert_eq!(render::select_list(&Query::new().columns).as_str(), "*");
    assert_eq!(render::order(&[]), None);
    assert_eq!(
        render::order(&[OrderBy::desc("a.b").unwrap()]).unwrap(),
        "\"a.b\".desc"
    );
}
