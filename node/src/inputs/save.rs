//! Writing a request's `files` into its upload folder.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt as _;

use crate::inputs::names::numbered;
use crate::inputs::{check_limits, data_url, file_label, safe_file_name, FileInput};
use crate::inputs::{InputError, InputLimits};

/// A file written by [`save_files`]; the agent receives these.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedFile {
    /// The name it was stored under (safe and unique; may differ from the client's name).
    pub name: String,
    /// Where it was stored: the absolute form of `dir` joined with `name`. This is what the
    /// agent is given.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The media type its data URL declared (`type/subtype`, lowercase).
    pub mime: String,
}

/// How many `name (n).ext` candidates are tried before giving up on a name.
const MAX_NAME_ATTEMPTS: usize = 1000;

/// Decodes `files` into `dir` and returns what was written, in request order.
///
/// 1. [`check_limits`] on the files (count, then each decoded size computed from its length):
///    an over-limit request is refused before anything is decoded or created;
/// 2. every name goes through [`safe_file_name`] and every data-URL header is parsed, still
///    before anything is created;
/// 3. `dir` is created if missing (with its missing parents, mode 0700 on Unix); an existing
///    `dir` that is a symlink is refused;
/// 4. each file is decoded and written in turn under a name unique within the request,
///    compared case-insensitively (a second `a.txt` becomes `a (2).txt`, then `a (3).txt`),
///    opened with `create_new` (mode 0600 on Unix): nothing already there is ever overwritten,
///    and a pre-existing entry of that name — a file from an earlier request, or a symlink,
///    dangling or not — is never followed; the next numbered name is used instead.
///
/// On any error, and if the returned future is dropped before completing, every file this call
/// created is removed again (and `dir` too if this call created it and it is empty).
/// No files → `Ok(vec![])`, nothing created.
///
/// Decoding runs on the calling task (a few milliseconds per 10 MB).
pub async fn save_files(
    files: &[FileInput],
    dir: &Path,
    limits: &InputLimits,
) -> Result<Vec<SavedFile>, InputError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    check_limits(&[], files, limits)?;

    let mut planned = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let what = file_label(i, &file.name);
        let safe = safe_file_name(&file.name)?;
        let parts = data_url::split(&file.data, &what)?;
        planned.push((what, safe, parts));
    }

    let dir = std::path::absolute(dir).map_err(|e| io_err("the upload directory", e))?;
    let mut rollback = Rollback {
        files: Vec::new(),
        dir: None,
    };
    if ensure_dir(&dir).await? {
        rollback.dir = Some(dir.clone());
    }

    let mut taken: HashSet<String> = HashSet::new();
    let mut saved = Vec::with_capacity(planned.len());
    for (what, safe, parts) in planned {
        let bytes = parts.decode(&what)?;
        let (name, path, mut file) = create_unique(&dir, &safe, &mut taken, &what).await?;
        rollback.files.push(path.clone());
        file.write_all(&bytes).await.map_err(|e| io_err(&what, e))?;
        file.flush().await.map_err(|e| io_err(&what, e))?;
        drop(file);
        tracing::debug!(file = %name, size = bytes.len(), mime = %parts.mime, "saved upload");
        saved.push(SavedFile {
            name,
            path,
            size: bytes.len() as u64,
            mime: parts.mime,
        });
    }
    rollback.files.clear();
    rollback.dir = None;
    tracing::info!(count = saved.len(), dir = %dir.display(), "saved uploaded files");
    Ok(saved)
}

fn io_err(what: &str, source: std::io::Error) -> InputError {
    InputError::Io {
        what: what.to_owned(),
        source,
    }
}

/// Makes sure `dir` is a real directory; returns whether this call created it.
async fn ensure_dir(dir: &Path) -> Result<bool, InputError> {
    let what = "the upload directory";
    match tokio::fs::symlink_metadata(dir).await {
        Ok(meta) if meta.is_dir() => return Ok(false),
        Ok(meta) if meta.file_type().is_symlink() => {
            tracing::warn!(dir = %dir.display(), "upload directory is a symlink; refusing it");
            return Err(io_err(
                what,
                std::io::Error::other("the upload directory is a symbolic link"),
            ));
        }
        Ok(_) => {
            return Err(io_err(
                what,
                std::io::Error::other("the upload directory path is not a directory"),
            ))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(what, e)),
    }
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await.map_err(|e| io_err(what, e))?;
    Ok(true)
}

/// Creates a new file in `dir` named `safe` or the first free `safe (n)`, skipping names already
/// `taken` by this request (case-insensitively) and names that exist on disk.
async fn create_unique(
    dir: &Path,
    safe: &str,
    taken: &mut HashSet<String>,
    what: &str,
) -> Result<(String, PathBuf, tokio::fs::File), InputError> {
    for n in 1..=MAX_NAME_ATTEMPTS {
        let name = numbered(safe, n);
        let key = name.to_lowercase();
        if taken.contains(&key) {
            continue;
        }
        let path = dir.join(&name);
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        match options.open(&path).await {
            Ok(file) => {
                taken.insert(key);
                return Ok((name, path, file));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(what, e)),
        }
    }
    Err(io_err(
        what,
        std::io::Error::other(format!("no free name after {MAX_NAME_ATTEMPTS} attempts")),
    ))
}

/// Removes what a `save_files` call created unless disarmed (emptied) — on error and on
/// cancellation alike.
struct Rollback {
    files: Vec<PathBuf>,
    dir: Option<PathBuf>,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        for path in &self.files {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove partial upload");
            }
        }
        if let Some(dir) = &self.dir {
            // Only succeeds if empty, which is what we want.
            let _ = std::fs::remove_dir(dir);
        }
    }
}
