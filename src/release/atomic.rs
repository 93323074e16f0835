//! Atomic output: a release is staged in a hidden sibling directory and renamed into place
//! only when every file is complete, so an interrupted run never leaves a release behind.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::ReleaseError;

/// A release directory being written. Dropped without `commit`, it removes its staging area.
pub struct StagedDir {
    stage: PathBuf,
    target: PathBuf,
    force: bool,
    committed: bool,
}

impl StagedDir {
    /// Prepares to write `target`. Refuses an existing target unless `force`.
    pub fn new(target: &Path, force: bool) -> Result<Self, ReleaseError> {
        if target.exists() && !force {
            return Err(ReleaseError::Exists(target.to_path_buf()));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(ReleaseError::Io(
                parent.clone(),
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "the parent directory does not exist",
                ),
            ));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "release".into());
        let stage = tempfile::Builder::new()
            .prefix(&format!(".{name}.dpsynth-staging-"))
            .tempdir_in(&parent)
            .map_err(|e| ReleaseError::Io(parent.clone(), e))?
            .keep();
        Ok(StagedDir {
            stage,
            target: target.to_path_buf(),
            force,
            committed: false,
        })
    }

    /// Where to write file `name` inside the staged release.
    pub fn path(&self, name: &str) -> PathBuf {
        self.stage.join(name)
    }

    /// Moves the finished release into place (replacing an old one only under `force`), then
    /// renames `pending` to `last` inside it. Making the certificate that last step means no
    /// directory ever holds a complete release before the final rename: a run killed at any
    /// point leaves nothing `verify` accepts.
    pub fn commit_with_last(self, pending: &str, last: &str) -> Result<PathBuf, ReleaseError> {
        let dir = self.commit()?;
        fs::rename(dir.join(pending), dir.join(last))
            .map_err(|e| ReleaseError::Io(dir.join(last), e))?;
        Ok(dir)
    }

    /// Moves the finished release into place (replacing an old one only under `force`).
    pub fn commit(mut self) -> Result<PathBuf, ReleaseError> {
        let io_err = |p: &Path, e| ReleaseError::Io(p.to_path_buf(), e);
        if self.target.exists() {
            if !self.force {
                return Err(ReleaseError::Exists(self.target.clone()));
            }
            // Move the old release aside first so the rename of the new one stays atomic.
            let old = self.stage.with_extension("old");
            fs::rename(&self.target, &old).map_err(|e| io_err(&self.target, e))?;
            fs::rename(&self.stage, &self.target).map_err(|e| io_err(&self.target, e))?;
            let _ = if old.is_dir() {
                fs::remove_dir_all(&old)
            } else {
                fs::remove_file(&old)
            };
        } else {
            fs::rename(&self.stage, &self.target).map_err(|e| io_err(&self.target, e))?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.stage);
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(&dir).map_err(|e| ReleaseError::Io(dir.clone(), e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
    tmp.persist(path)
        .map_err(|e| ReleaseError::Io(path.to_path_buf(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_release_appears_only_on_commit() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("rel");
        {
            let s = StagedDir::new(&target, false).unwrap();
            fs::write(s.path("a.txt"), "x").unwrap();
            assert!(!target.exists());
        } // dropped: staging removed
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
        let s = StagedDir::new(&target, false).unwrap();
        fs::write(s.path("a.txt"), "x").unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "x");
        assert!(matches!(
            StagedDir::new(&target, false),
            Err(ReleaseError::Exists(_))
        ));
        let s = StagedDir::new(&target, true).unwrap();
        fs::write(s.path("b.txt"), "y").unwrap();
        s.commit().unwrap();
        assert!(!target.join("a.txt").exists() && target.join("b.txt").exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
