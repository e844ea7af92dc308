//! The command line, as clap derive structs. Doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Which database: --profile NAME, else {PREFIX}DB_PROFILE, else the .db-profile lock file written by \
`dba connect`, else {PREFIX}DATABASE_URL. The same rule holds for every command.

Exit codes: 0 success; 1 failure, schema drift, invalid backup or a refused confirmation; 2 usage error.

With --json every command prints exactly one JSON document on stdout (see `crates/dba-cli/README.md`); \
messages, warnings and progress go to stderr. Colour is used only on a terminal and never when NO_COLOR is set.";

/// Manage PostgreSQL and Supabase databases: profiles, schema validation, drift repair, backup, restore and
/// sync (a successor of the Python `db-adapter` command)
#[derive(Debug, Parser)]
#[command(name = "dba", version, after_long_help = AFTER_HELP, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command accepts, anywhere on the line.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Prefix of the DB_PROFILE and DATABASE_URL variables (`MC_` reads MC_DB_PROFILE)
    #[arg(
        long,
        global = true,
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true
    )]
    pub(crate) env_prefix: String,

    /// Config file to read instead of ./db.toml
    #[arg(long, global = true, value_name = "PATH", env = "DBA_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Profile to use, overriding DB_PROFILE, the lock file and DATABASE_URL
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Explain what is happening on stderr (config file, profile source, timings); never prints secrets
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Connect to the selected profile, validate its schema and remember it in .db-profile
    ///
    /// The connection is real: an unreachable server fails with exit 1. When `[schema] validate_on_connect`
    /// is true (the default) and the schema file exists, the live schema is compared with it and the
    /// profile is remembered only when they match.
    Connect,

    /// Show the selected profile, where the choice came from, and the row count of each table
    Status,

    /// List the profiles of db.toml, marking the selected one with `*`
    Profiles,

    /// Compare the live schema with schema.sql (or with another profile's database)
    ///
    /// Exits 1 when the schema has drifted, so it can gate CI.
    Validate(ValidateArgs),

    /// Repair schema drift: preview the plan, then apply it with --confirm
    ///
    /// Additive steps (CREATE TABLE, ADD COLUMN) are always allowed; anything that can lose data or lock a
    /// table needs its hazard named with --allow-hazard.
    Fix(FixArgs),

    /// Copy one user's rows from another profile into the selected one
    ///
    /// Previews by default; writes only with --confirm.
    Sync(SyncArgs),

    /// Back up one user's rows to a JSON file, or check a backup file with --validate
    Backup(BackupArgs),

    /// Restore a backup file into the selected profile
    ///
    /// Asks for confirmation on a terminal; without one, pass --yes (or --dry-run to preview).
    Restore(RestoreArgs),

    /// Print a shell completion script (e.g. `dba completions bash > /etc/bash_completion.d/dba`)
    Completions {
        /// The shell to generate for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Schema file to compare with (default: `[schema] file` of db.toml, else schema.sql)
    #[arg(long, value_name = "PATH")]
    pub(crate) schema_file: Option<PathBuf>,

    /// Compare with the live schema of this profile instead of a schema file
    #[arg(long, value_name = "PROFILE", conflicts_with = "schema_file")]
    pub(crate) against: Option<String>,

    /// Read the live schema from the primary even when the profile has a standby (`read_url`)
    #[arg(long)]
    pub(crate) primary: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FixArgs {
    /// Schema file holding the wanted schema (default: `[schema] file` of db.toml)
    #[arg(long, value_name = "PATH")]
    pub(crate) schema_file: Option<PathBuf>,

    /// JSON file mapping "table.column" to a column definition (default: `[schema] column_defs`)
    #[arg(long, value_name = "PATH")]
    pub(crate) column_defs: Option<PathBuf>,

    /// Apply the plan (without it, fix only previews)
    #[arg(long)]
    pub(crate) confirm: bool,

    /// Skip the pre-fix backup of the `[schema] backup_schema` tables
    #[arg(long)]
    pub(crate) no_backup: bool,

    /// Also plan steps that alter existing objects, up to this hazard: `lock` (constraints, indexes,
    /// NOT NULL, defaults: takes locks, keeps rows) or `rewrite` (column type changes, added generated,
    /// identity or serial columns: rewrites the table in place, keeps rows). No planned step ever drops a
    /// table or a column
    #[arg(long, value_enum, value_name = "HAZARD")]
    pub(crate) allow_hazard: Option<HazardLevel>,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// Profile to copy from (the destination is the selected profile)
    #[arg(short = 'f', long = "from", value_name = "SOURCE")]
    pub(crate) from: String,

    /// Comma-separated tables to sync (default: `[sync] tables` of db.toml)
    #[arg(long, value_name = "A,B")]
    pub(crate) tables: Option<String>,

    /// User whose rows are synced (default: the variable named by `[defaults] user_id_env`)
    #[arg(long, value_name = "ID")]
    pub(crate) user_id: Option<String>,

    /// Only compare; change nothing (wins over --confirm)
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Write the changes
    #[arg(long)]
    pub(crate) confirm: bool,

    /// What to do with rows that exist on both sides: insert only new rows (`insert`, the original's
    /// behaviour), also overwrite existing ones (`upsert`), or make the destination match (`mirror`:
    /// also deletes the user's rows the source lacks)
    #[arg(long, value_enum, default_value_t = SyncMode::Insert)]
    pub(crate) mode: SyncMode,

    /// Copy rows with their primary keys as they are (the original's direct sync; sequences are moved past
    /// them) instead of letting the destination assign keys and remapping every reference
    #[arg(long)]
    pub(crate) keep_ids: bool,
}

/// How far `fix` may go beyond additive steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HazardLevel {
    /// Steps that take locks on existing tables without rewriting them
    Lock,
    /// Also column type changes and added generated, identity or serial columns, which rewrite a table in
    /// place
    Rewrite,
}

