//! The expected schema from `schema.sql`, read with sqlparser's PostgreSQL dialect.
//!
//! The file is tokenized once (so comments, string literals and dollar-quoted bodies never confuse statement
//! boundaries) and split at top-level semicolons. Each statement is classified by its leading keywords:
//! `CREATE TABLE` must parse or the whole read fails with file, line and column; `CREATE INDEX`,
//! `CREATE VIEW`, `CREATE TYPE ... AS ENUM` and `ALTER TABLE ... ADD` are used when they parse and reported as
//! skipped when they do not; everything else (functions, triggers, grants, inserts) is skipped.
//!
//! Names fold as PostgreSQL folds them: unquoted to lower case, quoted exact; unqualified names belong to
//! `public`, or to the schema given to [`parse_schema_sql_in`] (a profile's `schema`). Every position in an
//! error is the one in the file as given: the tokens keep their line and column when statements are split.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlparser::ast::Spanned as _;
use sqlparser::ast::{
    self, ColumnDef, ColumnOption, CreateIndex, CreateTable, Expr, GeneratedAs, ObjectName,
    ObjectNamePart, Statement, TableConstraint, UserDefinedTypeRepresentation,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::error::SchemaError;
use crate::model::{
    Catalog, CheckConstraint, Column, DEFAULT_SCHEMA, EnumType, ForeignKey, Identity, Index,
    PrimaryKey, Table, TableKind, UniqueConstraint, View, object_key,
};
use crate::normalize::{normalize_type, quote_if_needed, serial_base};
use dba_core::position;

/// What a schema file declares, plus what was skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedSchema {
    /// Tables, indexes, views and enums the file declares.
    pub catalog: Catalog,
    /// Statements that were not used, with why.
    pub skipped: Vec<SkippedStatement>,
}

/// A statement of the file that does not contribute to the expected schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedStatement {
    /// 1-based line where the statement starts.
    pub line: u64,
    /// Its first words, e.g. `CREATE FUNCTION`.
    pub statement: String,
    /// Why it was skipped (not modeled, or the parser's message).
    pub reason: String,
}

/// Reads and parses a schema file (see [`parse_schema_sql`]); unqualified names are in `public`.
pub fn read_schema_file(path: &Path) -> Result<ExpectedSchema, SchemaError> {
    read_schema_file_in(path, DEFAULT_SCHEMA)
}

/// Reads and parses a schema file whose unqualified names belong to `schema` (a profile's `schema` setting;
/// see [`parse_schema_sql_in`]).
pub fn read_schema_file_in(path: &Path, schema: &str) -> Result<ExpectedSchema, SchemaError> {
    let text = read_file(path)?;
    parse_schema_sql_in(&text, &path.display().to_string(), schema)
}

pub(crate) fn read_file(path: &Path) -> Result<String, SchemaError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SchemaError::FileNotFound {
                path: path.to_owned(),
            }
        } else {
            SchemaError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    position::utf8(bytes).map_err(|(line, column, utf16)| SchemaError::NotUtf8 {
        path: path.to_owned(),
        line,
        column,
        utf16,
    })
}

/// Parses the text of a schema file; `file` names it in errors. Unqualified names are in `public`.
///
/// Fails when a `CREATE TABLE` is malformed ([`SchemaError::Parse`], with line and column) or when the file
/// declares no table at all ([`SchemaError::NoTables`]).
pub fn parse_schema_sql(sql: &str, file: &str) -> Result<ExpectedSchema, SchemaError> {
    parse_schema_sql_in(sql, file, DEFAULT_SCHEMA)
}

