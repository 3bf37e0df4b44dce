//! A fake Discord on loopback: enough of the REST API and the gateway for
//! the real bot (serenity 0.12.5) to run end to end inside the test binary.
//!
//! Point serenity at it with
//! `HttpBuilder::new(token).proxy(fake.api_base()).ratelimiter_disabled(true)`
//! (the proxy is ignored while serenity's ratelimiter is on). The fake then
//! serves:
//!
//! * REST under `/api/v10`: the gateway URL, the bot user and application,
//!   bulk command registration (global and guild), interaction callbacks,
//!   followups and `@original` edits, channel messages (JSON or multipart with
//!   `payload_json`), message edits and threads started from messages. Every
//!   request is recorded ([`FakeDiscord::requests`]), unknown ones included
//!   (they get 404). [`FakeDiscord::fail_next`] scripts 429 answers.
//! * The gateway at `/ws` (plain `ws://`, JSON text frames): HELLO, READY after
//!   IDENTIFY, RESUMED after RESUME, heartbeat ACKs, and the dispatches the
//!   test asks for ([`FakeDiscord::send_interaction`]).
//!
//! Payload builders ([`command_interaction`] and friends) produce inbound
//! interactions that serenity's strict `Interaction` deserializer accepts.
//!
//! What it does not model: permissions and other validation beyond "is the
//! body JSON and are the ids snowflakes" (no length limits, no 403s), real
//! rate-limit buckets (only scripted 429s), channels, guilds, members and
//! roles (no `GUILD_CREATE`, so serenity's cache stays empty), message history
//! beyond "last known version of each message id", replay of missed dispatches
//! on RESUME, zlib compression, sharding, voice, and CDN URLs (attachment
//! URLs point at `cdn.discordapp.com` and are never fetched).
//!
//! Deliberate differences from Discord: threads get a fresh snowflake (Discord
//! gives a thread started from a message that message's id); REST messages
//! carry `guild_id` (Discord omits it there); edits of unknown message ids
//! succeed (tests may restart the bot and edit old messages); a component
//! interaction sent through [`FakeDiscord::send_interaction`] carries the last
//! version of its message the fake knows, and an UPDATE_MESSAGE callback edits
//! that stored message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};

/// The bot's user id (READY, `GET /users/@me`, message authors).
pub const BOT_USER_ID: u64 = 1000;
/// The application id (READY, interactions, commands, webhooks).
pub const APPLICATION_ID: u64 = 2000;
/// The one guild everything happens in.
pub const GUILD_ID: u64 = 3000;
/// The bot user's name.
pub const BOT_USERNAME: &str = "mailcall";
/// `attachment_size_limit` of every built interaction (Discord's default, 10 MiB).
pub const ATTACHMENT_SIZE_LIMIT: u64 = 10 * 1024 * 1024;
/// The session id the fake gateway hands out in READY.
pub const SESSION_ID: &str = "fake-session";
/// The heartbeat interval announced in HELLO, in milliseconds.
pub const HEARTBEAT_INTERVAL_MS: u64 = 41_250;
/// The close code [`FakeDiscord::close_gateway`] uses (Discord's "unknown error", resumable).
pub const CLOSE_CODE_RECONNECT: u16 = 4000;

/// The first id [`FakeDiscord::next_snowflake`] hands out.
const FIRST_SNOWFLAKE: u64 = 10_000;
/// How long `send_interaction`/`dispatch` wait for a ready gateway connection.
const DISPATCH_WAIT: Duration = Duration::from_secs(10);
/// Poll period of the `wait_*` helpers.
const POLL: Duration = Duration::from_millis(10);
/// Message flag of a deferred interaction response.
const LOADING: u64 = 1 << 7;
/// Id used in a command interaction's `data` when the test gives none.
const DEFAULT_COMMAND_ID: u64 = 4000;
/// When members of built interactions joined.
const JOINED_AT: &str = "2024-01-01T00:00:00.000000+00:00";

// Permission bits (https://discord.com/developers/docs/topics/permissions).
const ADD_REACTIONS: u64 = 1 << 6;
const VIEW_CHANNEL: u64 = 1 << 10;
const SEND_MESSAGES: u64 = 1 << 11;
const MANAGE_MESSAGES: u64 = 1 << 13;
const EMBED_LINKS: u64 = 1 << 14;
const ATTACH_FILES: u64 = 1 << 15;
const READ_MESSAGE_HISTORY: u64 = 1 << 16;
const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
const MANAGE_THREADS: u64 = 1 << 34;
const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;

/// What an ordinary member may do in the channel of a built interaction.
pub const MEMBER_PERMISSIONS: u64 = ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS;
/// What the bot may do there (`app_permissions`).
pub const APP_PERMISSIONS: u64 = MEMBER_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS;

/// One REST request the fake received, and what it answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method, upper case (`"POST"`).
    pub method: String,
    /// Path without query, e.g. `"/api/v10/channels/6000/messages"`.
    pub path: String,
    /// Raw query string without `?` (`""` if none).
    pub query: String,
    /// The JSON body; for multipart requests the `payload_json` part.
    /// `Null` if the body is empty or not JSON.
    pub body: Value,
    /// The `Authorization` header, e.g. `"Bot fake-token"`.
    pub authorization: Option<String>,
    /// The status code the fake answered with.
    pub status: u16,
    /// When the request arrived (its body fully read), for latency figures.
    pub at: Instant,
    /// The files of a multipart body: (filename, bytes).
    pub files: Vec<(String, Vec<u8>)>,
}

/// A loopback Discord: REST and gateway on one `127.0.0.1` port.
///
/// Cheap to clone; all clones share the same state. The server stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
    _server: Arc<ServerGuard>,
}

/// Stops the server (and closes gateway connections) when dropped.
struct ServerGuard {
    stop: watch::Sender<bool>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// State shared by the handle, the REST handler and the gateway connections.
struct Shared {
    port: u16,
    requests: Mutex<Vec<Recorded>>,
    failures: Mutex<Vec<FailRule>>,
    /// Last known version of every message, by id.
    messages: Mutex<HashMap<u64, Value>>,
    /// Interaction token → id of its original response message.
    originals: Mutex<HashMap<String, u64>>,
    /// Interaction token → channel the interaction came from.
    interaction_channels: Mutex<HashMap<String, u64>>,
    /// Interaction token → interaction type.
    interaction_kinds: Mutex<HashMap<String, u64>>,
    /// Component interaction token → the message the component is on.
    interaction_messages: Mutex<HashMap<String, u64>>,
    /// Registered commands by scope (`None` = global, `Some(guild)`).
    commands: Mutex<HashMap<Option<u64>, Vec<Value>>>,
    snowflake: AtomicU64,
    seq: AtomicU64,
    identify_count: AtomicUsize,
    resume_count: AtomicUsize,
    connection_count: AtomicUsize,
    last_identify: Mutex<Option<Value>>,
    live: Mutex<Option<Live>>,
    /// Requests carrying `Bot <this>` get 401, as Discord answers a revoked
    /// token. The body echoes the header, as some proxies do, so a client
    /// that prints bodies would leak it.
    rejected_token: Mutex<Option<(String, Option<String>)>>,
    /// (channel, nonce) → message, for `enforce_nonce` de-duplication.
    nonces: Mutex<HashMap<(u64, String), u64>>,
    /// While set, new gateway connections are refused (503), as when
    /// Discord cannot be reached.
    refuse_gateway: AtomicBool,
    stop: watch::Receiver<bool>,
}

/// The current gateway connection.
struct Live {
    id: usize,
    tx: mpsc::UnboundedSender<Outbound>,
    /// READY or RESUMED has been sent on this connection.
    ready: bool,
}

/// Frames queued for a gateway connection.
enum Outbound {
    Text(String),
    Close(u16, &'static str),
}

/// A scripted 429.
struct FailRule {
    method: String,
    path_contains: String,
    remaining: usize,
    retry_after_secs: f64,
    /// 429 (with `retry_after_secs`) unless set.
    status: Option<StatusCode>,
    /// Carry the request out, then answer `status` anyway (a response lost
    /// on the way back).
    after_accept: bool,
}

/// A REST answer before it becomes an HTTP response.
struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }

    fn not_found() -> Reply {
        Reply::json(
            StatusCode::NOT_FOUND,
            json!({"message": "Unknown", "code": 0}),
        )
    }

    fn bad_request(why: &str) -> Reply {
        Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"message": format!("Invalid Form Body: {why}"), "code": 50035}),
        )
    }
}

/// A request body, decoded.
struct Body {
    /// JSON (or `payload_json` of a multipart body); `Null` if empty or not JSON.
    json: Value,
    /// The body was non-empty but not decodable.
    malformed: bool,
    /// File parts of a multipart body.
    files: Vec<FilePart>,
}

