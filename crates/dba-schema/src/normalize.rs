//! Text normalization: type names as `format_type` prints them, and a loose form of expressions for
//! comparing what a file wrote with what PostgreSQL prints back.

/// The canonical spelling of a type as PostgreSQL's `format_type` prints it: `varchar(20)` and
/// `character varying(20)` both become `character varying(20)`, `int`/`int4` become `integer`,
/// `timestamptz` becomes `timestamp with time zone`, `bool` becomes `boolean`, arrays keep one `[]`.
///
/// Serial types are not handled here (they are a column shorthand the schema.sql reader expands). Unknown names
/// (enums, domains) fold like identifiers and lose a `public.` qualifier.
pub fn normalize_type(text: &str) -> String {
    let mut base = text.trim();
    let mut array = false;
    loop {
        let t = base.trim_end();
        if let Some(open) = t.strip_suffix(']').and_then(|s| s.rfind('[')) {
            base = &t[..open];
            array = true;
        } else if let Some(head) =
            strip_suffix_ignore_ascii_case(t, " array").filter(|h| !h.is_empty())
        {
            base = head;
            array = true;
        } else {
            base = t;
            break;
        }
    }
    let (words, args) = split_type(base);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let arg = |default: &str| args.clone().unwrap_or_else(|| default.to_owned());
    let paren = |a: &Option<String>| a.as_ref().map(|a| format!("({a})")).unwrap_or_default();
    let zone = |rest: &[&str], name: &str| -> String {
        let with = matches!(rest, ["with", "time", "zone"]);
        format!(
            "{name}{} {} time zone",
            paren(&args),
            if with { "with" } else { "without" }
        )
    };
    let out = match words.as_slice() {
        ["int" | "integer" | "int4"] => "integer".to_owned(),
        ["smallint" | "int2"] => "smallint".to_owned(),
        ["bigint" | "int8"] => "bigint".to_owned(),
        ["bool" | "boolean"] => "boolean".to_owned(),
        ["float8" | "double", "precision"] | ["float8"] => "double precision".to_owned(),
        ["double"] => "double precision".to_owned(),
        ["float4" | "real"] => "real".to_owned(),
        ["float"] => match args.as_deref().and_then(|a| a.parse::<u32>().ok()) {
            Some(p) if p <= 24 => "real".to_owned(),
            _ => "double precision".to_owned(),
        },
        ["varchar"] | ["character" | "char", "varying"] => {
            format!("character varying{}", paren(&args))
        }
        ["char" | "character"] => format!("character({})", arg("1")),
        ["bpchar"] => match args {
            Some(a) => format!("character({a})"),
            None => "bpchar".to_owned(),
        },
        ["decimal" | "numeric"] => match args.as_deref() {
            Some(a) if !a.contains(',') => format!("numeric({a},0)"),
            Some(a) => format!("numeric({a})"),
            None => "numeric".to_owned(),
        },
        ["timestamptz"] => format!("timestamp{} with time zone", paren(&args)),
        ["timestamp", rest @ ..] => zone(rest, "timestamp"),
        ["timetz"] => format!("time{} with time zone", paren(&args)),
        ["time", rest @ ..] => zone(rest, "time"),
        ["bit"] => format!("bit({})", arg("1")),
        ["varbit"] | ["bit", "varying"] => format!("bit varying{}", paren(&args)),
        _ => {
            let mut joined = words.join(" ");
            if let Some(rest) = joined.strip_prefix("public.") {
                joined = rest.to_owned();
            }
            format!("{joined}{}", paren(&args))
        }
    };
    if array { format!("{out}[]") } else { out }
}

/// `text` without `suffix` (ASCII, any case) at its end; `None` when it does not end so, also when the
/// suffix's length would cut a multi-byte character (found by fuzzing: slicing there panicked).
fn strip_suffix_ignore_ascii_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let at = text.len().checked_sub(suffix.len())?;
    let tail = text.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..at])
}

/// For `serial`-style shorthands, the integer type they stand for.
pub(crate) fn serial_base(text: &str) -> Option<&'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "serial" | "serial4" => Some("integer"),
        "bigserial" | "serial8" => Some("bigint"),
        "smallserial" | "serial2" => Some("smallint"),
        _ => None,
    }
}

/// Splits a type into lower-cased words (quoted identifiers kept exact, with their quotes when they need
/// them) and the text of its one parenthesized modifier, spaces removed.
fn split_type(text: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut args = None;
    let mut chars = text.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut quoted = String::new();
                while let Some(q) = chars.next() {
                    if q == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            quoted.push('"');
                        } else {
                            break;
                        }
                    } else {
                        quoted.push(q);
                    }
                }
                word.push_str(&quote_if_needed(&quoted));
            }
            '(' => {
                flush(&mut word, &mut words);
                let mut depth = 1;
                let mut inner = String::new();
                for a in chars.by_ref() {
                    match a {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    if !a.is_whitespace() {
                        inner.push(a);
                    }
                }
                args = Some(inner);
            }
            c if c.is_whitespace() => flush(&mut word, &mut words),
            c => word.push(c.to_ascii_lowercase()),
        }
    }
    flush(&mut word, &mut words);
    (words, args)
}

