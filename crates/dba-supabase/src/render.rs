//! The filter, projection and order model rendered to PostgREST's query grammar.
//!
//! Two quoting rules come from PostgREST's own parser:
//! - **Names.** A name made only of ASCII letters, digits and `_` is written bare; any other name (spaces,
//!   dots, commas, colons, parentheses, quotes, non-ASCII) and the names PostgREST reserves as query
//!   parameters (`select`, `order`, …) are written in double quotes, with `"` and `\` escaped by a
//!   backslash. PostgREST reads a quoted name exactly in `select=`, `order=`, `columns=`, `on_conflict=` and
//!   in a filter's key.
//! - **Values.** After `eq.`, `gt.`, `like.` and the other single-value operators PostgREST takes the rest
//!   of the parameter verbatim, so the value is sent as it is (reqwest percent-encodes it). Inside
//!   `in.(…)` every element is double-quoted with `"` and `\` escaped, so commas, parentheses, dots and
//!   quotes in values never split the list.

use dba_core::{
    Columns, Condition, Direction, Error, Filter, Nulls, Op, OrderBy, Result, value_to_text,
};

/// Query parameter names PostgREST reserves; a column with one of these names is always quoted.
const RESERVED: &[&str] = &[
    "select",
    "columns",
    "on_conflict",
    "order",
    "limit",
    "offset",
    "and",
    "or",
    "not",
    "asc",
    "desc",
    "nullsfirst",
    "nullslast",
];

/// A column name in PostgREST syntax: bare when that is unambiguous, otherwise double-quoted.
pub(crate) fn ident(name: &str) -> String {
    let bare = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
    if bare { name.to_owned() } else { quoted(name) }
}

/// `text` in double quotes with `"` and `\` escaped by a backslash (PostgREST's quoted value).
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A comma-separated list of names, as `select=`, `columns=` and `on_conflict=` take it.
pub(crate) fn ident_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(ident).collect::<Vec<_>>().join(",")
}

/// The `select=` value for a projection.
pub(crate) fn select_list(columns: &Columns) -> String {
    match columns {
        Columns::All => "*".to_owned(),
        Columns::List(list) => ident_list(list.iter().map(|c| c.as_str())),
    }
}

/// The `order=` value, e.g. `price.desc.nullslast,name.asc`; `None` without sort keys.
pub(crate) fn order(keys: &[OrderBy]) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let terms: Vec<String> = keys
        .iter()
        .map(|key| {
            let mut term = ident(key.column.as_str());
            term.push_str(match key.direction {
                Direction::Asc => ".asc",
                Direction::Desc => ".desc",
            });
            match key.nulls {
                Nulls::Default => {}
                Nulls::First => term.push_str(".nullsfirst"),
                Nulls::Last => term.push_str(".nullslast"),
            }
            term
        })
        .collect();
    Some(terms.join(","))
}

/// A comparison that takes one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    ILike,
}

#[cfg(test)]
impl Cmp {
    fn name(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Neq => "neq",
            Cmp::Gt => "gt",
            Cmp::Gte => "gte",
            Cmp::Lt => "lt",
            Cmp::Lte => "lte",
            Cmp::Like => "like",
            Cmp::ILike => "ilike",
        }
    }
}

/// The operator and operand of one rendered condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    /// `eq.<text>` and the other single-value operators; the text is sent verbatim.
    Cmp(Cmp, String),
    /// `in.(<items>)`, each item already quoted.
    In(Vec<String>),
    /// `is.null`.
    IsNull,
    /// `not.is.null`.
    NotNull,
}

/// One rendered condition: a query parameter such as `price=gte.10`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Param {
    /// The column in PostgREST syntax.
    pub(crate) key: String,
    /// The operator and its operand.
    pub(crate) operand: Operand,
}

impl Param {
    /// The parameter's value as PostgREST reads it, e.g. `in.("a","b")`.
    #[cfg(test)]
    pub(crate) fn value(&self) -> String {
        match &self.operand {
            Operand::Cmp(cmp, text) => format!("{}.{text}", cmp.name()),
            Operand::In(items) => format!("in.({})", items.join(",")),
            Operand::IsNull => "is.null".to_owned(),
            Operand::NotNull => "not.is.null".to_owned(),
        }
    }

