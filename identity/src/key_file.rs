//! The agent's key on disk (WIRE.md 1.2).
//!
//! `agent.key` is the raw 32-byte ed25519 seed, mode 0600, in a 0700 folder:
//! byte-for-byte ConnectOnion's `.co/keys/agent.key`, so an existing identity
//! can be copied over and keeps its address. A file that is present but wrong
//! is always an error, never a reason to generate a new identity: the address
//! is how others know the agent, and losing it silently is unrecoverable.

mod error;
mod write_new;

pub use error::KeyFileError;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::AgentKey;

/// Where the key lives, relative to the working directory.
pub const DEFAULT_KEY_FILE: &str = ".agenthost/keys/agent.key";

/// A key file is exactly one ed25519 seed.
const SEED_LEN: u64 = 32;

/// Permission bits for group and others: any of them set is too loose.
const GROUP_OTHER_BITS: u32 = 0o077;

/// Loads the key at `path`.
///
/// Errors: [`KeyFileError::Missing`] if there is no file,
/// [`KeyFileError::WrongSize`] unless it is exactly 32 bytes. Permissions
/// looser than 0600 only log a warning, because refusing to start would not
/// make an already-exposed key secret again.
pub fn load_key(path: impl AsRef<Path>) -> Result<AgentKey, KeyFileError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => KeyFileError::Missing {
            path: path.to_path_buf(),
        },
        _ => KeyFileError::io("open key file", path, e),
    })?;
    let metadata = file
        .metadata()
        .map_err(|e| KeyFileError::io("inspect key file", path, e))?;
    if !metadata.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    // Checked before reading so a huge file is never read into memory.
    if metadata.len() != SEED_LEN {
        return Err(KeyFileError::WrongSize {
            path: path.to_path_buf(),
            size: metadata.len(),
        });
    }
    warn_if_loose(path, metadata.permissions().mode());

    // Read one byte more than needed so a file that grew since `metadata`
    // is still caught.
    let mut contents = Vec::with_capacity(SEED_LEN as usize + 1);
    file.take(SEED_LEN + 1)
        .read_to_end(&mut contents)
        .map_err(|e| KeyFileError::io("read key file", path, e))?;
    let seed: [u8; 32] = contents
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::WrongSize {
            path: path.to_path_buf(),
            size: contents.len() as u64,
        })?;
    Ok(AgentKey::from_seed(seed))
}

/// Generates a new key and writes it to `path` (mode 0600, missing folders
/// 0700), atomically. Refuses with [`KeyFileError::Exists`] if `path` exists.
pub fn create_key(path: impl AsRef<Path>) -> Result<AgentKey, KeyFileError> {
    let path = path.as_ref();
    // Cheap early answer; the real guarantee is in the no-clobber publish.
    if path.symlink_metadata().is_ok() {
        return Err(KeyFileError::Exists {
            path: path.to_path_buf(),
        });
    }
    let key = AgentKey::generate();
    write_new::write_new_private_file(path, &key.seed())?;
    Ok(key)
}

/// Loads the key at `path`, or creates one if (and only if) there is no file.
/// Returns the key and whether it was created just now.
///
/// Any other problem (wrong size, unreadable) is returned as is: regenerating
/// would silently change the agent's address.
pub fn load_or_create_key(path: impl AsRef<Path>) -> Result<(AgentKey, bool), KeyFileError> {
    let path = path.as_ref();
    match load_key(path) {
        Ok(key) => Ok((key, false)),
        Err(KeyFileError::Missing { .. }) => match create_key(path) {
            Ok(key) => Ok((key, true)),
            // Another process (e.g. a second worker) won the race to create
            // it; use theirs so both run as the same agent.
            Err(KeyFileError::Exists { .. }) => load_key(path).map(|key| (key, false)),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// Logs a warning if group or others have any access to the key file.
fn warn_if_loose(path: &Path, mode: u32) {
    if mode & GROUP_OTHER_BITS != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:04o}", mode & 0o7777),
            "key file permissions are looser than 0600; run `chmod 600 {}`",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn create_sets_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/keys/agent.key");
        create_key(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&dir.path().join("nested/keys")), 0o700);
        assert_eq!(mode_of(&dir.path().join("nested")), 0o700);
        assert_eq!(fs::metadata(&path).unwrap().len(), 32);
    }

    #[test]
    fn create_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        create_key(&path).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("agent.key")]);
    }

    #[test]
    fn load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        let created = create_key(&path).unwrap();
        let loaded = load_key(&path).unwrap();
        assert_eq!(loaded.seed(), created.seed());
        assert_eq!(loaded.address(), created.address());
    }

    #[test]
    fn loads_a_connectonion_style_raw_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        fs::write(&path, &seed).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            load_key(&path).unwrap().address().to_string(),
            "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }

    #[test]
    fn wrong_size_names_path_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        fs::write(&path, [1u8; 31]).unwrap();
        let error = load_key(&path).unwrap_err();
        assert!(
            matches!(&error, KeyFileError::WrongSize { size: 31, path: p } if p == &path),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("31 bytes"), "{message}");

        fs::write(&path, [1u8; 64]).unwrap();
        assert!(matches!(
            load_key(&path),
            Err(KeyFileError::WrongSize { size: 64, .. })
        ));
        fs::write(&path, []).unwrap();
        assert!(matches!(
            load_key(&path),
            Err(KeyFileError::WrongSize { size: 0, .. })
        ));
    }

    #[test]
    fn missing_is_a_distinct_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        let error = load_key(&path).unwrap_err();
        assert!(
            matches!(&error, KeyFileError::Missing { path: p } if p == &path),
            "{error:?}"
        );
    }

    #[test]
    fn directory_is_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_key(dir.path()),
            Err(KeyFileError::NotAFile { .. })
        ));
    }

    #[test]
    fn create_refuses_existing_file_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        let first = create_key(&path).unwrap();
        let error = create_key(&path).unwrap_err();
        assert!(
            matches!(&error, KeyFileError::Exists { path: p } if p == &path),
            "{error:?}"
        );
        assert_eq!(load_key(&path).unwrap().seed(), first.seed());
    }

    #[test]
    fn loose_permissions_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        let created = create_key(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_key(&path).unwrap().seed(), created.seed());
    }

    #[test]
    fn load_or_create_creates_once_then_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".agenthost/keys/agent.key");
        let (created, was_created) = load_or_create_key(&path).unwrap();
        assert!(was_created);
        let (loaded, was_created) = load_or_create_key(&path).unwrap();
        assert!(!was_created);
        assert_eq!(loaded.seed(), created.seed());
    }

    #[test]
    fn load_or_create_never_replaces_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        fs::write(&path, b"not a key").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(KeyFileError::WrongSize { size: 9, .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"not a key");
    }
}
