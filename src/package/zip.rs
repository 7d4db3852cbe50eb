//! A deterministic zip writer that compresses on every core.
//!
//! The same entries give the same bytes on any machine, at any time and with
//! any number of threads: entries are written in the order given (the caller
//! sorts them), every timestamp is 1980-01-01 00:00, permissions are 0644 or
//! 0755, no extra fields carry user, host or time data, and files are cut
//! into fixed 1 MiB chunks, each deflated on its own (raw deflate, sync
//! flush, like pigz) so the output does not depend on scheduling.
//!
//! Chunks are compressed by a pool of workers and written in order by the
//! calling thread through a bounded window, so memory stays flat whatever
//! the size of the tree, and the zip's sha256 is computed as it is written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use flate2::{Compress, Compression, FlushCompress};
use sha2::{Digest, Sha256};

/// Uncompressed bytes per chunk.
pub const CHUNK: u64 = 1 << 20;
/// Chunks in flight per worker: bounds memory to about 2 × this × CHUNK.
const WINDOW_PER_WORKER: usize = 4;
/// zlib level 6, the one Info-ZIP uses by default.
const LEVEL: u32 = 6;

/// One file to put into the archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name inside the archive: relative, `/`-separated, no `..`.
    pub name: String,
    pub source: Source,
    pub executable: bool,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk and the size it had when it was selected.
    File(PathBuf, u64),
    /// Generated content (shims).
    Bytes(Vec<u8>),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::File(_, n) => *n,
            Source::Bytes(b) => b.len() as u64,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// sha256 of the whole archive, lowercase hex.
    pub sha256: String,
    pub zipped: u64,
    pub unzipped: u64,
    pub files: usize,
    /// Per entry, a content digest (sha256 over the sha256 of each chunk).
    pub content: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("could not read `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` changed while it was being packaged", .path.display())]
    Changed { path: PathBuf },
    #[error("could not write `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{name}` cannot be stored in a zip: {why}")]
    BadName { name: String, why: &'static str },
    #[error("the archive would exceed 4 GiB, more than any provider accepts")]
    TooLarge,
}

/// Why `name` may not be an archive entry name, if it may not.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.starts_with('/') || name.contains('\\') || name.contains(':') {
        return Err("names must be relative, `/`-separated paths");
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("names may not contain empty, `.` or `..` components");
    }
    if name.len() > u16::MAX as usize {
        return Err("the name is too long");
    }
    Ok(())
}

struct Chunk {
    entry: usize,
    offset: u64,
    len: u64,
    first: bool,
    last: bool,
}

struct Done {
    data: Vec<u8>,
    stored: bool,
    crc: crc32fast::Hasher,
    digest: [u8; 32],
}

struct Shared {
    results: Mutex<BTreeMap<usize, Result<Done, ZipError>>>,
    ready: Condvar,
    /// Index of the next chunk the writer needs; workers stay within the window.
    written: Mutex<usize>,
    room: Condvar,
    next: AtomicUsize,
    stop: AtomicBool,
}

/// Write `entries` as a zip at `out`, compressing with `threads` workers.
pub fn write(entries: &[Entry], out: &Path, threads: usize) -> Result<Written, ZipError> {
    for e in entries {
        check_name(&e.name).map_err(|why| ZipError::BadName {
            name: e.name.clone(),
            why,
        })?;
    }
    let mut chunks = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let len = e.source.len();
        let n = len.div_ceil(CHUNK).max(1);
        for c in 0..n {
            let offset = c * CHUNK;
            chunks.push(Chunk {
                entry: i,
                offset,
                len: (len - offset).min(CHUNK),
                first: c == 0,
                last: c == n - 1,
            });
        }
    }
    let threads = threads.max(1);
    let window = threads * WINDOW_PER_WORKER;
    let shared = Shared {
        results: Mutex::new(BTreeMap::new()),
        ready: Condvar::new(),
        written: Mutex::new(0),
        room: Condvar::new(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let file = File::create(out).map_err(|source| ZipError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let result = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| worker(entries, &chunks, &shared, window));
        }
        let r = write_all(entries, &chunks, &shared, &mut w);
        shared.stop.store(true, Ordering::SeqCst);
        shared.room.notify_all();
        r
    });
    let out_err = |source| ZipError::Write {
        path: out.to_path_buf(),
        source,
    };
    let (files, unzipped, content) = result.map_err(|e| match e {
        Failure::Zip(z) => z,
        Failure::Io(source) => out_err(source),
    })?;
    let zipped = w.written;
    let digest = w.hasher.clone().finalize();
    w.inner.flush().map_err(out_err)?;
    let file = w.inner.into_inner().map_err(|e| out_err(e.into_error()))?;
    file.sync_all().map_err(out_err)?;
    Ok(Written {
        sha256: hex(&digest),
        zipped,
        unzipped,
        files,
        content,
    })
}

