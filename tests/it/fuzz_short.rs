//! The short fuzz run (issue 11): the parsers of outside input, fed random
//! and mutated input on the stable toolchain, on every `cargo test`. The
//! long runs are cargo-fuzz targets in `fuzz/` (README, "Fuzzing").
//!
//! Every parser here reads what someone else wrote: ESP response bodies,
//! slash-command options as Discord delivers them, lines typed at the
//! console, the configuration file and the CSV `mailcall detect` reads.
//! None may panic or hang on any input, and a refusal is an error value
//! whose message says something.
//!
//! Pure random bytes rarely get past a JSON or TOML parser, so most cases
//! start from the real fixtures (read from `tests/fixtures` and `data/` at
//! test time) and mutate them: byte flips, insertions of tokens that parsers
//! trip on, deletions, truncations, spliced copies; and, for the JSON
//! bodies, whole values swapped for values of another type or range, or
//! removed.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::Value;

use mailcall::command::manifest::OptionManifest;
use mailcall::command::{Command, Invocation, Manifests, OptionValue};
use mailcall::config::Config;
use mailcall::delivery::{BucketWidth, Counts, Sample, StreamKey};
use mailcall::detect::{detect_csv, DetectorSettings};
use mailcall::domain::Actor;
use mailcall::esp::{
    brevo, mailchimp, mailgun, mandrill, postmark, postmaster, sendgrid, ses, sparkpost,
    PayloadError,
};

// ---------------------------------------------------------------------------
// Running cases.

/// Runs `cases` cases of `strategy` through `test`; a panic inside `test`
/// is a failure, reported with the smallest input proptest finds.
fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        // Keeps a failure's report short; shrinking still finds a small input.
        max_shrink_iters: 2_000,
        ..RunnerConfig::default()
    });
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}");
    }
}

fn read(relative: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// Byte-level mutation.

/// Bytes that parsers of JSON, TOML and CSV trip on.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"=",
    b"\n",
    b"\r\n",
    b"\0",
    b"\\",
    b"\\u0000",
    b"-",
    b"-1",
    b"0",
    b"1e999",
    b"-1e999",
    b"1.5",
    b"NaN",
    b"inf",
    b"18446744073709551616",
    b"9223372036854775808",
    b"null",
    b"true",
    b"[[",
    b"]]",
    b"#",
    b"'''",
    b"\"\"\"",
    b"\xC3\xA9",
    b"\xFF",
    b"\xEF\xBB\xBF",
    b"\xF0\x9F\x93\xA7",
    b"9999-12-31",
    b"0000-00-00",
    b"2024-02-30",
    b"+262143-12-31",
    b"T25:61:61Z",
    b"+99:99",
    b"Mon, 31 Dec 9999 23:59:59 +2400",
];

/// One edit of a byte string. Positions are [`Index`]es, so the same edit
/// applies to any length.
#[derive(Clone, Debug)]
enum Edit {
    Flip(Index, u8),
    Set(Index, u8),
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Truncate(Index),
    /// Copies `len` bytes from the first position to the second.
    Splice(Index, Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        3 => prop::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip(at, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Edit::Set(at, byte)),
        2 => (any::<Index>(), 1usize..24).prop_map(|(at, len)| Edit::Delete(at, len)),
        4 => (any::<Index>(), token).prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<Index>(), 1usize..64)
            .prop_map(|(from, to, len)| Edit::Splice(from, to, len)),
    ]
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..6)
}

