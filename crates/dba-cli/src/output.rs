//! Everything the CLI shows: result text and tables on stdout, diagnostics on stderr, one JSON document with
//! `--json`. Colour only on a terminal and never with `NO_COLOR`.

use std::io::{self, IsTerminal, Write};

use serde_json::Value;
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::peaker::Priority;
use tabled::settings::{Alignment, Style, Width};

use crate::redact;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// How and where to print.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    json: bool,
    verbose: u8,
    color: bool,
    err_color: bool,
    width: Option<usize>,
    stderr_tty: bool,
}

fn colour_allowed() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    !no_color && !dumb
}

impl Out {
    pub(crate) fn new(json: bool, verbose: u8) -> Out {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let allowed = colour_allowed();
        let width = stdout_tty
            .then(|| console::Term::stdout().size_checked())
            .flatten()
            .map(|(_, cols)| usize::from(cols));
        Out {
            json,
            verbose,
            color: allowed && stdout_tty,
            err_color: allowed && stderr_tty,
            width,
            stderr_tty,
        }
    }

    /// Whether `--json` was given (text output is then suppressed).
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Whether progress bars may be drawn (stderr is a terminal).
    pub(crate) fn progress_visible(&self) -> bool {
        self.stderr_tty
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// A line of result text on stdout (nothing with `--json`).
    pub(crate) fn line(&self, text: impl AsRef<str>) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{}", redact::clean(text.as_ref()))
    }

    /// An empty line on stdout.
    pub(crate) fn blank(&self) -> io::Result<()> {
        self.line("")
    }

    /// `v text`, the original's success marker, green on a terminal.
    pub(crate) fn success(&self, text: impl AsRef<str>) -> io::Result<()> {
        self.line(format!("{} {}", self.paint(GREEN, "v"), text.as_ref()))
    }

    /// `x text`, the original's failure marker, red on a terminal.
    pub(crate) fn failure(&self, text: impl AsRef<str>) -> io::Result<()> {
        self.line(format!("{} {}", self.paint(RED, "x"), text.as_ref()))
    }

    /// Bold text on stdout.
    pub(crate) fn heading(&self, text: impl AsRef<str>) -> io::Result<()> {
        self.line(self.paint(BOLD, text.as_ref()))
    }

    /// `warning: text` on stderr (also with `--json`).
    pub(crate) fn warn(&self, text: impl AsRef<str>) {
        let label = if self.err_color {
            format!("{YELLOW}warning{RESET}")
        } else {
            "warning".to_owned()
        };
        eprintln!("{label}: {}", redact::clean(text.as_ref()));
    }

    /// A progress or status message on stderr, shown in text mode (the original printed these on stdout,
    /// e.g. `Connecting to database...`; they are not results, so they go to stderr here).
    pub(crate) fn status(&self, text: impl AsRef<str>) {
        if !self.json || self.verbose > 0 {
            eprintln!("{}", redact::clean(text.as_ref()));
        }
    }

    /// A detail shown with `-v`, on stderr.
    pub(crate) fn verbose(&self, text: impl AsRef<str>) {
        if self.verbose > 0 {
            eprintln!("{}", redact::clean(text.as_ref()));
        }
    }

    /// `error: text` on stderr, printed once by `main`.
    pub(crate) fn error(&self, text: &str) {
        let label = if self.err_color {
            format!("{RED}error{RESET}")
        } else {
            "error".to_owned()
        };
        eprintln!("{label}: {}", redact::clean(text));
    }

    /// A titled table on stdout that fits the terminal width; `right` lists right-aligned columns.
    pub(crate) fn table(
        &self,
        title: Option<&str>,
        header: Option<&[&str]>,
        rows: &[Vec<String>],
        right: &[usize],
    ) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        let mut builder = Builder::default();
        if let Some(header) = header {
            builder.push_record(header.iter().map(|h| (*h).to_owned()));
        }
        for row in rows {
            builder.push_record(row.iter().cloned());
        }
        let mut table = builder.build();
        if header.is_some() {
            table.with(Style::rounded());
        } else {
            table.with(Style::rounded().remove_horizontals());
        }
        for &column in right {
            table.modify(Columns::one(column), Alignment::right());
        }
        if let Some(width) = self.width {
            table.with(Width::wrap(width).priority(Priority::max(true)));
        }
        if let Some(title) = title {
            self.heading(title)?;
        }
        self.line(table.to_string())
    }

    /// Prints the one JSON document of a `--json` run.
    pub(crate) fn emit_json(&self, value: &Value) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{}", redact::clean(&text))?;
        stdout.flush()
    }
}

/// `1500` as `1,500`, as the original's row-count table shows it.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The current UTC time as `YYYYmmdd-HHMMSS`, for file names.
pub(crate) fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1500), "1,500");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn timestamps_have_a_fixed_shape() {
        let ts = super::timestamp();
        assert_eq!(ts.len(), 15, "{ts}");
        assert_eq!(&ts[8..9], "-");
        assert!(ts.starts_with("20"));
    }
}
