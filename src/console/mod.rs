//! The terminal as a chat: type slash commands, read replies and the posts
//! they cause, each labelled with the channel it would go to.
//!
//! Used by `mailcall demo` (a fresh demo database and a scripted tour) and
//! `mailcall console` (against a configured store). Lines go through the
//! same [`Engine`] as Discord interactions; only the rendering differs.
//!
//! Besides the manifest commands the console understands a few of its own:
//! `/as NAME [TEAM…|admin|none]` to act as someone else (to see permissions
//! at work), `/help`, and `/quit`.

mod lexer;
mod print;
pub mod tour;

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex, MutexGuard};

pub use lexer::parse_line;

use crate::command::{CommandError, Effect, Engine};
use crate::config::Config;
use crate::domain::{Actor, Caller, IncidentId, Team};
use crate::store::IncidentStore;

/// Whether to keep reading lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// One terminal user's conversation with mailcall.
///
/// The engine is shared: with `mailcall console --config` the service's
/// background jobs (polls, detection, alert timers) use it too, and their
/// posts are printed by [`Posts`] between the session's own output.
pub struct Session<S, W> {
    engine: Arc<Mutex<Engine<S>>>,
    config: Config,
    caller: Caller,
    out: W,
    /// The incident most recently opened in this session; `$INC` in a line
    /// stands for it, so scripts (the tour) work on a kept database too.
    last_opened: Option<IncidentId>,
    /// Commands refused so far (a script's exit code can depend on it).
    pub refused: usize,
}

impl<S: IncidentStore, W: Write> Session<S, W> {
    /// A session acting as `caller`, printing to `out`.
    pub fn new(engine: Engine<S>, config: Config, caller: Caller, out: W) -> Self {
        Session::shared(Arc::new(Mutex::new(engine)), config, caller, out)
    }

    /// A session on an engine that background jobs share.
    pub fn shared(engine: Arc<Mutex<Engine<S>>>, config: Config, caller: Caller, out: W) -> Self {
        Session {
            engine,
            config,
            caller,
            out,
            last_opened: None,
            refused: 0,
        }
    }

    /// The prompt for the current caller: `alice> `.
    pub fn prompt(&self) -> String {
        format!("{}> ", self.caller.actor.name)
    }

    /// The engine, locked (a poisoned lock is taken over: the engine's
    /// state is its store, which a panicking command never half-wrote).
    pub fn engine(&self) -> MutexGuard<'_, Engine<S>> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one line; output goes to the session's writer, flushed once
    /// at the end so that posts printed by background jobs never land in
    /// the middle of it.
    pub fn run_line(&mut self, line: &str) -> io::Result<Flow> {
        let flow = self.handle_line(line);
        self.out.flush()?;
        flow
    }

    fn handle_line(&mut self, line: &str) -> io::Result<Flow> {
        let line = self.expand(line);
        let trimmed = line.trim();
        let first = trimmed.split_whitespace().next().unwrap_or("");
        match first {
            "/quit" | "/exit" => return Ok(Flow::Quit),
            "/help" => {
                let help = print::help(self.engine().manifests());
                writeln!(self.out, "{help}")?;
                return Ok(Flow::Continue);
            }
            "/as" => {
                match parse_as(trimmed) {
                    Ok(caller) => {
                        writeln!(self.out, "  (now acting as {})", describe(&caller))?;
                        self.caller = caller;
                    }
                    Err(message) => {
                        self.refused += 1;
                        writeln!(self.out, "  [reply, only you] ⚠ {message}")?;
                    }
                }
                return Ok(Flow::Continue);
            }
            _ => {}
        }
        let invocation = match parse_line(trimmed) {
            Ok(Some(invocation)) => invocation,
            Ok(None) => return Ok(Flow::Continue),
            Err(e) => return self.refuse(&CommandError::Parse(e)),
        };
        let (handled, durable) = {
            let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
            let handled = engine.handle(&self.caller, &invocation);
            // Printed just below: delivered, before the relay (which needs
            // this lock) can see them.
            if let Ok(outcome) = &handled {
                for id in &outcome.posted {
                    if let Err(e) = engine.delivered(*id, Vec::new()) {
                        writeln!(self.out, "  (note: a post could not be marked delivered and may be printed again: {e})")?;
                    }
                }
            }
            (handled, engine.store().durable())
        };
        // Nothing is printed as done before it is on disk (the service's
        // store commits in groups; see `store::sync_point`).
        // A change that could not be made durable stops the console: sled
        // keeps such an error for good, so every later command would fail.
        if let Err(e) = durable.wait() {
            return Err(io::Error::other(format!(
                "the console stopped because the store could not write ({e}); every change answered before it is on disk. Free the space (or fix the disk) and start it again"
            )));
        }
        match handled {
            Ok(outcome) => {
                for effect in &outcome.effects {
                    if let Effect::Announce { incident, .. } = effect {
                        if incident.timeline.len() == 1 {
                            self.last_opened = Some(incident.id);
                        }
                    }
                }
                print::outcome(&mut self.out, &self.config, &outcome)?;
                Ok(Flow::Continue)
            }
            Err(e) => self.refuse(&e),
        }
    }

    /// Replaces `$INC` with the incident this session opened last.
    fn expand(&self, line: &str) -> String {
        match self.last_opened {
            Some(id) => line.replace("$INC", &id.to_string()),
            None => line.to_string(),
        }
    }

    fn refuse(&mut self, error: &CommandError) -> io::Result<Flow> {
        self.refused += 1;
        let kind = if error.is_user_error() {
            "⚠"
        } else {
            "✖ mailcall fault:"
        };
        writeln!(self.out, "  [reply, only you] {kind} {error}")?;
        Ok(Flow::Continue)
    }

