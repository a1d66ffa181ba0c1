//! An advisory lock beside the state file, so two runs never interleave their commits.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Held for the life of a run; the OS releases it when the process ends, even on SIGKILL.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock at `<state>.lock` without waiting.
    ///
    /// # Errors
    /// `StoreError::Locked` when another process holds it; `StoreError::Io` when the lock file
    /// cannot be created.
    pub fn acquire(state_path: &Path) -> Result<Self, StoreError> {
        let mut name = state_path.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Io { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Locked { path }),
            Err(TryLockError::Error(source)) => Err(StoreError::Io { path, source }),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_first_dropped() {
        let (_dir, db) = crate::testkit::scratch("s.db");
        let first = StateLock::acquire(&db).unwrap();
        assert!(matches!(StateLock::acquire(&db), Err(StoreError::Locked { .. })));
        drop(first);
        assert!(StateLock::acquire(&db).is_ok());
    }
}
