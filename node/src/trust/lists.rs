//! The whitelist, blacklist and admins: addresses given in code or flags merged with the
//! addresses in a file each, re-read when the file changes — no restart needed.
//!
//! A list file holds one address per line (`0x…` or a PeerId); `#` starts a comment, blank
//! lines are ignored, a bad line is logged with its file and line number and skipped. A missing
//! file is an empty list.
//!
//! How changes are noticed: lazily, not by a background task. Each check (and each
//! [`AccessLists::is_blacklisted`]) first calls [`AccessLists::refresh`], which at most once per
//! [`POLL_INTERVAL`] stats the files and re-reads only those whose stamp (length, modification
//! time, and on Unix inode and change time) differs from the last read. So the first request
//! that comes at least `POLL_INTERVAL` after an edit already sees it, an idle host does no I/O,
//! the gatekeeper needs no runtime to be constructed and leaves no task behind, and the
//! synchronous `is_blacklisted` sees the same fresh lists. The cost on the request path is
//! three `stat` calls per interval, made by one request while the others go on with the lists
//! as they are.
//!
//! Editors save in different ways, all covered:
//! - in place (truncate and write): length or modification time changes;
//! - write a new file and rename it over the old one: the inode changes even if length and
//!   modification time (`cp -p`, `rsync -t`) do not;
//! - rename the old file away, then write a new one (vim's default): for a moment there is no
//!   file. A file that disappears keeps its last contents until it has been gone for a whole
//!   `POLL_INTERVAL` — a blacklist must not lapse while it is being saved;
//! - a file caught mid-write (its stamp changes while it is read) is read again.
//!
//! A file that cannot be read after startup keeps its last contents and is warned about once.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, TryLockError};
use std::time::{Duration, Instant, SystemTime};

use agenthost_identity::Address;
use tracing::{info, warn};

use crate::trust::{TrustConfig, TrustError};

/// How often list files are checked for changes (at most).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How many times a file that keeps changing while it is read is read again before its
/// latest contents are taken as they are (the next poll then reads it once more).
const READ_ATTEMPTS: usize = 3;

/// The three lists and the agent's own address (always an admin).
pub(crate) struct AccessLists {
    own_address: Address,
    whitelist: AddressList,
    blacklist: AddressList,
    admins: AddressList,
    /// When the files were last polled; `try_lock`ed so only one caller polls at a time.
    last_poll: Mutex<Instant>,
}

impl AccessLists {
    /// Reads the list files. A missing file is an empty list; one that exists but cannot be
    /// read is an error, so a host does not start with a blacklist it failed to load.
    pub(crate) fn new(config: &TrustConfig) -> Result<Self, TrustError> {
        Ok(AccessLists {
            own_address: config.own_address,
            whitelist: AddressList::new(
                "whitelist",
                &config.whitelist,
                config.whitelist_file.as_deref(),
            )?,
            blacklist: AddressList::new(
                "blacklist",
                &config.blacklist,
                config.blacklist_file.as_deref(),
            )?,
            admins: AddressList::new("admins", &[], config.admins_file.as_deref())?,
            last_poll: Mutex::new(Instant::now()),
        })
    }

    /// Re-reads the files that changed, at most once per [`POLL_INTERVAL`].
    pub(crate) fn refresh(&self) {
        let lists = [&self.whitelist, &self.blacklist, &self.admins];
        if lists.iter().all(|list| list.file.is_none()) {
            return;
        }
        let mut last_poll = match self.last_poll.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Another caller is polling right now.
            Err(TryLockError::WouldBlock) => return,
        };
        let now = Instant::now();
        if now.duration_since(*last_poll) < POLL_INTERVAL {
            return;
        }
        *last_poll = now;
        for list in lists {
            if let Some(file) = &list.file {
                file.poll(list.name, now);
            }
        }
    }

    pub(crate) fn is_blacklisted(&self, address: &Address) -> bool {
        self.blacklist.contains(address)
    }

    pub(crate) fn is_whitelisted(&self, address: &Address) -> bool {
        self.whitelist.contains(address)
    }

    /// The agent's own address and the addresses in the admins file.
    pub(crate) fn is_admin(&self, address: &Address) -> bool {
        *address == self.own_address || self.admins.contains(address)
    }
}

/// One list: the fixed values from code or flags, plus its file's current contents.
struct AddressList {
    name: &'static str,
    fixed: HashSet<Address>,
    file: Option<ListFile>,
}

impl AddressList {
    fn new(name: &'static str, fixed: &[Address], path: Option<&Path>) -> Result<Self, TrustError> {
        let file = path
            .map(|path| ListFile::load(name, path))
            .transpose()
            .map_err(|(path, source)| TrustError::ListFile {
                list: name,
                path,
                source,
            })?;
        Ok(AddressList {
            name,
            fixed: fixed.iter().copied().collect(),
            file,
        })
    }

    fn contains(&self, address: &Address) -> bool {
        self.fixed.contains(address)
            || self
                .file
                .as_ref()
                .is_some_and(|file| read_lock(&file.entries).contains(address))
    }
}

