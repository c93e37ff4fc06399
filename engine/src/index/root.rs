//! The index root: the directory that holds version directories, `current`
//! naming the served one, and `.staging-*` directories of builds in flight.
//! [`IndexRoot`] is the one place that knows those names, for the build, the
//! reader, the server's reload and watch, and the CLI.

use super::IndexError;
use super::format::{CURRENT, MANIFEST};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Staging directories are named `.staging-<version>`.
pub const STAGING_PREFIX: &str = ".staging-";

/// A staging directory untouched this long belongs to a build that died.
///
/// By age rather than by the builder's pid: a root shared between
/// containers or hosts holds builds whose pids this process cannot see.
/// A live build creates its staging directory only after the graph is built
/// and writes every file within seconds to minutes of it, so an hour is a
/// wide margin.
pub const STALE_STAGING_AGE: Duration = Duration::from_secs(3600);

/// Why a version name could not be turned into a directory to serve.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{0:?} is not a version name (a directory name under the index root, without '/' or '..')")]
    BadName(String),
    #[error("no index version {name:?} under {root}")]
    NotFound { name: String, root: PathBuf },
    #[error("{name:?} leads to {target}, outside the index root {root} (a symlink?)")]
    OutsideRoot {
        name: String,
        target: PathBuf,
        root: PathBuf,
    },
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// An index root directory and the rules for what lies in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRoot {
    dir: PathBuf,
}

impl IndexRoot {
    /// The root at `dir` (it need not exist yet: a first build creates it).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The root a path belongs to: its parent when it is a version directory,
    /// else the path itself (what a server given either one reloads from).
    pub fn containing(path: &Path) -> Self {
        match path.parent() {
            Some(parent) if is_version_dir(path) => Self::new(parent),
            _ => Self::new(path),
        }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A name a version may have: one path component, not hidden (staging
    /// and temporary files start with '.'), of ASCII letters, digits, `-_.`.
    pub fn is_version_name(name: &str) -> bool {
        !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    }

    /// The version `current` names, `None` when there is no `current` yet.
    pub fn current(&self) -> Result<Option<String>, IndexError> {
        let path = self.dir.join(CURRENT);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let name = text.trim();
                if Self::is_version_name(name) {
                    Ok(Some(name.to_string()))
                } else {
                    Err(IndexError::Corrupt {
                        path,
                        reason: format!("{name:?} is not a version name"),
                    })
                }
            }
            // No `current` (or the root is a file): not an index root.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(IndexError::Io { path, source: e }),
        }
    }

    /// Points `current` at a version, atomically (temporary file, fsync, rename, fsync).
    pub fn set_current(&self, version: &str) -> Result<(), IndexError> {
        if !Self::is_version_name(version) {
            return Err(IndexError::Build(format!("{version:?} is not a version name")));
        }
        let tmp = self.dir.join(format!(".{CURRENT}.tmp"));
        write_synced(&tmp, format!("{version}\n").as_bytes())?;
        let cur = self.dir.join(CURRENT);
        std::fs::rename(&tmp, &cur).map_err(|e| IndexError::Io { path: cur, source: e })?;
        sync_dir(&self.dir)
    }

    /// The directory of the version `current` names.
    pub fn current_dir(&self) -> Result<PathBuf, IndexError> {
        match self.current()? {
            Some(name) => {
                let dir = self.dir.join(name);
                if is_version_dir(&dir) {
                    Ok(dir)
                } else {
                    Err(IndexError::NotAnIndex { path: dir })
                }
            }
            None if self.dir.exists() => Err(IndexError::NotAnIndex {
                path: self.dir.clone(),
            }),
            None => Err(IndexError::Io {
                path: self.dir.clone(),
                source: std::io::ErrorKind::NotFound.into(),
            }),
        }
    }