/// Like [`parse_schema_sql`], with unqualified names (of tables, referenced tables, views, enums and the
/// tables of indexes and `ALTER TABLE`) in `schema`: the profile's `schema` setting, which is where
/// PostgreSQL creates them when the file is run with that schema first on the search path. A qualified
/// name (`billing.invoices`) keeps its own schema.
pub fn parse_schema_sql_in(
    sql: &str,
    file: &str,
    schema: &str,
) -> Result<ExpectedSchema, SchemaError> {
    // A byte order mark is not SQL (the tokenizer would make a word of it and hide the first statement), and
    // editors do not count it as a column.
    let sql = sql.strip_prefix('\u{feff}').unwrap_or(sql);
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| SchemaError::Parse {
            file: file.to_owned(),
            line: e.location.line,
            column: e.location.column,
            statement: "sql".to_owned(),
            message: e.message,
        })?;
    let mut out = ExpectedSchema::default();
    for chunk in split_statements(tokens) {
        let words = leading_words(&chunk);
        let Some(first) = chunk.iter().find(|t| !is_trivia(&t.token)) else {
            continue;
        };
        let start = first.span.start;
        let line = start.line;
        let kind = classify(&words);
        let head = words.iter().take(3).cloned().collect::<Vec<_>>().join(" ");
        let Some(kind) = kind else {
            out.skipped.push(SkippedStatement {
                line,
                statement: head,
                reason: "not part of the schema model".to_owned(),
            });
            continue;
        };
        // Where the statement ends: the parser reports an unexpected end of input at line 0, column 0.
        let end = chunk
            .iter()
            .rev()
            .find(|t| !is_trivia(&t.token))
            .map_or(start, |t| t.span.end);
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(chunk);
        // sqlparser stops at the first token it has no rule for. After a table or an index that is storage
        // detail (`USING heap`, `TABLESPACE x`), but after a view's query it is `WITH CHECK OPTION`, which
        // re-creating or replacing the view without it would drop: such a view is skipped, not modeled.
        let parsed = parser.parse_statement().and_then(|statement| {
            let next = parser.peek_token();
            if next.token == Token::EOF || kind != Kind::View {
                Ok(statement)
            } else {
                Err(sqlparser::parser::ParserError::ParserError(format!(
                    "Expected: end of statement, found: {}{}",
                    next.token, next.span.start
                )))
            }
        });
        let statement = match parsed {
            Ok(statement) => statement,
            Err(e) => {
                // The message's own location is the token the parser objected to; the next token is only
                // a fallback, since some rules consume the offending token before failing.
                let text = e.to_string();
                let at = match message_location(&text).unwrap_or(parser.peek_token().span.start) {
                    at if at.line == 0 => end,
                    at => at,
                };
                let message = strip_location(&text);
                if kind == Kind::Table {
                    return Err(SchemaError::Parse {
                        file: file.to_owned(),
                        line: at.line,
                        column: at.column,
                        statement: "create table".to_owned(),
                        message,
                    });
                }
                out.skipped.push(SkippedStatement {
                    line,
                    statement: head,
                    reason: format!(
                        "could not be parsed at line {}, column {}: {message}",
                        at.line, at.column
                    ),
                });
                continue;
            }
        };
        if let Err(problem) = add_statement(&mut out.catalog, &statement, schema) {
            if kind == Kind::Table {
                let at = problem.at.filter(|at| at.line > 0).unwrap_or(start);
                return Err(SchemaError::Parse {
                    file: file.to_owned(),
                    line: at.line,
                    column: at.column,
                    statement: "create table".to_owned(),
                    message: problem.message,
                });
            }
            out.skipped.push(SkippedStatement {
                line,
                statement: head,
                reason: problem.message,
            });
        }
    }
    inherit_partition_columns(&mut out.catalog);
    if out.catalog.tables.is_empty() {
        return Err(SchemaError::NoTables {
            file: file.to_owned(),
        });
    }
    Ok(out)
}