enum Failure {
    Zip(ZipError),
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

fn worker(entries: &[Entry], chunks: &[Chunk], shared: &Shared, window: usize) {
    let mut compress = Compress::new(Compression::new(LEVEL), false);
    let mut input = Vec::new();
    let mut open: Option<(usize, File)> = None;
    loop {
        let idx = shared.next.fetch_add(1, Ordering::SeqCst);
        if idx >= chunks.len() {
            return;
        }
        {
            let mut written = shared.written.lock().unwrap_or_else(|e| e.into_inner());
            while idx >= *written + window && !shared.stop.load(Ordering::SeqCst) {
                written = shared.room.wait(written).unwrap_or_else(|e| e.into_inner());
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let chunk = &chunks[idx];
        let done = compress_chunk(entries, chunk, &mut compress, &mut input, &mut open);
        let failed = done.is_err();
        shared
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(idx, done);
        shared.ready.notify_all();
        if failed {
            return;
        }
    }
}

fn compress_chunk(
    entries: &[Entry],
    chunk: &Chunk,
    compress: &mut Compress,
    input: &mut Vec<u8>,
    open: &mut Option<(usize, File)>,
) -> Result<Done, ZipError> {
    let entry = &entries[chunk.entry];
    input.clear();
    match &entry.source {
        Source::Bytes(b) => {
            input.extend_from_slice(&b[chunk.offset as usize..(chunk.offset + chunk.len) as usize]);
        }
        Source::File(path, size) => {
            let read_err = |source| ZipError::Read {
                path: path.clone(),
                source,
            };
            if open.as_ref().is_none_or(|(i, _)| *i != chunk.entry) {
                let f = File::open(path).map_err(read_err)?;
                if f.metadata().map_err(read_err)?.len() != *size {
                    return Err(ZipError::Changed { path: path.clone() });
                }
                *open = Some((chunk.entry, f));
            }
            let (_, f) = open.as_mut().expect("opened above");
            f.seek(SeekFrom::Start(chunk.offset)).map_err(read_err)?;
            input.resize(chunk.len as usize, 0);
            f.read_exact(input).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    ZipError::Changed { path: path.clone() }
                } else {
                    read_err(e)
                }
            })?;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(input);
    let digest: [u8; 32] = Sha256::digest(&input[..]).into();
    compress.reset();
    let mut data = Vec::with_capacity(input.len() / 2 + 64);
    let flush = if chunk.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        let consumed = compress.total_in() as usize;
        if data.capacity() - data.len() < 64 {
            data.reserve(data.capacity().max(4096));
        }
        let status = compress
            .compress_vec(&input[consumed..], &mut data, flush)
            .map_err(|e| ZipError::Read {
                path: PathBuf::from(&entry.name),
                source: io::Error::other(e),
            })?;
        let all_in = compress.total_in() as usize == input.len();
        let finished = match flush {
            FlushCompress::Finish => status == flate2::Status::StreamEnd,
            _ => all_in && data.capacity() > data.len(),
        };
        if finished {
            break;
        }
    }
    // A one-chunk entry that does not shrink is stored as it is.
    let stored = chunk.first && chunk.last && data.len() >= input.len();
    if stored {
        data.clear();
        data.extend_from_slice(input);
    }
    Ok(Done {
        data,
        stored,
        crc,
        digest,
    })
}

struct CentralEntry {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
    executable: bool,
}

const DOS_TIME: u16 = 0;
/// 1980-01-01.
const DOS_DATE: u16 = (1 << 5) | 1;
const FLAG_UTF8: u16 = 1 << 11;
const FLAG_DESCRIPTOR: u16 = 1 << 3;

fn write_all<W: Write>(
    entries: &[Entry],
    chunks: &[Chunk],
    shared: &Shared,
    w: &mut HashingWriter<W>,
) -> Result<(usize, u64, Vec<String>), Failure> {
    let mut central: Vec<CentralEntry> = Vec::with_capacity(entries.len());
    let mut content = Vec::with_capacity(entries.len());
    let mut crc = crc32fast::Hasher::new();
    let mut digests = Sha256::new();
    let mut compressed = 0u64;
    let mut unzipped = 0u64;
    for (idx, chunk) in chunks.iter().enumerate() {
        let done = {
            let mut results = shared.results.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(r) = results.remove(&idx) {
                    break r;
                }
                results = shared
                    .ready
                    .wait(results)
                    .unwrap_or_else(|e| e.into_inner());
            }
        };
        {
            *shared.written.lock().unwrap_or_else(|e| e.into_inner()) = idx + 1;
            shared.room.notify_all();
        }
        let done = done.map_err(Failure::Zip)?;
        let entry = &entries[chunk.entry];
        if chunk.first {
            crc = crc32fast::Hasher::new();
            digests = Sha256::new();
            compressed = 0;
            let single = chunk.last;
            let method = if done.stored { 0 } else { 8 };
            let flags = FLAG_UTF8 | if single { 0 } else { FLAG_DESCRIPTOR };
            let offset = w.written;
            let (c, u, sum) = if single {
                (
                    done.data.len() as u64,
                    chunk.len,
                    done.crc.clone().finalize(),
                )
            } else {
                (0, 0, 0)
            };
            if c > u32::MAX as u64 || u > u32::MAX as u64 || offset > u32::MAX as u64 {
                return Err(Failure::Zip(ZipError::TooLarge));
            }
            local_header(w, &entry.name, method, flags, sum, c as u32, u as u32)?;
            central.push(CentralEntry {
                name: entry.name.clone(),
                method,
                flags,
                crc: 0,
                compressed: 0,
                uncompressed: 0,
                offset,
                executable: entry.executable,
            });
        }
        w.write_all(&done.data)?;
        crc.combine(&done.crc);
        digests.update(done.digest);
        compressed += done.data.len() as u64;
        if chunk.last {
            let size = entry.source.len();
            unzipped += size;
            let sum = crc.clone().finalize();
            let c = central.last_mut().expect("header written");
            c.crc = sum;
            c.compressed = compressed;
            c.uncompressed = size;
            if compressed > u32::MAX as u64 || size > u32::MAX as u64 {
                return Err(Failure::Zip(ZipError::TooLarge));
            }
            if c.flags & FLAG_DESCRIPTOR != 0 {
                w.write_all(&0x0807_4b50u32.to_le_bytes())?;
                w.write_all(&sum.to_le_bytes())?;
                w.write_all(&(compressed as u32).to_le_bytes())?;
                w.write_all(&(size as u32).to_le_bytes())?;
            }
            content.push(hex(&std::mem::take(&mut digests).finalize()));
        }
    }
    write_central(w, &central)?;
    Ok((entries.len(), unzipped, content))
}

