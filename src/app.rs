//! The program's entry points, one per subcommand of the binary, built from
//! the library's parts. `main.rs` only parses flags and calls these.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::clock::SystemClock;
use crate::command::Engine;
use crate::config::Config;
use crate::console::{self, tour, Session};
use crate::domain::{Actor, Caller};
use crate::store::{SledStore, StoreError};

/// Where `mailcall demo` keeps its database unless told otherwise.
pub const DEFAULT_DEMO_DATA: &str = "data/demo.db";

/// `mailcall demo` settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The demo database directory.
    pub data: PathBuf,
    /// Continue the previous demo database instead of starting fresh.
    pub keep: bool,
    /// Play this file instead of the built-in tour.
    pub script: Option<PathBuf>,
}

/// Opens the demo store, wiping a previous demo first unless `keep`.
///
/// Only a directory that is a mailcall store (it has `mailcall.lock`) or is
/// empty is wiped, and only after taking its lock, so a typo in `--data`
/// cannot delete unrelated files and a running demo is not pulled from under
/// its feet.
pub fn open_demo_store(dir: &Path, keep: bool) -> Result<SledStore, StoreError> {
    if !keep && dir.exists() {
        let is_store = dir.join("mailcall.lock").exists();
        let is_empty = std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false);
        if !is_store && !is_empty {
            return Err(StoreError::Corrupt {
                path: dir.to_path_buf(),
                detail: "it is not a mailcall demo store, so the demo will not wipe it".into(),
            });
        }
        // Opening takes the lock; dropping the store releases it just before
        // removal. A second process started in that instant would fail to
        // open a half-removed store, which is acceptable for a demo.
        drop(SledStore::open(dir)?);
        std::fs::remove_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    SledStore::open(dir)
}

/// `mailcall demo`: a fresh store, then the interactive console on a
/// terminal or the scripted tour without one.
pub fn demo(options: &DemoOptions) -> anyhow::Result<()> {
    let store = open_demo_store(&options.data, options.keep)?;
    let config = Config {
        store_path: options.data.clone(),
        ..Config::default()
    };
    let engine = Engine::new(store, Arc::new(SystemClock));
    let caller = Caller::operator(Actor::console("you"));
    let stdout = io::stdout();
    let mut session = Session::new(engine, config, caller, stdout.lock());
    if let Some(script) = &options.script {
        let file = std::fs::File::open(script)
            .with_context(|| format!("cannot open script {}", script.display()))?;
        session.run_script(io::BufReader::new(file))?;
    } else if io::stdin().is_terminal() && io::stdout().is_terminal() {
        println!("mailcall demo — the terminal is the chat. Type /help, or /quit to leave.");
        println!(
            "Data: {} (fresh each run; --keep to continue)",
            options.data.display()
        );
        console::interactive(
            &mut session,
            Some(&options.data.join("console-history.txt")),
        )?;
    } else {
        session.run_script(io::Cursor::new(tour::TOUR))?;
    }
    Ok(())
}

/// `mailcall console`: the terminal chat against a configured store. Reads
/// a pipe as a script when stdin is not a terminal.
pub fn console(
    config_path: Option<&Path>,
    data: Option<PathBuf>,
    name: &str,
) -> anyhow::Result<()> {
    let mut config = match config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(data) = data {
        config.store_path = data;
    }
    let store = SledStore::open(&config.store_path)?;
    let history = config.store_path.join("console-history.txt");
    let engine = Engine::new(store, Arc::new(SystemClock));
    let caller = Caller::operator(Actor::console(name));
    let stdout = io::stdout();
    let mut session = Session::new(engine, config, caller, stdout.lock());
    if io::stdin().is_terminal() {
        console::interactive(&mut session, Some(&history))?;
    } else {
        session.run_script(io::stdin().lock())?;
    }
    Ok(())
}

/// `mailcall check-config FILE`: a one-line summary, or the first error.
pub fn check_config(path: &Path) -> Result<String, crate::config::ConfigError> {
    let config = Config::load(path)?;
    Ok(format!(
        "{}: OK — store {}, {} team channels{}",
        path.display(),
        config.store_path.display(),
        config.teams.len(),
        config
            .stakeholder_channel
            .as_deref()
            .map(|c| format!(", stakeholders in #{c}"))
            .unwrap_or_default()
    ))
}

/// `mailcall run`: the Discord bot, until Ctrl-C or SIGTERM.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let shutdown = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            tracing::info!("shutting down");
        };
        crate::discord::run(config, shutdown).await
    })?;
    Ok(())
}
