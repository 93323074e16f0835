//! Atomic output: a release is staged in a hidden sibling directory and renamed into place
//! only when every file is complete, so an interrupted run never leaves a release behind.
//!
//! A run killed outright (kill -9, power loss) cannot clean its staging area. Each staging
//! area therefore holds an exclusively locked `.lock` file for as long as its run lives;
//! the operating system drops the lock when the process dies, so the next run into the
//! same parent directory removes every sibling staging area of the same target whose lock
//! it can take. A live run's area is never touched.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::ReleaseError;

/// A release directory being written. Dropped without `commit`, it removes its staging area.
pub struct StagedDir {
    stage: PathBuf,
    /// Held (locked) for the life of the run; see the module comment.
    _lock: fs::File,
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
        let prefix = format!(".{name}.dpsynth-staging-");
        sweep_abandoned(&parent, &prefix);
        let stage = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&parent)
            .map_err(|e| ReleaseError::Io(parent.clone(), e))?
            .keep();
        let lock = fs::File::create(stage.join(LOCK))
            .and_then(|f| f.try_lock().map_err(io::Error::from).map(|()| f))
            .map_err(|e| {
                let _ = fs::remove_dir_all(&stage);
                ReleaseError::Io(stage.clone(), e)
            })?;
        Ok(StagedDir {
            stage,
            _lock: lock,
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
        // The lock file is staging bookkeeping, not part of the release.
        fs::remove_file(self.stage.join(LOCK)).map_err(|e| io_err(&self.stage, e))?;
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

/// Name of the lock file inside a staging area.
const LOCK: &str = ".lock";

/// Removes staging areas named `prefix*` in `parent` whose run has died: their lock file
/// can be locked by us (or is missing, as when a run died before taking it). Best effort:
/// anything that cannot be inspected or removed is left alone.
fn sweep_abandoned(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(prefix) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        let abandoned = match fs::File::open(dir.join(LOCK)) {
            Ok(f) => f.try_lock().is_ok(),
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        };
        if abandoned {
            let _ = fs::remove_dir_all(&dir);
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

    /// An area whose run died (no lock held) is swept by the next run; a live run's is not.
    #[test]
    fn abandoned_staging_is_swept_live_staging_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("rel");
        let dead = root.path().join(".rel.dpsynth-staging-dead");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join(LOCK), "").unwrap();
        fs::write(dead.join("synthetic.csv"), "half").unwrap();
        let other = root.path().join(".other.dpsynth-staging-dead");
        fs::create_dir(&other).unwrap();
        let live = StagedDir::new(&target, false).unwrap();
        assert!(!dead.exists(), "abandoned staging area left behind");
        assert!(other.exists(), "another target's staging area was touched");
        let second = StagedDir::new(&target, false).unwrap();
        assert!(live.stage.exists() && second.stage.exists());
        second.commit().unwrap();
        assert!(
            !target.join(LOCK).exists(),
            "lock file shipped in the release"
        );
        drop(live);
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 2);
    }
}
