//! Files written atomically (temporary file in the same directory, fsync, rename) and read through gzip
//! when they start with its magic bytes.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::error::BackupError;

const BUFFER: usize = 64 * 1024;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Refuses a destination that exists and is not a regular file (a device such as `/dev/null`, a FIFO, a
/// directory): a backup lands by renaming the file written beside it over the destination, which would
/// put a regular file in its place.
pub(crate) fn check_destination(dest: &Path) -> Result<(), BackupError> {
    match fs::metadata(dest) {
        Ok(meta) if !meta.is_file() => Err(BackupError::Io {
            path: dest.to_owned(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file: a backup is written beside its destination and renamed over it, \
                 which would replace this one; name a file instead",
            ),
        }),
        _ => Ok(()),
    }
}

/// How far behind the write position the page cache of an output file is given back: every
/// `DROP_BEHIND` bytes, the pages before the previous such mark (written back by then, or being written)
/// are dropped.
const DROP_BEHIND: u64 = 32 * 1024 * 1024;

/// A file being written, which can give its written pages back to the kernel as it goes (`drop_behind`).
///
/// A backup's output is written once and not read again by this process; at 10,000,000 rows it is 2 GB.
/// Left in the page cache, every page of it is new memory the kernel must find (on a virtual machine,
/// often memory the host took back: `dd` writing 2,000 MiB spent 6.7 s of system time that way, 0.65 s
/// into pages just freed). Dropped behind the writer, the same few pages are reused instead, and the
/// backup does not push the database's own cached pages out.
pub(crate) struct Output {
    file: File,
    /// Where the next write lands.
    position: u64,
    /// The last multiple of [`DROP_BEHIND`] the writes passed (0 before any).
    mark: u64,
    drop_behind: bool,
}

impl Output {
    fn new(file: File, drop_behind: bool) -> Output {
        Output {
            file,
            position: 0,
            mark: 0,
            drop_behind,
        }
    }

    /// The file, to fsync or read.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Past a new mark: asks the kernel to write back and drop the pages up to the mark before it, those
    /// of the window just finished being written back meanwhile. Advice only: its failure changes nothing
    /// written, so it is ignored.
    fn passed(&mut self) {
        let mark = self.position - self.position % DROP_BEHIND;
        if !self.drop_behind || mark <= self.mark {
            return;
        }
        let from = self.mark.saturating_sub(DROP_BEHIND);
        #[cfg(target_os = "linux")]
        {
            let len = std::num::NonZeroU64::new(mark - from);
            let _ = rustix::fs::fadvise(&self.file, from, len, rustix::fs::Advice::DontNeed);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = from;
        self.mark = mark;
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.position += n as u64;
        self.passed();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Output {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.position = self.file.seek(pos)?;
        Ok(self.position)
    }
}

/// A temporary file beside its final path; removed on drop unless [`AtomicFile::commit`] renamed it.
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<BufWriter<Output>>,
}

impl TempFile {
    /// Creates `.{name}.{tag}-{pid}-{nanos}.tmp` in the directory of `beside`, to be read back (a spool).
    pub(crate) fn create(beside: &Path, tag: &str) -> Result<TempFile, BackupError> {
        TempFile::open(beside, tag, false)
    }

    /// Creates the temporary file, its pages dropped behind the writer when `drop_behind` (see
    /// [`Output`]).
    fn open(beside: &Path, tag: &str, drop_behind: bool) -> Result<TempFile, BackupError> {
        let dir = match beside.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = beside
            .file_name()
            .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".{name}.{tag}-{}-{nanos}.tmp", std::process::id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(TempFile {
            path,
            file: Some(BufWriter::with_capacity(
                BUFFER,
                Output::new(file, drop_behind),
            )),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn writer(&mut self) -> &mut BufWriter<Output> {
        self.file
            .as_mut()
            .expect("the file is only taken by finish or drop")
    }

    /// Flushes and fsyncs the file and returns it for reading from the start.
    pub(crate) fn reopen(&mut self) -> Result<File, BackupError> {
        let path = self.path.clone();
        let w = self.writer();
        w.flush().map_err(io_err(&path))?;
        w.get_ref().file().sync_all().map_err(io_err(&path))?;
        File::open(&path).map_err(io_err(&path))
    }

    /// Flushes, fsyncs and renames the file to `dest`, then fsyncs the directory (best effort).
    fn persist(mut self, dest: &Path) -> Result<(), BackupError> {
        let path = self.path.clone();
        let mut w = self
            .file
            .take()
            .expect("the file is only taken by persist or drop");
        w.flush().map_err(io_err(&path))?;
        let file = w
            .into_inner()
            .map_err(|e| BackupError::Io {
                path: path.clone(),
                source: e.into_error(),
            })?
            .file;
        file.sync_all().map_err(io_err(&path))?;
        drop(file);
        fs::rename(&path, dest).map_err(io_err(dest))?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            // Makes the rename durable; some platforms cannot fsync a directory, which is harmless.
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The output of a backup: plain or gzip, landing under its final name only when complete.
pub(crate) struct AtomicFile {
    dest: PathBuf,
    temp: TempFile,
    gzip: Option<GzEncoder<Vec<u8>>>,
}

impl AtomicFile {
    pub(crate) fn create(dest: &Path, gzip: bool) -> Result<AtomicFile, BackupError> {
        Ok(AtomicFile {
            dest: dest.to_owned(),
            temp: TempFile::open(dest, "part", true)?,
            gzip: gzip.then(|| GzEncoder::new(Vec::with_capacity(BUFFER), Compression::default())),
        })
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        let path = self.temp.path().to_owned();
        match &mut self.gzip {
            None => self.temp.writer().write_all(bytes).map_err(io_err(&path)),
            Some(gz) => {
                gz.write_all(bytes).map_err(io_err(&path))?;
                // Keeps the compressed buffer small: whatever deflate produced goes to disk now.
                let out = std::mem::take(gz.get_mut());
                self.temp.writer().write_all(&out).map_err(io_err(&path))
            }
        }
    }

    /// The temporary file being written.
    pub(crate) fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// The writer of a plain (not gzip) file.
    pub(crate) fn plain_writer(&mut self) -> &mut BufWriter<Output> {
        debug_assert!(
            self.gzip.is_none(),
            "a gzip stream is written through write_all"
        );
        self.temp.writer()
    }

    /// Writes `bytes` over the start of a plain file (a block of the same length written first), leaving
    /// the position at the end.
    pub(crate) fn overwrite_start(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        debug_assert!(self.gzip.is_none(), "a gzip stream cannot be rewritten");
        let path = self.temp.path().to_owned();
        let w = self.temp.writer();
        w.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
        w.write_all(bytes).map_err(io_err(&path))?;
        w.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
        Ok(())
    }

    /// Copies everything from `reader` into the file.
    pub(crate) fn copy_from(&mut self, reader: &mut impl Read) -> Result<(), BackupError> {
        let mut buf = vec![0; BUFFER];
        loop {
            let n = reader.read(&mut buf).map_err(io_err(&self.dest))?;
            if n == 0 {
                return Ok(());
            }
            self.write_all(&buf[..n])?;
        }
    }

    pub(crate) fn commit(mut self) -> Result<(), BackupError> {
        if let Some(gz) = self.gzip.take() {
            let path = self.temp.path().to_owned();
            let rest = gz.finish().map_err(io_err(&path))?;
            self.temp.writer().write_all(&rest).map_err(io_err(&path))?;
        }
        self.temp.persist(&self.dest)
    }
}

/// Opens a backup for reading, through gzip when the file starts with the gzip magic bytes.
pub(crate) fn open_read(path: &Path) -> Result<Box<dyn BufRead + Send>, BackupError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let head = reader.fill_buf().map_err(io_err(path))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            BUFFER,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages dropped behind the writer are the kernel's business; what is written stays written, the
    /// marks follow the writes, and rewriting the start (the backup's metadata) works past them.
    #[test]
    fn a_file_written_past_several_marks_reads_back_whole() {
        let dir = std::env::temp_dir().join(format!("dba-drop-behind-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("out.json");
        let mut out = AtomicFile::create(&dest, false).unwrap();
        let block: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let blocks = 2 * DROP_BEHIND / block.len() as u64 + 3;
        for _ in 0..blocks {
            out.plain_writer().write_all(&block).unwrap();
        }
        out.overwrite_start(b"HEAD").unwrap();
        out.plain_writer().write_all(b"TAIL").unwrap();
        out.plain_writer().flush().unwrap();
        assert_eq!(out.plain_writer().get_ref().mark, 2 * DROP_BEHIND);
        out.commit().unwrap();

        let written = fs::read(&dest).unwrap();
        assert_eq!(written.len() as u64, blocks * block.len() as u64 + 4);
        assert_eq!(&written[..4], b"HEAD");
        assert_eq!(&written[4..block.len()], &block[4..]);
        for (i, chunk) in written[block.len()..written.len() - 4]
            .chunks(block.len())
            .enumerate()
        {
            assert_eq!(chunk, block.as_slice(), "block {}", i + 1);
        }
        assert!(written.ends_with(b"TAIL"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