    /// Adds the condition to a postgrest request builder.
    ///
    /// postgrest's `like`/`ilike` write `%` as `*`, PostgREST's URL-friendly alias for it; PostgREST reads
    /// both the same way.
    pub(crate) fn apply(&self, builder: postgrest::Builder) -> postgrest::Builder {
        let key = self.key.as_str();
        match &self.operand {
            Operand::Cmp(Cmp::Eq, v) => builder.eq(key, v),
            Operand::Cmp(Cmp::Neq, v) => builder.neq(key, v),
            Operand::Cmp(Cmp::Gt, v) => builder.gt(key, v),
            Operand::Cmp(Cmp::Gte, v) => builder.gte(key, v),
            Operand::Cmp(Cmp::Lt, v) => builder.lt(key, v),
            Operand::Cmp(Cmp::Lte, v) => builder.lte(key, v),
            Operand::Cmp(Cmp::Like, v) => builder.like(key, v.as_str()),
            Operand::Cmp(Cmp::ILike, v) => builder.ilike(key, v.as_str()),
            Operand::In(items) => builder.in_(key, items),
            Operand::IsNull => builder.is(key, "null"),
            Operand::NotNull => builder.not("is", key, "null"),
        }
    }
}

/// A filter rendered to query parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// One parameter per condition, in the filter's order (PostgREST ANDs them).
    pub(crate) params: Vec<Param>,
    /// A condition can never be true (`in` with an empty list, or only nulls), so no row matches.
    pub(crate) matches_nothing: bool,
}

impl Rendered {
    /// Adds every condition to a postgrest request builder.
    pub(crate) fn apply(&self, builder: postgrest::Builder) -> postgrest::Builder {
        self.params.iter().fold(builder, |b, p| p.apply(b))
    }
}

/// Renders every condition of `filter`, after checking each (column name, operator and value).
pub(crate) fn filter(filter: &Filter) -> Result<Rendered> {
    let mut out = Rendered::default();
    for condition in filter.conditions() {
        condition.validate()?;
        match param(condition)? {
            Some(p) => out.params.push(p),
            None => out.matches_nothing = true,
        }
    }
    Ok(out)
}

/// One condition; `None` when it can never match.
fn param(condition: &Condition) -> Result<Option<Param>> {
    let key = ident(&condition.column);
    let value = &condition.value;
    let cmp = |cmp: Cmp| Operand::Cmp(cmp, value_to_text(value).unwrap_or_default());
    let operand = match (condition.op, value.is_null()) {
        (Op::IsNull, _) | (Op::Eq, true) => Operand::IsNull,
        (Op::IsNotNull, _) | (Op::Neq, true) => Operand::NotNull,
        (Op::In, _) => {
            // NULL never equals anything, so null elements are dropped, as `= ANY(...)` ignores them.
            let items: Vec<String> = value
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(value_to_text)
                .map(|t| quoted(&t))
                .collect();
            if items.is_empty() {
                return Ok(None);
            }
            Operand::In(items)
        }
        (Op::Eq, false) => cmp(Cmp::Eq),
        (Op::Neq, false) => cmp(Cmp::Neq),
        (Op::Gt, _) => cmp(Cmp::Gt),
        (Op::Gte, _) => cmp(Cmp::Gte),
        (Op::Lt, _) => cmp(Cmp::Lt),
        (Op::Lte, _) => cmp(Cmp::Lte),
        (Op::Like, _) => cmp(Cmp::Like),
        (Op::ILike, _) => cmp(Cmp::ILike),
        (other, _) => {
            return Err(Error::invalid_input(format!(
                "filter on {:?}: operator {other:?} is not supported by the Supabase backend",
                condition.column
            )));
        }
    };
    Ok(Some(Param { key, operand }))
}

#[cfg(test)]
mod tests;
