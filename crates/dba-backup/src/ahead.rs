//! Reading a table's rows ahead of the engine, beside it: a backup file is read and checked on a blocking
//! thread, a source database's rows are received and decoded by a task of their own. The engine then
//! spends its time on its writes, and the reading goes on while it waits for the destination, on another
//! core when there is one. The rows come through a bounded channel ([`CHUNK`] rows at a time, at most
//! [`CHUNKS`] chunks waiting), so memory does not grow with the table.
//!
//! Without a tokio runtime to run them on, the rows are read in the engine's own task, as before.

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::Source;
use crate::error::BackupError;
use crate::reader::BackupFile;

/// Rows sent at a time: the channel's cost is per message, not per row.
const CHUNK: usize = 128;
/// Chunks that can wait in the channel before the reader waits for the engine.
const CHUNKS: usize = 4;

/// What the reader sends.
enum Message {
    Rows(Vec<Value>),
    /// The source failed here: nothing follows.
    Failed(BackupError),
    /// The source has no more rows.
    End,
}

/// Who reads ahead, and what comes back when it stops.
enum Reader<'a> {
    /// The backup file, lent to a blocking thread, which gives it back to `slot` when done.
    File {
        slot: &'a mut BackupFile,
        thread: JoinHandle<BackupFile>,
    },
    /// The task draining a source's row stream.
    Stream(JoinHandle<()>),
}

/// A table's rows, read ahead when a tokio runtime is there to do it (see the module's doc), else read
/// in place.
pub(crate) struct Rows<'a>(Inner<'a>);

enum Inner<'a> {
    InPlace(Source<'a>),
    Ahead {
        rx: mpsc::Receiver<Message>,
        rows: std::vec::IntoIter<Value>,
        ended: bool,
        reader: Reader<'a>,
    },
}

impl<'a> Rows<'a> {
    /// Starts reading `source` ahead, on the current tokio runtime, or reads it in place without one.
    pub(crate) fn start(source: Source<'a>) -> Rows<'a> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Rows(Inner::InPlace(source));
        };
        let (tx, rx) = mpsc::channel(CHUNKS);
        let reader = match source {
            Source::File(slot) => {
                let file = slot.lend();
                Reader::File {
                    slot,
                    thread: runtime.spawn_blocking(move || read_file(file, &tx)),
                }
            }
            Source::Stream(stream) => Reader::Stream(runtime.spawn(read_stream(stream, tx))),
        };
        Rows(Inner::Ahead {
            rx,
            rows: Vec::new().into_iter(),
            ended: false,
            reader,
        })
    }

    /// The next row, or `None` once the source has no more.
    pub(crate) async fn next(&mut self) -> Result<Option<Value>, BackupError> {
        let (rx, rows, ended) = match &mut self.0 {
            Inner::InPlace(source) => return source.next().await,
            Inner::Ahead {
                rx, rows, ended, ..
            } => (rx, rows, ended),
        };
        loop {
            if let Some(row) = rows.next() {
                return Ok(Some(row));
            }
            if *ended {
                return Ok(None);
            }
            match rx.recv().await {
                Some(Message::Rows(chunk)) => *rows = chunk.into_iter(),
                Some(Message::Failed(e)) => {
                    *ended = true;
                    return Err(e);
                }
                Some(Message::End) => *ended = true,
                None => {
                    // The reader stopped without saying why: it panicked, which `finish` passes on.
                    *ended = true;
                    return Err(BackupError::Schema(
                        "the reader of the rows stopped unexpectedly".into(),
                    ));
                }
            }
        }
    }

    /// Stops reading ahead (rows not yet taken are dropped) and gives the backup file back, positioned
    /// after the last row the reader read: after the table's rows once they were all taken. Passes on a
    /// panic of the reader.
    pub(crate) async fn finish(self) {
        let Inner::Ahead { rx, reader, .. } = self.0 else {
            return;
        };
        // A reader waiting for room in the channel stops at once.
        drop(rx);
        match reader {
            Reader::File { slot, thread } => match thread.await {
                Ok(file) => *slot = file,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            },
            Reader::Stream(task) => {
                // The stream (and the connection it holds) goes now, not once its next row comes.
                task.abort();
                if let Err(e) = task.await
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    }
}

/// Reads `file`'s rows into `tx` until they end, fail, or nobody takes them; gives the file back.
fn read_file(mut file: BackupFile, tx: &mpsc::Sender<Message>) -> BackupFile {
    loop {
        let mut rows = Vec::with_capacity(CHUNK);
        let last = loop {
            match file.next_row() {
                Ok(Some(row)) => {
                    rows.push(row);
                    if rows.len() == CHUNK {
                        break None;
                    }
                }
                Ok(None) => break Some(Message::End),
                Err(e) => break Some(Message::Failed(e)),
            }
        };
        if !rows.is_empty() && tx.blocking_send(Message::Rows(rows)).is_err() {
            return file;
        }
        if let Some(last) = last {
            // The engine may have stopped already: nothing is left to tell it.
            let _ = tx.blocking_send(last);
            return file;
        }
    }
}

/// Receives a source's rows into `tx`, sending what has arrived whenever the stream has to wait, so the
/// engine never waits for a chunk to fill.
async fn read_stream(mut stream: dba_core::RowStream, tx: mpsc::Sender<Message>) {
    loop {
        let mut rows = Vec::with_capacity(CHUNK);
        let mut last = push(&mut rows, stream.next().await);
        while last.is_none() && rows.len() < CHUNK {
            match futures_util::FutureExt::now_or_never(stream.next()) {
                Some(item) => last = push(&mut rows, item),
                None => break,
            }
        }
        if !rows.is_empty() && tx.send(Message::Rows(rows)).await.is_err() {
            return;
        }
        if let Some(last) = last {
            let _ = tx.send(last).await;
            return;
        }
    }
}

/// Puts a stream's row into `rows`; what ends the stream otherwise.
fn push(rows: &mut Vec<Value>, item: Option<dba_core::Result<dba_core::Row>>) -> Option<Message> {
    match item {
        Some(Ok(row)) => {
            rows.push(Value::Object(row));
            None
        }
        Some(Err(e)) => Some(Message::Failed(e.into())),
        None => Some(Message::End),
    }
}

#[cfg(test)]
mod tests;