fn apply(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for edit in edits {
        // An index into the bytes, or 0 for an empty string.
        let at = |index: &Index, bytes: &Vec<u8>| {
            if bytes.is_empty() {
                0
            } else {
                index.index(bytes.len())
            }
        };
        match edit {
            Edit::Flip(index, bit) if !bytes.is_empty() => {
                let i = at(index, &bytes);
                bytes[i] ^= 1 << bit;
            }
            Edit::Set(index, byte) if !bytes.is_empty() => {
                let i = at(index, &bytes);
                bytes[i] = *byte;
            }
            Edit::Delete(index, len) => {
                let i = at(index, &bytes);
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            Edit::Insert(index, token) => {
                let i = at(index, &bytes);
                bytes.splice(i..i, token.iter().copied());
            }
            Edit::Truncate(index) => {
                let i = at(index, &bytes);
                bytes.truncate(i);
            }
            Edit::Splice(from, to, len) if !bytes.is_empty() => {
                let from = at(from, &bytes);
                let chunk = bytes[from..(from + len).min(bytes.len())].to_vec();
                let to = at(to, &bytes);
                bytes.splice(to..to, chunk);
            }
            _ => {}
        }
    }
    bytes
}

/// A fixture and a few edits of it.
fn mutated(fixtures: Arc<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    (any::<Index>(), edits())
        .prop_map(move |(which, edits)| apply(&fixtures[which.index(fixtures.len())], &edits))
}

// ---------------------------------------------------------------------------
// ESP payloads.

const ESP_FIXTURES: &[&str] = &[
    "tests/fixtures/esp/mailgun/analytics_metrics.json",
    "tests/fixtures/esp/mailgun/rate_limited_429.json",
    "tests/fixtures/esp/mailgun/stats_total.json",
    "tests/fixtures/esp/mailgun/stats_total.docs-verbatim.jsonc",
    "tests/fixtures/esp/mailgun/tag_stats.json",
    "tests/fixtures/esp/postmark/outbound.json",
    "tests/fixtures/esp/postmark/outbound_bounces.json",
    "tests/fixtures/esp/postmark/outbound_docs_example.json",
    "tests/fixtures/esp/postmark/outbound_opens.json",
    "tests/fixtures/esp/postmark/outbound_sends.json",
    "tests/fixtures/esp/sendgrid/categories_stats.json",
    "tests/fixtures/esp/sendgrid/category_sums.json",
    "tests/fixtures/esp/sendgrid/global_stats.json",
    "tests/fixtures/esp/sparkpost/by_campaign.docs-verbatim.txt",
    "tests/fixtures/esp/sparkpost/by_campaign.json",
    "tests/fixtures/esp/sparkpost/time_series.json",
    "tests/fixtures/esp/ses/get_send_statistics.xml",
    "tests/fixtures/esp/ses/throttling_400.xml",
    "tests/fixtures/esp/mandrill/tags_time_series.json",
    "tests/fixtures/esp/mandrill/tags_list.json",
    "tests/fixtures/esp/mandrill/invalid_key_500.json",
    "tests/fixtures/esp/brevo/reports.json",
    "tests/fixtures/esp/mailchimp/reports.json",
    "tests/fixtures/esp/postmaster/traffic_stats.json",
    "tests/fixtures/esp/postmaster/compliance_status.json",
    "tests/fixtures/esp/postmaster/domains.json",
];

fn esp_fixtures() -> Vec<Vec<u8>> {
    ESP_FIXTURES.iter().map(|path| read(path)).collect()
}

fn refused(error: &PayloadError) -> Result<(), TestCaseError> {
    prop_assert!(
        !error.problem.trim().is_empty(),
        "an error without a problem: {error:?}"
    );
    prop_assert!(!error.to_string().trim().is_empty());
    Ok(())
}

fn samples(result: Result<Vec<Sample>, PayloadError>) -> Result<(), TestCaseError> {
    match result {
        Ok(samples) => {
            // What the poller does next with samples: rates and sums.
            let total = samples.iter().fold(Counts::default(), |total, sample| {
                total.plus(&sample.counts)
            });
            let _ = total.rates();
            Ok(())
        }
        Err(error) => refused(&error),
    }
}

/// Every public ESP body parser on `body`, with `width` where the caller
/// names one. `merge_outbound_days` gets the body as each sub-endpoint's in
/// turn and as all five at once.
fn every_esp_parser(body: &[u8], width: BucketWidth) -> Result<(), TestCaseError> {
    let stream = StreamKey::account();
    let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    let now = DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or_default();

    samples(mailgun::parse_metrics(body, &stream))?;
    samples(mailgun::parse_legacy_stats_total(body, &stream))?;
    samples(mailgun::parse_legacy_tag_stats(body))?;
    if let Err(error) = mailgun::next_metrics_skip(body) {
        refused(&error)?;
    }
    let _ = mailgun::rate_limit_wait_from_message(body);

    match postmark::parse_outbound_overview(body, &stream, postmark::day_bucket(day)) {
        Ok(sample) => samples(Ok(vec![sample]))?,
        Err(error) => refused(&error)?,
    }
    let alone = |slot: usize| {
        let mut slots = [None; 5];
        slots[slot] = Some(body);
        slots
    };
    for slots in (0..5).map(alone).chain([[Some(body); 5]]) {
        let bodies = postmark::OutboundDayBodies {
            sends: slots[0],
            bounces: slots[1],
            spam: slots[2],
            opens: slots[3],
            clicks: slots[4],
        };
        samples(postmark::merge_outbound_days(&bodies, &stream))?;
    }

    samples(sendgrid::parse_global_stats(body, &stream, width))?;
    samples(sendgrid::parse_category_stats(body, width))?;
    samples(sendgrid::parse_category_sums(body, width))?;
    let _ = sendgrid::rate_limit_wait(&String::from_utf8_lossy(body), now);

    samples(sparkpost::parse_time_series(body, &stream, width))?;
    samples(sparkpost::parse_by_campaign(
        body,
        &postmark::day_bucket(day),
    ))?;

    samples(ses::parse_send_statistics(body))?;
    let _ = ses::error_code(body);
    for endpoint in [
        mandrill::TAG_SERIES,
        mandrill::ALL_TAGS_SERIES,
        mandrill::SENDER_SERIES,
    ] {
        samples(mandrill::parse_time_series(endpoint, body, &stream))?;
    }
    if let Err(error) = mandrill::parse_tag_list(body) {
        refused(&error)?;
    }
    let _ = mandrill::error_name(body);
    samples(brevo::parse_reports(body, &stream).map(|(samples, _)| samples))?;
    match mailchimp::parse_reports(body) {
        Ok(page) => samples(Ok(mailchimp::samples(
            &page.campaigns,
            &mailchimp::Rollups {
                account: true,
                all: true,
                ..mailchimp::Rollups::default()
            },
        )))?,
        Err(error) => refused(&error)?,
    }
    if let Err(error) = mailchimp::parse_report(body) {
        refused(&error)?;
    }
    samples(postmaster::parse_traffic_stats(body, &stream).map(|(samples, _)| samples))?;
    if let Err(error) = postmaster::parse_compliance(body) {
        refused(&error)?;
    }
    if let Err(error) = postmaster::parse_domains(body) {
        refused(&error)?;
    }
    if let Err(error) = postmaster::access_token(body) {
        refused(&error)?;
    }
    Ok(())
}

fn width() -> impl Strategy<Value = BucketWidth> {
    prop::sample::select(vec![
        BucketWidth::Hour,
        BucketWidth::Day,
        BucketWidth::Week,
        BucketWidth::Month,
    ])
}

#[test]
fn esp_payload_parsers_never_panic_on_arbitrary_bytes() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Text that is at least JSON-ish.
        "[\\[\\]{}\":,0-9a-zA-Z_. -]{0,64}".prop_map(String::into_bytes),
    ];
    run(2_000, (bytes, width()), |(body, width)| {
        every_esp_parser(&body, width)
    });
}

