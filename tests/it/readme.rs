//! The README is part of the product: its first two commands are the ones a
//! new user runs, CI runs its test command, and its command reference is the
//! manifests' own.

use mailcall::command::Manifests;

fn readme() -> String {
    std::fs::read_to_string("README.md").unwrap_or_else(|e| panic!("README.md: {e}"))
}

/// The commands in the README's shell code blocks, in order.
fn shell_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_block = !in_block && (line == "```sh" || line == "```bash");
            continue;
        }
        if in_block && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            commands.push(line.trim().to_string());
        }
    }
    commands
}

#[test]
fn the_first_two_commands_run_the_demo_and_the_tests() {
    let commands = shell_commands(&readme());
    assert_eq!(
        commands.first().map(String::as_str),
        Some("cargo run --release -- demo")
    );
    assert_eq!(commands.get(1).map(String::as_str), Some("cargo test"));
}

#[test]
fn ci_runs_exactly_the_readmes_test_command() {
    let commands = shell_commands(&readme());
    let test_command = commands.get(1).cloned().unwrap_or_default();
    let ci = std::fs::read_to_string(".ci/run").unwrap_or_else(|e| panic!(".ci/run: {e}"));
    let last = ci
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or_default();
    assert_eq!(
        last.trim(),
        test_command,
        ".ci/run must end by running the README's test command"
    );
}

#[test]
fn the_command_reference_is_the_manifests() {
    let text = readme();
    let start = text
        .find("<!-- commands:start -->\n")
        .map(|i| i + "<!-- commands:start -->\n".len());
    let end = text.find("<!-- commands:end -->");
    let (Some(start), Some(end)) = (start, end) else {
        panic!("README.md lacks the <!-- commands:start/end --> markers");
    };
    let expected = Manifests::embedded().reference_markdown();
    if text[start..end] != expected {
        let _ = std::fs::write("target/README.commands.md", &expected);
        panic!("README's command reference is out of step with commands/; the expected text is in target/README.commands.md");
    }
}
