//! Writing objects straight into a repository as one pack (`.pack` and version 2 `.idx`),
//! without libgit2's packbuilder and indexer.
//!
//! The objects of a deployment's commits are small and already known by id, so the pack is
//! written as git would receive it with deltas turned off: every object whole, compressed at
//! the fastest zlib level, the index built from the ids we already have. The compressor is
//! zlib-rs: at that level it compresses the tree of a 2,500-entry directory (105 KB, rewritten
//! by every commit there) in about a third of zlib's time, for an output about 8 % larger
//! (see docs/BENCHMARKS.md).
//!
//! An object of [`CHUNKED_FROM`] bytes or more is compressed as independent chunks of
//! [`CHUNK`] bytes: each chunk starts a fresh deflate stream and ends on a byte boundary (a
//! sync flush), so the chunks' outputs are simply put one after the other, followed by an
//! empty final block and the Adler-32 of the whole, and the result is one ordinary zlib
//! stream. A [`Deflater`] keeps the chunks it compressed: the next tree of a big directory
//! differs from the last one in a single entry (same length, another id), so all its chunks
//! but one are found already compressed. Kept or not, a chunk is always compressed the same
//! way, so a pack's bytes do not depend on what was kept. The files are
//! written under temporary names and renamed, the `.pack` before the `.idx`, so a reader that
//! finds the index always finds a complete pack, exactly as `git index-pack` does.
//!
//! A pack is named after its checksum, so the same pack may be hard-linked into a second
//! repository on the same file system (as `git clone` of a local path links objects).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress};
use git2::{ObjectType, Oid};
use sha1::{Digest, Sha1};

use crate::spare::{self, SparePool};

/// One object to put in a pack: its id, kind and uncompressed content.
#[derive(Debug, Clone, Copy)]
pub struct PackObject<'a> {
    /// The object id (the SHA-1 of its header and content).
    pub id: Oid,
    /// Commit, tree, blob or tag.
    pub kind: ObjectType,
    /// The content, without the `<kind> <size>\0` header.
    pub data: &'a [u8],
}

/// Why a pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// Only commits, trees, blobs and tags go into a pack.
    #[error("object {0} has a kind that cannot be packed")]
    Kind(Oid),
    /// The file system refused.
    #[error("failed to write the pack: {0}")]
    Io(#[from] std::io::Error),
}

impl PackError {
    /// A stable label for metrics and failure codes.
    pub fn kind(&self) -> &'static str {
        match self {
            PackError::Kind(_) => "pack_object_kind",
            PackError::Io(_) => "pack_io",
        }
    }
}

/// A pack written into a repository's `objects/pack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPack {
    /// The pack's checksum in hex, its name being `pack-<checksum>`.
    pub checksum: String,
    /// The number of objects in it.
    pub objects: usize,
}

impl WrittenPack {
    /// The `.pack` path in the `objects/pack` directory `dir`.
    pub fn pack_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("pack-{}.pack", self.checksum))
    }

    /// The `.idx` path in the `objects/pack` directory `dir`.
    pub fn index_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("pack-{}.idx", self.checksum))
    }
}

/// The pack type number of `kind`.
fn type_number(kind: ObjectType) -> Option<u8> {
    match kind {
        ObjectType::Commit => Some(1),
        ObjectType::Tree => Some(2),
        ObjectType::Blob => Some(3),
        ObjectType::Tag => Some(4),
        _ => None,
    }
}

/// A pack and its index, encoded.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The `.pack` file.
    pub pack: Vec<u8>,
    /// The `.idx` file.
    pub index: Vec<u8>,
    /// The pack's checksum in hex.
    pub checksum: String,
    /// The number of objects.
    pub objects: usize,
}

/// The size of the chunks a big object is compressed in.
pub const CHUNK: usize = 16 * 1024;

/// Objects of this many bytes or more are compressed in chunks.
pub const CHUNKED_FROM: usize = 2 * CHUNK;

/// CMF and FLG of a zlib stream with a 32 KiB window at the fastest level, as zlib writes them.
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];

