//! Secrets: no credential reaches a log line or an error message, in any
//! form it takes on the wire, even when a server echoes it back and the log
//! level is `trace` (serenity's, reqwest's and hyper's own logging on).
//!
//! Every ESP provider is polled (through `mailcall backfill`) against
//! servers that echo each request's headers, raw and URL-encoded, in an
//! error answer and in an unreadable success answer; Discord (through
//! `mailcall run` and the fake Discord) answers 401 with the `Bot …`
//! header echoed, for a token read from a file and from the environment.
//! Each test also checks the echo reached the output as `[redacted]`, so it
//! would fail if the secret were leaked rather than never seen.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use base64::Engine as _;
use tokio::net::TcpListener;

use super::chaos::{discord_section, open};
use super::common::mailcall;
use super::discord::WAIT;
use super::fake_discord::FakeDiscord;

/// Every form a credential can take in text: raw, Basic (`api:KEY` in
/// base64, padded or not), base64 alone, URL-encoded.
fn forms_of(secret: &str) -> Vec<String> {
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let b64_bare = |text: &str| base64::engine::general_purpose::STANDARD_NO_PAD.encode(text);
    vec![
        secret.to_owned(),
        b64(&format!("api:{secret}")),
        b64_bare(&format!("api:{secret}")),
        b64(secret),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        // A prefix long enough to identify the key.
        secret.chars().take(12).collect(),
    ]
}

fn assert_no_form_of(secret: &str, output: &str) {
    for form in forms_of(secret) {
        assert!(
            !output.contains(&form),
            "`{form}` (a form of a secret) is in the output:\n{output}"
        );
    }
}

/// How an echo server answers.
#[derive(Clone, Copy)]
enum Echo {
    /// 400 with the request in the provider-style error message.
    Rejects,
    /// 200 with a body that is not the expected JSON, holding the request.
    Garbles,
}

