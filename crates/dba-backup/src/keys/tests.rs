//! The compact key structures answer exactly as the hash set and map of key texts they replace.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::engine::Mapped;
use crate::format::key_text;
use crate::keys::{IdMap, KeySet, int_key};

#[test]
fn only_an_i64s_canonical_text_is_an_integer_key() {
    for (text, want) in [
        ("0", Some(0)),
        ("7", Some(7)),
        ("-12", Some(-12)),
        ("9223372036854775807", Some(i64::MAX)),
        ("-9223372036854775808", Some(i64::MIN)),
    ] {
        assert_eq!(int_key(text), want, "{text}");
    }
    for text in [
        "",
        "-",
        "-0",
        "00",
        "012",
        "+1",
        "1.0",
        "1e3",
        " 1",
        "9223372036854775808",
        "-9223372036854775809",
        "\"5\"",
        "١",
    ] {
        assert_eq!(int_key(text), None, "{text}");
    }
}

/// Key texts of every kind: integers (negative, extreme, in and out of runs), numbers that are not
/// canonical integers, strings that look like integers, uuids and composite keys.
fn keys() -> Vec<String> {
    let mut values = vec![
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!("5"),
        json!("abc"),
        json!("0c8a3b9e-6f1d-4c59-9a52-2f1b8a6c7d10"),
        json!({"product_id": 8, "tag_id": 5}),
        json!(1.5),
    ];
    for text in ["-0", "1.0", "1e3", "123456789012345678901234567890"] {
        values.push(serde_json::from_str(text).unwrap());
    }
    let mut keys: Vec<String> = values.iter().map(key_text).collect();
    keys.extend((-20..20).map(|i: i64| i.to_string()));
    keys.extend((1_000..1_050).map(|i: i64| (i * 3).to_string()));
    keys
}

#[test]
fn a_key_set_answers_as_a_set_of_texts() {
    let all = keys();
    let mut set = KeySet::default();
    let mut model = HashSet::new();
    for (i, k) in all.iter().enumerate() {
        assert_eq!(set.contains(k), model.contains(k), "{k} before");
        if i % 3 != 1 {
            set.insert(k);
            set.insert(k);
            model.insert(k.clone());
        }
    }
    for k in &all {
        assert_eq!(set.contains(k), model.contains(k), "{k}");
    }
    // A number spelled another way is another key, as its text is.
    let mut set = KeySet::default();
    set.insert("5");
    assert!(set.contains("5"));
    assert!(!set.contains("5.0") && !set.contains("\"5\"") && !set.contains("05"));
    set.insert("-0");
    assert!(set.contains("-0"));
    assert!(!KeySet::default().contains("0"));
}

/// A deterministic pseudo-random sequence (no dependency for a test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn check(map: &IdMap, model: &HashMap<String, Mapped>, keys: &[String]) {
    for k in keys {
        assert_eq!(map.get(k), model.get(k).cloned(), "{k}");
    }
}

#[test]
fn an_id_map_answers_as_a_map_of_texts() {
    let all = keys();
    let mut map = IdMap::default();
    let mut model = HashMap::new();
    let mut rng = Lcg(17);
    for round in 0..4_000 {
        let old = &all[rng.next(all.len() as u64) as usize];
        let new = match rng.next(8) {
            0 => Mapped::Pending,
            1 => Mapped::Known(json!("new-text")),
            2 => Mapped::Known(serde_json::from_str("7.0").unwrap()),
            3 => Mapped::Known(json!(i64::MAX)),
            4 => Mapped::Known(json!(i64::MIN)),
            // Often the next id after the old one's neighbour's, so runs form, split and join.
            _ => {
                let base = int_key(old).unwrap_or(0);
                Mapped::Known(json!(base.wrapping_add(100 + rng.next(3) as i64)))
            }
        };
        map.insert(old, new.clone());
        model.insert(old.clone(), new);
        if round % 97 == 0 {
            check(&map, &model, &all);
        }
    }
    check(&map, &model, &all);
}

#[test]
fn consecutive_ids_take_one_run_and_others_split_it() {
    let mut map = IdMap::default();
    // Inserted out of order: the runs join.
    for old in (1..=1_000).rev().chain(1_001..=2_000) {
        map.insert(&old.to_string(), Mapped::Known(json!(old + 41)));
    }
    assert_eq!(map.run_count(), 1);
    assert_eq!(map.get("1"), Some(Mapped::Known(json!(42))));
    assert_eq!(map.get("2000"), Some(Mapped::Known(json!(2041))));
    assert_eq!(map.get("0"), None);
    assert_eq!(map.get("2001"), None);
    // A gap in the new ids (a sequence that skipped) starts a new run.
    map.insert("2001", Mapped::Known(json!(5_000)));
    map.insert("2002", Mapped::Known(json!(5_001)));
    assert_eq!(map.run_count(), 2);
    // A key remembered again replaces its mapping, splitting the run it was in.
    map.insert("500", Mapped::Known(json!(-3)));
    assert_eq!(map.run_count(), 4);
    assert_eq!(map.get("500"), Some(Mapped::Known(json!(-3))));
    assert_eq!(map.get("499"), Some(Mapped::Known(json!(540))));
    assert_eq!(map.get("501"), Some(Mapped::Known(json!(542))));
    map.insert("500", Mapped::Known(json!(541)));
    assert_eq!(map.run_count(), 2);
    // The new id is rebuilt as the number the database gave.
    let Some(Mapped::Known(Value::Number(n))) = map.get("1000") else {
        panic!("a number")
    };
    assert_eq!(n.as_str(), "1041");
    // Runs at the ends of the i64 range.
    map.insert(&i64::MAX.to_string(), Mapped::Known(json!(i64::MAX)));
    map.insert(
        &(i64::MAX - 1).to_string(),
        Mapped::Known(json!(i64::MAX - 1)),
    );
    map.insert(&i64::MIN.to_string(), Mapped::Known(json!(i64::MIN)));
    map.insert(
        &(i64::MIN + 1).to_string(),
        Mapped::Known(json!(i64::MIN + 1)),
    );
    assert_eq!(map.run_count(), 4);
    assert_eq!(
        map.get(&i64::MIN.to_string()),
        Some(Mapped::Known(json!(i64::MIN)))
    );
    assert_eq!(
        map.get(&i64::MAX.to_string()),
        Some(Mapped::Known(json!(i64::MAX)))
    );
}