/// The most bytes (raw and compressed) of chunks a [`Deflater`] keeps.
pub const CHUNK_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// A chunk compressed earlier.
struct Chunk {
    raw: Box<[u8]>,
    deflated: Box<[u8]>,
    adler: u32,
}

/// Compresses the objects of packs with one compressor, made once and reset for each stream,
/// and keeps the chunks of big objects it compressed (up to [`CHUNK_CACHE_BYTES`], all
/// dropped when more would be kept).
#[derive(Default)]
pub struct Deflater {
    compress: Option<Compress>,
    /// Chunks by the CRC-32 of their raw bytes; a hit is compared byte for byte.
    chunks: HashMap<u32, Chunk>,
    bytes: usize,
    compressed: u64,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("chunks", &self.chunks.len())
            .field("bytes", &self.bytes)
            .field("compressed", &self.compressed)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// How many chunks were compressed so far (the others were found kept).
    pub fn chunks_compressed(&self) -> u64 {
        self.compressed
    }

    /// Appends the zlib stream of `data` (at the fastest level) to `out`: in chunks from
    /// [`CHUNKED_FROM`] bytes, in one go below.
    fn deflate(&mut self, data: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        if data.len() >= CHUNKED_FROM {
            return self.deflate_chunked(data, out);
        }
        out.extend_from_slice(&ZLIB_HEADER);
        compress_all(self.compressor(), data, out, FlushCompress::Finish)?;
        out.extend_from_slice(&zlib_rs::adler32::adler32(1, data).to_be_bytes());
        Ok(())
    }

    /// The compressor, reset for a new stream. It is made once and kept: making one allocates
    /// and clears some 300 KB of tables.
    fn compressor(&mut self) -> &mut Compress {
        let compress = self
            .compress
            .get_or_insert_with(|| Compress::new(Compression::fast(), false));
        compress.reset();
        compress
    }

    /// Appends the zlib stream of `data` to `out`, chunk by chunk.
    fn deflate_chunked(&mut self, data: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        out.extend_from_slice(&ZLIB_HEADER);
        let mut adler = 1u32;
        for raw in data.chunks(CHUNK) {
            let chunk = self.chunk(raw)?;
            out.extend_from_slice(&chunk.deflated);
            adler = zlib_rs::adler32::adler32_combine(adler, chunk.adler, raw.len() as u64);
        }
        // An empty final block with fixed codes, then the checksum of the whole.
        out.extend_from_slice(&[0x03, 0x00]);
        out.extend_from_slice(&adler.to_be_bytes());
        Ok(())
    }

    /// The chunk holding `raw`, compressed now unless kept.
    fn chunk(&mut self, raw: &[u8]) -> std::io::Result<&Chunk> {
        let mut crc = flate2::Crc::new();
        crc.update(raw);
        let key = crc.sum();
        let kept = self.chunks.get(&key).is_some_and(|c| *c.raw == *raw);
        if !kept {
            let chunk = Chunk {
                raw: raw.into(),
                deflated: self.deflate_alone(raw)?.into_boxed_slice(),
                adler: zlib_rs::adler32::adler32(1, raw),
            };
            let size = chunk.raw.len() + chunk.deflated.len();
            if self.bytes + size > CHUNK_CACHE_BYTES {
                self.chunks.clear();
                self.bytes = 0;
            }
            self.bytes += size;
            if let Some(old) = self.chunks.insert(key, chunk) {
                self.bytes -= old.raw.len() + old.deflated.len();
            }
        }
        self.chunks
            .get(&key)
            .ok_or_else(|| std::io::Error::other("a compressed chunk went missing"))
    }

    /// `raw` as raw deflate blocks of a fresh stream, ended by a sync flush (not final).
    fn deflate_alone(&mut self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        self.compressed += 1;
        let mut out = Vec::new();
        compress_all(self.compressor(), raw, &mut out, FlushCompress::Sync)?;
        Ok(out)
    }
}

