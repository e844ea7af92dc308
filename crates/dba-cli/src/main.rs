//! The `dba` command-line tool (layer 5): the Python `db-adapter` command's verbs, flags, output phrases and
//! exit codes, plus profiles from one resolution rule, `--json`, real connection checks and safe defaults.
//!
//! `main` only parses, runs the verb and maps the outcome to an exit code: 0 success, 1 failure or drift,
//! 2 usage. Errors are printed once as `error: {err:#}` on stderr, with every known secret redacted.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use serde_json::{Map, Value};

mod cli;
mod cmd;
mod counts;
mod ctx;
mod exit;
mod interrupt;
mod output;
mod progress;
mod prompt;
mod redact;
mod schemacheck;
mod sqlname;

use crate::cli::{Cli, Command};
use crate::cmd::Report;
use crate::ctx::Ctx;

/// Restore and sync build and drop millions of small JSON maps; mimalloc frees them at a fraction of
/// glibc malloc's cost (see `docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not errors; everything else clap reports is a usage error (2).
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    if let Command::Completions { shell } = cli.command {
        let mut stdout = std::io::stdout().lock();
        clap_complete::generate(shell, &mut Cli::command(), "dba", &mut stdout);
        let _ = stdout.flush();
        return ExitCode::SUCCESS;
    }
    let name = command_name(&cli.command);
    let ctx = match Ctx::new(cli.global.clone()) {
        Ok(ctx) => ctx,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            ctx.out
                .error(&format!("cannot start the async runtime: {err}"));
            return ExitCode::from(exit::FAILURE);
        }
    };
    // The verb runs as a task on the runtime's workers, beside the connections' tasks: a future driven
    // by `block_on` lives on this thread, and every row a connection hands it would cost a cross-thread
    // wake-up (a fifth of a backup's time, measured).
    let ctx = std::sync::Arc::new(ctx);
    // Ctrl-C during a verb that writes is caught, so that the user learns whether anything was committed;
    // elsewhere it ends the process as usual.
    let interruptible = matches!(
        cli.command,
        Command::Restore(_) | Command::Fix(_) | Command::Sync(_)
    );
    let mut task = {
        let ctx = ctx.clone();
        let command = cli.command;
        runtime.spawn(async move { dispatch(&ctx, &command).await })
    };
    let joined = runtime.block_on(async {
        if interruptible {
            tokio::select! {
                joined = &mut task => return Some(joined),
                signal = tokio::signal::ctrl_c() => if signal.is_ok() {
                    return None;
                },
            }
        }
        Some((&mut task).await)
    });
    let Some(joined) = joined else {
        // Dropping the verb's future drops its clients, whose closed connections make the server roll
        // back the open transaction.
        task.abort();
        runtime.shutdown_background();
        return ExitCode::from(finish_interrupted(&ctx, name));
    };
    let outcome =
        joined.unwrap_or_else(|e| Err(anyhow::anyhow!("the command stopped unexpectedly: {e}")));
    runtime.shutdown_background();
    ExitCode::from(finish(&ctx, name, outcome))
}

/// Reports an interrupted run on stderr (and as the `--json` document) and returns its exit code.
fn finish_interrupted(ctx: &Ctx, name: &str) -> u8 {
    let message = interrupt::message(name);
    eprintln!("{message}");
    if ctx.out.json() {
        let document = serde_json::json!({
            "command": name,
            "ok": false,
            "error": message,
            "interrupted": true,
            "exit_code": interrupt::EXIT,
        });
        let _ = ctx.out.emit_json(&document);
    }
    interrupt::EXIT
}

async fn dispatch(ctx: &Ctx, command: &Command) -> anyhow::Result<Report> {
    match command {
        Command::Connect => cmd::connect::run(ctx).await,
        Command::Status => cmd::status::run(ctx).await,
        Command::Profiles => cmd::profiles::run(ctx),
        Command::Validate(args) => cmd::validate::run(ctx, args).await,
        Command::Fix(args) => cmd::fix::run(ctx, args).await,
        Command::Sync(args) => cmd::sync::run(ctx, args).await,
        Command::Backup(args) => cmd::backup::run(ctx, args).await,
        Command::Restore(args) => cmd::restore::run(ctx, args).await,
        Command::Completions { .. } => Ok(Report::ok(Value::Null)),
    }
}

/// Prints the JSON document or the error, and returns the exit code.
fn finish(ctx: &Ctx, name: &str, outcome: anyhow::Result<Report>) -> u8 {
    let (code, document) = match outcome {
        Ok(report) => {
            let mut doc = Map::new();
            doc.insert("command".to_owned(), Value::from(name));
            doc.insert("ok".to_owned(), Value::from(report.code == exit::SUCCESS));
            doc.extend(report.fields);
            (report.code, doc)
        }
        Err(err) if exit::is_broken_pipe(&err) => return exit::SUCCESS,
        Err(err) => {
            let code = exit::code_for(&err);
            let message = redact::clean(&exit::render(&err));
            ctx.out.error(&message);
            let mut doc = Map::new();
            doc.insert("command".to_owned(), Value::from(name));
            doc.insert("ok".to_owned(), Value::from(false));
            doc.insert("error".to_owned(), Value::from(message));
            doc.insert("exit_code".to_owned(), Value::from(code));
            (code, doc)
        }
    };
    if ctx.out.json()
        && let Err(err) = ctx.out.emit_json(&Value::Object(document))
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        ctx.out.error(&format!("cannot write to stdout: {err}"));
        return exit::FAILURE;
    }
    code
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Connect => "connect",
        Command::Status => "status",
        Command::Profiles => "profiles",
        Command::Validate(_) => "validate",
        Command::Fix(_) => "fix",
        Command::Sync(_) => "sync",
        Command::Backup(_) => "backup",
        Command::Restore(_) => "restore",
        Command::Completions { .. } => "completions",
    }
}

/// A bug must still end in one `error:` line and exit 1, never a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error{location}: {}",
            redact::clean(&message)
        );
        std::process::exit(i32::from(exit::FAILURE));
    }));
}
