//! Validated identifiers and table names, parsed once and always rendered quoted.

use std::fmt;

use crate::error::{Error, Result};

/// PostgreSQL silently truncates longer identifiers (`NAMEDATALEN - 1`); dba refuses them instead.
const MAX_IDENT_BYTES: usize = 63;

/// One validated SQL identifier: the exact name as stored in the catalog.
///
/// [`Display`](fmt::Display) renders it double-quoted with embedded quotes doubled, so it can never escape
/// its quotes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    /// Takes `name` as the exact identifier (the way row keys and filter columns name columns).
    ///
    /// Refuses an empty name, a NUL byte and names longer than 63 bytes.
    pub fn exact(name: &str) -> Result<Ident> {
        Ident::check_exact(name)?;
        Ok(Ident(name.to_owned()))
    }

    /// What [`Ident::exact`] checks, without making the identifier.
    pub(crate) fn check_exact(name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid_input("empty identifier"));
        }
        if name.contains('\0') {
            return Err(Error::invalid_input(format!(
                "identifier {name:?} contains a NUL byte"
            )));
        }
        if name.len() > MAX_IDENT_BYTES {
            return Err(Error::invalid_input(format!(
                "identifier {name:?} is longer than {MAX_IDENT_BYTES} bytes"
            )));
        }
        Ok(())
    }

    /// Parses one identifier as PostgreSQL reads it: unquoted names fold to lower case and may contain
    /// only letters, digits, `_` and `$` (not first); double-quoted names are exact, with `""` for a quote.
    pub fn parse(text: &str) -> Result<Ident> {
        let mut lexer = Lexer::new(text);
        let ident = lexer.ident()?;
        lexer.skip_ws();
        if !lexer.at_end() {
            return Err(lexer.unexpected("end of name"));
        }
        Ok(ident)
    }

    /// The exact name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every `"` doubled, written piece by piece (this runs for every name of every statement).
        f.write_str("\"")?;
        let mut rest = self.0.as_str();
        while let Some(quote) = rest.find('"') {
            f.write_str(&rest[..=quote])?;
            f.write_str("\"")?;
            rest = &rest[quote + 1..];
        }
        f.write_str(rest)?;
        f.write_str("\"")
    }
}

/// A table (or view) name, optionally schema-qualified.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema, when the name was qualified.
    pub schema: Option<Ident>,
    /// The table itself.
    pub name: Ident,
}

impl TableName {
    /// Parses `table` or `schema.table` as PostgreSQL reads it (see [`Ident::parse`]).
    pub fn parse(text: &str) -> Result<TableName> {
        let mut lexer = Lexer::new(text);
        let first = lexer.ident()?;
        lexer.skip_ws();
        let parsed = if lexer.eat('.') {
            let name = lexer.ident()?;
            TableName {
                schema: Some(first),
                name,
            }
        } else {
            TableName {
                schema: None,
                name: first,
            }
        };
        lexer.skip_ws();
        if !lexer.at_end() {
            return Err(lexer.unexpected("end of table name"));
        }
        Ok(parsed)
    }

    /// A table name from exact parts, as read from a catalog.
    pub fn exact(schema: Option<&str>, name: &str) -> Result<TableName> {
        Ok(TableName {
            schema: schema.map(Ident::exact).transpose()?,
            name: Ident::exact(name)?,
        })
    }

    /// The unquoted, human-readable form (`schema.table` or `table`), for messages.
    pub fn display_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", schema.as_str(), self.name.as_str()),
            None => self.name.as_str().to_owned(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}.")?;
        }
        write!(f, "{}", self.name)
    }
}

/// A tiny lexer for names, column lists and order lists. It is deliberately strict: anything that is not
/// an identifier, a comma, a dot or a known keyword is an error naming the position.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub(crate) fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn unexpected(&self, expected: &str) -> Error {
        let found = self
            .rest()
            .chars()
            .next()
            .map_or_else(|| "end of input".to_owned(), |c| format!("{c:?}"));
        Error::invalid_input(format!(
            "expected {expected} at position {} of {:?}, found {found}",
            self.pos + 1,
            self.text
        ))
    }

    /// Reads one identifier, quoted or not, after optional whitespace.
    pub(crate) fn ident(&mut self) -> Result<Ident> {
        self.skip_ws();
        if self.eat('"') {
            let mut name = String::new();
            loop {
                let Some(c) = self.rest().chars().next() else {
                    return Err(Error::invalid_input(format!(
                        "unterminated quoted identifier in {:?}",
                        self.text
                    )));
                };
                self.pos += c.len_utf8();
                if c == '"' {
                    if self.eat('"') {
                        name.push('"');
                    } else {
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
            return Ident::exact(&name);
        }
        let word = self.word();
        if word.is_empty() {
            return Err(self.unexpected("a name"));
        }
        Ident::exact(&word.to_ascii_lowercase())
    }

    /// Reads an unquoted word (`[A-Za-z_\u0080-][A-Za-z0-9_$\u0080-]*`) without folding it.
    pub(crate) fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            let ok = if i == 0 {
                c.is_alphabetic() || c == '_'
            } else {
                c.is_alphanumeric() || c == '_' || c == '$'
            };
            if !ok {
                break;
            }
            end = i + c.len_utf8();
        }
        self.pos += end;
        &rest[..end]
    }

    /// Peeks whether the next word (case-insensitive) is `keyword`, consuming it if so.
    pub(crate) fn keyword(&mut self, keyword: &str) -> bool {
        self.skip_ws();
        let start = self.pos;
        let word = self.word();
        if word.eq_ignore_ascii_case(keyword) {
            true
        } else {
            self.pos = start;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_names_fold_and_quoted_names_are_exact() {
        assert_eq!(Ident::parse("Items").unwrap().as_str(), "items");
        assert_eq!(Ident::parse("\"Items\"").unwrap().as_str(), "Items");
        assert_eq!(
            Ident::parse("\"a\"\"b\"").unwrap().to_string(),
            "\"a\"\"b\""
        );
        let t = TableName::parse(" Public . \"My Table\" ").unwrap();
        assert_eq!(t.to_string(), "\"public\".\"My Table\"");
        assert_eq!(t.display_name(), "public.My Table");
    }

    #[test]
    fn hostile_names_are_refused_or_quoted() {
        for bad in [
            "items; DROP TABLE x",
            "1=1 OR d",
            "a b",
            "",
            "t--",
            "t/*",
            "\"open",
            "a.b.c",
            "x)",
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let exact = Ident::exact("x\"; DROP TABLE t; --").unwrap();
        assert_eq!(exact.to_string(), "\"x\"\"; DROP TABLE t; --\"");
        let quotes = Ident::exact("\"a\"\"b\"").unwrap();
        assert_eq!(quotes.to_string(), "\"\"\"a\"\"\"\"b\"\"\"");
        assert!(Ident::exact("a\0b").is_err());
        assert!(Ident::exact(&"x".repeat(64)).is_err());
    }

    #[test]
    fn errors_name_the_position() {
        let err = TableName::parse("items;").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: expected end of table name at position 6 of \"items;\", found ';'"
        );
    }
}
