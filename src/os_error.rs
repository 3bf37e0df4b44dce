//! Operating-system errors as the end of a sentence.
//!
//! std's text for an I/O error is `No such file or directory (os error 2)`;
//! wrapped once by a caller and once by a library it reads as the same
//! cause twice, and the number means nothing to an operator. Every message
//! that names a file says what was done to which path, then [`reason`].

use std::io;

/// Why an I/O operation failed, in lower-case words without the OS code.
pub fn reason(error: &io::Error) -> String {
    use io::ErrorKind::*;
    let plain = match error.kind() {
        NotFound => "it does not exist",
        PermissionDenied => "permission denied",
        AlreadyExists => "it already exists",
        IsADirectory => "it is a directory",
        NotADirectory => "a part of the path is not a directory",
        StorageFull => "the disk is full",
        ReadOnlyFilesystem => "the file system is read-only",
        QuotaExceeded => "the disk quota is exceeded",
        DirectoryNotEmpty => "the directory is not empty",
        InvalidData => "it is not valid text",
        UnexpectedEof => "it ended early",
        _ => "",
    };
    if !plain.is_empty() {
        return plain.to_owned();
    }
    let text = error.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "an unknown error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_words_without_the_os_code() {
        let missing = io::Error::from_raw_os_error(2);
        assert_eq!(reason(&missing), "it does not exist");
        let full = io::Error::from_raw_os_error(28);
        assert_eq!(reason(&full), "the disk is full");
        let busy = io::Error::from_raw_os_error(16);
        assert_eq!(reason(&busy), "device or resource busy");
    }
}