/// A partition (`PARTITION OF parent`) has its parent's columns, which the file does not repeat.
/// A sub-partition gets them through its own parent, so the pass repeats until nothing changes (at most
/// once per level).
fn inherit_partition_columns(catalog: &mut Catalog) {
    let keys: Vec<String> = catalog.tables.keys().cloned().collect();
    for _ in 0..keys.len() {
        let mut changed = false;
        for key in &keys {
            let Some(parent) = catalog.tables[key].partition_of.clone() else {
                continue;
            };
            let Some(columns) = catalog.tables.get(&parent).map(|p| p.columns.clone()) else {
                continue;
            };
            if let Some(table) = catalog.tables.get_mut(key) {
                for (name, column) in columns {
                    if let std::collections::btree_map::Entry::Vacant(slot) =
                        table.columns.entry(name)
                    {
                        slot.insert(column);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// Why a parsed statement cannot be used, and where in the file, when the offending part is known.
pub(crate) struct Problem {
    /// What is wrong.
    pub(crate) message: String,
    /// The start of the offending name, option or constraint.
    pub(crate) at: Option<Location>,
}

impl Problem {
    fn at(message: String, span: sqlparser::tokenizer::Span) -> Problem {
        Problem {
            message,
            at: Some(span.start),
        }
    }
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem { message, at: None }
    }
}

/// The ` at Line: x, Column: y` sqlparser appends to its messages, when present.
fn message_location(message: &str) -> Option<Location> {
    let rest = &message[message.rfind(" at Line: ")? + " at Line: ".len()..];
    let (line, column) = rest.split_once(", Column: ")?;
    Some(Location {
        line: line.trim().parse().ok()?,
        column: column.trim().parse().ok()?,
    })
}

/// The parser's message without its trailing ` at Line: x, Column: y` (the error carries them as fields).
pub(crate) fn strip_location(message: &str) -> String {
    let message = message
        .strip_prefix("sql parser error: ")
        .unwrap_or(message);
    match message.rfind(" at Line: ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Table,
    Index,
    View,
    Type,
    AlterTable,
}

fn is_trivia(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_) | Token::EOF)
}

fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0_i32;
    for token in tokens {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ => {}
        }
        if token.token == Token::SemiColon && depth <= 0 {
            depth = 0;
            chunks.push(std::mem::take(&mut current));
        } else {
            current.push(token);
        }
    }
    chunks.push(current);
    chunks
        .into_iter()
        .filter(|c| c.iter().any(|t| !is_trivia(&t.token)))
        .collect()
}

fn leading_words(chunk: &[TokenWithSpan]) -> Vec<String> {
    chunk
        .iter()
        .filter(|t| {
            !matches!(
                t.token,
                Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
            )
        })
        .filter(|t| !is_trivia(&t.token))
        .take(6)
        .map(|t| match &t.token {
            Token::Word(w) if w.keyword != Keyword::NoKeyword && w.quote_style.is_none() => {
                w.value.to_ascii_uppercase()
            }
            other => other.to_string(),
        })
        .collect()
}

fn classify(words: &[String]) -> Option<Kind> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["CREATE", rest @ ..] => {
            let rest: Vec<&str> = rest
                .iter()
                .copied()
                .skip_while(|w| {
                    matches!(
                        *w,
                        "OR" | "REPLACE"
                            | "GLOBAL"
                            | "LOCAL"
                            | "TEMP"
                            | "TEMPORARY"
                            | "UNLOGGED"
                            | "UNIQUE"
                            | "MATERIALIZED"
                            | "RECURSIVE"
                    )
                })
                .collect();
            match rest.first() {
                Some(&"TABLE") => Some(Kind::Table),
                Some(&"INDEX") => Some(Kind::Index),
                Some(&"VIEW") => Some(Kind::View),
                Some(&"TYPE") => Some(Kind::Type),
                _ => None,
            }
        }
        ["ALTER", "TABLE", ..] => Some(Kind::AlterTable),
        _ => None,
    }
}

/// Folds an identifier as PostgreSQL does.
pub(crate) fn fold(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// `(schema, name)` of an object name, folded; unqualified names are in `default`.
pub(crate) fn folded_name(name: &ObjectName, default: &str) -> Result<(String, String), String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(ident) => Ok(fold(ident)),
            ObjectNamePart::Function(_) => Err(format!("unsupported name {name}")),
        })
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [name] => Ok((default.to_owned(), name.clone())),
        [schema, name] => Ok((schema.clone(), name.clone())),
        [_, schema, name] => Ok((schema.clone(), name.clone())),
        _ => Err(format!("unsupported name {name}")),
    }
}