/// One `files[n]` part of a multipart body.
struct FilePart {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    size: usize,
    data: Vec<u8>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not take the fake down with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeDiscord {
    /// Binds `127.0.0.1:0` and serves REST (under `/api/v10`) and the gateway
    /// (at `/ws`) on the current tokio runtime.
    pub async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("fake Discord cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake Discord has no local address: {e}"))
            .port();
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            port,
            requests: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            messages: Mutex::new(HashMap::new()),
            originals: Mutex::new(HashMap::new()),
            interaction_channels: Mutex::new(HashMap::new()),
            interaction_kinds: Mutex::new(HashMap::new()),
            interaction_messages: Mutex::new(HashMap::new()),
            commands: Mutex::new(HashMap::new()),
            snowflake: AtomicU64::new(FIRST_SNOWFLAKE),
            seq: AtomicU64::new(0),
            identify_count: AtomicUsize::new(0),
            resume_count: AtomicUsize::new(0),
            connection_count: AtomicUsize::new(0),
            last_identify: Mutex::new(None),
            live: Mutex::new(None),
            rejected_token: Mutex::new(None),
            nonces: Mutex::new(HashMap::new()),
            refuse_gateway: AtomicBool::new(false),
            stop: stop_rx.clone(),
        });
        let app = Router::new()
            .route("/ws", get(gateway_upgrade))
            .fallback(rest)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&shared));
        let mut stop = stop_rx;
        tokio::spawn(async move {
            let shutdown = async move { stopped(&mut stop).await };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        FakeDiscord {
            shared,
            _server: Arc::new(ServerGuard { stop: stop_tx }),
        }
    }

    /// `"http://127.0.0.1:PORT"`, for `HttpBuilder::proxy`.
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.port)
    }

    /// `"ws://127.0.0.1:PORT/ws"`, what `GET /api/v10/gateway` answers.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url()
    }

    /// Waits until a client has IDENTIFYed (or RESUMEd) on the current
    /// gateway connection and was sent READY (or RESUMED). False on timeout.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if lock(&self.shared.live).as_ref().is_some_and(|l| l.ready) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Dispatches `INTERACTION_CREATE` with the next sequence number on the
    /// live gateway connection (waiting up to 10 s for one to be ready).
    ///
    /// A component interaction whose `message.id` names a message the bot
    /// created or edited through this fake gets that message's last known
    /// version instead, as Discord would send it. The interaction's token is
    /// remembered so that callbacks and followups land in its channel.
    ///
    /// # Panics
    /// If no connection becomes ready in time.
    pub async fn send_interaction(&self, interaction: Value) {
        if !self.try_send_interaction(interaction, DISPATCH_WAIT).await {
            panic!("fake Discord: no ready gateway connection to dispatch INTERACTION_CREATE on");
        }
    }

    /// [`FakeDiscord::send_interaction`], giving up (false) when no ready
    /// gateway connection appears within `wait`: for a bot that may have
    /// been killed.
    pub async fn try_send_interaction(&self, mut interaction: Value, wait: Duration) -> bool {
        let kind = interaction.get("type").and_then(Value::as_u64);
        let message_id = interaction.pointer("/message/id").and_then(snowflake_of);
        if let Some(token) = interaction.get("token").and_then(Value::as_str) {
            if let Some(channel) = interaction.get("channel_id").and_then(snowflake_of) {
                lock(&self.shared.interaction_channels).insert(token.to_owned(), channel);
            }
            if let Some(kind) = kind {
                lock(&self.shared.interaction_kinds).insert(token.to_owned(), kind);
            }
            if let Some(message_id) = message_id {
                lock(&self.shared.interaction_messages).insert(token.to_owned(), message_id);
            }
        }
        if kind == Some(3) {
            let stored = message_id.and_then(|id| lock(&self.shared.messages).get(&id).cloned());
            if let (Some(stored), Some(obj)) = (stored, interaction.as_object_mut()) {
                obj.insert("message".to_owned(), stored);
            }
        }
        self.dispatch_within("INTERACTION_CREATE", &interaction, wait)
            .await
    }

    /// Dispatches any event `{"op":0,"t":event,"s":<next>,"d":data}` on the
    /// live gateway connection (waiting up to 10 s for one to be ready).
    ///
    /// # Panics
    /// If no connection becomes ready in time.
    pub async fn dispatch(&self, event: &str, data: Value) {
        if !self.dispatch_within(event, &data, DISPATCH_WAIT).await {
            panic!("fake Discord: no ready gateway connection to dispatch {event} on");
        }
    }

    /// Dispatches `event` if a ready connection appears within `wait`.
    async fn dispatch_within(&self, event: &str, data: &Value, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            {
                let live = lock(&self.shared.live);
                if let Some(live) = live.as_ref().filter(|l| l.ready) {
                    let seq = self.shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
                    let frame = json!({"op": 0, "t": event, "s": seq, "d": data});
                    if live.tx.send(Outbound::Text(frame.to_string())).is_ok() {
                        return true;
                    }
                    // The connection just went away; retry on the next one.
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every REST request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests (not the scripted failures or messages).
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// The first recorded request (already recorded or arriving before
    /// `timeout`) for which `what` holds.
    pub async fn wait_for_request(
        &self,
        what: impl Fn(&Recorded) -> bool,
        timeout: Duration,
    ) -> Option<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = lock(&self.shared.requests).iter().find(|r| what(r)) {
                return Some(found.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The next `times` requests with this method (case-insensitive) whose
    /// path contains `path_contains` get 429 with Discord's body
    /// `{"message":"You are being rate limited.","retry_after":x,"global":false,"code":0}`
    /// and `Retry-After`/`X-RateLimit-*` headers. They are recorded with status 429.
    pub fn fail_next(
        &self,
        method: &str,
        path_contains: &str,
        times: usize,
        retry_after_secs: f64,
    ) {
        self.push_failure(method, path_contains, times, retry_after_secs, None, false);
    }

    /// The next `times` requests with this method whose path contains
    /// `path_contains` get `status` (a 5xx, say) with Discord's error body.
    /// Recorded with that status.
    pub fn fail_next_with(&self, method: &str, path_contains: &str, times: usize, status: u16) {
        let status = StatusCode::from_u16(status).ok();
        self.push_failure(method, path_contains, times, 0.0, status, false);
    }

    /// Drops every scripted failure still pending.
    pub fn clear_failures(&self) {
        lock(&self.shared.failures).clear();
    }

    /// The next `times` matching requests are carried out (a message is
    /// created) but answered 500, as when the answer is lost on its way
    /// back: a client that retries without a nonce posts twice.
    pub fn lose_answer_next(&self, method: &str, path_contains: &str, times: usize) {
        let status = Some(StatusCode::INTERNAL_SERVER_ERROR);
        self.push_failure(method, path_contains, times, 0.0, status, true);
    }

    fn push_failure(
        &self,
        method: &str,
        path_contains: &str,
        times: usize,
        retry_after_secs: f64,
        status: Option<StatusCode>,
        after_accept: bool,
    ) {
        if times == 0 {
            return;
        }
        lock(&self.shared.failures).push(FailRule {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_owned(),
            remaining: times,
            retry_after_secs,
            status,
            after_accept,
        });
    }

    /// From now on every request authorised with `token` gets 401.
    pub fn reject_token(&self, token: &str) {
        *lock(&self.shared.rejected_token) = Some((token.to_owned(), None));
    }

    /// Like [`FakeDiscord::reject_token`], only for paths containing `path`.
    pub fn reject_token_on(&self, token: &str, path: &str) {
        *lock(&self.shared.rejected_token) = Some((token.to_owned(), Some(path.to_owned())));
    }

    /// Closes the current gateway connection with code 4000, as Discord does
    /// on an internal error; serenity reconnects (RESUME, or IDENTIFY if it
    /// has no session). `wait_ready` is false until the new connection is ready.
    pub async fn close_gateway(&self) {
        let live = lock(&self.shared.live).take();
        if let Some(live) = live {
            let _ = live.tx.send(Outbound::Close(
                CLOSE_CODE_RECONNECT,
                "fake: closed by test",
            ));
        }
    }

    /// Refuses (or accepts again) new gateway connections; with
    /// [`FakeDiscord::close_gateway`] this takes the bot offline.
    pub fn refuse_gateway(&self, refuse: bool) {
        self.shared.refuse_gateway.store(refuse, Ordering::SeqCst);
    }

    /// How many IDENTIFYs the gateway has answered with READY.
    pub fn identify_count(&self) -> usize {
        self.shared.identify_count.load(Ordering::SeqCst)
    }

    /// How many RESUMEs the gateway has answered with RESUMED.
    pub fn resume_count(&self) -> usize {
        self.shared.resume_count.load(Ordering::SeqCst)
    }

    /// How many websocket connections the gateway has accepted.
    pub fn connection_count(&self) -> usize {
        self.shared.connection_count.load(Ordering::SeqCst)
    }

    /// The `d` of the last IDENTIFY (token, intents, properties …).
    pub fn last_identify(&self) -> Option<Value> {
        lock(&self.shared.last_identify).clone()
    }

    /// The last known version of a message the bot created or edited here.
    pub fn message(&self, id: u64) -> Option<Value> {
        lock(&self.shared.messages).get(&id).cloned()
    }

    /// The commands last registered by bulk overwrite: `None` = global,
    /// `Some(guild)` = that guild's.
    /// Every message that exists in `channel` (created, not deleted), in
    /// id order: what a person scrolling the channel would see.
    pub fn messages_in(&self, channel: u64) -> Vec<Value> {
        let mut found: Vec<(u64, Value)> = lock(&self.shared.messages)
            .iter()
            .filter(|(_, m)| m.get("channel_id").and_then(snowflake_of) == Some(channel))
            .map(|(id, m)| (*id, m.clone()))
            .collect();
        found.sort_by_key(|(id, _)| *id);
        found.into_iter().map(|(_, m)| m).collect()
    }

    pub fn commands(&self, guild: Option<u64>) -> Vec<Value> {
        lock(&self.shared.commands)
            .get(&guild)
            .cloned()
            .unwrap_or_default()
    }

    /// A fresh id for messages, threads, interactions …; increasing, from 10 000.
    pub fn next_snowflake(&self) -> u64 {
        self.shared.next_snowflake()
    }
}

impl Shared {
    fn next_snowflake(&self) -> u64 {
        self.snowflake.fetch_add(1, Ordering::SeqCst)
    }

    fn gateway_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Consumes one scripted 429 matching this request, if any.
    fn take_failure(&self, method: &str, path: &str) -> Option<(f64, Option<StatusCode>, bool)> {
        let mut failures = lock(&self.failures);
        let index = failures
            .iter()
            .position(|f| f.method == method && path.contains(&f.path_contains))?;
        let rule = &mut failures[index];
        rule.remaining -= 1;
        let answer = (rule.retry_after_secs, rule.status, rule.after_accept);
        if rule.remaining == 0 {
            failures.remove(index);
        }
        Some(answer)
    }

    fn store_message(&self, message: &Value) {
        if let Some(id) = message.get("id").and_then(snowflake_of) {
            lock(&self.messages).insert(id, message.clone());
        }
    }

    fn mark_ready(&self, connection: usize) {
        if let Some(live) = lock(&self.live).as_mut().filter(|l| l.id == connection) {
            live.ready = true;
        }
    }
}

// ---------------------------------------------------------------------------
// Gateway

async fn gateway_upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    if shared.refuse_gateway.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    ws.on_upgrade(move |socket| run_gateway(shared, socket))
}

/// One gateway connection: HELLO, then answer the client until either side closes.
async fn run_gateway(shared: Arc<Shared>, mut socket: WebSocket) {
    let id = shared.connection_count.fetch_add(1, Ordering::SeqCst) + 1;
    let (tx, mut rx) = mpsc::unbounded_channel();
    *lock(&shared.live) = Some(Live {
        id,
        tx: tx.clone(),
        ready: false,
    });
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}});
    let _ = tx.send(Outbound::Text(hello.to_string()));
    let mut stop = shared.stop.clone();
    let mut closing = false;
    let mut close_deadline = tokio::time::Instant::now();
    loop {
        tokio::select! {
            out = rx.recv(), if !closing => match out {
                Some(Outbound::Text(text)) => {
                    if socket.send(WsMessage::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    if socket.send(WsMessage::Close(Some(frame))).await.is_err() {
                        break;
                    }
                    // Keep reading until the client answers the close, so it
                    // sees our close frame rather than a reset connection.
                    closing = true;
                    close_deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) if !closing => {
                    handle_gateway_frame(&shared, id, &tx, text.as_str())
                }
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(close_deadline), if closing => break,
            () = stopped(&mut stop) => {
                let frame = CloseFrame { code: 1001, reason: "fake: shutting down".into() };
                let _ = socket.send(WsMessage::Close(Some(frame))).await;
                break;
            }
        }
    }
    let mut live = lock(&shared.live);
    if live.as_ref().is_some_and(|l| l.id == id) {
        *live = None;
    }
}

/// Resolves once the fake is being shut down.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Answers one client frame (HEARTBEAT, IDENTIFY, RESUME; others are ignored).
fn handle_gateway_frame(
    shared: &Shared,
    connection: usize,
    tx: &mpsc::UnboundedSender<Outbound>,
    text: &str,
) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        let _ = tx.send(Outbound::Close(4002, "decode error"));
        return;
    };
    match frame.get("op").and_then(Value::as_u64) {
        Some(1) => {
            let _ = tx.send(Outbound::Text(json!({"op": 11}).to_string()));
        }
        Some(2) => {
            let d = frame.get("d").cloned().unwrap_or(Value::Null);
            let token_ok = d
                .get("token")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("Bot "));
            *lock(&shared.last_identify) = Some(d);
            if !token_ok {
                let _ = tx.send(Outbound::Close(4004, "authentication failed"));
                return;
            }
            shared.identify_count.fetch_add(1, Ordering::SeqCst);
            shared.seq.store(1, Ordering::SeqCst);
            let ready = json!({
                "op": 0,
                "s": 1,
                "t": "READY",
                "d": {
                    "v": 10,
                    "user": bot_user(),
                    "guilds": [{"id": GUILD_ID.to_string(), "unavailable": true}],
                    "session_id": SESSION_ID,
                    "resume_gateway_url": shared.gateway_url(),
                    "shard": [0, 1],
                    "application": {"id": APPLICATION_ID.to_string(), "flags": 0},
                },
            });
            let _ = tx.send(Outbound::Text(ready.to_string()));
            shared.mark_ready(connection);
        }
        Some(6) => {
            shared.resume_count.fetch_add(1, Ordering::SeqCst);
            let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
            let resumed = json!({"op": 0, "t": "RESUMED", "s": seq, "d": {}});
            let _ = tx.send(Outbound::Text(resumed.to_string()));
            shared.mark_ready(connection);
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// REST

/// Records and answers every request that is not the gateway.
async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let method = method.as_str().to_ascii_uppercase();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = decode_body(content_type, &body);

    let rejected = lock(&shared.rejected_token)
        .as_ref()
        .is_some_and(|(t, only)| {
            authorization.as_deref() == Some(format!("Bot {t}").as_str())
                && only
                    .as_ref()
                    .is_none_or(|only| path.contains(only.as_str()))
        });
    let reply = if rejected {
        Reply {
            status: StatusCode::UNAUTHORIZED,
            body: Some(json!({
                "message": format!("401: Unauthorized {}", authorization.clone().unwrap_or_default()),
                "code": 0,
            })),
            headers: Vec::new(),
        }
    } else {
        match shared.take_failure(&method, &path) {
            Some((_, Some(status), after_accept)) => {
                if after_accept {
                    let _ = route(&shared, &method, &path, &query, &body);
                }
                Reply {
                    status,
                    body: Some(json!({"message": "Internal Server Error", "code": 0})),
                    headers: Vec::new(),
                }
            }
            Some((retry_after, None, _)) => rate_limited(retry_after),
            None => route(&shared, &method, &path, &query, &body),
        }
    };

    let files = body
        .files
        .iter()
        .map(|f| (f.filename.clone().unwrap_or_default(), f.data.clone()))
        .collect();
    lock(&shared.requests).push(Recorded {
        files,
        method,
        path,
        query,
        body: body.json,
        authorization,
        status: reply.status.as_u16(),
        at,
    });
    into_response(reply)
}

fn into_response(reply: Reply) -> Response {
    let mut headers = HeaderMap::new();
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    match reply.body {
        Some(body) => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            (reply.status, headers, body.to_string()).into_response()
        }
        None => (reply.status, headers).into_response(),
    }
}

