//! Building a CA directory beside its final place and moving it there at once.
//!
//! A [`Staging`] directory is made next to the target (`.NAME.setup-XXXXXX`),
//! so that the final rename stays on one file system. Until it is published,
//! dropping it removes it, with the parent directories it had to create. A
//! published directory can still be rolled back, until [`Published::finish`].

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::fsutil::{parent_directory, sync_directory};
use crate::{Error, Result};

/// The contents of the target path before set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Existing {
    /// Nothing: the staging directory is renamed to the target.
    Nothing,
    /// A directory without a CA in it (empty, or the operator's own files,
    /// such as the key of an intermediate CA). Its entries are kept: after
    /// the new CA is in place they are moved into it, except those the new
    /// CA has too.
    Leftovers,
    /// A CA that is being replaced: it is moved aside, and kept as
    /// `NAME.replaced-TIMESTAMP` once the new CA is in place, because its
    /// issued certificates, index and audit log are the record of what it
    /// signed.
    OldCa,
}

/// A directory in which a CA is built.
pub(super) struct Staging {
    /// `None` once dropped.
    directory: Option<TempDir>,
    target: PathBuf,
    /// Parent directories of the target that set-up created, deepest first.
    created_parents: Vec<PathBuf>,
}

impl Staging {
    /// Makes a staging directory next to `target`, creating the target's
    /// missing parent directories.
    pub(super) fn new(target: &Path) -> Result<Self> {
        let parent = parent_directory(target).to_path_buf();
        let created_parents = missing_ancestors(&parent);
        if !created_parents.is_empty() {
            crate::fsutil::create_directory(&parent)?;
        }

        let name = target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let directory = tempfile::Builder::new()
            .prefix(&format!(".{name}.setup-"))
            .tempdir_in(&parent)
            .map_err(|e| Error::io("create a staging directory in", &parent, e))?;
        Ok(Staging {
            directory: Some(directory),
            target: target.to_path_buf(),
            created_parents,
        })
    }

    /// The staging directory.
    pub(super) fn path(&self) -> &Path {
        self.directory
            .as_ref()
            .map_or(self.target.as_path(), TempDir::path)
    }

    /// Moves the staged CA to the target; what was there is moved aside first.
    pub(super) fn publish(mut self, existing: Existing) -> Result<Published> {
        let staged = self.path().to_path_buf();
        sync_directory(&staged)?;
        let parent = parent_directory(&self.target).to_path_buf();

        let aside = match existing {
            Existing::Nothing => None,
            Existing::Leftovers | Existing::OldCa => {
                let aside = aside_path(&self.target)?;
                fs::rename(&self.target, &aside)
                    .map_err(|e| Error::io("move aside", &self.target, e))?;
                Some(aside)
            }
        };
        if let Err(e) = fs::rename(&staged, &self.target) {
            if let Some(aside) = &aside {
                restore(aside, &self.target);
            }
            return Err(Error::io("move the new CA directory to", &self.target, e));
        }
        // The staging path is now the target's: TempDir must not remove it.
        if let Some(directory) = &mut self.directory {
            directory.disable_cleanup(true);
        }
        self.created_parents.clear();

        let published = Published {
            target: self.target.clone(),
            aside,
            existing,
        };
        if let Err(e) = sync_directory(&parent) {
            published.roll_back();
            return Err(e);
        }
        Ok(published)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // The staging directory first (TempDir removes it unless it was
        // published), then the parents that held it.
        drop(self.directory.take());
        for parent in &self.created_parents {
            let _ = fs::remove_dir(parent);
        }
    }
}

/// A CA directory in place, with what was there before still aside.
#[must_use = "a published CA must be finished or rolled back"]
pub(super) struct Published {
    target: PathBuf,
    aside: Option<PathBuf>,
    existing: Existing,
}

impl Published {
    /// Removes the new CA directory and puts back what was there before.
    pub(super) fn roll_back(self) {
        if let Err(e) = fs::remove_dir_all(&self.target) {
            tracing::error!(directory = %self.target.display(), error = %e, "could not remove a CA directory while rolling back its set-up");
            return;
        }
        if let Some(aside) = &self.aside {
            restore(aside, &self.target);
        }
    }

    /// Moves the operator's leftover files into the new CA directory and
    /// removes what was moved aside.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when an old file cannot be moved back or removed; the new
    /// CA is in place then, and the old files stay in the aside directory.
    pub(super) fn finish(self) -> Result<()> {
        let Some(aside) = &self.aside else {
            return Ok(());
        };

        if self.existing == Existing::OldCa {
            let archive = crate::fsutil::replaced_path(&self.target);
            fs::rename(aside, &archive)
                .map_err(|e| Error::io("keep the replaced CA as", &archive, e))?;
            tracing::warn!(
                directory = %archive.display(),
                "the replaced CA's files are kept; remove them when no longer needed"
            );
            return sync_directory(parent_directory(&self.target));
        }

        let mut kept = Vec::new();
        if self.existing == Existing::Leftovers {
            kept = move_leftovers_back(aside, &self.target)?;
        }
        if kept.is_empty() {
            fs::remove_dir_all(aside).map_err(|e| Error::io("remove", aside, e))?;
        } else {
            tracing::warn!(
                directory = %aside.display(),
                files = ?kept,
                "files the new CA also has were kept in the directory moved aside"
            );
        }
        sync_directory(parent_directory(&self.target))
    }
}