#[test]
fn esp_payload_parsers_never_panic_on_mutated_fixtures() {
    let fixtures = Arc::new(esp_fixtures());
    run(3_000, (mutated(fixtures), width()), |(body, width)| {
        every_esp_parser(&body, width)
    });
}

/// A value to put where a fixture had another: wrong types, out-of-range
/// numbers, dates and times that do not exist.
fn json_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "-1",
            "0",
            "1.5",
            "1e3",
            "0x10",
            "18446744073709551616",
            "18446744073709551615",
            "2024-02-30",
            "2024-13-01",
            "9999-12-31",
            "+262143-12-31",
            "2020-10-04T00:00:00-04:00",
            "2020-10-04T00:00:00+23:59",
            "2020-10-04T24:00:00Z",
            "Mon, 01 Jan 2024 00:00:00 +2400",
            "Mon, 31 Dec 9999 23:59:59 -0000",
            "Fri, 29 Feb 2023 00:00:00 UTC",
            "hour",
            "day",
            "week",
            "month",
            "tag:x",
            "\u{e9}",
            "\u{1F4E7}",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0u64, 1, u64::MAX, 1 << 53, (1 << 53) + 1]).prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        text.prop_map(Value::String),
        Just(Value::Array(Vec::new())),
        Just(Value::Object(serde_json::Map::new())),
        Just(serde_json::json!([{}])),
    ]
}