    /// Marks every post in the outbox delivered: for the demo, which prints
    /// the alerts of its first detection itself and runs no relay.
    pub fn mark_all_delivered(&mut self) -> Result<(), crate::store::StoreError> {
        let mut engine = self.engine();
        for (id, _) in engine.pending_posts()? {
            engine.delivered(id, Vec::new())?;
        }
        Ok(())
    }

    /// Prints posts that no command caused (alerts after a poll), under a
    /// narration line.
    pub fn print_effects(
        &mut self,
        narration: &str,
        effects: &[crate::command::Effect],
    ) -> io::Result<()> {
        if effects.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "{narration}")?;
        print::effects(&mut self.out, &self.config, effects)?;
        self.out.flush()
    }

    /// Runs lines from a reader (a script or a pipe), echoing each after the
    /// prompt so the transcript reads like a chat log.
    pub fn run_script(&mut self, input: impl BufRead) -> io::Result<()> {
        for line in input.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            if line.trim_start().starts_with('#') {
                writeln!(self.out, "{}", line.trim())?;
                self.out.flush()?;
                continue;
            }
            let prompt = self.prompt();
            writeln!(self.out, "{prompt}{}", self.expand(line.trim()))?;
            if self.run_line(&line)? == Flow::Quit {
                break;
            }
        }
        Ok(())
    }
}

fn describe(caller: &Caller) -> String {
    let mut roles: Vec<&str> = caller.teams.iter().map(|t| t.as_str()).collect();
    if caller.admin {
        roles.push("incident-admin");
    }
    if roles.is_empty() {
        format!("{} with no roles", caller.actor.name)
    } else {
        format!("{} ({})", caller.actor.name, roles.join(", "))
    }
}

/// `/as NAME [TEAM…|admin|none]`. Without roles the caller is an operator
/// with every role, as the local user at the terminal is.
fn parse_as(line: &str) -> Result<Caller, String> {
    let mut words = line.split_whitespace().skip(1);
    let usage = "usage: /as NAME [marketing|design|integration|development|admin|none …]";
    let name = words.next().ok_or(usage)?;
    let name = crate::domain::Name::new(name).map_err(|e| e.to_string())?;
    let actor = Actor::console(name.as_str());
    let roles: Vec<&str> = words.collect();
    if roles.is_empty() {
        return Ok(Caller::operator(actor));
    }
    let mut caller = Caller {
        actor,
        teams: BTreeSet::new(),
        admin: false,
    };
    for role in roles {
        match role {
            "none" => {}
            "admin" => caller.admin = true,
            other => {
                let team: Team = other
                    .parse()
                    .map_err(|e: crate::domain::UnknownWord| e.to_string())?;
                caller.teams.insert(team);
            }
        }
    }
    Ok(caller)
}

/// Where posts that no command caused (alerts after a poll, reminders)
/// are printed: above the prompt while one is being edited, straight to
/// standard output otherwise. Cloned into the service's printing task.
#[derive(Clone, Default)]
pub struct Posts {
    above_prompt: Arc<Mutex<Option<Box<dyn rustyline::ExternalPrinter + Send>>>>,
}

impl Posts {
    /// Prints one block of text in one piece.
    pub fn print(&self, block: String) {
        let mut slot = self.above_prompt.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(printer) = slot.as_mut() {
            if printer.print(block.clone()).is_ok() {
                return;
            }
        }
        let mut out = io::stdout().lock();
        // Nowhere else to report a closed standard output.
        let _ = out.write_all(block.as_bytes()).and_then(|()| out.flush());
    }

    /// Prints `effects` under a narration line.
    pub fn print_effects(&self, config: &Config, narration: &str, effects: &[Effect]) {
        if effects.is_empty() {
            return;
        }
        let mut block = Vec::new();
        let rendered = writeln!(block, "{narration}")
            .and_then(|()| print::effects(&mut block, config, effects));
        if rendered.is_ok() {
            self.print(String::from_utf8_lossy(&block).into_owned());
        }
    }
}

/// Reads lines interactively with line editing and history until EOF or
/// `/quit`. `history` is where the history is kept between runs; `posts`,
/// when given, prints background posts above the prompt.
pub fn interactive<S: IncidentStore, W: Write>(
    session: &mut Session<S, W>,
    history: Option<&std::path::Path>,
    posts: Option<&Posts>,
) -> Result<(), anyhow::Error> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new()?;
    if let Some(posts) = posts {
        if let Ok(printer) = editor.create_external_printer() {
            *posts.above_prompt.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(printer));
        }
    }
    if let Some(path) = history {
        // A missing history file is normal on first run.
        let _ = editor.load_history(path);
    }
    let ended = loop {
        match editor.readline(&session.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match session.run_line(&line) {
                    Ok(Flow::Quit) => break Ok(()),
                    Ok(Flow::Continue) => {}
                    Err(e) => break Err(e.into()),
                }
            }
            // Ctrl-C drops the half-typed line, as a shell does; Ctrl-D
            // (or /quit) leaves.
            Err(ReadlineError::Interrupted) => {
                println!("^C (Ctrl-D or /quit leaves)");
            }
            Err(ReadlineError::Eof) => break Ok(()),
            Err(e) => break Err(anyhow::Error::from(e)),
        }
    };
    // Background posts go straight to standard output again.
    if let Some(posts) = posts {
        posts
            .above_prompt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
    ended?;
    if let Some(path) = history {
        if let Err(e) = editor.save_history(path) {
            eprintln!(
                "note: could not save console history to {}: {e}",
                path.display()
            );
        }
    }
    Ok(())
}