fn local_header<W: Write>(
    w: &mut W,
    name: &str,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u32,
    uncompressed: u32,
) -> io::Result<()> {
    let mut h = Vec::with_capacity(30 + name.len());
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&method.to_le_bytes());
    h.extend_from_slice(&DOS_TIME.to_le_bytes());
    h.extend_from_slice(&DOS_DATE.to_le_bytes());
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&compressed.to_le_bytes());
    h.extend_from_slice(&uncompressed.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // no extra fields
    h.extend_from_slice(name.as_bytes());
    w.write_all(&h)
}

fn write_central<W: Write>(
    w: &mut HashingWriter<W>,
    central: &[CentralEntry],
) -> Result<(), Failure> {
    let start = w.written;
    for c in central {
        let mode: u32 = if c.executable { 0o100755 } else { 0o100644 };
        let mut h = Vec::with_capacity(46 + c.name.len());
        h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        h.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix, 2.0
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&c.flags.to_le_bytes());
        h.extend_from_slice(&c.method.to_le_bytes());
        h.extend_from_slice(&DOS_TIME.to_le_bytes());
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&c.crc.to_le_bytes());
        h.extend_from_slice(&(c.compressed as u32).to_le_bytes());
        h.extend_from_slice(&(c.uncompressed as u32).to_le_bytes());
        h.extend_from_slice(&(c.name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // extra
        h.extend_from_slice(&0u16.to_le_bytes()); // comment
        h.extend_from_slice(&0u16.to_le_bytes()); // disk
        h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        h.extend_from_slice(&(mode << 16).to_le_bytes());
        h.extend_from_slice(&(c.offset as u32).to_le_bytes());
        h.extend_from_slice(c.name.as_bytes());
        w.write_all(&h)?;
    }
    let size = w.written - start;
    let count = central.len() as u64;
    if start > u32::MAX as u64 || size > u32::MAX as u64 {
        return Err(Failure::Zip(ZipError::TooLarge));
    }
    let zip64 = count >= u16::MAX as u64;
    if zip64 {
        // Zip64 end of central directory record and locator, for > 65,534 entries.
        let record = w.written;
        let mut z = Vec::with_capacity(76);
        z.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        z.extend_from_slice(&44u64.to_le_bytes());
        z.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes());
        z.extend_from_slice(&45u16.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&count.to_le_bytes());
        z.extend_from_slice(&count.to_le_bytes());
        z.extend_from_slice(&size.to_le_bytes());
        z.extend_from_slice(&start.to_le_bytes());
        z.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&record.to_le_bytes());
        z.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&z)?;
    }
    let short = if zip64 { u16::MAX } else { count as u16 };
    let mut e = Vec::with_capacity(22);
    e.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    e.extend_from_slice(&0u16.to_le_bytes());
    e.extend_from_slice(&0u16.to_le_bytes());
    e.extend_from_slice(&short.to_le_bytes());
    e.extend_from_slice(&short.to_le_bytes());
    e.extend_from_slice(&(size as u32).to_le_bytes());
    e.extend_from_slice(&(start as u32).to_le_bytes());
    e.extend_from_slice(&0u16.to_le_bytes());
    w.write_all(&e)?;
    Ok(())
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The content digest `write` reports for a file: sha256 over the sha256 of
/// each chunk, so it can be computed in parallel and checked without zipping.
pub fn content_digest(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut outer = Sha256::new();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut first = true;
    loop {
        let mut n = 0;
        while n < buf.len() {
            let r = f.read(&mut buf[n..])?;
            if r == 0 {
                break;
            }
            n += r;
        }
        if n == 0 && !first {
            break;
        }
        outer.update(Sha256::digest(&buf[..n]));
        first = false;
        if n < buf.len() {
            break;
        }
    }
    Ok(hex(&outer.finalize()))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("src/a.js").is_ok());
        assert!(check_name("../a").is_err());
        assert!(check_name("/etc/passwd").is_err());
        assert!(check_name("a//b").is_err());
        assert!(check_name("a\\b").is_err());
        assert!(check_name("C:/x").is_err());
    }

    #[test]
    fn same_entries_same_bytes_whatever_the_threads() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let entries = vec![
            Entry {
                name: "a.txt".into(),
                source: Source::Bytes(b"hello hello hello hello".to_vec()),
                executable: false,
            },
            Entry {
                name: "big/bin".into(),
                source: Source::Bytes(big),
                executable: true,
            },
            Entry {
                name: "empty".into(),
                source: Source::Bytes(Vec::new()),
                executable: false,
            },
        ];
        let one = write(&entries, &dir.path().join("1.zip"), 1).unwrap();
        let four = write(&entries, &dir.path().join("4.zip"), 4).unwrap();
        assert_eq!(one.sha256, four.sha256);
        assert_eq!(
            std::fs::read(dir.path().join("1.zip")).unwrap(),
            std::fs::read(dir.path().join("4.zip")).unwrap()
        );
        assert_eq!(one.files, 3);
        assert_eq!(one.unzipped, 3 * CHUNK + 17 + 23);
    }
}
