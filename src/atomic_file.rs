//! Output files written completely or not at all.
//!
//! A command that writes a file (`mailcall detect --output`) must never
//! leave a truncated file that looks complete: a full disk, a bad input line
//! halfway through or a kill would otherwise leave half a CSV under the name
//! the user asked for, and the next step of their pipeline would read it as
//! the whole answer. So the output is written to a temporary file beside the
//! target (same directory, so the rename cannot cross file systems), synced,
//! and renamed into place only when the writer succeeded. On any failure the
//! temporary file is removed and the target is left as it was.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Why an output file could not be put in place.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {action}: {source}", path.display())]
pub struct AtomicWriteError {
    pub path: PathBuf,
    pub action: &'static str,
    #[source]
    pub source: io::Error,
}

/// Writes `target` through `write`, atomically: `write` gets a temporary
/// file in the target's directory; when it returns `Ok`, the file is synced
/// and renamed over `target`. When it fails, `target` is untouched and the
/// temporary file is removed.
pub fn write_with<T, E>(
    target: &Path,
    write: impl FnOnce(&mut File) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<AtomicWriteError>,
{
    let fail = |action: &'static str| {
        move |source: io::Error| AtomicWriteError {
            path: target.to_path_buf(),
            action,
            source,
        }
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if target.is_dir() {
        return Err(AtomicWriteError {
            path: target.to_path_buf(),
            action: "write it",
            source: io::Error::new(io::ErrorKind::IsADirectory, "it is a directory"),
        }
        .into());
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mailcall-").suffix(".partial");
    // A temporary file is private (0600); the output is an ordinary file,
    // so it keeps the mode of the file it replaces, or gets 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(target)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut temp = builder
        .tempfile_in(&dir)
        .map_err(fail("create a temporary file beside it"))?;
    let value = write(temp.as_file_mut())?;
    temp.as_file()
        .sync_all()
        .map_err(fail("write it to disk"))?;
    temp.persist(target)
        .map_err(|e| fail("put it in place")(e.error))?;
    // The rename itself is durable once the directory is synced; a failure
    // here leaves a complete file, so it is not an error worth failing on.
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum TestError {
        Atomic,
        Writer,
    }

    impl From<AtomicWriteError> for TestError {
        fn from(_: AtomicWriteError) -> TestError {
            TestError::Atomic
        }
    }

    #[test]
    fn a_failed_writer_leaves_the_target_as_it_was_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("out.csv");
        std::fs::write(&target, "previous\n").unwrap_or_else(|e| panic!("{e}"));
        let result: Result<(), TestError> = write_with(&target, |file| {
            io::Write::write_all(file, b"half of the new").map_err(|_| TestError::Atomic)?;
            Err(TestError::Writer)
        });
        assert!(matches!(result, Err(TestError::Writer)));
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("previous\n")
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.csv")]);
    }

    #[test]
    fn a_successful_writer_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("out.csv");
        std::fs::write(&target, "previous\n").unwrap_or_else(|e| panic!("{e}"));
        let result: Result<u8, TestError> = write_with(&target, |file| {
            io::Write::write_all(file, b"new\n").map_err(|_| TestError::Writer)?;
            Ok(7)
        });
        assert!(matches!(result, Ok(7)));
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("new\n")
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_output_is_an_ordinary_readable_file_not_a_private_temporary_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("new.csv");
        let written: Result<(), AtomicWriteError> = write_with(&target, |_| Ok(()));
        assert!(written.is_ok());
        let mode = std::fs::metadata(&target)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o644);
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640))
            .unwrap_or_else(|e| panic!("{e}"));
        let rewritten: Result<(), AtomicWriteError> = write_with(&target, |_| Ok(()));
        assert!(rewritten.is_ok());
        let mode = std::fs::metadata(&target)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o640, "a replaced file keeps its mode");
    }

    #[test]
    fn a_directory_target_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let result: Result<(), AtomicWriteError> = write_with(dir.path(), |_| Ok(()));
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("directory"), "{message}");
    }
}