fn rate_limited(retry_after: f64) -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Reply {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: Some(json!({
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": false,
            "code": 0,
        })),
        headers: vec![
            (
                "retry-after",
                format!("{}", retry_after.ceil().max(0.0) as u64),
            ),
            ("x-ratelimit-limit", "5".to_owned()),
            ("x-ratelimit-remaining", "0".to_owned()),
            ("x-ratelimit-reset", format!("{:.3}", now + retry_after)),
            ("x-ratelimit-reset-after", format!("{retry_after:.3}")),
            ("x-ratelimit-bucket", "fake-bucket".to_owned()),
            ("x-ratelimit-scope", "user".to_owned()),
        ],
    }
}

/// Decodes a JSON or multipart (`payload_json` + `files[n]`) body.
fn decode_body(content_type: &str, bytes: &[u8]) -> Body {
    if bytes.is_empty() {
        return Body {
            json: Value::Null,
            malformed: false,
            files: Vec::new(),
        };
    }
    if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let Some(boundary) = multipart_boundary(content_type) else {
            return Body {
                json: Value::Null,
                malformed: true,
                files: Vec::new(),
            };
        };
        let mut json = Value::Null;
        let mut malformed = false;
        let mut files = Vec::new();
        for part in multipart_parts(bytes, &boundary) {
            if part.name == "payload_json" {
                match serde_json::from_slice(part.data) {
                    Ok(v) => json = v,
                    Err(_) => malformed = true,
                }
            } else {
                files.push(FilePart {
                    name: part.name,
                    filename: part.filename,
                    content_type: part.content_type,
                    size: part.data.len(),
                    data: part.data.to_vec(),
                });
            }
        }
        return Body {
            json,
            malformed,
            files,
        };
    }
    match serde_json::from_slice(bytes) {
        Ok(json) => Body {
            json,
            malformed: false,
            files: Vec::new(),
        },
        Err(_) => Body {
            json: Value::Null,
            malformed: true,
            files: Vec::new(),
        },
    }
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|param| {
        let (key, value) = param.trim().split_once('=')?;
        key.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"').to_owned())
    })
}

struct Part<'a> {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: &'a [u8],
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Splits a multipart/form-data body into its parts (lenient; skips junk).
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<Part<'a>> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let Some(mut at) = find(body, &delimiter, 0) else {
        return parts;
    };
    loop {
        let start = at + delimiter.len();
        if body[start..].starts_with(b"--") {
            break; // closing delimiter
        }
        let Some(next) = find(body, &delimiter, start) else {
            break;
        };
        let raw = &body[start..next];
        let raw = raw.strip_prefix(b"\r\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        if let Some(split) = find(raw, b"\r\n\r\n", 0) {
            let head = String::from_utf8_lossy(&raw[..split]);
            let data = &raw[split + 4..];
            let mut name = None;
            let mut filename = None;
            let mut content_type = None;
            for line in head.lines() {
                let Some((key, value)) = line.split_once(':') else {
                    continue;
                };
                if key.trim().eq_ignore_ascii_case("content-disposition") {
                    for param in value.split(';') {
                        if let Some((k, v)) = param.trim().split_once('=') {
                            let v = v.trim().trim_matches('"').to_owned();
                            match k.trim() {
                                "name" => name = Some(v),
                                "filename" => filename = Some(v),
                                _ => {}
                            }
                        }
                    }
                } else if key.trim().eq_ignore_ascii_case("content-type") {
                    content_type = Some(value.trim().to_owned());
                }
            }
            if let Some(name) = name {
                parts.push(Part {
                    name,
                    filename,
                    content_type,
                    data,
                });
            }
        }
        at = next;
    }
    parts
}