/// Runs `compress` (just reset) over all of `input`, ending with `flush`, and appends its
/// output to `out`.
fn compress_all(compress: &mut Compress, input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) -> std::io::Result<()> {
    out.reserve(input.len() + input.len() / 8 + 64);
    loop {
        let consumed = usize::try_from(compress.total_in()).map_err(std::io::Error::other)?;
        let status = compress
            .compress_vec(&input[consumed.min(input.len())..], out, flush)
            .map_err(std::io::Error::other)?;
        // A finished stream says so; a flush is complete once all input is in and the output
        // was not filled.
        let done = match flush {
            FlushCompress::Finish => status == flate2::Status::StreamEnd,
            _ => compress.total_in() == input.len() as u64 && out.len() < out.capacity(),
        };
        if done {
            return Ok(());
        }
        out.reserve(input.len() / 4 + 64);
    }
}

/// The bytes of the `.pack` and `.idx` files of `objects` (duplicate ids packed once).
///
/// # Errors
/// [`PackError::Kind`] for an object that is not a commit, tree, blob or tag.
pub fn encode(objects: &[PackObject<'_>]) -> Result<Encoded, PackError> {
    encode_with(objects, &mut Deflater::default())
}

/// [`encode`], compressing big objects with `deflater` (and the chunks it kept).
///
/// # Errors
/// [`PackError::Kind`] for an object that is not a commit, tree, blob or tag.
pub fn encode_with(objects: &[PackObject<'_>], deflater: &mut Deflater) -> Result<Encoded, PackError> {
    let mut seen = std::collections::HashSet::with_capacity(objects.len());
    let unique: Vec<&PackObject<'_>> = objects.iter().filter(|o| seen.insert(o.id)).collect();
    let count = u32::try_from(unique.len()).map_err(|_| std::io::Error::other("too many objects for one pack"))?;
    // Room for every object at its own size: compression seldom needs more, and the vector
    // grows when it does.
    let mut pack = Vec::with_capacity(unique.iter().map(|o| o.data.len() + 32).sum::<usize>() + 32);
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&count.to_be_bytes());
    // (id, crc32, offset) of each object.
    let mut entries: Vec<([u8; 20], u32, u64)> = Vec::with_capacity(unique.len());
    for object in unique {
        let number = type_number(object.kind).ok_or(PackError::Kind(object.id))?;
        let start = pack.len();
        let mut size = object.data.len();
        let mut byte = (number << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        deflater.deflate(object.data, &mut pack)?;
        let mut crc = flate2::Crc::new();
        crc.update(&pack[start..]);
        let mut id = [0u8; 20];
        id.copy_from_slice(object.id.as_bytes());
        entries.push((id, crc.sum(), start as u64));
    }
    finish(pack, entries)
}

/// The pack `pack` (its header and entries) with its checksum, and its index, given the id,
/// CRC-32 and offset of each entry.
fn finish(mut pack: Vec<u8>, entries: Vec<([u8; 20], u32, u64)>) -> Result<Encoded, PackError> {
    let checksum: [u8; 20] = Sha1::digest(&pack).into();
    pack.extend_from_slice(&checksum);
    let objects = entries.len();
    Ok(Encoded {
        pack,
        index: index_bytes(entries, &checksum)?,
        checksum: hex(&checksum),
        objects,
    })
}

/// A pack checksum in hex, as pack files are named.
fn hex(checksum: &[u8; 20]) -> String {
    checksum.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new temporary file name in the pack directory `dir` (git and libgit2 ignore such files).
fn temporary_path(dir: &Path) -> PathBuf {
    dir.join(format!(
        "tmp_pack_deployer_{}_{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ))
}

/// The version 2 index of a pack with checksum `checksum`, given the id, CRC-32 and offset of
/// each entry.
fn index_bytes(mut entries: Vec<([u8; 20], u32, u64)>, checksum: &[u8; 20]) -> Result<Vec<u8>, PackError> {
    entries.sort_unstable_by_key(|e| e.0);
    let mut index = Vec::with_capacity(8 + 256 * 4 + entries.len() * 28 + 40);
    index.extend_from_slice(b"\xfftOc");
    index.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in &entries {
        fanout[usize::from(id[0])] += 1;
    }
    let mut running = 0u32;
    for slot in fanout {
        running += slot;
        index.extend_from_slice(&running.to_be_bytes());
    }
    for (id, _, _) in &entries {
        index.extend_from_slice(id);
    }
    for (_, crc, _) in &entries {
        index.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, _, offset) in &entries {
        match u32::try_from(*offset) {
            Ok(small) if small < 0x8000_0000 => index.extend_from_slice(&small.to_be_bytes()),
            _ => {
                let slot = u32::try_from(large.len()).map_err(|_| std::io::Error::other("pack too large"))?;
                index.extend_from_slice(&(slot | 0x8000_0000).to_be_bytes());
                large.push(*offset);
            }
        }
    }
    for offset in large {
        index.extend_from_slice(&offset.to_be_bytes());
    }
    index.extend_from_slice(checksum);
    let index_checksum: [u8; 20] = Sha1::digest(&index).into();
    index.extend_from_slice(&index_checksum);
    Ok(index)
}

/// The buffer of a [`Copied`] pack's file, and of the packs it is copied from: small, as a
/// consolidation runs beside the deployments and their memory.
pub const COPY_BUFFER: usize = 64 * 1024;

/// A pack made of entries copied as they are (type, size and compressed data) from other
/// packs, as `git pack-objects` reuses them: nothing is inflated or compressed again. Only
/// whole objects may be copied (a delta would point into the pack it came from).
///
/// The pack is streamed into a temporary file of the pack directory, so that memory does not
/// grow with it; [`Copied::finish`] adds the index and gives both their names, the pack
/// first. Dropped unfinished, the temporary file is removed.
#[derive(Debug)]
pub struct Copied {
    dir: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    hasher: Sha1,
    written: u64,
    expected: u32,
    entries: Vec<([u8; 20], u32, u64)>,
}

impl Copied {
    /// Starts a pack of `count` entries in the `objects/pack` directory `dir`.
    ///
    /// # Errors
    /// When the temporary file cannot be created.
    pub fn create(dir: &Path, count: u32) -> std::io::Result<Self> {
        let tmp = temporary_path(dir);
        let file = std::io::BufWriter::with_capacity(COPY_BUFFER, std::fs::File::create_new(&tmp)?);
        let mut copied = Copied {
            dir: dir.to_path_buf(),
            tmp,
            file: Some(file),
            hasher: Sha1::new(),
            written: 0,
            expected: count,
            entries: Vec::with_capacity(count as usize),
        };
        let mut header = Vec::with_capacity(12);
        header.extend_from_slice(b"PACK");
        header.extend_from_slice(&2u32.to_be_bytes());
        header.extend_from_slice(&count.to_be_bytes());
        copied.append(&header)?;
        Ok(copied)
    }

    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the pack is finished"))?;
        file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Adds the entry of object `id`, with the CRC-32 its index gives.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn push(&mut self, id: Oid, crc: u32, entry: &[u8]) -> std::io::Result<()> {
        let mut key = [0u8; 20];
        key.copy_from_slice(id.as_bytes());
        self.entries.push((key, crc, self.written));
        self.append(entry)
    }

    /// Ends the pack, writes its index and names both after the pack's checksum.
    ///
    /// # Errors
    /// When fewer or more entries were added than announced, or a file cannot be written.
    pub fn finish(mut self) -> Result<WrittenPack, PackError> {
        if self.entries.len() != self.expected as usize {
            return Err(PackError::Io(std::io::Error::other(format!(
                "{} entries copied into a pack announced with {}",
                self.entries.len(),
                self.expected
            ))));
        }
        let checksum: [u8; 20] = std::mem::take(&mut self.hasher).finalize().into();
        let mut file = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("the pack is finished"))?;
        file.write_all(&checksum)?;
        file.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        std::fs::set_permissions(&self.tmp, std::fs::Permissions::from_mode(0o444))?;
        let index = index_bytes(std::mem::take(&mut self.entries), &checksum)?;
        let written = WrittenPack {
            checksum: hex(&checksum),
            objects: self.expected as usize,
        };
        std::fs::rename(&self.tmp, written.pack_path(&self.dir))?;
        place(&self.dir, &written.index_path(&self.dir), None, |file| {
            file.write_all(&index)
        })?;
        Ok(written)
    }
}

impl Drop for Copied {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Best effort: a leftover temporary file is ignored by git and libgit2.
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Whether the pack entry starting with `first_byte` holds a whole object (commit, tree, blob
/// or tag) rather than a delta.
pub fn is_whole_object(first_byte: u8) -> bool {
    (1..=4).contains(&((first_byte >> 4) & 0x07))
}

/// Writes `objects` into the repository whose object directory is `objects_dir` as one pack.
///
/// # Errors
/// [`PackError`] when an object cannot be packed or the files cannot be written.
pub fn write(objects_dir: &Path, objects: &[PackObject<'_>]) -> Result<WrittenPack, PackError> {
    write_with_spares(objects_dir, objects, None, &mut Deflater::default())
}

/// [`write`], filling files taken from `spares` (when it has any ready; the pool must be on
/// the same file system) and linking them under the pack's names instead of creating files,
/// and compressing big objects with `deflater`.
///
/// # Errors
/// [`PackError`] when an object cannot be packed or the files cannot be written.
pub fn write_with_spares(
    objects_dir: &Path,
    objects: &[PackObject<'_>],
    spares: Option<&SparePool>,
    deflater: &mut Deflater,
) -> Result<WrittenPack, PackError> {
    let encoded = encode_with(objects, deflater)?;
    let dir = objects_dir.join("pack");
    std::fs::create_dir_all(&dir)?;
    let written = WrittenPack {
        checksum: encoded.checksum,
        objects: encoded.objects,
    };
    place(&dir, &written.pack_path(&dir), spares, |file| {
        file.write_all(&encoded.pack)
    })?;
    place(&dir, &written.index_path(&dir), spares, |file| {
        file.write_all(&encoded.index)
    })?;
    Ok(written)
}

/// Puts `pack` (written in `from`, an `objects/pack` directory) into the repository whose
/// object directory is `objects_dir`: hard links where the file system allows, copies
/// otherwise.
///
/// # Errors
/// When neither works.
pub fn share(pack: &WrittenPack, from: &Path, objects_dir: &Path) -> std::io::Result<()> {
    let dir = objects_dir.join("pack");
    for (source, target) in [
        (pack.pack_path(from), pack.pack_path(&dir)),
        (pack.index_path(from), pack.index_path(&dir)),
    ] {
        // A link appears whole under its name, so it needs no temporary name.
        match std::fs::hard_link(&source, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => place(&dir, &target, None, |file| {
                std::io::copy(&mut std::fs::File::open(&source)?, file).map(|_| ())
            })?,
        }
    }
    Ok(())
}

/// Creates `target` from a file filled by `fill`, read-only as git makes pack files: a spare
/// from `spares` linked under the name when one is ready (a link appears whole), otherwise a
/// temporary file in `dir` renamed. A pack of that name already there has the same content and
/// is kept.
fn place(
    dir: &Path,
    target: &Path,
    spares: Option<&SparePool>,
    fill: impl Fn(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if target.exists() {
        return Ok(());
    }
    if let Some(pool) = spares
        && let Some(spare) = pool.take()
    {
        let placed = spare::fill(&spare, &fill)
            .and_then(|()| std::fs::set_permissions(&spare, std::fs::Permissions::from_mode(0o444)))
            .and_then(|()| match std::fs::hard_link(&spare, target) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            });
        pool.release(spare);
        if placed.is_ok() {
            return Ok(());
        }
        // Another file system, or the spare went away: make a file of its own.
    }
    let tmp = temporary_path(dir);
    let result = std::fs::File::create_new(&tmp)
        .and_then(|mut file| fill(&mut file))
        .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444)))
        .and_then(|()| std::fs::rename(&tmp, target));
    if result.is_err() {
        // Best effort: a leftover temporary file is ignored by git and libgit2.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// `git verify-pack -v` accepts the pack of `index`.
    fn verify_pack(index: &Path) -> TestResult {
        let out = std::process::Command::new("git")
            .arg("verify-pack")
            .arg("-v")
            .arg(index)
            .output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    #[test]
    fn a_written_pack_is_read_by_libgit2_and_verified_by_git() -> TestResult {
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let contents: Vec<(ObjectType, Vec<u8>)> = vec![
            (ObjectType::Blob, b"image: web:v2\n".to_vec()),
            (ObjectType::Blob, Vec::new()),
            (ObjectType::Blob, big),
            (ObjectType::Blob, b"image: web:v2\n".to_vec()),
        ];
        let objects: Vec<PackObject<'_>> = contents
            .iter()
            .map(|(kind, data)| {
                Ok(PackObject {
                    id: Oid::hash_object(*kind, data)?,
                    kind: *kind,
                    data,
                })
            })
            .collect::<Result<_, git2::Error>>()?;
        let written = write(&repo.path().join("objects"), &objects)?;
        assert_eq!(written.objects, 3, "the duplicate is packed once");
        for object in &objects {
            assert_eq!(repo.find_blob(object.id)?.content(), object.data);
        }
        verify_pack(&written.index_path(&repo.path().join("objects").join("pack")))?;
        Ok(())
    }

    #[test]
    fn a_pack_written_into_spare_files_is_read_by_libgit2_and_verified_by_git() -> TestResult {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        let pack_dir = repo.path().join("objects").join("pack");
        let spare_dir = repo.path().join("spare-files");
        // Two spares left by an earlier pool, adopted by one that wants only one: the first
        // take leaves it full, so no new spare is made before the second.
        drop(spare::filled(&spare_dir, 2)?);
        let spare_inodes: Vec<u64> = std::fs::read_dir(&spare_dir)?
            .map(|e| Ok(e?.metadata()?.ino()))
            .collect::<Result<_, std::io::Error>>()?;
        let pool = SparePool::start(&spare_dir, 1);
        assert_eq!(pool.ready(), 2);
        let data = b"image: web:v3\n";
        let object = PackObject {
            id: Oid::hash_object(ObjectType::Blob, data)?,
            kind: ObjectType::Blob,
            data,
        };
        let written = write_with_spares(
            &repo.path().join("objects"),
            &[object],
            Some(&pool),
            &mut Deflater::default(),
        )?;
        for path in [written.pack_path(&pack_dir), written.index_path(&pack_dir)] {
            let meta = std::fs::metadata(&path)?;
            assert!(spare_inodes.contains(&meta.ino()), "{} is not a spare", path.display());
            assert!(meta.permissions().readonly());
        }
        assert_eq!(repo.find_blob(object.id)?.content(), data);
        verify_pack(&written.index_path(&pack_dir))?;
        Ok(())
    }

    #[test]
    fn a_shared_pack_is_readable_from_the_second_repository() -> TestResult {
        let dir = tempfile::tempdir()?;
        let first = git2::Repository::init_bare(dir.path().join("a"))?;
        let second = git2::Repository::init_bare(dir.path().join("b"))?;
        let data = b"kind: Deployment\n";
        let id = Oid::hash_object(ObjectType::Blob, data)?;
        let objects = [PackObject {
            id,
            kind: ObjectType::Blob,
            data,
        }];
        let from = first.path().join("objects");
        let written = write(&from, &objects)?;
        share(&written, &from.join("pack"), &second.path().join("objects"))?;
        share(&written, &from.join("pack"), &second.path().join("objects"))?;
        assert_eq!(second.find_blob(id)?.content(), data);
        Ok(())
    }

    /// The bytes of a tree of `entries` files whose ids depend on `seed`'s entry.
    fn big_tree(entries: usize, changed: usize, seed: u8) -> Vec<u8> {
        let mut tree = Vec::new();
        for i in 0..entries {
            tree.extend_from_slice(format!("100644 svc-{i:06}.yaml\0").as_bytes());
            let mut id = [0u8; 20];
            for (j, byte) in id.iter_mut().enumerate() {
                *byte = (i * 31 + j * 7) as u8 ^ if i == changed { seed } else { 0 };
            }
            tree.extend_from_slice(&id);
        }
        tree
    }

    fn tree_object(data: &[u8]) -> Result<PackObject<'_>, git2::Error> {
        Ok(PackObject {
            id: Oid::hash_object(ObjectType::Tree, data)?,
            kind: ObjectType::Tree,
            data,
        })
    }

    #[test]
    fn big_objects_compressed_in_chunks_are_read_back_by_libgit2_zlib_and_git() -> TestResult {
        use std::io::Read;
        let dir = tempfile::tempdir()?;
        let repo = git2::Repository::init_bare(dir.path())?;
        // 2,500 entries (about 105 KB), as a directory of 2,500 files; and one of exactly two
        // chunks, and one a byte short of being chunked.
        let trees = [
            big_tree(2_500, 1_200, 0),
            big_tree(2 * CHUNK / 42, 0, 0x33)[..2 * CHUNK].to_vec(),
            vec![7u8; CHUNKED_FROM - 1],
        ];
        let objects = vec![
            tree_object(&trees[0])?,
            PackObject {
                id: Oid::hash_object(ObjectType::Blob, &trees[1])?,
                kind: ObjectType::Blob,
                data: &trees[1],
            },
            PackObject {
                id: Oid::hash_object(ObjectType::Blob, &trees[2])?,
                kind: ObjectType::Blob,
                data: &trees[2],
            },
        ];
        let mut deflater = Deflater::default();
        let encoded = encode_with(&objects, &mut deflater)?;
        // 105 KB in 7 chunks; the 32 KiB blob differs from the tree's start in its first chunk
        // only, and its second chunk is the tree's.
        assert_eq!(deflater.chunks_compressed(), 7 + 1);
        // The tree's zlib stream, where its header ends, inflates to the tree.
        let header_len = 12 + 3;
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&encoded.pack[header_len..]).read_to_end(&mut inflated)?;
        assert_eq!(inflated, trees[0]);

        let written = write_with_spares(&repo.path().join("objects"), &objects, None, &mut Deflater::default())?;
        assert_eq!(repo.odb()?.read(objects[0].id)?.data(), &trees[0][..]);
        assert_eq!(repo.find_blob(objects[1].id)?.content(), &trees[1][..]);
        assert_eq!(repo.find_blob(objects[2].id)?.content(), &trees[2][..]);
        verify_pack(&written.index_path(&repo.path().join("objects").join("pack")))?;
        Ok(())
    }

    #[test]
    fn the_next_tree_of_a_directory_recompresses_only_the_chunk_that_changed() -> TestResult {
        let first = big_tree(2_500, 1_200, 0);
        let second = big_tree(2_500, 1_200, 0x5a);
        assert_eq!(first.len(), second.len());
        let mut kept = Deflater::default();
        let from_first = encode_with(&[tree_object(&first)?], &mut kept)?;
        assert_eq!(kept.chunks_compressed(), 7);
        let from_kept = encode_with(&[tree_object(&second)?], &mut kept)?;
        assert_eq!(kept.chunks_compressed(), 8, "one chunk of the second tree is new");
        // Kept or not, the same object gives the same pack.
        let fresh = encode(&[tree_object(&second)?])?;
        assert_eq!(from_kept.pack, fresh.pack);
        assert_eq!(from_kept.index, fresh.index);
        assert_ne!(from_first.pack, fresh.pack);
        // The compressor, reused for small objects too, starts each one afresh.
        let data = b"image: web:v4\n";
        let blob = [PackObject {
            id: Oid::hash_object(ObjectType::Blob, data)?,
            kind: ObjectType::Blob,
            data,
        }];
        assert_eq!(encode_with(&blob, &mut kept)?.pack, encode(&blob)?.pack);
        Ok(())
    }

    #[test]
    fn the_kept_chunks_stay_within_their_limit() -> TestResult {
        let mut deflater = Deflater::default();
        for seed in 0..=255u8 {
            let tree = big_tree(2_500, usize::from(seed) * 9, seed);
            encode_with(&[tree_object(&tree)?], &mut deflater)?;
            assert!(deflater.bytes <= CHUNK_CACHE_BYTES, "{} bytes kept", deflater.bytes);
        }
        let kept: usize = deflater.chunks.values().map(|c| c.raw.len() + c.deflated.len()).sum();
        assert_eq!(kept, deflater.bytes);
        Ok(())
    }
}