/// A server on 127.0.0.1 that answers every request with its method, URL,
/// headers and body, each header value also URL-encoded, as a careless
/// proxy or debugging endpoint does.
async fn echo_server(echo: Echo) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let app = Router::new().fallback(
        move |uri: Uri, headers: HeaderMap, body: Bytes| async move {
            // Provider messages are cut to 200 characters: what carries a
            // secret comes first (a body with a key or a signed grant, then
            // the headers that carry secrets), the query and other bodies
            // last.
            let body = String::from_utf8_lossy(&body).into_owned();
            let secret_body = body.contains("\"key\"") || body.contains("assertion=");
            let mut seen = format!("GET {}", uri.path());
            if secret_body {
                seen.push_str(&format!(" body={body}"));
            }
            let mut headers: Vec<_> = headers.iter().collect();
            headers.sort_by_key(|(name, _)| {
                let name = name.as_str();
                ["token", "key", "authorization"]
                    .iter()
                    .position(|word| name.contains(word))
                    .unwrap_or(3)
            });
            for (name, value) in headers {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
                seen.push_str(&format!(" {name}={value} ({name}~{encoded})"));
            }
            if let Some(query) = uri.query() {
                seen.push_str(&format!(" query={query}"));
            }
            if !secret_body {
                seen.push_str(&format!(" body={body}"));
            }
            match echo {
                Echo::Rejects => {
                    let body = serde_json::json!({
                        "message": seen,
                        "Message": seen,
                        "ErrorCode": 10,
                        "errors": [{ "message": seen }],
                    });
                    (StatusCode::BAD_REQUEST, body.to_string())
                }
                Echo::Garbles => (StatusCode::OK, format!("<html>{seen}</html>")),
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// The SES account's session token (temporary credentials).
const SES_SESSION_TOKEN: &str = "FwoGZXIvYXdzEBYaDHsessiontoken0123456789";

/// One account per provider on each echo server; the keys in files.
fn esp_config(dir: &Path, servers: &[(Echo, SocketAddr)]) -> (std::path::PathBuf, Vec<String>) {
    let mut text = "[store]\npath = \"db\"\n\n".to_owned();
    let mut keys = Vec::new();
    for (n, (echo, address)) in servers.iter().enumerate() {
        let label = match echo {
            Echo::Rejects => "rejects",
            Echo::Garbles => "garbles",
        };
        for provider in [
            "sendgrid",
            "mailgun",
            "mailgun-legacy",
            "postmark",
            "sparkpost",
            "ses",
            "mandrill",
            "brevo",
            "mailchimp",
        ] {
            let key = format!("Zq{n}/{provider}+Secret=Value-8a9b0c1d2e3f");
            let file = format!("{provider}-{label}.key");
            std::fs::write(dir.join(&file), &key).unwrap_or_else(|e| panic!("{e}"));
            text.push_str(&format!(
                "[[esp]]\nname = \"{provider}-{label}\"\nprovider = \"{provider}\"\n\
                 base_url = \"http://{address}\"\ncredential_file = \"{file}\"\n\
                 schedule = \"0 * * * *\"\ntimeout_seconds = 2\n{}\n",
                match provider {
                    "mailgun" | "mailgun-legacy" => "domain = \"mg.example.com\"\n",
                    // The secret half in the file, the key ID in the
                    // configuration, a session token from the environment.
                    "ses" => "region = \"eu-west-1\"\nkey_id = \"AKIDEXAMPLE-echo\"\nsession_token_env = \"MAILCALL_TEST_SES_TOKEN\"\n",
                    _ => "",
                }
            ));
            keys.push(key);
        }
        // Gmail: a service-account key file whose token URL is the echo
        // server; the grant it signs (a bearer credential for an hour) is
        // echoed back. The private key never leaves; a line of it is
        // checked all the same.
        let file = format!("postmaster-{label}.json");
        std::fs::write(
            dir.join(&file),
            include_str!("../fixtures/esp/postmaster/service_account.json.template")
                .replace("TOKEN_URI", &format!("http://{address}/token")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        text.push_str(&format!(
            "[[esp]]\nname = \"gmail-postmaster-{label}\"\nprovider = \"gmail-postmaster\"\n\
             base_url = \"http://{address}\"\ncredential_file = \"{file}\"\n\
             subject = \"postmaster@example.com\"\nschedule = \"0 * * * *\"\ntimeout_seconds = 2\n\n"
        ));
    }
    keys.push(
        include_str!("../fixtures/esp/postmaster/test_service_account_key.pem")
            .lines()
            .nth(5)
            .unwrap_or_default()
            .to_owned(),
    );
    let path = dir.join("mailcall.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    (path, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_esp_key_reaches_the_output_when_every_provider_echoes_it_at_trace_level() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let servers = [
        (Echo::Rejects, echo_server(Echo::Rejects).await),
        (Echo::Garbles, echo_server(Echo::Garbles).await),
    ];
    let (config, mut keys) = esp_config(dir.path(), &servers);
    keys.push(SES_SESSION_TOKEN.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        mailcall()
            .args(["backfill", "--days", "1", "--config"])
            .arg(&config)
            .env("RUST_LOG", "trace")
            .env("MAILCALL_TEST_SES_TOKEN", SES_SESSION_TOKEN)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "every account failed:\n{text}");
    for key in &keys {
        assert_no_form_of(key, &text);
    }
    // The echoes did reach the output, redacted: Basic, Bearer, Postmark's
    // token header and SparkPost's bare key all appear as the mark.
    // Mandrill's key in the echoed body, Brevo's `api-key` header and SES's
    // session token too.
    for account in [
        "sendgrid-rejects",
        "mailgun-rejects",
        "postmark-rejects",
        "mandrill-rejects",
        "brevo-rejects",
        "ses-rejects",
        "mailchimp-rejects",
        "gmail-postmaster-rejects",
    ] {
        assert!(
            text.lines()
                .any(|line| line.contains(account) && line.contains("[redacted]")),
            "{account}'s echoed key should appear redacted:\n{text}"
        );
    }
    assert!(text.contains("authorization=Basic [redacted]"), "{text}");
}

/// A `[discord]` configuration against `fake`, the token read as
/// `token_line` says.
fn discord_config(dir: &Path, fake: &FakeDiscord, token_line: &str) -> std::path::PathBuf {
    let path = dir.join("mailcall.toml");
    std::fs::write(&path, discord_section(fake, token_line)).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Runs `mailcall run` at `trace` until it exits or `within` passes (then
/// SIGTERM), and returns everything it wrote.
async fn run_logged(config: &Path, env_token: Option<&str>, within: Duration) -> String {
    let log = config.with_file_name("stderr.log");
    let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let mut command = mailcall();
    command
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "trace")
        .env_remove("DISCORD_TOKEN")
        .stdout(Stdio::null())
        .stderr(file);
    if let Some(token) = env_token {
        command.env("MAILCALL_SECRET_TEST_TOKEN", token);
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Ok(None) = child.try_wait() {
        let _ = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status();
        let stop = Instant::now() + WAIT;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < stop {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
    }
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_token_from_the_environment_is_never_logged_when_discord_echoes_it() {
    let fake = FakeDiscord::start().await;
    let token = "MTAxMjM0NTY3ODkwMTIzNDU2.GaBcDe.env-token-0123456789abcdefghij";
    // Accepted when the bot checks who it is, refused with the echo when it
    // asks for the gateway address: serenity logs that answer itself.
    fake.reject_token_on(token, "/gateway");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = discord_config(
        dir.path(),
        &fake,
        "token_env = \"MAILCALL_SECRET_TEST_TOKEN\"",
    );
    let log = run_logged(&config, Some(token), Duration::from_secs(4)).await;
    assert_no_form_of(token, &log);
    // The echo reached serenity's own warning, and was redacted there.
    assert!(
        log.contains("HTTP request to get gateway URL failed: 401: Unauthorized Bot [redacted]"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_token_from_a_file_is_never_logged_when_discord_echoes_it_while_running() {
    let fake = FakeDiscord::start().await;
    let token = "MTAxMjM0NTY3ODkwMTIzNDU2.GaBcDe.file-token-0123456789abcdefghi";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), format!("{token}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = discord_config(dir.path(), &fake, "token_file = \"token\"");
    // The token is accepted at start, then revoked while the bot runs: the
    // posts an incident causes get the echoing 401.
    let revoke = async {
        assert!(fake.wait_ready(WAIT).await, "the bot never became ready");
        fake.reject_token(token);
        let _ = open(&fake, "Bounces up", Duration::from_secs(3)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let (log, ()) = tokio::join!(run_logged(&config, None, Duration::from_secs(8)), revoke);
    assert_no_form_of(token, &log);
    assert!(log.contains("[redacted]"), "{log}");
}

/// serenity answers a failed gateway lookup by connecting to Discord's
/// public gateway; with `api_base` set, the bot asks its own base again
/// instead, so the token never goes to a host the operator did not set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_api_base_set_a_failed_gateway_lookup_is_retried_there_never_elsewhere() {
    let fake = FakeDiscord::start().await;
    fake.fail_next_with("GET", "/gateway", 1, 502);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("token"), "fake-token\n").unwrap_or_else(|e| panic!("{e}"));
    let config = discord_config(dir.path(), &fake, "token_file = \"token\"");
    let (log, ready) = tokio::join!(
        run_logged(&config, None, Duration::from_secs(6)),
        fake.wait_ready(Duration::from_secs(5))
    );
    assert!(
        ready,
        "the bot never reached the configured gateway:\n{log}"
    );
    assert!(
        log.contains("HTTP request to get gateway URL failed"),
        "the first lookup failed:\n{log}"
    );
    assert!(!log.contains("gateway.discord.gg"), "{log}");
}