fn add_statement(
    catalog: &mut Catalog,
    statement: &Statement,
    default: &str,
) -> Result<(), Problem> {
    match statement {
        Statement::CreateTable(create) => {
            let table = table_from_create(create, default)?;
            if catalog.tables.contains_key(&table.key()) && !create.if_not_exists {
                // PostgreSQL refuses the second one; without IF NOT EXISTS it is a mistake in the file.
                return Err(Problem::at(
                    format!("table {} is already defined above", table.key()),
                    create.name.span(),
                ));
            }
            catalog.tables.entry(table.key()).or_insert(table);
            Ok(())
        }
        Statement::CreateIndex(create) => {
            let (schema, table) = folded_name(&create.table_name, default)?;
            let key = object_key(&schema, &table);
            let index = index_from_create(create, &table)?;
            let Some(target) = catalog.tables.get_mut(&key) else {
                return Err(format!(
                    "index {} is on table {key}, which the file does not create",
                    index.name
                )
                .into());
            };
            target.indexes.insert(index.name.clone(), index);
            Ok(())
        }
        Statement::CreateView(view) => {
            if view.options != ast::CreateTableOptions::None {
                // Replacing or re-creating the view without them would drop them (security_barrier).
                return Err(format!("view options ({}) are not modeled", view.options).into());
            }
            let (schema, name) = folded_name(&view.name, default)?;
            catalog.views.insert(
                object_key(&schema, &name),
                View {
                    schema,
                    name,
                    materialized: view.materialized,
                    definition: view.query.to_string(),
                    aliases: view.columns.iter().map(|c| fold(&c.name)).collect(),
                    rendered: None,
                    columns: Vec::new(),
                },
            );
            Ok(())
        }
        Statement::CreateType {
            name,
            representation: Some(UserDefinedTypeRepresentation::Enum { labels }),
        } => {
            let (schema, name) = folded_name(name, default)?;
            catalog.enums.insert(
                object_key(&schema, &name),
                EnumType {
                    schema,
                    name,
                    labels: labels.iter().map(|l| l.value.clone()).collect(),
                },
            );
            Ok(())
        }
        Statement::AlterTable(alter) => {
            let (schema, name) = folded_name(&alter.name, default)?;
            let key = object_key(&schema, &name);
            let Some(table) = catalog.tables.get_mut(&key) else {
                return Err(format!("alters table {key}, which the file does not create").into());
            };
            let mut used = false;
            for op in &alter.operations {
                match op {
                    ast::AlterTableOperation::AddConstraint { constraint, .. } => {
                        add_table_constraint(table, constraint, default)?;
                        used = true;
                    }
                    ast::AlterTableOperation::AddColumn { column_def, .. } => {
                        let position = next_position(table);
                        add_column(table, column_def, position, default)?;
                        used = true;
                    }
                    _ => {}
                }
            }
            if used {
                Ok(())
            } else {
                Err("only ADD COLUMN and ADD CONSTRAINT are modeled"
                    .to_owned()
                    .into())
            }
        }
        _ => Err("not part of the schema model".to_owned().into()),
    }
}

pub(crate) fn next_position(table: &Table) -> u32 {
    table
        .columns
        .values()
        .map(|c| c.position)
        .max()
        .unwrap_or(0)
        + 1
}

fn table_from_create(create: &CreateTable, default: &str) -> Result<Table, Problem> {
    let (schema, name) = folded_name(&create.name, default)?;
    let mut table = Table::new(&schema, &name);
    if create.like.is_some() || create.clone.is_some() || create.query.is_some() {
        return Err(format!(
            "table {} uses LIKE, CLONE or AS, whose columns dba cannot know from the file",
            table.key()
        )
        .into());
    }
    if let Some(by) = &create.partition_by {
        table.kind = TableKind::Partitioned;
        table.partition_key = Some(partition_key(&table, by)?);
    }
    if let Some(parent) = &create.partition_of {
        let (s, n) = folded_name(parent, default)?;
        table.partition_of = Some(object_key(&s, &n));
        let Some(bound) = &create.for_values else {
            return Err(Problem::at(
                format!(
                    "partition {} of {s}.{n} has no bounds (FOR VALUES ... or DEFAULT)",
                    table.key()
                ),
                parent.span(),
            ));
        };
        table.partition_bound = Some(bound.to_string());
    }
    for (i, def) in create.columns.iter().enumerate() {
        if table.columns.contains_key(&fold(&def.name)) {
            // PostgreSQL refuses it too; keeping either definition would compare against a guess.
            return Err(Problem::at(
                format!(
                    "column {} of table {} is specified more than once",
                    fold(&def.name),
                    table.key()
                ),
                def.name.span,
            ));
        }
        add_column(
            &mut table,
            def,
            u32::try_from(i + 1).unwrap_or(u32::MAX),
            default,
        )?;
    }
    for constraint in &create.constraints {
        add_table_constraint(&mut table, constraint, default)?;
    }
    Ok(table)
}