/// Parses a path segment as a snowflake.
fn snowflake(segment: &str) -> Option<u64> {
    segment.parse().ok().filter(|&n| n > 0)
}

/// Dispatches on method and path (under `/api/v10`).
fn route(shared: &Shared, method: &str, path: &str, query: &str, body: &Body) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return Reply::not_found();
    };
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| s.replace("%40", "@"))
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let needs_json = matches!(method, "POST" | "PUT" | "PATCH");
    if needs_json && body.malformed {
        return Reply::bad_request("body is not JSON");
    }

    match (method, segments.as_slice()) {
        ("GET", ["gateway"]) => Reply::ok(json!({"url": shared.gateway_url()})),
        ("GET", ["gateway", "bot"]) => Reply::ok(json!({
            "url": shared.gateway_url(),
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        })),
        ("GET", ["users", "@me"]) => Reply::ok(bot_user()),
        ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
            Reply::ok(application())
        }
        ("PUT", ["applications", app, "commands"]) => bulk_commands(shared, app, None, body),
        ("PUT", ["applications", app, "guilds", guild, "commands"]) => match snowflake(guild) {
            Some(guild) => bulk_commands(shared, app, Some(guild), body),
            None => Reply::bad_request("guild_id is not a snowflake"),
        },
        ("GET", ["applications", _app, "commands"]) => Reply::ok(Value::Array(
            lock(&shared.commands)
                .get(&None)
                .cloned()
                .unwrap_or_default(),
        )),
        ("GET", ["applications", _app, "guilds", guild, "commands"]) => match snowflake(guild) {
            Some(guild) => Reply::ok(Value::Array(
                lock(&shared.commands)
                    .get(&Some(guild))
                    .cloned()
                    .unwrap_or_default(),
            )),
            None => Reply::bad_request("guild_id is not a snowflake"),
        },
        ("POST", ["interactions", interaction, token, "callback"]) => {
            interaction_callback(shared, interaction, token, query, body)
        }
        ("POST", ["channels", channel, "messages"]) => match snowflake(channel) {
            Some(channel) => create_message(shared, channel, body, None),
            None => Reply::bad_request("channel_id is not a snowflake"),
        },
        (_, ["channels", channel, "messages", message]) => {
            match (snowflake(channel), snowflake(message)) {
                (Some(channel), Some(message)) => match method {
                    "GET" => Reply::ok(known_message(shared, message, channel, None)),
                    "PATCH" => Reply::ok(edit_message(shared, message, channel, body, None)),
                    "DELETE" => {
                        lock(&shared.messages).remove(&message);
                        Reply::no_content()
                    }
                    _ => Reply::not_found(),
                },
                _ => Reply::bad_request("id is not a snowflake"),
            }
        }
        ("POST", ["channels", channel, "messages", message, "threads"]) => {
            match (snowflake(channel), snowflake(message)) {
                (Some(channel), Some(_)) => create_thread(shared, channel, body),
                _ => Reply::bad_request("id is not a snowflake"),
            }
        }
        ("POST", ["webhooks", app, token]) => match snowflake(app) {
            Some(app) => {
                let channel = interaction_channel(shared, token);
                create_message(shared, channel, body, Some(app))
            }
            None => Reply::bad_request("webhook_id is not a snowflake"),
        },
        (_, ["webhooks", app, token, "messages", message]) => {
            let Some(app) = snowflake(app) else {
                return Reply::bad_request("webhook_id is not a snowflake");
            };
            let channel = interaction_channel(shared, token);
            let message = if *message == "@original" {
                *lock(&shared.originals)
                    .entry((*token).to_owned())
                    .or_insert_with(|| shared.next_snowflake())
            } else {
                match snowflake(message) {
                    Some(message) => message,
                    None => return Reply::bad_request("message_id is not a snowflake"),
                }
            };
            match method {
                "GET" => Reply::ok(known_message(shared, message, channel, Some(app))),
                "PATCH" => Reply::ok(edit_message(shared, message, channel, body, Some(app))),
                "DELETE" => {
                    lock(&shared.messages).remove(&message);
                    Reply::no_content()
                }
                _ => Reply::not_found(),
            }
        }
        _ => Reply::not_found(),
    }
}

/// The channel an interaction token belongs to (from `send_interaction`), or 1.
fn interaction_channel(shared: &Shared, token: &str) -> u64 {
    lock(&shared.interaction_channels)
        .get(token)
        .copied()
        .unwrap_or(1)
}

fn bulk_commands(shared: &Shared, app: &str, guild: Option<u64>, body: &Body) -> Reply {
    let Some(app) = snowflake(app) else {
        return Reply::bad_request("application_id is not a snowflake");
    };
    let Some(items) = body.json.as_array() else {
        return Reply::bad_request("expected an array of commands");
    };
    let mut commands = lock(&shared.commands);
    let previous = commands.get(&guild).cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(mut command) = item.as_object().cloned() else {
            return Reply::bad_request("a command is not an object");
        };
        let Some(name) = command
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Reply::bad_request("a command has no name");
        };
        let kind = command.get("type").and_then(Value::as_u64).unwrap_or(1);
        // Discord keeps a command's id across overwrites (same name and type).
        let old_id = previous
            .iter()
            .find(|c| {
                c.get("name").and_then(Value::as_str) == Some(name.as_str())
                    && c.get("type").and_then(Value::as_u64) == Some(kind)
            })
            .and_then(|c| c.get("id").cloned());
        let command_id = old_id.unwrap_or_else(|| json!(shared.next_snowflake().to_string()));
        command.insert("id".to_owned(), command_id);
        command.insert("application_id".to_owned(), json!(app.to_string()));
        command.insert(
            "version".to_owned(),
            json!(shared.next_snowflake().to_string()),
        );
        command.insert("type".to_owned(), json!(kind));
        for (key, default) in [
            ("description", json!("")),
            ("default_member_permissions", Value::Null),
            ("nsfw", json!(false)),
            ("integration_types", json!([0])),
            ("contexts", Value::Null),
        ] {
            command.entry(key).or_insert(default);
        }
        match guild {
            Some(guild) => {
                command.insert("guild_id".to_owned(), json!(guild.to_string()));
            }
            None => {
                command
                    .entry("dm_permission")
                    .or_insert_with(|| json!(true));
            }
        }
        if let Some(options) = command.get_mut("options") {
            fill_option_descriptions(options);
        }
        out.push(Value::Object(command));
    }
    commands.insert(guild, out.clone());
    Reply::ok(Value::Array(out))
}

/// Options must carry a `description` for serenity's `CommandOption`.
fn fill_option_descriptions(options: &mut Value) {
    let Some(options) = options.as_array_mut() else {
        return;
    };
    for option in options {
        if let Some(option) = option.as_object_mut() {
            option.entry("description").or_insert_with(|| json!(""));
            if let Some(nested) = option.get_mut("options") {
                fill_option_descriptions(nested);
            }
        }
    }
}

fn interaction_callback(
    shared: &Shared,
    interaction: &str,
    token: &str,
    query: &str,
    body: &Body,
) -> Reply {
    let Some(interaction) = snowflake(interaction) else {
        return Reply::bad_request("interaction_id is not a snowflake");
    };
    let Some(kind) = body.json.get("type").and_then(Value::as_u64) else {
        return Reply::bad_request("callback has no type");
    };
    let channel = interaction_channel(shared, token);
    let data = body.json.get("data").cloned().unwrap_or(Value::Null);
    let clicked = lock(&shared.interaction_messages).get(token).copied();
    let message = match kind {
        // CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
        // the response becomes the interaction's original message.
        4 | 5 => {
            let id = shared.next_snowflake();
            lock(&shared.originals).insert(token.to_owned(), id);
            let payload = if kind == 4 { data } else { json!({}) };
            let mut message =
                message_json(id, channel, &payload, &body.files, Some(APPLICATION_ID));
            if kind == 5 {
                if let Some(obj) = message.as_object_mut() {
                    obj.insert("flags".to_owned(), json!(LOADING));
                }
            }
            shared.store_message(&message);
            Some(message)
        }
        // DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE (components): the original
        // is the message the component is on; UPDATE_MESSAGE edits it.
        6 | 7 => clicked.map(|clicked| {
            lock(&shared.originals).insert(token.to_owned(), clicked);
            if kind == 7 {
                let edit = Body {
                    json: data.clone(),
                    malformed: false,
                    files: Vec::new(),
                };
                edit_message(shared, clicked, channel, &edit, None)
            } else {
                known_message(shared, clicked, channel, None)
            }
        }),
        _ => None,
    };
    let with_response = query
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("with_response=true"));
    if !with_response {
        return Reply::no_content();
    }
    let mut answer = json!({
        "interaction": {
            "id": interaction.to_string(),
            "type": lock(&shared.interaction_kinds).get(token).copied().unwrap_or(2),
            "activity_instance_id": null,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": data_is_ephemeral(&body.json),
        },
    });
    if let Some(message) = message {
        answer["interaction"]["response_message_id"] = message["id"].clone();
        if kind == 4 || kind == 7 {
            answer["resource"] = json!({"type": kind, "message": message});
        }
    }
    Reply::ok(answer)
}

fn data_is_ephemeral(callback: &Value) -> bool {
    callback
        .pointer("/data/flags")
        .and_then(Value::as_u64)
        .is_some_and(|f| f & (1 << 6) != 0)
}