/// A list file and what was last read from it.
struct ListFile {
    path: PathBuf,
    entries: RwLock<HashSet<Address>>,
    state: Mutex<FileState>,
}

/// What the last poll saw of a file.
#[derive(Default)]
struct FileState {
    /// The stamp of the contents in `entries`; `None` when the file was missing.
    stamp: Option<Stamp>,
    /// When the file was first seen missing after it had existed (see the module doc).
    vanished_since: Option<Instant>,
    /// A read error was already logged; cleared by the next successful read.
    failing: bool,
}

/// Enough of a file's metadata to tell that it changed, however it was saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    /// (device, inode, change time s, change time ns): a replaced file is a new inode, and a
    /// change time cannot be preserved by copying tools the way a modification time can.
    #[cfg(unix)]
    unix: (u64, u64, i64, i64),
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            unix: (
                metadata.dev(),
                metadata.ino(),
                metadata.ctime(),
                metadata.ctime_nsec(),
            ),
        }
    }
}

impl ListFile {
    /// The first read, at startup: errors are returned, not just logged.
    fn load(name: &'static str, path: &Path) -> Result<ListFile, (PathBuf, io::Error)> {
        let (stamp, entries) =
            match read_stable(path).map_err(|error| (path.to_path_buf(), error))? {
                Some((stamp, text)) => (Some(stamp), parse_list(&text, path)),
                None => (None, HashSet::new()),
            };
        if stamp.is_some() {
            info!(list = name, file = %path.display(), addresses = entries.len(), "list loaded");
        }
        Ok(ListFile {
            path: path.to_path_buf(),
            entries: RwLock::new(entries),
            state: Mutex::new(FileState {
                stamp,
                ..FileState::default()
            }),
        })
    }

    /// Re-reads the file if it changed since the last read.
    fn poll(&self, name: &'static str, now: Instant) {
        let mut state = lock(&self.state);
        let current = match std::fs::metadata(&self.path) {
            Ok(metadata) => Some(Stamp::of(&metadata)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return self.fail(name, &mut state, &error),
        };
        if current.is_some() {
            state.vanished_since = None;
        }
        if current == state.stamp {
            return;
        }
        if current.is_none() {
            let since = *state.vanished_since.get_or_insert(now);
            if now.duration_since(since) < POLL_INTERVAL {
                return; // maybe mid-save: keep the last contents a little longer
            }
        }
        match read_stable(&self.path) {
            Ok(read) => {
                let (stamp, entries) = match read {
                    Some((stamp, text)) => (Some(stamp), parse_list(&text, &self.path)),
                    None => (None, HashSet::new()),
                };
                info!(list = name, file = %self.path.display(), addresses = entries.len(), "list reloaded");
                *write_lock(&self.entries) = entries;
                *state = FileState {
                    stamp,
                    ..FileState::default()
                };
            }
            Err(error) => self.fail(name, &mut state, &error),
        }
    }

    fn fail(&self, name: &'static str, state: &mut FileState, error: &io::Error) {
        if !state.failing {
            warn!(list = name, file = %self.path.display(), %error, "cannot read list file; keeping its last contents");
            state.failing = true;
        }
    }
}

/// Reads a file with the stamp it had while being read; `None` when it does not exist. A file
/// whose stamp changes during the read is read again (up to [`READ_ATTEMPTS`] times); the last
/// attempt is taken with the stamp from before it, so a later poll reads it once more.
fn read_stable(path: &Path) -> io::Result<Option<(Stamp, String)>> {
    let not_found = |error: io::Error| match error.kind() {
        io::ErrorKind::NotFound => Ok(None),
        _ => Err(error),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = match std::fs::metadata(path) {
            Ok(metadata) => Stamp::of(&metadata),
            Err(error) => return not_found(error),
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => return not_found(error),
        };
        let after = std::fs::metadata(path)
            .ok()
            .map(|metadata| Stamp::of(&metadata));
        if after == Some(before) || attempt >= READ_ATTEMPTS {
            // Invalid UTF-8 only spoils the lines it is on, which are then skipped as bad lines.
            return Ok(Some((before, String::from_utf8_lossy(&bytes).into_owned())));
        }
    }
}

/// Parses a list file's text, logging and skipping bad lines.
pub(crate) fn parse_list(text: &str, file: &Path) -> HashSet<Address> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut addresses = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        match Address::parse(entry) {
            Ok(address) => {
                addresses.insert(address);
            }
            Err(error) => {
                warn!(file = %file.display(), line = index + 1, %error, "skipping bad line in list file");
            }
        }
    }
    addresses
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_list_skips_comments_blanks_and_bad_lines() {
        let a = Address::from_bytes([1; 32]);
        let b = Address::from_bytes([2; 32]);
        let c = Address::from_bytes([3; 32]);
        let text = format!(
            "\u{feff}# team\n\n{a}\n  {b}  # bob, by PeerId below too\nnot an address\n0x1234\n{}\r\n",
            c.to_peer_id()
        );
        let parsed = parse_list(&text, Path::new("whitelist.txt"));
        assert_eq!(parsed, HashSet::from([a, b, c]));
    }
}