/// The key of `PARTITION BY RANGE (at)` as PostgreSQL prints it (`RANGE (at)`): sqlparser reads the clause
/// as a call of `RANGE`, `LIST` or `HASH`; anything else is refused at its position.
fn partition_key(table: &Table, by: &Expr) -> Result<String, Problem> {
    let refuse = || {
        Problem::at(
            format!(
                "table {}: PARTITION BY must be RANGE, LIST or HASH with a list of columns or expressions, \
                 found {by}",
                table.key()
            ),
            by.span(),
        )
    };
    let Expr::Function(call) = by else {
        return Err(refuse());
    };
    let strategy = call.name.to_string().to_ascii_uppercase();
    if !["RANGE", "LIST", "HASH"].contains(&strategy.as_str()) {
        return Err(refuse());
    }
    let ast::FunctionArguments::List(list) = &call.args else {
        return Err(refuse());
    };
    if list.args.is_empty() || list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return Err(refuse());
    }
    let mut parts = Vec::new();
    for arg in &list.args {
        let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(expr)) = arg else {
            return Err(refuse());
        };
        parts.push(match expr {
            Expr::Identifier(ident) => quote_if_needed(&fold(ident)),
            other => other.to_string(),
        });
    }
    Ok(format!("{strategy} ({})", parts.join(", ")))
}

/// Adds one column definition and the constraints written inline with it; an unqualified referenced table
/// is in `default`.
pub(crate) fn add_column(
    table: &mut Table,
    def: &ColumnDef,
    position: u32,
    default: &str,
) -> Result<(), Problem> {
    let name = fold(&def.name);
    let written = def.data_type.to_string();
    let mut column = Column {
        name: name.clone(),
        position,
        data_type: normalize_type(&written),
        nullable: true,
        ..Column::default()
    };
    if let Some(base) = serial_base(&written) {
        column.data_type = base.to_owned();
        column.nullable = false;
        let sequence = quote_if_needed(&format!("{}_{}_seq", table.name, name));
        column.default = Some(format!("nextval('{sequence}'::regclass)"));
    }
    for option in &def.options {
        let constraint_name = option.name.as_ref().map(fold);
        match &option.option {
            ColumnOption::NotNull => column.nullable = false,
            ColumnOption::Null => column.nullable = true,
            ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
            ColumnOption::PrimaryKey(_) => {
                column.nullable = false;
                table.primary_key = Some(PrimaryKey {
                    name: constraint_name.unwrap_or_else(|| format!("{}_pkey", table.name)),
                    columns: vec![name.clone()],
                });
            }
            ColumnOption::Unique(_) => {
                let c = UniqueConstraint {
                    name: constraint_name.unwrap_or_else(|| format!("{}_{name}_key", table.name)),
                    columns: vec![name.clone()],
                };
                table.unique_constraints.insert(c.name.clone(), c);
            }
            ColumnOption::ForeignKey(fk) => {
                let mut foreign_key =
                    foreign_key(table, std::slice::from_ref(&def.name), fk, default)?;
                if let Some(n) = constraint_name {
                    foreign_key.name = n;
                }
                table
                    .foreign_keys
                    .insert(foreign_key.name.clone(), foreign_key);
            }
            ColumnOption::Check(check) => {
                let c = CheckConstraint {
                    name: constraint_name
                        .or_else(|| check.name.as_ref().map(fold))
                        .unwrap_or_else(|| format!("{}_{name}_check", table.name)),
                    expression: check.expr.to_string(),
                };
                table.check_constraints.insert(c.name.clone(), c);
            }
            ColumnOption::Generated {
                generated_as,
                generation_expr,
                ..
            } => match generation_expr {
                Some(expr) => column.generated = Some(expr.to_string()),
                None => {
                    column.nullable = false;
                    column.identity = Some(match generated_as {
                        GeneratedAs::ByDefault => Identity::ByDefault,
                        GeneratedAs::Always | GeneratedAs::ExpStored => Identity::Always,
                    });
                }
            },
            ColumnOption::Collation(_) | ColumnOption::Comment(_) => {}
            other => {
                // sqlparser's span of an option starts at its first sub-expression, not its keyword, so
                // the column's name is the truest position to report.
                return Err(Problem::at(
                    format!("column {name}: unsupported option {other}"),
                    def.name.span,
                ));
            }
        }
    }
    table.columns.insert(name, column);
    Ok(())
}