fn create_message(shared: &Shared, channel: u64, body: &Body, webhook: Option<u64>) -> Reply {
    if !body.json.is_object() {
        return Reply::bad_request("expected a message object");
    }
    // `enforce_nonce`: a nonce seen before in this channel returns the
    // message it created, and creates nothing.
    let nonce = body.json.get("nonce").and_then(|n| match n {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let enforced = body.json.get("enforce_nonce") == Some(&Value::Bool(true));
    if let (true, Some(nonce)) = (enforced, &nonce) {
        let seen = lock(&shared.nonces).get(&(channel, nonce.clone())).copied();
        if let Some(existing) = seen {
            return Reply::ok(known_message(shared, existing, channel, webhook));
        }
    }
    let id = shared.next_snowflake();
    let message = message_json(id, channel, &body.json, &body.files, webhook);
    shared.store_message(&message);
    if let (true, Some(nonce)) = (enforced, nonce) {
        lock(&shared.nonces).insert((channel, nonce), id);
    }
    Reply::ok(message)
}

/// The stored message, or an empty one with this id.
fn known_message(shared: &Shared, id: u64, channel: u64, webhook: Option<u64>) -> Value {
    lock(&shared.messages)
        .get(&id)
        .cloned()
        .unwrap_or_else(|| message_json(id, channel, &json!({}), &[], webhook))
}

/// Applies an edit to the stored message (or to an empty one: any id is accepted).
fn edit_message(
    shared: &Shared,
    id: u64,
    channel: u64,
    body: &Body,
    webhook: Option<u64>,
) -> Value {
    let mut message = known_message(shared, id, channel, webhook);
    let fresh = message_json(id, channel, &body.json, &body.files, webhook);
    if let (Some(target), Some(edit)) = (message.as_object_mut(), body.json.as_object()) {
        for key in ["content", "embeds", "components", "flags", "attachments"] {
            if edit.contains_key(key) {
                target.insert(key.to_owned(), fresh[key].clone());
            }
        }
        // Editing a deferred response ends its "thinking…" state.
        if let Some(flags) = target.get("flags").and_then(Value::as_u64) {
            target.insert("flags".to_owned(), json!(flags & !LOADING));
        }
        target.insert(
            "edited_timestamp".to_owned(),
            json!(serenity::model::Timestamp::now().to_string()),
        );
    }
    shared.store_message(&message);
    message
}

fn create_thread(shared: &Shared, channel: u64, body: &Body) -> Reply {
    let Some(name) = body.json.get("name").and_then(Value::as_str) else {
        return Reply::bad_request("name is required");
    };
    let id = shared.next_snowflake();
    let now = serenity::model::Timestamp::now().to_string();
    let archive = body
        .json
        .get("auto_archive_duration")
        .and_then(Value::as_u64)
        .unwrap_or(1440);
    let slowmode = body
        .json
        .get("rate_limit_per_user")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Reply::json(
        StatusCode::CREATED,
        json!({
            "id": id.to_string(),
            "type": 11,
            "guild_id": GUILD_ID.to_string(),
            "parent_id": channel.to_string(),
            "owner_id": BOT_USER_ID.to_string(),
            "name": name,
            "last_message_id": null,
            "rate_limit_per_user": slowmode,
            "flags": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": false,
                "auto_archive_duration": archive,
                "archive_timestamp": now,
                "locked": false,
                "create_timestamp": now,
            },
            "member": {
                "id": id.to_string(),
                "user_id": BOT_USER_ID.to_string(),
                "join_timestamp": now,
                "flags": 0,
            },
        }),
    )
}

/// A Message object as Discord returns it, echoing `payload` (the request body).
fn message_json(
    id: u64,
    channel: u64,
    payload: &Value,
    files: &[FilePart],
    webhook: Option<u64>,
) -> Value {
    let field = |key: &str, default: Value| {
        payload
            .get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default)
    };
    let attachments: Vec<Value> = payload
        .get("attachments")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, a)| attachment_json(id, channel, i, a, files))
                .collect()
        })
        .unwrap_or_default();
    let mut message = json!({
        "id": id.to_string(),
        "type": 0,
        "channel_id": channel.to_string(),
        "author": bot_user(),
        "content": field("content", json!("")),
        "timestamp": serenity::model::Timestamp::now().to_string(),
        "edited_timestamp": null,
        "tts": field("tts", json!(false)),
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": field("embeds", json!([])),
        "components": numbered_components(field("components", json!([]))),
        "flags": field("flags", json!(0)),
        "pinned": false,
        "reactions": [],
        "sticker_items": [],
    });
    if let Some(obj) = message.as_object_mut() {
        // Discord omits guild_id from REST messages; it is kept here
        // (everything happens in GUILD_ID) so bots need not look it up.
        obj.insert("guild_id".to_owned(), json!(GUILD_ID.to_string()));
        if let Some(webhook) = webhook {
            obj.insert("webhook_id".to_owned(), json!(webhook.to_string()));
            obj.insert(
                "application_id".to_owned(),
                json!(APPLICATION_ID.to_string()),
            );
        }
    }
    message
}

/// Gives every component without one the numeric `id` Discord assigns
/// (1, 2, … depth first), as in Discord's responses.
fn numbered_components(mut components: Value) -> Value {
    fn walk(components: &mut Value, next: &mut u64) {
        let Some(list) = components.as_array_mut() else {
            return;
        };
        for component in list {
            if let Some(obj) = component.as_object_mut() {
                if !obj.contains_key("id") {
                    obj.insert("id".to_owned(), json!(*next));
                }
                *next += 1;
                if let Some(children) = obj.get_mut("components") {
                    walk(children, next);
                }
            }
        }
    }
    walk(&mut components, &mut 1);
    components
}

/// An Attachment object for `attachments[i]` of a request, sized from its `files[n]` part.
fn attachment_json(
    message: u64,
    channel: u64,
    i: usize,
    item: &Value,
    files: &[FilePart],
) -> Value {
    let given_id = item.get("id").and_then(snowflake_of);
    let part_name = format!("files[{}]", given_id.unwrap_or(i as u64));
    let part = files.iter().find(|f| f.name == part_name);
    // Small ids are upload indices; large ones name attachments kept on edit.
    let attachment_id = given_id
        .filter(|&n| n >= FIRST_SNOWFLAKE)
        .unwrap_or(message * 100 + i as u64);
    let filename = item
        .get("filename")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| part.and_then(|p| p.filename.clone()))
        .unwrap_or_else(|| format!("file{i}"));
    let url =
        format!("https://cdn.discordapp.com/attachments/{channel}/{attachment_id}/{filename}");
    json!({
        "id": attachment_id.to_string(),
        "filename": filename,
        "description": item.get("description").cloned().unwrap_or(Value::Null),
        "content_type": part.and_then(|p| p.content_type.clone()),
        "size": part.map_or(0, |p| p.size),
        "url": url,
        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
    })
}

/// A snowflake given as string or number.
fn snowflake_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The bot's user object.
pub fn bot_user() -> Value {
    json!({
        "id": BOT_USER_ID.to_string(),
        "username": BOT_USERNAME,
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": true,
        "system": false,
        "mfa_enabled": true,
        "banner": null,
        "accent_color": null,
        "verified": true,
        "flags": 0,
        "public_flags": 0,
        "primary_guild": null,
    })
}

fn application() -> Value {
    json!({
        "id": APPLICATION_ID.to_string(),
        "name": BOT_USERNAME,
        "icon": null,
        "description": "",
        "rpc_origins": [],
        "bot_public": false,
        "bot_require_code_grant": false,
        "bot": bot_user(),
        "owner": user_json(1, "owner"),
        "verify_key": "0".repeat(64),
        "team": null,
        "flags": 0,
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "type": null,
        "flags_new": "0",
        "explicit_content_filter": 0,
        "eligible_oauth2_scopes": ["bot", "applications.commands"],
    })
}

// ---------------------------------------------------------------------------
// Payload builders

/// The member who triggers a built interaction.
#[derive(Clone, Debug)]
pub struct Member {
    /// User id.
    pub user_id: u64,
    /// Username (also used as global name).
    pub name: String,
    /// Role ids in [`GUILD_ID`].
    pub roles: Vec<u64>,
}

fn user_json(id: u64, name: &str) -> Value {
    json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": null,
        "bot": false,
        "system": false,
        "banner": null,
        "accent_color": null,
        "flags": 0,
        "public_flags": 0,
        "avatar_decoration_data": null,
        "collectibles": null,
        "primary_guild": null,
    })
}

fn member_json(member: &Member) -> Value {
    json!({
        "user": user_json(member.user_id, &member.name),
        "nick": null,
        "avatar": null,
        "banner": null,
        "roles": member.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "joined_at": JOINED_AT,
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "permissions": MEMBER_PERMISSIONS.to_string(),
        "communication_disabled_until": null,
        "unusual_dm_activity_until": null,
    })
}

