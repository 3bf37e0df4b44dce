//! How many files and sockets mailcall may hold open, and how many of them
//! the poller may spend on connections to ESPs.
//!
//! Over HTTP/1.1 each request in flight holds a connection, and a cold
//! poll cycle over 200 accounts spread over the nine sources has about
//! 1,300 in flight at once (see the README's poll-cycle figures). systemd
//! starts a service with a soft limit of 1,024 open files (the hard limit
//! is 524,288), so such a cycle would fail part-way with "Too many open
//! files", and the store and Discord with it. So, at start:
//!
//! - the soft limit is raised towards the hard one (as Go's runtime does
//!   for every program), up to [`WANTED`];
//! - whatever the limit then is, the poller keeps its requests in flight
//!   within [`connection_budget`] of it: half of what is left after
//!   [`RESERVED`] files for everything else. The other half is for idle
//!   connections kept for reuse between polls.
//!
//! Raising is an OS call and lives here, at the edge; the composition root
//! ([`crate::service`]) calls it and hands the budget to the poller.

/// The soft limit asked for: far above what 200 accounts need, well under
/// the hard limit of a systemd service or a container.
pub const WANTED: u64 = 65_536;

/// Files kept back for everything but ESP connections: the store's files,
/// Discord's gateway and REST connections, the HTTP listener and its
/// clients, the runtime's own descriptors and the standard streams.
pub const RESERVED: u64 = 64;

/// The open-file limit before and after [`raise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit, which only a privileged process may raise.
    pub hard: u64,
}

/// Raises this process's soft limit on open files towards the hard limit,
/// up to [`WANTED`]. Never lowers it. An error means the limit could not be
/// read or set: the caller keeps working within the limit it has.
pub fn raise() -> std::io::Result<OpenFileLimit> {
    let (before, _) = rlimit::Resource::NOFILE.get()?;
    let now = rlimit::increase_nofile_limit(WANTED)?.max(before);
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    Ok(OpenFileLimit { before, now, hard })
}

/// The most ESP requests the poller may have in flight under a soft limit
/// of `limit` open files: half of what [`RESERVED`] leaves, at least one.
pub fn connection_budget(limit: u64) -> usize {
    let budget = limit.saturating_sub(RESERVED) / 2;
    usize::try_from(budget).unwrap_or(usize::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_half_of_what_the_reserve_leaves() {
        assert_eq!(connection_budget(1_024), 480);
        assert_eq!(connection_budget(65_536), 32_736);
        assert_eq!(connection_budget(256), 96);
    }

    #[test]
    fn a_limit_at_or_under_the_reserve_still_lets_one_request_through() {
        assert_eq!(connection_budget(64), 1);
        assert_eq!(connection_budget(10), 1);
        assert_eq!(connection_budget(0), 1);
    }

    #[test]
    fn raising_never_lowers_the_limit_and_stays_within_the_hard_one() {
        let (soft, _) = rlimit::Resource::NOFILE
            .get()
            .unwrap_or_else(|e| panic!("{e}"));
        let limit = raise().unwrap_or_else(|e| panic!("{e}"));
        assert!(limit.now >= soft && limit.now >= limit.before, "{limit:?}");
        assert!(limit.now <= limit.hard, "{limit:?}");
        assert!(
            limit.now >= WANTED.min(limit.hard),
            "raised as far as wanted or allowed: {limit:?}"
        );
    }
}