    /// The committed versions (directories with a manifest), oldest name first.
    pub fn versions(&self) -> Result<Vec<String>, IndexError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| IndexError::Io {
            path: self.dir.clone(),
            source: e,
        })?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| Self::is_version_name(n) && is_version_dir(&self.dir.join(n)))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The real directory of a version (`None`: what `current` names), refused
    /// when the name is malformed, missing, or leads outside the root (a
    /// symlink): otherwise a reload could serve any directory on the host.
    pub fn locate(&self, version: Option<&str>) -> Result<PathBuf, LocateError> {
        let (name, dir) = match version.filter(|v| !v.is_empty()) {
            None => (CURRENT, self.current_dir()?),
            Some(name) => {
                if !Self::is_version_name(name) {
                    return Err(LocateError::BadName(name.to_string()));
                }
                let dir = self.dir.join(name);
                if !dir.is_dir() {
                    return Err(LocateError::NotFound {
                        name: name.to_string(),
                        root: self.dir.clone(),
                    });
                }
                (name, dir)
            }
        };
        let real = |p: &Path| {
            std::fs::canonicalize(p).map_err(|e| IndexError::Io {
                path: p.to_path_buf(),
                source: e,
            })
        };
        let (real_root, real_dir) = (real(&self.dir)?, real(&dir)?);
        if real_dir == real_root || !real_dir.starts_with(&real_root) {
            return Err(LocateError::OutsideRoot {
                name: name.to_string(),
                target: real_dir,
                root: real_root,
            });
        }
        Ok(real_dir)
    }

    /// A fresh version name (`v<unix seconds>`, suffixed when taken) and its
    /// empty staging directory; stale staging directories are removed first.
    pub(crate) fn create_staging(&self, created_unix: u64) -> Result<(String, PathBuf), IndexError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| IndexError::Io {
            path: self.dir.clone(),
            source: e,
        })?;
        self.remove_stale_staging();
        let base = format!("v{created_unix}");
        let taken = |v: &str| self.dir.join(v).exists() || self.staging_dir(v).exists();
        let version = std::iter::once(base.clone())
            .chain((1..).map(|i| format!("{base}-{i}")))
            .find(|v| !taken(v))
            .unwrap_or(base);
        let staging = self.staging_dir(&version);
        std::fs::create_dir(&staging).map_err(|e| IndexError::Io {
            path: staging.clone(),
            source: e,
        })?;
        Ok((version, staging))
    }

    /// Where the version `version` is staged before its commit.
    pub(crate) fn staging_dir(&self, version: &str) -> PathBuf {
        self.dir.join(format!("{STAGING_PREFIX}{version}"))
    }

    /// Makes a complete staging directory's files read-only, renames it into place as
    /// `version` and points `current` at it.
    pub(crate) fn publish(&self, staging: &Path, version: &str) -> Result<PathBuf, IndexError> {
        seal(staging)?;
        let final_dir = self.dir.join(version);
        std::fs::rename(staging, &final_dir).map_err(|e| IndexError::Io {
            path: final_dir.clone(),
            source: e,
        })?;
        sync_dir(&self.dir)?;
        self.set_current(version)?;
        Ok(final_dir)
    }

    /// `.staging-*` directories whose newest modification (of the directory or
    /// any file in it) is older than [`STALE_STAGING_AGE`].
    pub fn stale_staging_dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let mut stale: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .filter(|dir| {
                newest_mtime(dir)
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > STALE_STAGING_AGE)
            })
            .collect();
        stale.sort();
        stale
    }

    /// Removes what builds killed mid-way left behind.
    fn remove_stale_staging(&self) {
        for dir in self.stale_staging_dirs() {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), "removed a stale staging directory left by a dead build")
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a stale staging directory")
                }
            }
        }
    }
}

/// A version directory has a manifest; an index root has `current` naming one.
pub fn resolve_version_dir(path: &Path) -> Result<PathBuf, IndexError> {
    if is_version_dir(path) {
        Ok(path.to_path_buf())
    } else {
        IndexRoot::new(path).current_dir()
    }
}

fn is_version_dir(path: &Path) -> bool {
    path.join(MANIFEST).is_file()
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let own = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    let files = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok());
    files.chain(std::iter::once(own)).max()
}

/// Clears the write bits of every file in a staged version (0444 under the usual umask;
/// the directory keeps its mode, so the version can still be removed whole). A served
/// version is never modified in place: its files are mapped, and a reader of a mapped file
/// truncated under it dies of SIGBUS (as with LMDB or Qdrant); a change is a new version.
fn seal(staging: &Path) -> Result<(), IndexError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| IndexError::Io { path, source: e }
    };
    for entry in std::fs::read_dir(staging).map_err(io(staging))? {
        let path = entry.map_err(io(staging))?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        if !meta.is_file() {
            continue;
        }
        let mut mode = meta.permissions();
        mode.set_readonly(true);
        std::fs::set_permissions(&path, mode).map_err(io(&path))?;
        // The new mode is metadata of the file: fsync it like the bytes.
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io(&path))?;
    }
    Ok(())
}

/// Writes a small file and fsyncs it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    use std::io::Write;
    let io = |e| IndexError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Fsyncs a directory, so renames in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IndexError::Io {
            path: dir.to_path_buf(),
            source: e,
        })
}
