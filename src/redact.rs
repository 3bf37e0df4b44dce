//! The one place secrets are taken out of text before it leaves mailcall.
//!
//! A secret leaks in the form it had on the wire, not the form it has in
//! the configuration: a provider's error body echoes `Authorization: Basic
//! YXBpOk…` (base64 of `api:KEY`), Discord's 401 body echoes `Bot TOKEN`, a
//! proxy echoes a URL-encoded query. So every secret mailcall reads is
//! registered here with each form it can take, for as long as a copy of
//! its [`Credential`] lives ([`Credential::new`] registers it and dropping
//! the last copy takes it out, so none can be forgotten and a short-lived
//! access token does not stay behind: the registry holds what is in use,
//! not every token ever granted), and every log line
//! ([`RedactingWriter`], which also carries serenity's and reqwest's own
//! logging), every error the binary prints and every provider text that
//! enters an error ([`redact`]) passes through here.
//!
//! Besides the registered forms, the credential that follows an HTTP
//! authorisation scheme (`Basic`, `Bearer`, `Bot`) is removed whatever it
//! is, so a secret that was never registered (a rotated key, another
//! service's token) does not leak either.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, OnceLock, RwLock};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

/// What a secret is replaced with.
pub const MARK: &str = "[redacted]";

/// Shorter "secrets" are not registered: replacing them would mangle
/// ordinary words, and no provider issues keys that short.
const MIN_SECRET_CHARS: usize = 6;

/// A credential: an ESP key or the Discord token. Kept in `secrecy`'s
/// type, so `Debug` shows no value and the memory is zeroed on drop;
/// there is no `Display`. Only code that builds a request calls
/// [`Credential::expose`]. Its wire forms are redacted while any copy of
/// it lives.
#[derive(Clone)]
pub struct Credential(Arc<Registered>);

/// A secret whose wire forms are registered until it is dropped.
struct Registered(SecretString);

impl Drop for Registered {
    fn drop(&mut self) {
        unregister(self.0.expose_secret());
    }
}

impl Credential {
    /// Wraps the value and registers every wire form of it for redaction.
    pub fn new(value: impl Into<String>) -> Credential {
        let value = value.into();
        register(&value);
        Credential(Arc::new(Registered(SecretString::new(value))))
    }

    /// The secret value, for building the request that needs it.
    pub fn expose(&self) -> &str {
        self.0 .0.expose_secret()
    }

    /// Whether no credential was given (the sandbox needs none).
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl PartialEq for Credential {
    fn eq(&self, other: &Credential) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Credential {}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential([redacted])")
    }
}

/// User names that Basic authentication pairs a key with (Mailgun's is
/// `api`); `user:KEY` is registered in base64 for each, and `KEY:` and
/// `:KEY` for clients that put the key on either side.
const BASIC_USERS: [&str; 1] = ["api"];

/// A registered form, ordered longest first so that a form containing
/// another is replaced whole.
#[derive(PartialEq, Eq)]
struct Form(String);

impl Ord for Form {
    fn cmp(&self, other: &Form) -> Ordering {
        other
            .0
            .len()
            .cmp(&self.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Form {
    fn partial_cmp(&self, other: &Form) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Every registered form, longest first, with how many live credentials
/// have it. Registering and dropping a credential are a few tree
/// operations each, whatever the registry holds.
fn forms() -> &'static RwLock<BTreeMap<Form, usize>> {
    static FORMS: OnceLock<RwLock<BTreeMap<Form, usize>>> = OnceLock::new();
    FORMS.get_or_init(|| RwLock::new(BTreeMap::new()))
}

/// Registers `secret` in every form it can take on the wire, once more.
fn register(secret: &str) {
    update_forms(secret, |forms, form| *forms.entry(form).or_default() += 1);
}

/// Undoes one [`register`] of `secret`: a form no live credential has any
/// more leaves the registry.
fn unregister(secret: &str) {
    update_forms(secret, |forms, form| {
        if let Some(count) = forms.get_mut(&form) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                forms.remove(&form);
            }
        }
    });
}

/// Applies `change` to the registry for each wire form of `secret`, under
/// one lock; nothing for a value too short to be a secret.
fn update_forms(secret: &str, mut change: impl FnMut(&mut BTreeMap<Form, usize>, Form)) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    let wanted = wire_forms(secret);
    let mut forms = forms()
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for form in wanted {
        change(&mut forms, Form(form));
    }
}

/// The forms `secret` takes in headers, URLs, JSON bodies and Basic auth.
fn wire_forms(secret: &str) -> BTreeSet<String> {
    let base64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let base64_bare = |text: &str| base64::engine::general_purpose::STANDARD_NO_PAD.encode(text);
    let mut forms = BTreeSet::new();
    forms.insert(secret.to_owned());
    forms.insert(base64(secret));
    forms.insert(base64_bare(secret));
    for user in BASIC_USERS {
        forms.insert(base64(&format!("{user}:{secret}")));
        forms.insert(base64_bare(&format!("{user}:{secret}")));
    }
    forms.insert(base64(&format!("{secret}:")));
    forms.insert(base64(&format!(":{secret}")));
    let url_encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    forms.insert(url_encoded);
    forms.insert(
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    );
    if let Ok(json) = serde_json::to_string(secret) {
        forms.insert(json.trim_matches('"').to_owned());
    }
    forms.insert(secret.replace('/', "\\/"));
    forms.retain(|form| form.chars().count() >= MIN_SECRET_CHARS);
    forms
}

