//! Progress bars on stderr, drawn only when stderr is a terminal (hidden otherwise, so pipes and CI logs
//! stay clean).

use std::sync::Mutex;
use std::time::Duration;

use dba::backup::{Phase, Progress, ProgressUpdate};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Out;

/// A spinner for one step of unknown length (applying a fix plan).
pub(crate) fn spinner(out: &Out, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, draw_target(out));
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    if out.progress_visible() {
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

fn draw_target(out: &Out) -> ProgressDrawTarget {
    if out.progress_visible() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// One bar per table for backup, restore and sync, fed by the library's progress reports.
pub(crate) struct TableBars {
    bar: ProgressBar,
    visible: bool,
    current: Mutex<Option<(Phase, String)>>,
    counted: ProgressStyle,
    open_ended: ProgressStyle,
}

impl TableBars {
    pub(crate) fn new(out: &Out) -> TableBars {
        let bar = ProgressBar::with_draw_target(None, draw_target(out));
        let counted =
            ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} rows ({elapsed})")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        let open_ended = ProgressStyle::with_template("{spinner} {msg:24} {pos} rows ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        TableBars {
            bar,
            visible: out.progress_visible(),
            current: Mutex::new(None),
            counted,
            open_ended,
        }
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Backup => "backup",
        Phase::Restore => "restore",
        Phase::Compare => "compare",
        Phase::Delete => "delete",
        _ => "work",
    }
}

impl Progress for TableBars {
    fn update(&self, update: &ProgressUpdate<'_>) {
        if update.phase == Phase::Commit {
            crate::interrupt::committing();
            return;
        }
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let key = (update.phase, update.table.to_owned());
        if current.as_ref() != Some(&key) {
            self.bar.reset();
            match update.total {
                Some(total) => {
                    self.bar.set_style(self.counted.clone());
                    self.bar.set_length(total);
                }
                None => {
                    self.bar.set_style(self.open_ended.clone());
                    self.bar.unset_length();
                }
            }
            self.bar
                .set_message(format!("{} {}", phase_name(update.phase), update.table));
            *current = Some(key);
        }
        if let Some(total) = update.total {
            self.bar.set_length(total);
        }
        self.bar.set_position(update.done);
        self.bar.tick();
    }

    fn wants_totals(&self) -> bool {
        self.visible
    }
}
