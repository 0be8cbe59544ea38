//! Writing objects straight into a repository as one pack (`.pack` and version 2 `.idx`),
//! without libgit2's packbuilder and indexer.
//!
//! The objects of a deployment's commits are small and already known by id, so the pack is
//! written as git would receive it with deltas turned off: every object whole, compressed at
//! the fastest zlib level, the index built from the ids we already have. The compressor is
//! zlib-rs: at that level it compresses the tree of a 2,500-entry directory (105 KB, rewritten
//! by every commit there) in about a third of zlib's time, for an output about 8 % larger
//! (see docs/BENCHMARKS.md). The files are
//! written under temporary names and renamed, the `.pack` before the `.idx`, so a reader that
//! finds the index always finds a complete pack, exactly as `git index-pack` does.
//!
//! A pack is named after its checksum, so the same pack may be hard-linked into a second
//! repository on the same file system (as `git clone` of a local path links objects).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::ZlibEncoder;
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

/// The bytes of the `.pack` and `.idx` files of `objects` (duplicate ids packed once).
///
/// # Errors
/// [`PackError::Kind`] for an object that is not a commit, tree, blob or tag.
pub fn encode(objects: &[PackObject<'_>]) -> Result<Encoded, PackError> {
    let mut seen = std::collections::HashSet::with_capacity(objects.len());
    let unique: Vec<&PackObject<'_>> = objects.iter().filter(|o| seen.insert(o.id)).collect();
    let count = u32::try_from(unique.len()).map_err(|_| std::io::Error::other("too many objects for one pack"))?;
    let mut pack = Vec::with_capacity(unique.iter().map(|o| o.data.len() / 2 + 16).sum::<usize>() + 32);
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
        let mut encoder = ZlibEncoder::new(std::mem::take(&mut pack), Compression::fast());
        encoder.write_all(object.data)?;
        pack = encoder.finish()?;
        let mut crc = flate2::Crc::new();
        crc.update(&pack[start..]);
        let mut id = [0u8; 20];
        id.copy_from_slice(object.id.as_bytes());
        entries.push((id, crc.sum(), start as u64));
    }
    let checksum: [u8; 20] = Sha1::digest(&pack).into();
    pack.extend_from_slice(&checksum);

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
    index.extend_from_slice(&checksum);
    let index_checksum: [u8; 20] = Sha1::digest(&index).into();
    index.extend_from_slice(&index_checksum);
    let hex: String = checksum.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Encoded {
        pack,
        index,
        checksum: hex,
        objects: entries.len(),
    })
}

/// Writes `objects` into the repository whose object directory is `objects_dir` as one pack.
///
/// # Errors
/// [`PackError`] when an object cannot be packed or the files cannot be written.
pub fn write(objects_dir: &Path, objects: &[PackObject<'_>]) -> Result<WrittenPack, PackError> {
    write_with_spares(objects_dir, objects, None)
}

/// [`write`], filling files taken from `spares` (when it has any ready; the pool must be on
/// the same file system) and linking them under the pack's names instead of creating files.
///
/// # Errors
/// [`PackError`] when an object cannot be packed or the files cannot be written.
pub fn write_with_spares(
    objects_dir: &Path,
    objects: &[PackObject<'_>],
    spares: Option<&SparePool>,
) -> Result<WrittenPack, PackError> {
    let encoded = encode(objects)?;
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
    let tmp = dir.join(format!(
        "tmp_pack_deployer_{}_{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
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
        let out = std::process::Command::new("git")
            .arg("verify-pack")
            .arg(written.index_path(&repo.path().join("objects").join("pack")))
            .output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
        let written = write_with_spares(&repo.path().join("objects"), &[object], Some(&pool))?;
        for path in [written.pack_path(&pack_dir), written.index_path(&pack_dir)] {
            let meta = std::fs::metadata(&path)?;
            assert!(spare_inodes.contains(&meta.ino()), "{} is not a spare", path.display());
            assert!(meta.permissions().readonly());
        }
        assert_eq!(repo.find_blob(object.id)?.content(), data);
        let out = std::process::Command::new("git")
            .arg("verify-pack")
            .arg(written.index_path(&pack_dir))
            .output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
}