/// `text` with every registered secret form, and whatever follows an
/// authorisation scheme, replaced by [`MARK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let forms = forms()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = Cow::Borrowed(text);
    for Form(form) in forms.keys() {
        if out.contains(form.as_str()) {
            out = Cow::Owned(out.replace(form.as_str(), MARK));
        }
    }
    drop(forms);
    match after_schemes(&out) {
        Some(scrubbed) => Cow::Owned(scrubbed),
        None => out,
    }
}

/// Authorisation schemes whose next word is a credential.
const SCHEMES: [&str; 3] = ["basic", "bearer", "bot"];

/// A word this long after a scheme is taken as a credential; shorter ones
/// are ordinary text ("the Bot user").
const MIN_SCHEME_CREDENTIAL: usize = 12;

/// `text` with the credential after each `Basic `/`Bearer `/`Bot `
/// replaced; `None` when there is none.
fn after_schemes(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for scheme in SCHEMES {
        let mut from = 0;
        while let Some(found) = lower[from..].find(scheme) {
            let start = from + found;
            from = start + scheme.len();
            let starts_word = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
            let mut token = from;
            while token < bytes.len() && bytes[token] == b' ' {
                token += 1;
            }
            if !starts_word || token == from {
                continue;
            }
            let mut end = token;
            while end < bytes.len() && is_credential_byte(bytes[end]) {
                end += 1;
            }
            if end - token >= MIN_SCHEME_CREDENTIAL && &text[token..end] != MARK {
                cuts.push((token, end));
            }
        }
    }
    if cuts.is_empty() {
        return None;
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in cuts {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(MARK);
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Bytes of tokens, base64 and URL-encoded credentials.
fn is_credential_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"+/=._-~%".contains(&byte)
}

/// A `tracing_subscriber` writer that redacts each formatted event before
/// it reaches stderr. The fmt layer writes an event in one `write` call,
/// so each call is redacted whole.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactingWriter;

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr().lock().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingWriter {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> RedactingWriter {
        RedactingWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_form_of_a_registered_secret_is_removed() {
        let key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
        let _credential = Credential::new(key);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{key}"));
        for leak in [
            format!("bad key {key}"),
            format!("authorization=Basic {basic}"),
            format!("auth {basic} echoed"),
            format!("query key%3D{}", key.replace('-', "%2D")),
        ] {
            let clean = redact(&leak);
            assert!(!clean.contains(key), "{clean}");
            assert!(!clean.contains(&basic), "{clean}");
            assert!(!clean.contains("3ax6xnjp"), "{clean}");
            assert!(clean.contains(MARK), "{clean}");
        }
    }

    #[test]
    fn a_slash_in_a_secret_is_caught_in_json_escaped_text() {
        let _credential = Credential::new("abc/def+ghi/jkl");
        assert_eq!(
            redact(r#"{"k":"abc\/def+ghi\/jkl"}"#),
            r#"{"k":"[redacted]"}"#
        );
        assert_eq!(redact("abc%2Fdef%2Bghi%2Fjkl"), MARK);
    }

    #[test]
    fn the_word_after_an_authorisation_scheme_is_removed_even_unregistered() {
        assert_eq!(
            redact("401: Unauthorized Bot MTIzNDU2Nzg5.Gh1jK2.abcdefgh"),
            "401: Unauthorized Bot [redacted]"
        );
        assert_eq!(
            redact("authorization: bearer SG.unregistered-key-value, next"),
            "authorization: bearer [redacted], next"
        );
        assert_eq!(
            redact("Authorization=Basic dXNlcjpwYXNzd29yZDEyMw=="),
            "Authorization=Basic [redacted]"
        );
    }

    #[test]
    fn ordinary_words_after_a_scheme_name_stay() {
        for text in [
            "the Bot user is connected",
            "basic settings",
            "robot arms",
            "Bearer token missing",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn short_values_are_not_treated_as_secrets() {
        let _credential = Credential::new("abc");
        assert_eq!(redact("abc is a word"), "abc is a word");
    }

    #[test]
    fn a_secret_is_redacted_while_any_copy_of_its_credential_lives() {
        let token = "ya29.short-lived-access-token-7731";
        let credential = Credential::new(token);
        let copy = credential.clone();
        let same_value = Credential::new(token);
        drop(credential);
        assert_eq!(redact(&format!("echo {token}")), "echo [redacted]");
        drop(copy);
        assert_eq!(redact(&format!("echo {token}")), "echo [redacted]");
        drop(same_value);
        // Gone with its last copy, every wire form of it: the registry
        // holds the credentials in use, not every token ever granted.
        assert_eq!(redact(&format!("echo {token}")), format!("echo {token}"));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{token}"));
        assert_eq!(redact(&basic), basic);
    }

    #[test]
    fn a_credential_never_prints_its_value() {
        let credential = Credential::new("printed-never-123");
        assert_eq!(format!("{credential:?}"), "Credential([redacted])");
        assert_eq!(credential.expose(), "printed-never-123");
    }
}
