//! Writing a new secret file atomically, without ever clobbering one.
//!
//! The key is written to a temporary file in the destination folder (so the
//! final step stays on one filesystem), created with mode 0600 so the secret
//! is never readable by others even for an instant, flushed to disk, then
//! published under its final name. Readers therefore see either no key file or
//! a complete one, never a truncated key that would later be "repaired" into a
//! different identity.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::KeyFileError;

/// Folders we create hold secrets: owner only.
const PRIVATE_DIR_MODE: u32 = 0o700;
/// The key itself: owner read/write only.
const PRIVATE_FILE_MODE: u32 = 0o600;

/// Writes `contents` to a new file at `path` (mode 0600), creating missing
/// parent folders with mode 0700. Fails with [`KeyFileError::Exists`] if
/// `path` exists, including when another process creates it concurrently.
pub(super) fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<(), KeyFileError> {
    let folder = parent_folder(path);
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(&folder)
        .map_err(|e| KeyFileError::io("create key folder", &folder, e))?;

    let temp = temp_path_beside(path)?;
    if let Err(error) = write_private(&temp, contents) {
        remove_quietly(&temp);
        return Err(error);
    }
    let published = publish_without_clobbering(&temp, path);
    remove_quietly(&temp);
    published?;

    // Make the new directory entry durable too; a failure here only weakens
    // crash safety, the key itself is already written.
    if let Ok(dir) = File::open(&folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The folder holding `path`; `.` for a bare file name.
fn parent_folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A hidden, unpredictable name in the same folder as `path`.
fn temp_path_beside(path: &Path) -> Result<PathBuf, KeyFileError> {
    let name = path.file_name().ok_or_else(|| {
        KeyFileError::io(
            "create key file",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{:016x}", rand::random::<u64>()));
    Ok(parent_folder(path).join(temp_name))
}

/// Creates `path` (which must not exist) with mode 0600 from the first
/// instant, writes `contents` and flushes them to disk.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
        .map_err(|e| KeyFileError::io("create temporary key file", path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyFileError::io("write temporary key file", path, e))
}

/// Gives `temp`'s contents the name `path`, unless `path` already exists.
///
/// A plain rename would silently replace a key another process created a
/// moment ago, leaving that process running under an identity that is no
/// longer on disk. A hard link fails instead when the name is taken, so it is
/// tried first; rename is the fallback for filesystems without hard links.
/// The caller removes `temp` afterwards either way.
fn publish_without_clobbering(temp: &Path, path: &Path) -> Result<(), KeyFileError> {
    match fs::hard_link(temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(KeyFileError::Exists {
            path: path.to_path_buf(),
        }),
        Err(_) => {
            if path.symlink_metadata().is_ok() {
                return Err(KeyFileError::Exists {
                    path: path.to_path_buf(),
                });
            }
            fs::rename(temp, path).map_err(|e| KeyFileError::io("create key file", path, e))
        }
    }
}

/// Best-effort cleanup of the temporary file (already gone after a rename).
fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            path = %path.display(),
            error = %e,
            "could not remove temporary key file"
        ),
    }
}
