//! `mailcall check-config`: the example validates; broken files are refused
//! with file, line and key.

use super::common::{mailcall, stderr, stdout};

#[test]
fn the_shipped_example_is_valid() {
    let output = mailcall()
        .args(["check-config", "data/mailcall.example.toml"])
        .env("DISCORD_TOKEN", "a-token")
        .env("SENDGRID_API_KEY", "a-key")
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
            "{}:5:1: teams.design.chanel: unknown setting `chanel`; did you mean `channel`?",
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

/// A file that validates but names a secret that is not there is refused:
/// check-config says which variable or file, never prints a value, and
/// exits 2, so a deployment fails its check instead of its first poll.
#[test]
fn unset_variables_and_missing_secret_files_are_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("mailcall.toml");
    std::fs::write(
        &file,
        "[discord]\nguild_id = \"1\"\ntoken_file = \"no-such-token\"\n\n\
         [teams.marketing]\nchannel = \"c\"\ndiscord_channel_id = \"2\"\ndiscord_role_id = \"3\"\n\
         [teams.design]\nchannel = \"c\"\ndiscord_channel_id = \"2\"\ndiscord_role_id = \"3\"\n\
         [teams.integration]\nchannel = \"c\"\ndiscord_channel_id = \"2\"\ndiscord_role_id = \"3\"\n\
         [teams.development]\nchannel = \"c\"\ndiscord_channel_id = \"2\"\ndiscord_role_id = \"3\"\n\n\
         [[esp]]\nname = \"sg\"\nprovider = \"sendgrid\"\ncredential_env = \"MAILCALL_TEST_UNSET_KEY\"\nschedule = \"0 * * * *\"\n\n\
         [[esp]]\nname = \"pm\"\nprovider = \"postmark\"\ncredential_env = \"MAILCALL_TEST_SET_KEY\"\nschedule = \"0 * * * *\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .arg("check-config")
        .arg(&file)
        .env_remove("MAILCALL_TEST_UNSET_KEY")
        .env("MAILCALL_TEST_SET_KEY", "pm-secret-value")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains("cannot read the Discord token file") && message.contains("no-such-token"),
        "{message}"
    );
    assert!(
        message.contains("ESP account sg: set the environment variable MAILCALL_TEST_UNSET_KEY"),
        "{message}"
    );
    assert!(!message.contains("ESP account pm"), "{message}");
    assert!(!message.contains("pm-secret-value"), "{message}");
    // `run` refuses the same file before it creates anything.
    let run = mailcall()
        .arg("run")
        .arg("--config")
        .arg(&file)
        .env_remove("MAILCALL_TEST_UNSET_KEY")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("cannot read the Discord token file"),
        "{}",
        stderr(&run)
    );
    assert!(
        !dir.path().join("data").exists(),
        "run created the data directory"
    );

    // With the token file in place and the variable set, it passes.
    std::fs::write(dir.path().join("no-such-token"), "tok\n").unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .arg("check-config")
        .arg(&file)
        .env("MAILCALL_TEST_UNSET_KEY", "sg-secret")
        .env("MAILCALL_TEST_SET_KEY", "pm-secret-value")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("2 ESP account(s) with readable keys"),
        "{}",
        stdout(&output)
    );
}

/// A Gmail service-account key file that cannot make a grant (not JSON, a
/// field missing, a private key that is not an RSA key) is refused by
/// check-config and before anything polls (`backfill` here; `run` and
/// `console` read accounts the same way), naming the account, the file and the field,
/// never showing the file's content; the shipped test key passes.
#[test]
fn a_service_account_key_that_cannot_sign_is_refused_before_the_first_poll() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("mailcall.toml");
    std::fs::write(
        &file,
        "[store]\npath = \"db\"\n\n[[esp]]\nname = \"gmail\"\nprovider = \"gmail-postmaster\"\n\
         credential_file = \"key.json\"\nsubject = \"postmaster@example.com\"\nschedule = \"0 * * * *\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let template = include_str!("../fixtures/esp/postmaster/service_account.json.template");
    let good = template.replace("TOKEN_URI", "https://oauth2.googleapis.com/token");
    let mut no_rsa: serde_json::Value = serde_json::from_str(&good).unwrap_or_default();
    no_rsa["private_key"] =
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n".into();
    for (content, problem) in [
        (
            "secret-garbage-0123",
            "the credential is not a service-account key (JSON)",
        ),
        (
            r#"{"client_email":"a@example.com"}"#,
            "the service-account key has no `private_key`",
        ),
        (
            &no_rsa.to_string(),
            "the service-account key's private_key is not an RSA key in PEM",
        ),
    ] {
        std::fs::write(dir.path().join("key.json"), content).unwrap_or_else(|e| panic!("{e}"));
        let output = mailcall()
            .arg("check-config")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
        let message = stderr(&output);
        assert!(
            message.contains("ESP account gmail: the key file")
                && message.contains("key.json: ")
                && message.contains(problem),
            "{message}"
        );
        for secret in ["secret-garbage-0123", "c2VjcmV0LWJ5dGVz"] {
            assert!(!message.contains(secret), "{message}");
        }
        let backfill = mailcall()
            .args(["backfill", "--days", "1", "--config"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!backfill.status.success());
        assert!(stderr(&backfill).contains(problem), "{}", stderr(&backfill));
        assert!(!dir.path().join("db").exists(), "nothing polled or stored");
    }
    std::fs::write(dir.path().join("key.json"), good).unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `[alerts] runbook_dir` is read relative to the configuration file, not
/// to wherever mailcall was started, and the start says which runbooks are
/// in use; alerts then quote the edited copy.
#[test]
fn edited_runbooks_come_from_the_configured_directory_whatever_the_working_directory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let books = dir.path().join("books");
    std::fs::create_dir(&books).unwrap_or_else(|e| panic!("{e}"));
    for kind in ["hard-limit", "baseline"] {
        std::fs::write(
            books.join(format!("{kind}.md")),
            "# Ours\n\n## Check first\n1. Ask Ana in #deliverability.\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let file = dir.path().join("mailcall.toml");
    std::fs::write(
        &file,
        "[store]\npath = \"db\"\n\n[alerts]\nrunbook_dir = \"books\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let checked = mailcall()
        .arg("check-config")
        .arg(&file)
        .current_dir("/")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(
        stdout(&checked).contains(&format!(
            "runbooks: hard-limit, baseline from {}; built-in: volume-drop",
            books.display()
        )),
        "{}",
        stdout(&checked)
    );

    let mut child = mailcall()
        .args(["console", "--as", "tester", "--config"])
        .arg(&file)
        .current_dir("/")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"/route test kind:bounce stream:account\n/quit\n");
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        stdout(&output).contains(&format!("{}/", books.display())),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn a_runbook_directory_that_does_not_exist_is_named_at_its_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("mailcall.toml");
    std::fs::write(&file, "[alerts]\nrunbook_dir = \"nowhere\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let output = mailcall()
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!(
            "{}:2:15: alerts.runbook_dir: cannot read the runbook directory {}: it does not exist",
            file.display(),
            dir.path().join("nowhere").display()
        )),
        "{}",
        stderr(&output)
    );
}
