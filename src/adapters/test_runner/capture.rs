//! The command's output: both pipes read at once, their chunks merged in
//! the order they arrive, written whole to the log, kept as a capped tail
//! and parsed line by line on the way (so even a huge output is summed in
//! full without being held in memory).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::mem;
use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::summary::{Summary, SummaryParser};

/// How much of the output a `TestRun` keeps: its end, where the summary
/// and the failures are.
const OUTPUT_CAP: usize = 256 * 1024;
/// A line longer than this is passed on in pieces rather than held back
/// waiting for its end.
const MAX_PARTIAL: usize = 64 * 1024;
const READ_SIZE: usize = 16 * 1024;
/// How long the pipes may stay open once the command has ended: only a
/// process that left its group can hold them, and it is not waited for.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Where a chunk came from. The runner's own notes (a timeout) go through
/// the same sink so they land in the log as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Stdout,
    Stderr,
    Runner,
}

#[derive(Debug)]
pub(super) struct Chunk {
    pub source: Source,
    pub bytes: Vec<u8>,
}

/// The two pipe readers; dropped unfinished, they stop.
pub(super) struct Readers {
    handles: Vec<JoinHandle<io::Result<()>>>,
}

impl Readers {
    pub fn start(
        pipes: [(Option<OwnedFd>, Source); 2],
        tx: &mpsc::Sender<Chunk>,
    ) -> io::Result<Readers> {
        let mut readers = Readers {
            handles: Vec::new(),
        };
        for (fd, source) in pipes {
            let fd = fd.ok_or_else(|| io::Error::other("the pipe was not set up"))?;
            let pipe = pipe::Receiver::from_owned_fd(fd)?;
            readers
                .handles
                .push(tokio::spawn(pump(pipe, source, tx.clone())));
        }
        Ok(readers)
    }

    /// `false` when the pipes did not close within `DRAIN_GRACE`.
    pub async fn finish(mut self) -> io::Result<bool> {
        let deadline = tokio::time::Instant::now() + DRAIN_GRACE;
        for handle in &mut self.handles {
            match tokio::time::timeout_at(deadline, handle).await {
                Ok(result) => result.map_err(io::Error::other)??,
                Err(_) => return Ok(false),
            }
        }
        Ok(true)
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Reads one pipe to its end. Chunks are cut after a newline where it can
/// be, so that one stream's line is rarely split by the other's.
async fn pump(mut pipe: pipe::Receiver, source: Source, tx: mpsc::Sender<Chunk>) -> io::Result<()> {
    let mut buf = vec![0; READ_SIZE];
    let mut pending = Vec::new();
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        if let Some(cut) = cut_point(&pending) {
            let rest = pending.split_off(cut);
            send(&tx, source, mem::replace(&mut pending, rest)).await;
        }
    }
    if !pending.is_empty() {
        send(&tx, source, pending).await;
    }
    Ok(())
}

fn cut_point(pending: &[u8]) -> Option<usize> {
    if pending.len() >= MAX_PARTIAL {
        return Some(pending.len());
    }
    pending.iter().rposition(|&b| b == b'\n').map(|at| at + 1)
}

/// A send fails only when the sink is gone, which happens only once the
/// run is over; nothing is left to do with the bytes then.
pub(super) async fn send(tx: &mpsc::Sender<Chunk>, source: Source, bytes: Vec<u8>) {
    let _ = tx.send(Chunk { source, bytes }).await;
}

/// What the sink made of the output.
#[derive(Debug)]
pub(super) struct Captured {
    pub output: String,
    pub summary: Option<Summary>,
    /// The first failed write to the log: the run is still read to its
    /// end, so the command does not stall on a full pipe.
    pub log_error: Option<io::Error>,
}

/// Takes the chunks in arrival order. Blocking (file writes): it runs on
/// its own thread.
pub(super) struct Sink {
    log: BufWriter<File>,
    log_error: Option<io::Error>,
    tail: Tail,
    lines: Lines,
    parser: SummaryParser,
}

impl Sink {
    pub fn new(log: File) -> Sink {
        Sink {
            log: BufWriter::new(log),
            log_error: None,
            tail: Tail::new(OUTPUT_CAP),
            lines: Lines::default(),
            parser: SummaryParser::default(),
        }
    }

    pub fn drain(mut self, mut rx: mpsc::Receiver<Chunk>) -> Captured {
        while let Some(chunk) = rx.blocking_recv() {
            self.take(&chunk);
        }
        self.lines.finish(&mut self.parser);
        if let Err(e) = self.log.flush() {
            self.log_error.get_or_insert(e);
        }
        Captured {
            output: self.tail.into_string(),
            summary: self.parser.finish(),
            log_error: self.log_error,
        }
    }

    fn take(&mut self, chunk: &Chunk) {
        // A note of ours starts on a line of its own, whatever came before.
        if chunk.source == Source::Runner && !self.tail.at_line_start() {
            self.write(b"\n");
        }
        self.write(&chunk.bytes);
        self.lines
            .push(chunk.source, &chunk.bytes, &mut self.parser);
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.log_error.is_none()
            && let Err(e) = self.log.write_all(bytes)
        {
            self.log_error = Some(e);
        }
        self.tail.push(bytes);
    }
}

/// Reassembles each source's lines for the parser: a chunk may end inside
/// a line that the next chunk of the same source finishes.
#[derive(Debug, Default)]
struct Lines {
    partial: [Vec<u8>; 3],
}

impl Lines {
    fn push(&mut self, source: Source, bytes: &[u8], parser: &mut SummaryParser) {
        let partial = &mut self.partial[source as usize];
        let mut rest = bytes;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            partial.extend_from_slice(&rest[..at]);
            parser.line(&String::from_utf8_lossy(partial));
            partial.clear();
            rest = &rest[at + 1..];
        }
        // Summaries are short: the end of an endless line can go.
        let room = MAX_PARTIAL.saturating_sub(partial.len());
        partial.extend_from_slice(&rest[..rest.len().min(room)]);
    }

    fn finish(&mut self, parser: &mut SummaryParser) {
        for partial in &mut self.partial {
            if !partial.is_empty() {
                parser.line(&String::from_utf8_lossy(partial));
                partial.clear();
            }
        }
    }
}

/// The last `cap` bytes of a stream.
#[derive(Debug)]
pub(super) struct Tail {
    buf: Vec<u8>,
    cap: usize,
    /// Bytes were dropped from the front.
    cut: bool,
}

impl Tail {
    pub fn new(cap: usize) -> Tail {
        Tail {
            buf: Vec::new(),
            cap,
            cut: false,
        }
    }

    /// Trims only once twice the cap has piled up, so each byte is moved
    /// a bounded number of times.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > self.cap.saturating_mul(2) {
            let excess = self.buf.len() - self.cap;
            self.buf.drain(..excess);
            self.cut = true;
        }
    }

    pub fn at_line_start(&self) -> bool {
        self.buf.last().is_none_or(|&b| b == b'\n')
    }

    /// At most `cap` bytes of text, starting on a character (invalid
    /// bytes may widen when replaced). Where the front was dropped, the
    /// text begins with `secrets::CUT`, so the redactor masks any part of a
    /// secret the cut left (the secrets are not known here).
    pub fn into_string(self) -> String {
        let start = self.buf.len().saturating_sub(self.cap);
        let cut = self.cut || start > 0;
        crate::adapters::secrets::text_of_cut(&self.buf[start..], cut, false)
    }
}