/// Moves each entry of `aside` into `target` unless `target` has one of that
/// name, and drops the files the new CA has with the same content; returns
/// the names left behind, whose content differs from the new one.
fn move_leftovers_back(aside: &Path, target: &Path) -> Result<Vec<String>> {
    let mut kept = Vec::new();
    let entries = fs::read_dir(aside).map_err(|e| Error::io("list", aside, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", aside, e))?;
        let old = entry.path();
        let new = target.join(entry.file_name());
        if !new.exists() {
            fs::rename(&old, &new).map_err(|e| Error::io("move back", &old, e))?;
            continue;
        }
        let same = matches!((fs::read(&old), fs::read(&new)), (Ok(a), Ok(b)) if a == b);
        if same {
            fs::remove_file(&old).map_err(|e| Error::io("remove", &old, e))?;
        } else {
            kept.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    sync_directory(target)?;
    Ok(kept)
}

fn restore(aside: &Path, target: &Path) {
    if let Err(e) = fs::rename(aside, target) {
        tracing::error!(
            aside = %aside.display(),
            target = %target.display(),
            error = %e,
            "could not move the old CA directory back; move it back by hand"
        );
    }
}

/// A free name next to `target` for what is moved aside.
fn aside_path(target: &Path) -> Result<PathBuf> {
    let parent = parent_directory(target);
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A TempDir reserves a unique name; it is removed at once, and the rename
    // that follows takes the name.
    let reserved = tempfile::Builder::new()
        .prefix(&format!(".{name}.old-"))
        .tempdir_in(parent)
        .map_err(|e| Error::io("reserve a name in", parent, e))?;
    let path = reserved.path().to_path_buf();
    reserved
        .close()
        .map_err(|e| Error::io("remove", &path, e))?;
    Ok(path)
}

/// `directory` and its ancestors that do not exist yet, deepest first.
fn missing_ancestors(directory: &Path) -> Vec<PathBuf> {
    directory
        .ancestors()
        .take_while(|ancestor| !ancestor.as_os_str().is_empty() && !ancestor.exists())
        .map(Path::to_path_buf)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(directory)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn dropped_staging_leaves_nothing_not_even_parents() {
        let instance = tempfile::tempdir().expect("temporary directory");
        let staging = Staging::new(&instance.path().join("a/b/flca")).expect("staging");
        fs::write(staging.path().join("FLCA.cer"), "certificate").expect("write");

        drop(staging);

        assert!(names(instance.path()).is_empty());
    }

    #[test]
    fn published_staging_is_the_target() {
        let instance = tempfile::tempdir().expect("temporary directory");
        let target = instance.path().join("flca");
        let staging = Staging::new(&target).expect("staging");
        fs::write(staging.path().join("FLCA.cer"), "certificate").expect("write");

        staging
            .publish(Existing::Nothing)
            .expect("publish")
            .finish()
            .expect("finish");

        assert_eq!(names(instance.path()), ["flca"]);
        assert_eq!(names(&target), ["FLCA.cer"]);
    }

    #[test]
    fn leftovers_move_back_and_different_ones_stay_aside() {
        let instance = tempfile::tempdir().expect("temporary directory");
        let target = instance.path().join("flca");
        fs::create_dir(&target).expect("create");
        fs::write(target.join("notes.txt"), "mine").expect("write");
        fs::write(target.join("same.key"), "key").expect("write");
        fs::write(target.join("FLCA.cer"), "old").expect("write");
        let staging = Staging::new(&target).expect("staging");
        fs::write(staging.path().join("same.key"), "key").expect("write");
        fs::write(staging.path().join("FLCA.cer"), "new").expect("write");

        staging
            .publish(Existing::Leftovers)
            .expect("publish")
            .finish()
            .expect("finish");

        assert_eq!(names(&target), ["FLCA.cer", "notes.txt", "same.key"]);
        assert_eq!(
            fs::read_to_string(target.join("FLCA.cer")).expect("read"),
            "new"
        );
        let all = names(instance.path());
        assert_eq!(all.len(), 2, "{all:?}");
        let aside = instance.path().join(&all[0]);
        assert!(all[0].starts_with(".flca.old-"), "{all:?}");
        assert_eq!(names(&aside), ["FLCA.cer"]);
    }

    #[test]
    fn roll_back_puts_the_old_ca_back() {
        let instance = tempfile::tempdir().expect("temporary directory");
        let target = instance.path().join("flca");
        fs::create_dir(&target).expect("create");
        fs::write(target.join("FLCA.cer"), "old").expect("write");
        let staging = Staging::new(&target).expect("staging");
        fs::write(staging.path().join("FLCA.cer"), "new").expect("write");

        staging
            .publish(Existing::OldCa)
            .expect("publish")
            .roll_back();

        assert_eq!(names(instance.path()), ["flca"]);
        assert_eq!(
            fs::read_to_string(target.join("FLCA.cer")).expect("read"),
            "old"
        );
    }

    #[test]
    fn finish_keeps_the_replaced_ca() {
        let instance = tempfile::tempdir().expect("temporary directory");
        let target = instance.path().join("flca");
        fs::create_dir(&target).expect("create");
        fs::write(target.join("index.txt"), "old index").expect("write");
        let staging = Staging::new(&target).expect("staging");
        fs::write(staging.path().join("FLCA.cer"), "new").expect("write");

        staging
            .publish(Existing::OldCa)
            .expect("publish")
            .finish()
            .expect("finish");

        let all = names(instance.path());
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0], "flca");
        assert!(all[1].starts_with("flca.replaced-"), "{all:?}");
        let archive = instance.path().join(&all[1]);
        assert_eq!(
            fs::read_to_string(archive.join("index.txt")).expect("read"),
            "old index"
        );
    }
}