fn index_column_names(columns: &[ast::IndexColumn]) -> Result<Vec<String>, String> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(ident) => Ok(fold(ident)),
            other => Err(format!("constraint column {other} is not a plain column")),
        })
        .collect()
}

fn add_table_constraint(
    table: &mut Table,
    constraint: &TableConstraint,
    default: &str,
) -> Result<(), Problem> {
    match constraint {
        TableConstraint::PrimaryKey(pk) => {
            let columns = index_column_names(&pk.columns)?;
            for c in &columns {
                if let Some(column) = table.columns.get_mut(c) {
                    column.nullable = false;
                }
            }
            table.primary_key = Some(PrimaryKey {
                name: pk
                    .name
                    .as_ref()
                    .map_or_else(|| format!("{}_pkey", table.name), fold),
                columns,
            });
        }
        TableConstraint::Unique(u) => {
            let columns = index_column_names(&u.columns)?;
            let c = UniqueConstraint {
                name: u
                    .name
                    .as_ref()
                    .map_or_else(|| format!("{}_{}_key", table.name, columns.join("_")), fold),
                columns,
            };
            table.unique_constraints.insert(c.name.clone(), c);
        }
        TableConstraint::ForeignKey(fk) => {
            let foreign_key = foreign_key(table, &fk.columns, fk, default)?;
            table
                .foreign_keys
                .insert(foreign_key.name.clone(), foreign_key);
        }
        TableConstraint::Check(check) => {
            let expression = check.expr.to_string();
            let name = check.name.as_ref().map_or_else(
                || {
                    let first = first_column_in(&expression, table);
                    match first {
                        Some(c) => format!("{}_{c}_check", table.name),
                        None => format!("{}_check", table.name),
                    }
                },
                fold,
            );
            table
                .check_constraints
                .insert(name.clone(), CheckConstraint { name, expression });
        }
        other => return Err(format!("unsupported table constraint {other}").into()),
    }
    Ok(())
}

/// The first word of `expression` that names a column of `table`, the way PostgreSQL names an unnamed CHECK.
fn first_column_in(expression: &str, table: &Table) -> Option<String> {
    expression
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map(str::to_lowercase)
        .find(|w| table.columns.contains_key(w))
}

fn foreign_key(
    table: &Table,
    columns: &[ast::Ident],
    fk: &ast::ForeignKeyConstraint,
    default: &str,
) -> Result<ForeignKey, String> {
    let (referenced_schema, referenced_table) = folded_name(&fk.foreign_table, default)?;
    let columns: Vec<String> = columns.iter().map(fold).collect();
    let action = |a: &Option<ast::ReferentialAction>| {
        a.map_or_else(|| "NO ACTION".to_owned(), |a| a.to_string())
    };
    let (deferrable, initially_deferred) =
        fk.characteristics.as_ref().map_or((false, false), |c| {
            let deferred = matches!(c.initially, Some(ast::DeferrableInitial::Deferred));
            (c.deferrable.unwrap_or(deferred), deferred)
        });
    Ok(ForeignKey {
        name: fk.name.as_ref().map_or_else(
            || format!("{}_{}_fkey", table.name, columns.join("_")),
            fold,
        ),
        columns,
        referenced_schema,
        referenced_table,
        referenced_columns: fk.referred_columns.iter().map(fold).collect(),
        on_delete: action(&fk.on_delete),
        on_update: action(&fk.on_update),
        deferrable,
        initially_deferred,
    })
}

fn index_from_create(create: &CreateIndex, table: &str) -> Result<Index, String> {
    let columns: Vec<String> = create
        .columns
        .iter()
        .map(|c| c.column.expr.to_string())
        .collect();
    let name = match &create.name {
        Some(name) => folded_name(name, DEFAULT_SCHEMA)?.1,
        None => {
            let parts: Vec<String> = create
                .columns
                .iter()
                .map(|c| match &c.column.expr {
                    Expr::Identifier(i) => fold(i),
                    _ => "expr".to_owned(),
                })
                .collect();
            format!("{table}_{}_idx", parts.join("_"))
        }
    };
    Ok(Index {
        name,
        columns,
        unique: create.unique,
        method: create
            .using
            .as_ref()
            .map_or_else(|| "btree".to_owned(), |u| u.to_string().to_lowercase()),
        predicate: create.predicate.as_ref().map(ToString::to_string),
        definition: create.to_string(),
    })
}

/// An identifier, always double-quoted with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