/// An identifier as PostgreSQL's `quote_ident` would print it (quoted unless it is a plain lower-case name).
pub(crate) fn quote_if_needed(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A loose form of an SQL expression for comparing a file's text with PostgreSQL's: lower case outside
/// string literals, no casts (`::type`), no parentheses, no whitespace, no identifier quotes.
///
/// Two expressions with equal loose forms are taken as equal; a difference is reported as a warning only,
/// because PostgreSQL rewrites expressions (`IN (..)` becomes `= ANY (ARRAY[..])`).
pub fn loose(expr: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            out.push(c);
            i += 1;
            while i < chars.len() {
                out.push(chars[i]);
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            i = skip_cast(&chars, i + 2);
        } else if c == '(' || c == ')' || c == '"' || c.is_whitespace() {
            i += 1;
        } else {
            out.push(c.to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// Skips a type name after `::`: words (with multi-word types), an optional modifier and array brackets.
fn skip_cast(chars: &[char], mut i: usize) -> usize {
    const CONTINUATIONS: [&str; 6] = [
        " varying",
        " precision",
        " with time zone",
        " without time zone",
        " zone",
        " time zone",
    ];
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == '"';
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    while i < chars.len() && ident(chars[i]) {
        i += 1;
    }
    loop {
        let rest: String = chars[i..]
            .iter()
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(cont) = CONTINUATIONS.iter().find(|c| rest.starts_with(*c)) {
            i += cont.len();
        } else if chars.get(i) == Some(&'(') {
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            // Past the `)`, or at the end when it never closes (found by fuzzing: an unclosed
            // modifier ran past the end and the next slice panicked).
            i = (i + 1).min(chars.len());
        } else if chars.get(i) == Some(&'[') {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i = (i + 1).min(chars.len());
        } else {
            return i.min(chars.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_print_like_format_type() {
        for (input, expected) in [
            ("VARCHAR(20)", "character varying(20)"),
            ("character varying(20)", "character varying(20)"),
            ("varchar", "character varying"),
            ("INT", "integer"),
            ("int4", "integer"),
            ("INTEGER", "integer"),
            ("int8", "bigint"),
            ("BOOL", "boolean"),
            ("TIMESTAMPTZ", "timestamp with time zone"),
            ("timestamp with time zone", "timestamp with time zone"),
            ("TIMESTAMP", "timestamp without time zone"),
            (
                "timestamp(3) without time zone",
                "timestamp(3) without time zone",
            ),
            ("NUMERIC(10, 2)", "numeric(10,2)"),
            ("DECIMAL(10)", "numeric(10,0)"),
            ("numeric", "numeric"),
            ("DOUBLE PRECISION", "double precision"),
            ("float8", "double precision"),
            ("REAL", "real"),
            ("TEXT[]", "text[]"),
            ("INT[][]", "integer[]"),
            ("varchar(10)[]", "character varying(10)[]"),
            ("CHAR(3)", "character(3)"),
            ("char", "character(1)"),
            ("UUID", "uuid"),
            ("JSONB", "jsonb"),
            ("public.mood", "mood"),
            ("\"Mood\"", "\"Mood\""),
            ("Mood", "mood"),
            ("time", "time without time zone"),
        ] {
            assert_eq!(normalize_type(input), expected, "{input}");
        }
        assert_eq!(serial_base("SERIAL"), Some("integer"));
        assert_eq!(serial_base("bigserial"), Some("bigint"));
        assert_eq!(serial_base("int"), None);
    }

    #[test]
    fn types_ending_in_multibyte_characters_do_not_panic() {
        // Found by fuzzing: the ` array` suffix check sliced inside a multi-byte character.
        assert_eq!(
            normalize_type("t\0\0\0\0\0\0BY\u{52d}\u{51c} \u{51c}"),
            "t\0\0\0\0\0\0by\u{52d}\u{51c} \u{51c}"
        );
        assert_eq!(
            normalize_type("ab\u{52d}\u{52d}\u{52d}"),
            normalize_type("AB\u{52d}\u{52d}\u{52d}")
        );
        assert_eq!(normalize_type("int ARRAY"), "integer[]");
        assert_eq!(normalize_type(" array"), "array");
    }

    #[test]
    fn loose_forms_ignore_casts_parens_and_case() {
        assert_eq!(loose("(price >= (0)::numeric)"), loose("price >= 0"));
        assert_eq!(loose("'active'::character varying"), loose("'active'"));
        assert_eq!(loose("CURRENT_TIMESTAMP"), loose("current_timestamp"));
        assert_eq!(loose("now()"), loose("NOW()"));
        assert_eq!(loose("lower((email)::text)"), loose("lower(email)"));
        assert_eq!(loose("'{}'::jsonb"), loose("'{}'"));
        // An unclosed type modifier or array bracket after a cast ends the expression (found by fuzzing).
        assert_eq!(loose("x::t("), "x");
        assert_eq!(loose("x::numeric(10"), "x");
        assert_eq!(loose("x::int["), "x");
        assert_eq!(loose("a::t(1)(2"), "a");
        assert_ne!(loose("'A'"), loose("'a'"));
        assert_eq!(
            loose("'2020-01-01 00:00:00+00'::timestamp with time zone"),
            loose("'2020-01-01 00:00:00+00'")
        );
    }
}
