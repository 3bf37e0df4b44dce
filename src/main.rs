//! The `mailcall` binary: flags in, library calls out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use mailcall::app;

/// mailcall — catch email delivery problems early and work them as incidents.
#[derive(Parser)]
#[command(name = "mailcall", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run mailcall on built-in defaults with the terminal as the chat.
    Demo {
        /// Continue the previous demo database instead of starting fresh.
        #[arg(long)]
        keep: bool,
        /// The demo database directory.
        #[arg(long, default_value = app::DEFAULT_DEMO_DATA)]
        data: PathBuf,
        /// Play these console lines instead of the built-in tour.
        #[arg(long)]
        script: Option<PathBuf>,
    },
    /// The terminal chat against a configured store.
    Console {
        /// The configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the configured store directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Who you are in the chat.
        #[arg(long = "as", default_value = "operator")]
        name: String,
    },
    /// Run the Discord bot (token from DISCORD_TOKEN or the configured file).
    Run {
        /// The configuration file, with a [discord] table.
        #[arg(long)]
        config: PathBuf,
    },
    /// Print stored metric history as a table or CSV; works while the bot
    /// runs (through its [http] listen address).
    Metrics {
        /// The configuration file (for the store path).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the store directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Only this ESP account.
        #[arg(long)]
        account: Option<String>,
        /// Only this stream (e.g. tag:welcome, account).
        #[arg(long)]
        stream: Option<String>,
        /// Buckets starting at or after this date (YYYY-MM-DD or RFC 3339); default: 7 days ago.
        #[arg(long)]
        since: Option<String>,
        /// CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Fetch the last N days of statistics for every configured ESP account;
    /// works while the bot runs (the bot fetches them, through its [http]
    /// listen address).
    Backfill {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// How many days back.
        #[arg(long)]
        days: u32,
        /// Only this ESP account.
        #[arg(long)]
        account: Option<String>,
    },
    /// Run the anomaly detectors over a CSV and write each row with its
    /// score (0–1) and flag: `timestamp,value`, or a timestamp plus count
    /// columns (sent, delivered, bounce_hard, complaints, opens_unique, …),
    /// such as `mailcall metrics --csv` writes.
    Detect {
        /// The input CSV (`-`: standard input).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the scored CSV (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
        /// A configuration file whose detector settings to use.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replay the live alert path over the stored history and print the
    /// alerts it would have posted (a backtest, to check thresholds).
    Replay {
        /// The configuration file (detectors, settle delays, quiet windows).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the store directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// First poll to replay (YYYY-MM-DD or RFC 3339); default: 28 days before --until.
        #[arg(long)]
        since: Option<String>,
        /// Last poll to replay (YYYY-MM-DD or RFC 3339); default: now.
        #[arg(long)]
        until: Option<String>,
        /// Only this ESP account.
        #[arg(long)]
        account: Option<String>,
        /// table, jsonl or csv.
        #[arg(long, default_value = "table", value_parser = ["table", "jsonl", "csv"])]
        format: String,
    },
    /// Write a backup of the whole store; works while the bot runs (through
    /// its [http] listen address).
    Backup {
        /// The configuration file (for the store path and [http] listen).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the store directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a new store from a backup (the bot stopped; the store directory
    /// must not exist or be empty).
    Restore {
        /// The configuration file (for the store path).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the store directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The backup file.
        file: PathBuf,
    },
    /// Export records from the store.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Write a week's quality summary (Markdown) and its chart (PNG).
    Summary {
        /// The configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the store directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The ISO week, such as 2026-W47; default: the week just ended.
        #[arg(long)]
        week: Option<String>,
        /// The directory to write summary-<week>.md and .png into.
        #[arg(long)]
        out: PathBuf,
    },
    /// On-duty rotations.
    Duty {
        #[command(subcommand)]
        action: DutyAction,
    },
    /// Validate a configuration file.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ExportWhat {
    /// The incident log, oldest first.
    Incidents {
        /// csv, markdown or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Only incidents opened on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// The configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the store directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Write to this file (completely or not at all) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DutyAction {
    /// A rotation's shifts as an iCalendar (.ics) file, for calendars.
    Ical {
        /// The rotation: marketing, design, integration, development or
        /// quality-reviewer.
        rotation: String,
        /// The configuration file with the [rotations.*] tables.
        #[arg(long)]
        config: Option<PathBuf>,
        /// First instant (YYYY-MM-DD or RFC 3339); default: now.
        #[arg(long)]
        from: Option<String>,
        /// How many weeks to export.
        #[arg(long, default_value_t = 12)]
        weeks: u32,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Logs to stderr at `RUST_LOG`'s level, or `default`. Every log line,
/// serenity's and reqwest's included, goes through the redaction layer.
fn log_to_stderr(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(mailcall::redact::RedactingWriter)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The bot logs by default; other commands only when asked to (their
    // output is the terminal's), with the same redaction.
    if !matches!(cli.command, Commands::Run { .. }) && std::env::var_os("RUST_LOG").is_some() {
        log_to_stderr("warn");
    }
    let result = match cli.command {
        Commands::Demo { keep, data, script } => {
            app::demo(&app::DemoOptions { data, keep, script })
        }
        Commands::Console { config, data, name } => app::console(config.as_deref(), data, &name),
        Commands::Metrics {
            config,
            data,
            account,
            stream,
            since,
            csv,
        } => match since.as_deref().map(parse_since).transpose() {
            Ok(since) => app::metrics(
                config.as_deref(),
                data,
                &mailcall::report::SeriesFilter {
                    account,
                    stream,
                    since,
                },
                if csv {
                    app::MetricsFormat::Csv
                } else {
                    app::MetricsFormat::Table
                },
            ),
            Err(e) => Err(e),
        },
        Commands::Detect {
            input,
            output,
            config,
        } => app::detect(&input, output.as_deref(), config.as_deref()),
        Commands::Replay {
            config,
            data,
            since,
            until,
            account,
            format,
        } => {
            let parsed = since
                .as_deref()
                .map(parse_since)
                .transpose()
                .and_then(|since| Ok((since, until.as_deref().map(parse_since).transpose()?)));
            match parsed {
                Ok((since, until)) => app::replay(
                    config.as_deref(),
                    data,
                    account.as_deref(),
                    since,
                    until,
                    match format.as_str() {
                        "jsonl" => app::ReplayFormat::Jsonl,
                        "csv" => app::ReplayFormat::Csv,
                        _ => app::ReplayFormat::Table,
                    },
                ),
                Err(e) => Err(e),
            }
        }
        Commands::Backfill {
            config,
            days,
            account,
        } => app::backfill(&config, days, account.as_deref()),
        Commands::Backup { config, data, out } => app::backup(config.as_deref(), data, &out),
        Commands::Restore { config, data, file } => app::restore(config.as_deref(), data, &file),
        Commands::Run { config } => {
            log_to_stderr("info,serenity=warn");
            app::run(&config)
        }
        Commands::Export {
            what:
                ExportWhat::Incidents {
                    format,
                    since,
                    config,
                    data,
                    out,
                },
        } => app::export_incidents(
            config.as_deref(),
            data,
            &format,
            since.as_deref(),
            out.as_deref(),
        ),
        Commands::Summary {
            config,
            data,
            week,
            out,
        } => app::summary(config.as_deref(), data, week.as_deref(), &out).map(|written| {
            for path in written {
                println!("wrote {}", path.display());
            }
        }),
        Commands::Duty {
            action:
                DutyAction::Ical {
                    rotation,
                    config,
                    from,
                    weeks,
                    out,
                },
        } => match from.as_deref().map(|f| parse_time("--from", f)).transpose() {
            Ok(from) => app::duty_ical(
                config.as_deref(),
                &rotation,
                from.unwrap_or_else(chrono::Utc::now),
                weeks,
                out.as_deref(),
            ),
            Err(e) => Err(e),
        },
        Commands::CheckConfig { file } => match app::check_config(&file) {
            Ok(summary) => {
                println!("{summary}");
                Ok(())
            }
            Err(e) => {
                eprintln!("error: {}", mailcall::redact::redact(&e.to_string()));
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`mailcall metrics --csv | head`): nothing
        // is wrong, so end quietly as other command-line tools do.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: {}",
                mailcall::redact::redact(&app::error_sentence(&e))
            );
            ExitCode::FAILURE
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader has closed.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `--since`: a date (midnight UTC) or an RFC 3339 instant.
fn parse_since(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    parse_time("--since", text)
}

/// A date (midnight UTC) or an RFC 3339 instant, for the flag `flag`.
fn parse_time(flag: &str, text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| {
            anyhow::anyhow!("{flag} `{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time")
        })
}
