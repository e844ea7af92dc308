//! Projection, ordering and paging of a select, parsed from the strings users already write.

use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::ident::{Ident, Lexer};

/// Which columns a select returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Columns {
    /// Every column (`*`).
    #[default]
    All,
    /// These columns, in this order.
    List(Vec<Ident>),
}

impl Columns {
    /// Parses `"*"` or a comma-separated list such as `"id, name, \"Mixed\""`. Expressions such as
    /// `count(*)` are refused: use [`DatabaseClient::count`](crate::DatabaseClient::count) or raw SQL.
    pub fn parse(text: &str) -> Result<Columns> {
        if text.trim() == "*" {
            return Ok(Columns::All);
        }
        let mut lexer = Lexer::new(text);
        let mut list = Vec::new();
        loop {
            list.push(lexer.ident()?);
            lexer.skip_ws();
            if lexer.at_end() {
                return Ok(Columns::List(list));
            }
            if !lexer.eat(',') {
                return Err(lexer.unexpected("',' or end of column list"));
            }
        }
    }
}

/// Sort direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Ascending (the default).
    #[default]
    Asc,
    /// Descending.
    Desc,
}

/// Where NULLs sort.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nulls {
    /// The database default (last for ascending, first for descending in PostgreSQL).
    #[default]
    Default,
    /// NULLS FIRST.
    First,
    /// NULLS LAST.
    Last,
}

/// One sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    /// The column.
    pub column: Ident,
    /// The direction.
    pub direction: Direction,
    /// NULL placement.
    pub nulls: Nulls,
}

impl OrderBy {
    /// Ascending on an exact column name.
    pub fn asc(column: &str) -> Result<OrderBy> {
        Ok(OrderBy {
            column: Ident::exact(column)?,
            direction: Direction::Asc,
            nulls: Nulls::Default,
        })
    }

    /// Descending on an exact column name.
    pub fn desc(column: &str) -> Result<OrderBy> {
        Ok(OrderBy {
            column: Ident::exact(column)?,
            direction: Direction::Desc,
            nulls: Nulls::Default,
        })
    }

    /// Parses an order list such as `"d DESC NULLS LAST, id"` (keywords in any case).
    pub fn parse_list(text: &str) -> Result<Vec<OrderBy>> {
        let mut lexer = Lexer::new(text);
        let mut list = Vec::new();
        loop {
            let column = lexer.ident()?;
            let direction = if lexer.keyword("desc") {
                Direction::Desc
            } else {
                lexer.keyword("asc");
                Direction::Asc
            };
            let nulls = if lexer.keyword("nulls") {
                if lexer.keyword("first") {
                    Nulls::First
                } else if lexer.keyword("last") {
                    Nulls::Last
                } else {
                    return Err(lexer.unexpected("FIRST or LAST after NULLS"));
                }
            } else {
                Nulls::Default
            };
            list.push(OrderBy {
                column,
                direction,
                nulls,
            });
            lexer.skip_ws();
            if lexer.at_end() {
                return Ok(list);
            }
            if !lexer.eat(',') {
                return Err(lexer.unexpected("ASC, DESC, NULLS, ',' or end of order list"));
            }
        }
    }
}

/// A select: projection, filter, ordering and paging.
///
/// The string-taking builder methods parse immediately; a parse error is kept and reported by
/// [`Query::validate`], which every backend calls before it runs anything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// The projection.
    pub columns: Columns,
    /// The filter.
    pub filter: Filter,
    /// The sort keys, in order.
    pub order: Vec<OrderBy>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Skip this many rows first.
    pub offset: Option<u64>,
    error: Option<String>,
}

impl Query {
    /// Every column of every row.
    pub fn new() -> Query {
        Query::default()
    }

    /// Sets the projection from a string such as `"id, name"` or `"*"`.
    pub fn columns(mut self, text: &str) -> Query {
        match Columns::parse(text) {
            Ok(columns) => self.columns = columns,
            Err(e) => self.error = Some(format!("columns {text:?}: {}", e.message())),
        }
        self
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: Filter) -> Query {
        self.filter = filter;
        self
    }

    /// Appends sort keys from a string such as `"d DESC NULLS LAST, id"`.
    pub fn order_by(mut self, text: &str) -> Query {
        match OrderBy::parse_list(text) {
            Ok(list) => self.order.extend(list),
            Err(e) => self.error = Some(format!("order_by {text:?}: {}", e.message())),
        }
        self
    }

    /// Appends one sort key.
    pub fn order(mut self, key: OrderBy) -> Query {
        self.order.push(key);
        self
    }

    /// Returns at most `n` rows.
    pub fn limit(mut self, n: u64) -> Query {
        self.limit = Some(n);
        self
    }

    /// Skips `n` rows.
    pub fn offset(mut self, n: u64) -> Query {
        self.offset = Some(n);
        self
    }

    /// Reports the first parse error of the builder methods, and checks every filter condition.
    pub fn validate(&self) -> Result<()> {
        if let Some(message) = &self.error {
            return Err(Error::invalid_input(message.clone()));
        }
        for condition in self.filter.conditions() {
            condition.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_parse_into_identifiers() {
        assert_eq!(Columns::parse(" * ").unwrap(), Columns::All);
        let Columns::List(list) = Columns::parse("id, Name,\"Mixed Case\"").unwrap() else {
            panic!()
        };
        let names: Vec<_> = list.iter().map(Ident::as_str).collect();
        assert_eq!(names, ["id", "name", "Mixed Case"]);
        for bad in [
            "count(*) as cnt",
            "id,",
            "id name",
            "(select 1)",
            "id; drop table x",
            "",
        ] {
            assert!(Columns::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn order_lists_parse_directions_and_nulls() {
        let list = OrderBy::parse_list("d DESC, \"E\" asc nulls first, f NULLS LAST").unwrap();
        assert_eq!(list[0].direction, Direction::Desc);
        assert_eq!(list[1].column.as_str(), "E");
        assert_eq!(list[1].nulls, Nulls::First);
        assert_eq!(list[2].nulls, Nulls::Last);
        for bad in [
            "d DESCENDING",
            "d desc nulls",
            "(select 1)",
            "d; drop table x",
            "d desc,",
        ] {
            assert!(OrderBy::parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builder_errors_surface_at_validation() {
        let q = Query::new().columns("count(*)");
        let err = q.validate().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid input: columns \"count(*)\": expected"),
            "{err}"
        );
    }
}