/// The fields every guild interaction carries (serenity requires `token`,
/// `version`, `locale`, `entitlements` and `attachment_size_limit`).
fn interaction_base(
    kind: u8,
    id: u64,
    token: &str,
    member: &Member,
    channel_id: u64,
) -> Map<String, Value> {
    let value = json!({
        "id": id.to_string(),
        "application_id": APPLICATION_ID.to_string(),
        "type": kind,
        "token": token,
        "version": 1,
        "guild_id": GUILD_ID.to_string(),
        "guild": {"id": GUILD_ID.to_string(), "locale": "en-US", "features": []},
        "channel_id": channel_id.to_string(),
        "channel": {
            "id": channel_id.to_string(),
            "type": 0,
            "name": format!("channel-{channel_id}"),
            "guild_id": GUILD_ID.to_string(),
            "permissions": MEMBER_PERMISSIONS.to_string(),
            "parent_id": null,
            "flags": 0,
        },
        "member": member_json(member),
        "app_permissions": APP_PERMISSIONS.to_string(),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `data` with `type` 1 (chat input) and an `id` filled in when missing.
fn command_data(mut data: Value) -> Value {
    if let Some(obj) = data.as_object_mut() {
        obj.entry("type").or_insert_with(|| json!(1));
        obj.entry("id")
            .or_insert_with(|| json!(DEFAULT_COMMAND_ID.to_string()));
    }
    data
}

/// An APPLICATION_COMMAND interaction (type 2) from `member` in `channel_id`.
///
/// `data` is `{"id":..,"name":"incident","type":1,"options":[..]}` (missing
/// `type`/`id` are filled in), plus `"resolved"` when options reference users
/// (see [`user_option_resolved`]).
pub fn command_interaction(
    id: u64,
    token: &str,
    member: &Member,
    channel_id: u64,
    data: Value,
) -> Value {
    let mut interaction = interaction_base(2, id, token, member, channel_id);
    interaction.insert("data".to_owned(), command_data(data));
    Value::Object(interaction)
}

/// An APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4); `data` as for
/// [`command_interaction`], with the option being typed marked `"focused": true`.
pub fn autocomplete_interaction(
    id: u64,
    token: &str,
    member: &Member,
    channel_id: u64,
    data: Value,
) -> Value {
    let mut interaction = interaction_base(4, id, token, member, channel_id);
    interaction.insert("data".to_owned(), command_data(data));
    Value::Object(interaction)
}

/// A MESSAGE_COMPONENT interaction (type 3): `member` clicked the button
/// `custom_id` on message `message_id`, a bot message carrying that button.
/// ([`FakeDiscord::send_interaction`] swaps in the real message if the bot
/// created it through the fake.)
pub fn component_interaction(
    id: u64,
    token: &str,
    member: &Member,
    channel_id: u64,
    message_id: u64,
    custom_id: &str,
) -> Value {
    let mut interaction = interaction_base(3, id, token, member, channel_id);
    let components = json!([{
        "type": 1,
        "components": [{"type": 2, "style": 1, "label": custom_id, "custom_id": custom_id}],
    }]);
    let message = message_json(
        message_id,
        channel_id,
        &json!({"components": components}),
        &[],
        None,
    );
    interaction.insert("message".to_owned(), message);
    interaction.insert(
        "data".to_owned(),
        json!({"custom_id": custom_id, "component_type": 2}),
    );
    Value::Object(interaction)
}

/// A MODAL_SUBMIT interaction (type 5) for modal `custom_id`: one action row
/// per `(custom_id, value)` text input.
pub fn modal_interaction(
    id: u64,
    token: &str,
    member: &Member,
    channel_id: u64,
    custom_id: &str,
    fields: &[(&str, &str)],
) -> Value {
    let mut interaction = interaction_base(5, id, token, member, channel_id);
    let rows: Vec<Value> = fields
        .iter()
        .map(|(field, value)| {
            json!({
                "type": 1,
                "components": [{"type": 4, "custom_id": field, "value": value}],
            })
        })
        .collect();
    interaction.insert(
        "data".to_owned(),
        json!({"custom_id": custom_id, "components": rows}),
    );
    Value::Object(interaction)
}

/// The `"resolved"` object for USER options naming `users` (`(id, name)`):
/// `{"users":{id:user},"members":{id:partial member}}`.
pub fn user_option_resolved(users: &[(u64, &str)]) -> Value {
    let mut user_map = Map::new();
    let mut member_map = Map::new();
    for &(id, name) in users {
        user_map.insert(id.to_string(), user_json(id, name));
        member_map.insert(
            id.to_string(),
            json!({
                "nick": null,
                "avatar": null,
                "banner": null,
                "roles": [],
                "joined_at": JOINED_AT,
                "premium_since": null,
                "pending": false,
                "flags": 0,
                "permissions": MEMBER_PERMISSIONS.to_string(),
                "communication_disabled_until": null,
            }),
        );
    }
    json!({"users": user_map, "members": member_map})
}

// ---------------------------------------------------------------------------
// Self-test: the fake against unmodified serenity 0.12.5.

/// Failure bound for everything that should take milliseconds.
const TEST_WAIT: Duration = Duration::from_secs(15);

fn test_http(fake: &FakeDiscord) -> serenity::http::Http {
    serenity::http::HttpBuilder::new("fake-token")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build()
}

fn test_member() -> Member {
    Member {
        user_id: 5001,
        name: "alice".to_owned(),
        roles: vec![77, 78],
    }
}

/// Counts READYs and forwards every interaction; answers commands with a message.
struct TestHandler {
    readies: Arc<AtomicUsize>,
    interactions: mpsc::UnboundedSender<serenity::all::Interaction>,
}

#[serenity::async_trait]
impl serenity::all::EventHandler for TestHandler {
    async fn ready(&self, _ctx: serenity::all::Context, _ready: serenity::all::Ready) {
        self.readies.fetch_add(1, Ordering::SeqCst);
    }

    async fn interaction_create(
        &self,
        ctx: serenity::all::Context,
        interaction: serenity::all::Interaction,
    ) {
        use serenity::all::{
            CreateInteractionResponse, CreateInteractionResponseMessage, Interaction,
        };
        if let Interaction::Command(command) = &interaction {
            let reply = CreateInteractionResponseMessage::new().content("on it");
            if let Err(e) = command
                .create_response(&ctx.http, CreateInteractionResponse::Message(reply))
                .await
            {
                panic!("interaction callback failed: {e:?}");
            }
        }
        let _ = self.interactions.send(interaction);
    }
}

async fn next_interaction(
    rx: &mut mpsc::UnboundedReceiver<serenity::all::Interaction>,
) -> serenity::all::Interaction {
    tokio::time::timeout(TEST_WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no interaction reached the handler"))
        .unwrap_or_else(|| panic!("handler channel closed"))
}

/// Deserializes a built payload the way serenity's gateway does, with a readable error.
fn parse_interaction(payload: &Value) -> serenity::all::Interaction {
    serde_json::from_value(payload.clone())
        .unwrap_or_else(|e| panic!("serenity rejects the payload: {e}\n{payload:#}"))
}

#[tokio::test]
async fn fake_discord_builders_satisfy_serenity() {
    use serenity::all::Interaction;

    let member = test_member();
    let command = command_interaction(
        1,
        "t",
        &member,
        6000,
        json!({"name": "incident", "options": [{"name": "title", "type": 3, "value": "x"}]}),
    );
    assert!(matches!(
        parse_interaction(&command),
        Interaction::Command(_)
    ));
    let auto = autocomplete_interaction(
        2,
        "t",
        &member,
        6000,
        json!({"name": "ack", "options": [{"name": "incident", "type": 3, "value": "", "focused": true}]}),
    );
    assert!(matches!(
        parse_interaction(&auto),
        Interaction::Autocomplete(_)
    ));
    let button = component_interaction(3, "t", &member, 6000, 8000, "ack:1");
    assert!(matches!(
        parse_interaction(&button),
        Interaction::Component(_)
    ));
    let modal = modal_interaction(4, "t", &member, 6000, "m", &[("a", "b")]);
    assert!(matches!(parse_interaction(&modal), Interaction::Modal(_)));
    let with_user = command_interaction(
        5,
        "t",
        &member,
        6000,
        json!({
            "name": "incident",
            "options": [{"name": "who", "type": 6, "value": "4242"}],
            "resolved": user_option_resolved(&[(4242, "bob")]),
        }),
    );
    let Interaction::Command(with_user) = parse_interaction(&with_user) else {
        panic!("not a command");
    };
    let bob = serenity::all::UserId::new(4242);
    assert_eq!(with_user.data.resolved.users[&bob].name, "bob");
    assert!(with_user.data.resolved.members.contains_key(&bob));
}

#[tokio::test]
async fn fake_discord_rest_round_trips_through_serenity() {
    use serenity::all::{
        ApplicationId, ChannelId, ChannelType, Command, CommandOptionType, CommandType,
        CreateActionRow, CreateAttachment, CreateButton, CreateCommand, CreateCommandOption,
        CreateEmbed, CreateMessage, CreateThread, EditMessage, GuildId, InteractionId, Message,
        MessageFlags, MessageId, UserId,
    };
    use serenity::http::{HttpError, LightMethod, Request, Route};

    let fake = FakeDiscord::start().await;
    let http = test_http(&fake);
    http.set_application_id(ApplicationId::new(APPLICATION_ID));
    let channel = ChannelId::new(6000);

    // Create a message with an embed and a button.
    let sent = channel
        .send_message(
            &http,
            CreateMessage::new()
                .content("hi")
                .embed(CreateEmbed::new().title("t"))
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "ack:1",
                )
                .label("Ack")])]),
        )
        .await
        .unwrap_or_else(|e| panic!("send_message: {e:?}"));
    assert_eq!(sent.content, "hi");
    assert_eq!(sent.embeds[0].title.as_deref(), Some("t"));
    assert_eq!(sent.author.id.get(), BOT_USER_ID);
    assert!(sent.author.bot);
    assert_eq!(sent.channel_id, channel);
    assert_eq!(sent.guild_id, Some(GuildId::new(GUILD_ID)));
    assert_eq!(sent.components.len(), 1);
    assert!(sent.id.get() >= FIRST_SNOWFLAKE);
    let recorded = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/api/v10/channels/6000/messages")
        .unwrap_or_else(|| panic!("send not recorded: {:?}", fake.requests()));
    assert_eq!(recorded.authorization.as_deref(), Some("Bot fake-token"));
    assert_eq!(recorded.status, 200);
    assert_eq!(recorded.body["content"], "hi");
    assert_eq!(recorded.body["embeds"][0]["title"], "t");
    assert_eq!(
        recorded.body["components"][0]["components"][0]["custom_id"],
        "ack:1"
    );

    // Start a thread from it.
    let thread = channel
        .create_thread_from_message(&http, sent.id, CreateThread::new("incident-42"))
        .await
        .unwrap_or_else(|e| panic!("create_thread_from_message: {e:?}"));
    assert_eq!(thread.kind, ChannelType::PublicThread);
    assert_eq!(thread.parent_id, Some(channel));
    assert_eq!(thread.name, "incident-42");
    assert_eq!(thread.guild_id, GuildId::new(GUILD_ID));
    assert!(thread.thread_metadata.is_some());
    let thread_path = format!("/api/v10/channels/6000/messages/{}/threads", sent.id);
    let recorded = fake
        .requests()
        .into_iter()
        .find(|r| r.path == thread_path)
        .unwrap_or_else(|| panic!("thread not recorded"));
    assert_eq!(
        (recorded.status, &recorded.body["name"]),
        (201, &json!("incident-42"))
    );

    // Edit it: the id comes from the path, unedited fields are kept.
    let edited = channel
        .edit_message(&http, sent.id, EditMessage::new().content("edited"))
        .await
        .unwrap_or_else(|e| panic!("edit_message: {e:?}"));
    assert_eq!(edited.id, sent.id);
    assert_eq!(edited.content, "edited");
    assert_eq!(edited.embeds[0].title.as_deref(), Some("t"));
    assert!(edited.edited_timestamp.is_some());
    let unknown = channel
        .edit_message(
            &http,
            MessageId::new(999_999),
            EditMessage::new().content("x"),
        )
        .await
        .unwrap_or_else(|e| panic!("edit of an unknown id: {e:?}"));
    assert_eq!(unknown.id, MessageId::new(999_999));

    // Bulk-overwrite guild commands (raw JSON) and global ones (builders).
    let commands_json = json!([{
        "name": "incident",
        "description": "Work incidents",
        "options": [{
            "type": 1,
            "name": "open",
            "description": "Open an incident",
            "options": [{"type": 3, "name": "title", "description": "Title", "required": true}],
        }],
    }]);
    let guild_commands = http
        .create_guild_commands(GuildId::new(GUILD_ID), &commands_json)
        .await
        .unwrap_or_else(|e| panic!("create_guild_commands: {e:?}"));
    assert_eq!(guild_commands.len(), 1);
    assert_eq!(guild_commands[0].name, "incident");
    assert_eq!(guild_commands[0].kind, CommandType::ChatInput);
    assert_eq!(guild_commands[0].application_id.get(), APPLICATION_ID);
    assert_eq!(guild_commands[0].guild_id, Some(GuildId::new(GUILD_ID)));
    assert!(guild_commands[0].options[0].options[0].required);
    let again = http
        .create_guild_commands(GuildId::new(GUILD_ID), &commands_json)
        .await
        .unwrap_or_else(|e| panic!("second create_guild_commands: {e:?}"));
    assert_eq!(again[0].id, guild_commands[0].id, "overwrite keeps ids");
    assert_eq!(fake.commands(Some(GUILD_ID)).len(), 1);
    let global = Command::set_global_commands(
        &http,
        vec![CreateCommand::new("ack")
            .description("Acknowledge")
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "incident", "Incident id")
                    .required(true)
                    .set_autocomplete(true),
            )],
    )
    .await
    .unwrap_or_else(|e| panic!("set_global_commands: {e:?}"));
    assert_eq!(global[0].name, "ack");
    assert_eq!(global[0].guild_id, None);
    assert!(global[0].options[0].autocomplete);
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path == "/api/v10/applications/2000/commands"));

    // Interaction callback, @original and followups.
    http.create_interaction_response(
        InteractionId::new(77),
        "itoken",
        &json!({"type": 4, "data": {"content": "ack"}}),
        vec![],
    )
    .await
    .unwrap_or_else(|e| panic!("create_interaction_response: {e:?}"));
    let original = http
        .get_original_interaction_response("itoken")
        .await
        .unwrap_or_else(|e| panic!("get_original_interaction_response: {e:?}"));
    assert_eq!(original.content, "ack");
    let original_edit = http
        .edit_original_interaction_response("itoken", &json!({"content": "acked"}), vec![])
        .await
        .unwrap_or_else(|e| panic!("edit_original_interaction_response: {e:?}"));
    assert_eq!(
        (original_edit.id, original_edit.content.as_str()),
        (original.id, "acked")
    );
    let followup = http
        .create_followup_message("itoken", &json!({"content": "more"}), vec![])
        .await
        .unwrap_or_else(|e| panic!("create_followup_message: {e:?}"));
    assert_eq!(followup.content, "more");
    assert_eq!(followup.webhook_id.map(|w| w.get()), Some(APPLICATION_ID));
    let unseen = http
        .get_original_interaction_response("never-answered")
        .await
        .unwrap_or_else(|e| panic!("@original of an unknown token: {e:?}"));
    assert_eq!(unseen.content, "");
    http.create_interaction_response(
        InteractionId::new(79),
        "deferred",
        &json!({"type": 5}),
        vec![],
    )
    .await
    .unwrap_or_else(|e| panic!("deferred callback: {e:?}"));
    let thinking = http
        .get_original_interaction_response("deferred")
        .await
        .unwrap_or_else(|e| panic!("deferred @original: {e:?}"));
    assert_eq!(thinking.flags, Some(MessageFlags::LOADING));
    let done = http
        .edit_original_interaction_response("deferred", &json!({"content": "done"}), vec![])
        .await
        .unwrap_or_else(|e| panic!("edit deferred @original: {e:?}"));
    assert_eq!(
        (done.id, done.flags),
        (thinking.id, Some(MessageFlags::empty()))
    );
    let with_response = http
        .request(
            Request::new(
                Route::InteractionResponse {
                    interaction_id: InteractionId::new(78),
                    token: "itoken2",
                },
                LightMethod::Post,
            )
            .params(Some(vec![("with_response", "true".to_owned())]))
            .body(Some(
                json!({"type": 4, "data": {"content": "inline"}})
                    .to_string()
                    .into_bytes(),
            )),
        )
        .await
        .unwrap_or_else(|e| panic!("callback with_response: {e:?}"));
    assert_eq!(with_response.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(
        &with_response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("callback body: {e}")),
    )
    .unwrap_or_else(|e| panic!("callback body is not JSON: {e}"));
    let message: Message = serde_json::from_value(body["resource"]["message"].clone())
        .unwrap_or_else(|e| panic!("callback message: {e}\n{body:#}"));
    assert_eq!(message.content, "inline");
    assert_eq!(body["interaction"]["id"], "78");

    // Multipart: the payload_json part is what gets recorded.
    let with_file = channel
        .send_message(
            &http,
            CreateMessage::new()
                .content("report")
                .add_file(CreateAttachment::bytes(
                    b"a,b\n1,2\n".to_vec(),
                    "report.csv",
                )),
        )
        .await
        .unwrap_or_else(|e| panic!("send_message with file: {e:?}"));
    assert_eq!(with_file.attachments.len(), 1);
    assert_eq!(with_file.attachments[0].filename, "report.csv");
    assert_eq!(with_file.attachments[0].size, 8);
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.body["content"] == "report"
            && r.body["attachments"][0]["filename"] == "report.csv"));

    // A scripted 429, then success.
    fake.fail_next("post", "/channels/6000/messages", 1, 1.5);
    match channel
        .send_message(&http, CreateMessage::new().content("limited"))
        .await
    {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(resp))) => {
            assert_eq!(resp.status_code.as_u16(), 429);
            assert_eq!(resp.error.message, "You are being rate limited.");
            assert_eq!(resp.error.code, 0);
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    channel
        .send_message(&http, CreateMessage::new().content("limited"))
        .await
        .unwrap_or_else(|e| panic!("send after the 429: {e:?}"));
    let statuses: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.body["content"] == "limited")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
    fake.fail_next("POST", "/messages", 1, 0.25);
    let limited = http
        .request(
            Request::new(
                Route::ChannelMessages {
                    channel_id: channel,
                },
                LightMethod::Post,
            )
            .body(Some(b"{}".to_vec())),
        )
        .await;
    match limited {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(resp))) => {
            assert_eq!(resp.status_code.as_u16(), 429);
        }
        other => panic!("expected a 429, got {other:?}"),
    }

    // Headers of a 429, seen without serenity in between.
    fake.fail_next("GET", "/users/@me", 1, 1.5);
    let raw = raw_get(&fake, "/api/v10/users/@me").await;
    assert!(raw.starts_with("HTTP/1.1 429"), "{raw}");
    let lower = raw.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 2\r\n"), "{raw}");
    assert!(
        lower.contains("x-ratelimit-reset-after: 1.500\r\n"),
        "{raw}"
    );
    assert!(lower.contains("x-ratelimit-remaining: 0\r\n"), "{raw}");

    // Unknown routes: 404, recorded. Bad bodies: 400.
    match http.get_user(UserId::new(5)).await {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(resp))) => {
            assert_eq!(resp.status_code.as_u16(), 404);
            assert_eq!(resp.error.message, "Unknown");
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == "/api/v10/users/5" && r.status == 404));
    let bad = http
        .request(
            Request::new(
                Route::ChannelMessages {
                    channel_id: channel,
                },
                LightMethod::Post,
            )
            .body(Some(b"not json".to_vec())),
        )
        .await;
    match bad {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(resp))) => {
            assert_eq!(resp.status_code.as_u16(), 400);
        }
        other => panic!("expected a 400, got {other:?}"),
    }

    // The objects a client may ask for at startup.
    let me = http
        .get_current_user()
        .await
        .unwrap_or_else(|e| panic!("get_current_user: {e:?}"));
    assert_eq!((me.id.get(), me.bot), (BOT_USER_ID, true));
    let app = http
        .get_current_application_info()
        .await
        .unwrap_or_else(|e| panic!("get_current_application_info: {e:?}"));
    assert_eq!(app.id.get(), APPLICATION_ID);
    let gateway = http
        .get_bot_gateway()
        .await
        .unwrap_or_else(|e| panic!("get_bot_gateway: {e:?}"));
    assert_eq!(gateway.url, fake.gateway_url());
    let gateway = http
        .get_gateway()
        .await
        .unwrap_or_else(|e| panic!("get_gateway: {e:?}"));
    assert_eq!(gateway.url, fake.gateway_url());
}

