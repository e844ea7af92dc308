//! The filter model: conditions combined with AND, rendered to SQL or PostgREST by each backend.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::ident::Ident;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `=`; with a JSON `null` it means IS NULL.
    Eq,
    /// `<>`; with a JSON `null` it means IS NOT NULL.
    Neq,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// Membership in a JSON array of values.
    In,
    /// `IS NULL` (the value is ignored).
    IsNull,
    /// `IS NOT NULL` (the value is ignored).
    IsNotNull,
    /// `LIKE` with a pattern string.
    Like,
    /// `ILIKE` with a pattern string.
    ILike,
}

/// One condition: `column op value`. The column is an exact name, like a row key.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The exact column name.
    pub column: String,
    /// The operator.
    pub op: Op,
    /// The value compared against; `Null` for [`Op::IsNull`] and [`Op::IsNotNull`].
    pub value: Value,
}

impl Condition {
    /// Checks the column name and that the value suits the operator.
    pub fn validate(&self) -> Result<Ident> {
        self.check()?;
        Ident::exact(&self.column)
    }

    /// What [`Condition::validate`] checks, without making the column's identifier.
    pub(crate) fn check(&self) -> Result<()> {
        Ident::check_exact(&self.column)?;
        match self.op {
            Op::In if !self.value.is_array() => Err(Error::invalid_input(format!(
                "filter on {:?}: `in` needs a JSON array, got {}",
                self.column, self.value
            ))),
            Op::Like | Op::ILike if !self.value.is_string() => Err(Error::invalid_input(format!(
                "filter on {:?}: a like pattern must be a string, got {}",
                self.column, self.value
            ))),
            _ => Ok(()),
        }
    }
}

/// Conditions combined with AND.
///
/// An empty filter selects every row for reads, but [`update`](crate::DatabaseClient::update) and
/// [`delete`](crate::DatabaseClient::delete) refuse it unless it was built with [`Filter::all_rows`], so an
/// unfiltered write never happens by accident.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    conditions: Vec<Condition>,
    all_rows: bool,
}

impl Filter {
    /// An empty filter.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// An explicit "every row" filter, the only empty filter that update and delete accept.
    pub fn all_rows() -> Filter {
        Filter {
            conditions: Vec::new(),
            all_rows: true,
        }
    }

    /// Equality on every pair of a JSON object, as the Python original's `filters` dict meant; a `null`
    /// value means IS NULL.
    pub fn from_map(map: &Map<String, Value>) -> Filter {
        map.iter()
            .fold(Filter::new(), |f, (k, v)| f.eq(k, v.clone()))
    }

    /// Equality on every pair of a JSON value, which must be an object.
    pub fn from_json(value: &Value) -> Result<Filter> {
        match value {
            Value::Object(map) => Ok(Filter::from_map(map)),
            Value::Null => Ok(Filter::new()),
            other => Err(Error::invalid_input(format!(
                "filters must be a JSON object, got {other}"
            ))),
        }
    }

    /// Adds a condition.
    pub fn push(mut self, column: &str, op: Op, value: Value) -> Filter {
        self.conditions.push(Condition {
            column: column.to_owned(),
            op,
            value,
        });
        self
    }

    /// `column = value` (IS NULL for `null`).
    pub fn eq(self, column: &str, value: impl Into<Value>) -> Filter {
        self.push(column, Op::Eq, value.into())
    }

    /// `column <> value` (IS NOT NULL for `null`).
    pub fn neq(self, column: &str, value: impl Into<Value>) -> Filter {
        self.push(column, Op::Neq, value.into())
    }

    /// `column > value`.
    pub fn gt(self, column: &str, value: impl Into<Value>) -> Filter {
        self.push(column, Op::Gt, value.into())
    }

    /// `column >= value`.
    pub fn gte(self, column: &str, value: impl Into<Value>) -> Filter {
        self.push(column, Op::Gte, value.into())
    }

    /// `column < value`.
    pub fn lt(self, column: &str, value: impl Into<Value>) -> Filter {
        self.push(column, Op::Lt, value.into())
    }

    /// `column <= value`.
    pub fn lte(self, column: &str, value: impl Into<Value>) -> Filter {
        self.push(column, Op::Lte, value.into())
    }

    /// `column` is one of `values`.
    pub fn is_in(self, column: &str, values: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        let values = values.into_iter().map(Into::into).collect();
        self.push(column, Op::In, Value::Array(values))
    }

    /// `column IS NULL`.
    pub fn is_null(self, column: &str) -> Filter {
        self.push(column, Op::IsNull, Value::Null)
    }

    /// `column IS NOT NULL`.
    pub fn is_not_null(self, column: &str) -> Filter {
        self.push(column, Op::IsNotNull, Value::Null)
    }

    /// `column LIKE pattern`.
    pub fn like(self, column: &str, pattern: &str) -> Filter {
        self.push(column, Op::Like, Value::String(pattern.to_owned()))
    }

    /// `column ILIKE pattern`.
    pub fn ilike(self, column: &str, pattern: &str) -> Filter {
        self.push(column, Op::ILike, Value::String(pattern.to_owned()))
    }

    /// The conditions, in the order they were added.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Whether there are no conditions.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Refuses an empty filter for a write unless it is [`Filter::all_rows`]; `what` names the operation.
    pub fn check_write(&self, what: &str) -> Result<()> {
        if self.conditions.is_empty() && !self.all_rows {
            return Err(Error::invalid_input(format!(
                "refusing {what} without a filter; pass Filter::all_rows() to touch every row"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_objects_mean_equality_and_null_means_is_null() {
        let f = Filter::from_json(&json!({"a": 1, "b": null})).unwrap();
        assert_eq!(
            f.conditions()[0],
            Condition {
                column: "a".into(),
                op: Op::Eq,
                value: json!(1)
            }
        );
        assert_eq!(f.conditions()[1].value, Value::Null);
        assert!(Filter::from_json(&json!([1])).is_err());
    }

    #[test]
    fn unfiltered_writes_are_refused_unless_explicit() {
        let err = Filter::new().check_write("delete from items").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: refusing delete from items without a filter; pass Filter::all_rows() to touch every row"
        );
        assert!(Filter::all_rows().check_write("delete").is_ok());
    }

    #[test]
    fn operators_check_their_values() {
        assert!(
            Filter::new().push("a", Op::In, json!(1)).conditions()[0]
                .validate()
                .is_err()
        );
        assert!(
            Filter::new().push("a", Op::Like, json!(1)).conditions()[0]
                .validate()
                .is_err()
        );
        assert!(
            Filter::new().is_in("a", [1, 2]).conditions()[0]
                .validate()
                .is_ok()
        );
    }
}
