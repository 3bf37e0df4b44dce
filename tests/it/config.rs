//! `mailcall check-config`: the example validates; broken files are refused
//! with file, line and key.

use super::common::{mailcall, stderr, stdout};

#[test]
fn the_shipped_example_is_valid() {
    let output = mailcall()
        .args(["check-config", "data/mailcall.example.toml"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("OK"), "{}", stdout(&output));
}

#[test]
fn a_broken_line_is_named_by_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("mailcall.toml");
    std::fs::write(
        &file,
        "[store]\npath = \"data/x.db\"\n\n[teams.design]\nchanel = \"creative\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "{}:5:1: teams.design.chanel: unknown field `chanel`",
            file.display()
        )),
        "{message}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let output = mailcall()
        .args(["check-config", "/nonexistent/mailcall.toml"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/mailcall.toml: cannot read the file"),
        "{}",
        stderr(&output)
    );
}