/// `GET path` over a plain socket; the whole response as text.
async fn raw_get(fake: &FakeDiscord, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = fake.api_base().replace("http://", "");
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("connect {address}: {e}"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bot raw\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut response = Vec::new();
    tokio::time::timeout(TEST_WAIT, stream.read_to_end(&mut response))
        .await
        .unwrap_or_else(|_| panic!("no response to GET {path}"))
        .unwrap_or_else(|e| panic!("read: {e}"));
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_discord_gateway_delivers_interactions_and_survives_reconnects() {
    use serenity::all::{
        ActionRowComponent, ChannelId, ClientBuilder, CommandDataOptionValue, CommandType,
        ComponentInteractionDataKind, CreateActionRow, CreateButton, CreateInteractionResponse,
        CreateInteractionResponseMessage, CreateMessage, GatewayIntents, Interaction, RoleId,
        UserId,
    };

    let fake = FakeDiscord::start().await;
    let readies = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = TestHandler {
        readies: Arc::clone(&readies),
        interactions: tx,
    };
    let mut client = ClientBuilder::new_with_http(test_http(&fake), GatewayIntents::GUILDS)
        .event_handler(handler)
        .await
        .unwrap_or_else(|e| panic!("client: {e:?}"));
    let shards = client.shard_manager.clone();
    let http = Arc::clone(&client.http);
    tokio::spawn(async move {
        if let Err(e) = client.start().await {
            eprintln!("serenity client stopped: {e:?}");
        }
    });

    assert!(fake.wait_ready(TEST_WAIT).await, "client never got READY");
    assert_eq!(fake.identify_count(), 1);
    let identify = fake.last_identify().unwrap_or_default();
    assert_eq!(identify["token"], "Bot fake-token");
    assert_eq!(identify["intents"], GatewayIntents::GUILDS.bits());
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/api/v10/gateway"));
    let deadline = Instant::now() + TEST_WAIT;
    while readies.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "ready handler never ran");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(http.application_id().map(|a| a.get()), Some(APPLICATION_ID));

    let member = test_member();

    // A slash command with a subcommand, a USER option and a string option.
    let command_id = fake.next_snowflake();
    fake.send_interaction(command_interaction(
        command_id,
        "tok-cmd",
        &member,
        6000,
        json!({
            "name": "incident",
            "options": [{
                "name": "assign",
                "type": 1,
                "options": [
                    {"name": "who", "type": 6, "value": "4242"},
                    {"name": "note", "type": 3, "value": "disk full"},
                ],
            }],
            "resolved": user_option_resolved(&[(4242, "bob")]),
        }),
    ))
    .await;
    let Interaction::Command(command) = next_interaction(&mut rx).await else {
        panic!("expected a command interaction");
    };
    assert_eq!(command.id.get(), command_id);
    assert_eq!(command.data.name, "incident");
    assert_eq!(command.data.kind, CommandType::ChatInput);
    assert_eq!(command.data.options[0].name, "assign");
    let CommandDataOptionValue::SubCommand(options) = &command.data.options[0].value else {
        panic!("expected a subcommand: {:?}", command.data.options);
    };
    assert_eq!(
        options[0].value,
        CommandDataOptionValue::User(UserId::new(4242))
    );
    assert_eq!(
        options[1].value,
        CommandDataOptionValue::String("disk full".to_owned())
    );
    assert_eq!(command.data.resolved.users[&UserId::new(4242)].name, "bob");
    let roles = command
        .member
        .as_ref()
        .map(|m| m.roles.clone())
        .unwrap_or_default();
    assert_eq!(roles, [RoleId::new(77), RoleId::new(78)]);
    assert_eq!(command.user.id.get(), member.user_id);
    assert_eq!(command.channel_id, ChannelId::new(6000));
    assert_eq!(command.token, "tok-cmd");
    let callback_path = format!("/api/v10/interactions/{command_id}/tok-cmd/callback");
    let callback = fake
        .wait_for_request(|r| r.path == callback_path, TEST_WAIT)
        .await
        .unwrap_or_else(|| panic!("no callback for the command"));
    assert_eq!(callback.status, 204);
    assert_eq!(callback.body["type"], 4);
    assert_eq!(callback.body["data"]["content"], "on it");
    assert_eq!(callback.authorization.as_deref(), Some("Bot fake-token"));

    // A button on a message the bot posted: the stored message is delivered.
    let posted = ChannelId::new(6000)
        .send_message(
            &http,
            CreateMessage::new()
                .content("alert")
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "ack:42",
                )])]),
        )
        .await
        .unwrap_or_else(|e| panic!("send_message: {e:?}"));
    fake.send_interaction(component_interaction(
        fake.next_snowflake(),
        "tok-btn",
        &member,
        6000,
        posted.id.get(),
        "ack:42",
    ))
    .await;
    let Interaction::Component(click) = next_interaction(&mut rx).await else {
        panic!("expected a component interaction");
    };
    assert_eq!(click.data.custom_id, "ack:42");
    assert!(matches!(
        click.data.kind,
        ComponentInteractionDataKind::Button
    ));
    assert_eq!(click.message.id, posted.id);
    assert_eq!(click.message.content, "alert");
    assert_eq!(click.member.as_ref().map(|m| m.roles.len()), Some(2));
    let update = CreateInteractionResponseMessage::new().content("acked by alice");
    click
        .create_response(&http, CreateInteractionResponse::UpdateMessage(update))
        .await
        .unwrap_or_else(|e| panic!("UPDATE_MESSAGE callback: {e:?}"));
    let updated = fake
        .message(posted.id.get())
        .unwrap_or_else(|| panic!("posted message forgotten"));
    assert_eq!(updated["content"], "acked by alice");
    assert_eq!(
        updated["components"][0]["components"][0]["custom_id"],
        "ack:42"
    );

    // A button on a message the fake never saw.
    fake.send_interaction(component_interaction(
        fake.next_snowflake(),
        "tok-btn2",
        &member,
        6000,
        8000,
        "ack:43",
    ))
    .await;
    let Interaction::Component(click) = next_interaction(&mut rx).await else {
        panic!("expected a component interaction");
    };
    assert_eq!(
        (click.message.id.get(), click.data.custom_id.as_str()),
        (8000, "ack:43")
    );

    // A modal submission.
    fake.send_interaction(modal_interaction(
        fake.next_snowflake(),
        "tok-modal",
        &member,
        6000,
        "resolve:42",
        &[("cause", "disk"), ("fix", "rotated logs")],
    ))
    .await;
    let Interaction::Modal(modal) = next_interaction(&mut rx).await else {
        panic!("expected a modal interaction");
    };
    assert_eq!(modal.data.custom_id, "resolve:42");
    let fields: Vec<(String, Option<String>)> = modal
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .filter_map(|c| match c {
            ActionRowComponent::InputText(t) => Some((t.custom_id.clone(), t.value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("cause".to_owned(), Some("disk".to_owned())),
            ("fix".to_owned(), Some("rotated logs".to_owned())),
        ]
    );

    // Autocomplete.
    fake.send_interaction(autocomplete_interaction(
        fake.next_snowflake(),
        "tok-ac",
        &member,
        6000,
        json!({"name": "ack", "options": [{"name": "incident", "type": 3, "value": "IN", "focused": true}]}),
    ))
    .await;
    let Interaction::Autocomplete(auto) = next_interaction(&mut rx).await else {
        panic!("expected an autocomplete interaction");
    };
    let focused = auto
        .data
        .autocomplete()
        .unwrap_or_else(|| panic!("no focused option"));
    assert_eq!((focused.name, focused.value), ("incident", "IN"));

    // The gateway drops the connection; serenity reconnects and keeps working.
    let sessions = fake.identify_count() + fake.resume_count();
    let connections = fake.connection_count();
    fake.close_gateway().await;
    assert!(fake.wait_ready(TEST_WAIT).await, "client did not reconnect");
    assert!(fake.identify_count() + fake.resume_count() > sessions);
    assert_eq!(
        fake.resume_count(),
        1,
        "serenity resumes after close code 4000"
    );
    assert!(fake.connection_count() > connections);
    let after_id = fake.next_snowflake();
    fake.send_interaction(command_interaction(
        after_id,
        "tok-after",
        &member,
        6000,
        json!({"name": "incident", "options": []}),
    ))
    .await;
    let Interaction::Command(after) = next_interaction(&mut rx).await else {
        panic!("expected a command interaction after the reconnect");
    };
    assert_eq!(after.id.get(), after_id);

    shards.shutdown_all().await;
}