impl HazardLevel {
    pub(crate) fn hazard(self) -> dba::schema::Hazard {
        match self {
            HazardLevel::Lock => dba::schema::Hazard::Lock,
            HazardLevel::Rewrite => dba::schema::Hazard::Rewrite,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HazardLevel::Lock => "lock",
            HazardLevel::Rewrite => "rewrite",
        }
    }
}

/// Sync modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SyncMode {
    /// Insert rows whose key is new to the destination; leave existing rows alone
    Insert,
    /// Insert new rows and overwrite existing ones with the source's values
    Upsert,
    /// Like upsert, and delete the user's destination rows the source does not have
    Mirror,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Backup schema JSON (default: `[schema] backup_schema` of db.toml)
    #[arg(long, value_name = "PATH")]
    pub(crate) backup_schema: Option<PathBuf>,

    /// User whose rows are backed up (default: the variable named by `[defaults] user_id_env`)
    #[arg(long, value_name = "ID")]
    pub(crate) user_id: Option<String>,

    /// Output file (default: backups/backup-<timestamp>.json)
    #[arg(short = 'o', long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,

    /// Comma-separated subset of the backup schema's tables
    #[arg(long, value_name = "A,B")]
    pub(crate) tables: Option<String>,

    /// Check this backup file against the backup schema instead of making a backup (no database needed)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["user_id", "output", "tables", "primary"])]
    pub(crate) validate: Option<PathBuf>,

    /// Read from the primary even when the profile has a standby (`read_url`)
    #[arg(long)]
    pub(crate) primary: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup file to restore
    pub(crate) backup_path: PathBuf,

    /// Backup schema JSON (default: `[schema] backup_schema` of db.toml)
    #[arg(long, value_name = "PATH")]
    pub(crate) backup_schema: Option<PathBuf>,

    /// User who will own the restored rows (default: the variable named by `[defaults] user_id_env`)
    #[arg(long, value_name = "ID")]
    pub(crate) user_id: Option<String>,

    /// What to do with a row that already exists
    #[arg(short = 'm', long, value_enum, default_value_t = RestoreMode::Skip)]
    pub(crate) mode: RestoreMode,

    /// Preview: report what would happen and change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,

    /// Insert rows with their backed-up primary keys (and move sequences past them) instead of letting the
    /// database assign new ones
    #[arg(long)]
    pub(crate) keep_ids: bool,

    /// Record a failing row and go on with the rest (each row in its own savepoint) instead of rolling the
    /// whole restore back
    #[arg(long)]
    pub(crate) continue_on_error: bool,
}

/// Restore conflict modes, as in the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RestoreMode {
    /// Keep the existing row
    Skip,
    /// Replace the existing row's values
    Overwrite,
    /// Stop and roll back at the first existing row
    Fail,
}

impl RestoreMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RestoreMode::Skip => "skip",
            RestoreMode::Overwrite => "overwrite",
            RestoreMode::Fail => "fail",
        }
    }
}

impl SyncMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SyncMode::Insert => "insert",
            SyncMode::Upsert => "upsert",
            SyncMode::Mirror => "mirror",
        }
    }
}