/// Every JSON pointer in `value`, the root (`""`) first.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Reshape {
    Replace(Index, Value),
    Remove(Index),
}

fn reshape(json: &mut Value, change: &Reshape) {
    let mut all = Vec::new();
    pointers(json, String::new(), &mut all);
    match change {
        Reshape::Replace(index, value) => {
            if let Some(slot) = json.pointer_mut(&all[index.index(all.len())]) {
                *slot = value.clone();
            }
        }
        Reshape::Remove(index) => {
            let pointer = &all[index.index(all.len())];
            let Some((parent, last)) = pointer.rsplit_once('/') else {
                return;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            match json.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>() {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn esp_payload_parsers_refuse_reshaped_fixtures_with_a_message() {
    // Only the fixtures that are plain JSON; the rest are documentation
    // excerpts.
    let fixtures: Arc<Vec<Value>> = Arc::new(
        esp_fixtures()
            .iter()
            .filter_map(|bytes| serde_json::from_slice(bytes).ok())
            .collect(),
    );
    assert!(fixtures.len() >= 12, "the JSON fixtures did not parse");
    let change = prop_oneof![
        4 => (any::<Index>(), json_value()).prop_map(|(at, value)| Reshape::Replace(at, value)),
        1 => any::<Index>().prop_map(Reshape::Remove),
    ];
    let bodies =
        (any::<Index>(), prop::collection::vec(change, 1..4)).prop_map(move |(which, changes)| {
            let mut json = fixtures[which.index(fixtures.len())].clone();
            for change in &changes {
                reshape(&mut json, change);
            }
            serde_json::to_vec(&json).unwrap_or_default()
        });
    run(3_000, (bodies, width()), |(body, width)| {
        every_esp_parser(&body, width)
    });
}

// ---------------------------------------------------------------------------
// Slash-command options.

/// Names and values from the embedded manifests, and words the typed
/// parser gives meaning to.
struct Words {
    commands: Vec<String>,
    subcommands: Vec<String>,
    options: Vec<String>,
    values: Vec<String>,
    /// Every leaf: its path and its options.
    leaves: Vec<(Vec<String>, Vec<OptionManifest>)>,
}

const VALUE_WORDS: &[&str] = &[
    "INC-1",
    "INC-0",
    "INC-18446744073709551616",
    "inc-7",
    "SEV2",
    "sev1",
    "integration",
    "marketing,design",
    "design, development",
    "30m",
    "2h",
    "1d",
    "14d",
    "15d",
    "0m",
    "1h",
    "24h",
    "account=sg-main stream=category:news",
    "metric=bounce kind=baseline",
    "kind=",
    "2026-12-02",
    "2026-02-30",
    "stale-feed",
    "volume",
    "volume-spike",
    "bounce",
    "complaint",
    "active",
    "all",
    "open",
    "investigating",
    "mitigated",
    "resolved",
    "closed",
    "yes",
    "no",
    "true",
    "false",
    "@olga",
    "category:news",
    "",
    " ",
];

fn words() -> Words {
    fn walk(options: &[OptionManifest], path: Vec<String>, words: &mut Words) {
        let subs: Vec<&OptionManifest> = options
            .iter()
            .filter(|o| o.kind == 1 || o.kind == 2)
            .collect();
        if subs.is_empty() {
            words.leaves.push((path.clone(), options.to_vec()));
        }
        for option in options {
            if option.kind == 1 || option.kind == 2 {
                words.subcommands.push(option.name.clone());
                let mut deeper = path.clone();
                deeper.push(option.name.clone());
                walk(&option.options, deeper, words);
            } else {
                words.options.push(option.name.clone());
                words.values.extend(
                    option
                        .choices
                        .iter()
                        .filter_map(|c| c.value.as_str().map(str::to_owned)),
                );
            }
        }
    }
    let mut words = Words {
        commands: Vec::new(),
        subcommands: Vec::new(),
        options: Vec::new(),
        values: VALUE_WORDS.iter().map(|w| w.to_string()).collect(),
        leaves: Vec::new(),
    };
    for command in Manifests::embedded().commands() {
        words.commands.push(command.name.clone());
        walk(&command.options, vec![command.name.clone()], &mut words);
    }
    for list in [
        &mut words.subcommands,
        &mut words.options,
        &mut words.values,
    ] {
        list.sort();
        list.dedup();
    }
    words
}

/// A word from `known`, or any text: short (most limits are a few dozen
/// characters) or of any length.
fn word(known: &[String]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(known.to_vec()),
        1 => "\\PC{0,10}",
        1 => any::<String>(),
    ]
}

/// A value as Discord delivers it: text, integer, boolean or a resolved user.
fn option_value(words: &Words) -> impl Strategy<Value = OptionValue> {
    prop_oneof![
        4 => word(&words.values).prop_map(OptionValue::String),
        2 => prop_oneof![
            any::<i64>(),
            -2i64..40,
            Just(i64::MIN),
            Just(i64::MAX),
            Just(i64::from(u32::MAX) + 1),
        ]
        .prop_map(OptionValue::Integer),
        1 => any::<bool>().prop_map(OptionValue::Boolean),
        1 => (any::<String>(), any::<String>())
            .prop_map(|(id, name)| OptionValue::User(Actor { id, name })),
    ]
}

/// Invocations as `discord::convert::invocation` builds them: mostly a real
/// leaf with most of its own options (so that many get past validation into
/// the typed parser) and now and then a stray one, sometimes any name, path
/// and options at all.
fn invocation(words: Arc<Words>) -> impl Strategy<Value = Invocation> {
    let leaves = words.leaves.clone();
    let most_leaf_options = leaves.iter().map(|(_, o)| o.len()).max().unwrap_or(0);
    let from_leaf = (
        any::<Index>(),
        prop::collection::vec(
            prop::option::weighted(0.85, option_value(&words)),
            most_leaf_options,
        ),
        prop::collection::vec((word(&words.options), option_value(&words)), 0..2),
    )
        .prop_map(move |(leaf, own, stray)| {
            let (path, options) = &leaves[leaf.index(leaves.len())];
            let mut invocation = Invocation {
                command: path[0].clone(),
                path: path[1..].to_vec(),
                options: Vec::new(),
            };
            for (option, value) in options.iter().zip(own) {
                if let Some(value) = value {
                    invocation.options.push((option.name.clone(), value));
                }
            }
            invocation.options.extend(stray);
            invocation
        });
    let anything = (
        word(&words.commands),
        prop::collection::vec(word(&words.subcommands), 0..3),
        prop::collection::vec((word(&words.options), option_value(&words)), 0..6),
    )
        .prop_map(|(command, path, options)| Invocation {
            command,
            path,
            options,
        });
    prop_oneof![3 => from_leaf, 1 => anything]
}

fn validate_and_parse(
    manifests: &Manifests,
    invocation: &Invocation,
    caller: &Actor,
) -> Result<(), TestCaseError> {
    match manifests.validate(invocation) {
        Ok(valid) => match Command::parse(&valid, caller) {
            Ok(command) => prop_assert!(!command.summary().is_empty()),
            Err(error) => prop_assert!(!error.to_string().trim().is_empty(), "{error:?}"),
        },
        Err(error) => prop_assert!(!error.to_string().trim().is_empty(), "{error:?}"),
    }
    Ok(())
}

#[test]
fn command_options_as_discord_delivers_them_never_panic_and_refusals_say_why() {
    let words = Arc::new(words());
    let manifests = Manifests::embedded();
    let caller = Actor::console("olga");
    run(4_000, invocation(words), |invocation| {
        validate_and_parse(&manifests, &invocation, &caller)
    });
}

#[test]
fn console_lines_never_panic_and_refusals_say_why() {
    let lines: Arc<Vec<Vec<u8>>> = Arc::new(
        [
            "/incident open title:\"Bounces up\" severity:SEV2 team:integration also:design esp:sg-main",
            "/incident action add id:INC-1 text:\"rotate the DKIM key\" owner:@bob due:2026-12-24",
            "/incident action done id:INC-1 number:1",
            "/incident update id:INC-2 note:\"still rising\" status:mitigated severity:sev1",
            "/incident list status:all team:design",
            "/silence add match:\"stream=category:news metric=volume\" duration:2h reason:\"planned blast\"",
            "/alert snooze id:3 for:24h",
            "/route test kind:volume-spike stream:category:news account:sg-main",
            "/metrics stream:account",
        ]
        .iter()
        .map(|line| line.as_bytes().to_vec())
        .collect(),
    );
    let manifests = Manifests::embedded();
    let line = prop_oneof![
        3 => mutated(lines).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        1 => any::<String>(),
    ];
    run(3_000, line, |line| {
        match mailcall::console::parse_line(&line) {
            Ok(Some(invocation)) => {
                validate_and_parse(&manifests, &invocation, &Actor::console("olga"))?
            }
            Ok(None) => {}
            Err(error) => prop_assert!(!error.to_string().trim().is_empty(), "{error:?}"),
        }
        Ok(())
    });
}

/// Found by the `command_options` fuzz target and by the console test above
/// (README, "Fuzzing"): `parse_duration` split the text at a byte index,
/// which panicked when the last character was not ASCII. The manifest's
/// `max_length` counts characters, so such a value gets there.
#[test]
fn a_silence_duration_ending_in_a_multibyte_character_is_refused_not_a_panic() {
    let manifests = Manifests::embedded();
    for duration in ["5é", "ᛓ", "2\u{FFFD}", "1d\u{1F4E7}"] {
        let invocation = Invocation {
            command: "silence".into(),
            path: vec!["add".into()],
            options: vec![
                ("match".into(), OptionValue::String("all".into())),
                ("duration".into(), OptionValue::String(duration.into())),
                ("reason".into(), OptionValue::String("planned blast".into())),
            ],
        };
        let valid = manifests
            .validate(&invocation)
            .unwrap_or_else(|e| panic!("{duration}: {e}"));
        match Command::parse(&valid, &Actor::console("olga")) {
            Ok(command) => panic!("{duration:?} was taken as a duration: {command:?}"),
            Err(error) => assert!(
                error.to_string().contains("duration"),
                "{duration:?}: {error}"
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration.

#[test]
fn config_parsing_never_panics_and_names_the_file_on_mutated_examples() {
    let example = read("data/mailcall.example.toml");
    // The example with its commented-out tables and keys switched on, so
    // that [http], a second [[esp]] and [[alerts.stream]] are mutated too.
    let uncommented: Vec<u8> = String::from_utf8_lossy(&example)
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    let sources = prop_oneof![
        6 => mutated(Arc::new(vec![example, uncommented])),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ];
    run(2_000, sources, |bytes| {
        let source = String::from_utf8_lossy(&bytes);
        if let Err(error) = Config::parse(Path::new("fuzz.toml"), &source) {
            prop_assert!(!error.message.trim().is_empty(), "{error:?}");
            prop_assert!(error.to_string().starts_with("fuzz.toml"), "{error}");
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// `mailcall detect`'s CSV reader.

#[test]
fn detect_csv_reader_never_panics_on_mutated_fixtures() {
    // The small fixtures whole, and the first five days of an hourly series
    // (enough to warm the series detector up).
    let series = read("tests/fixtures/detect/series_hourly_spike.csv");
    let head: Vec<u8> = series
        .split_inclusive(|&byte| byte == b'\n')
        .take(121)
        .flatten()
        .copied()
        .collect();
    let fixtures = Arc::new(vec![
        read("tests/fixtures/detect/counts_daily_bounce_spike.csv"),
        read("tests/fixtures/detect/counts_malformed.csv"),
        head,
    ]);
    let inputs = prop_oneof![
        6 => mutated(fixtures),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => "(timestamp|bucket_start|value|sent|delivered|bounce_hard|account|stream|width|[0-9:TZ. -]{0,12}|,|\n){0,40}"
            .prop_map(String::into_bytes),
    ];
    let settings = DetectorSettings::default();
    run(1_500, inputs, |bytes| {
        let mut output = Vec::new();
        match detect_csv(bytes.as_slice(), &mut output, &settings) {
            Ok(stats) => prop_assert!(stats.flagged <= stats.rows, "{stats:?}"),
            Err(error) => prop_assert!(!error.to_string().trim().is_empty(), "{error:?}"),
        }
        Ok(())
    });
}
