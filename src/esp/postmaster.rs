//! Gmail Postmaster Tools: Gmail's own view of each sending domain
//! (reference §10).
//!
//! - **Authentication.** The credential is a Google service-account key
//!   (its JSON file). A fetch signs a grant with it (RS256 JWT by the
//!   `jsonwebtoken` crate: `iss` the service account, `sub` the Workspace
//!   user it acts for, the `postmaster.readonly` scope, `aud` the token
//!   URL), exchanges it at the key's `token_uri` for an access token, and
//!   sends that as a bearer token, unless it has a token kept from an
//!   earlier fetch. Tests point `token_uri` at loopback.
//!   The token is kept for later fetches until five minutes before it
//!   expires (an hour, at Google), as every OAuth client does: a poll every
//!   15 minutes signs and exchanges one grant an hour instead of four, and
//!   its data requests no longer wait for the exchange. A kept token that
//!   is refused (revoked early) is dropped and a new grant made once.
//! - **Figures, not counts.** `GET /v1/domains/{domain}/trafficStats` gives
//!   one day per entry: the user-reported spam ratio (with its 95%
//!   interval), domain and IP reputation, SPF/DKIM/DMARC success ratios
//!   and delivery errors. They are kept as the provider's own ratios and
//!   levels ([`crate::delivery::Reported`]), never turned into counts.
//!   `GET /v2/domains/{domain}/complianceStatus` says which bulk-sender
//!   requirements need work; it is the state now, so it goes on the newest
//!   day fetched. A domain without compliance data (not a bulk sender, no
//!   permission: 403 or 404) simply has none.
//! - **Lag.** Gmail publishes a day one to three days late, so accounts
//!   re-fetch four days by default and a day's figures replace earlier
//!   ones as they settle.
//! - **Streams** are domains (`domain:<name>`); `"all"` (or the account)
//!   lists the domains the user can see with `GET /v1/domains`.
//! - Day buckets are the date at 00:00 read as UTC; Google does not say
//!   which zone its days are in (`provider_tz` `"unspecified"`).

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::{
    describe, expect_array, expect_object, optional_count, parse_json, present, required_str,
    CountStyle, Endpoint, PayloadError, Site,
};
use crate::delivery::{
    to_ppm, Bucket, BucketWidth, Counts, Reported, Reputation, Sample, StreamKey,
};

/// `POST {token_uri}`: the signed grant for an access token.
pub const TOKEN: Endpoint = Endpoint {
    provider: "Gmail Postmaster Tools",
    path: "token endpoint (jwt-bearer grant)",
};

/// `GET /v1/domains`: the domains the user can see.
pub const DOMAINS: Endpoint = Endpoint {
    provider: "Gmail Postmaster Tools",
    path: "/v1/domains",
};

/// `GET /v1/domains/{domain}/trafficStats`: daily figures.
pub const TRAFFIC_STATS: Endpoint = Endpoint {
    provider: "Gmail Postmaster Tools",
    path: "/v1/domains/{domain}/trafficStats",
};

/// `GET /v2/domains/{domain}/complianceStatus`.
pub const COMPLIANCE: Endpoint = Endpoint {
    provider: "Gmail Postmaster Tools",
    path: "/v2/domains/{domain}/complianceStatus",
};

/// The scope of the grant: read-only statistics.
pub const SCOPE: &str = "https://www.googleapis.com/auth/postmaster.readonly";

/// Google's token endpoint, when the key does not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The grant type of a signed JWT exchange (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The parts of a service-account key a grant needs.
#[derive(Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Reads a service-account key file's JSON. The error names the field,
/// never a value.
pub fn service_account(key: &str) -> Result<ServiceAccount, String> {
    let json: Value = serde_json::from_str(key)
        .map_err(|_| "the credential is not a service-account key (JSON)".to_owned())?;
    let field = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|value| !value.trim().is_empty())
    };
    let missing = |name: &str| format!("the service-account key has no `{name}`");
    Ok(ServiceAccount {
        client_email: field("client_email").ok_or_else(|| missing("client_email"))?,
        private_key: field("private_key").ok_or_else(|| missing("private_key"))?,
        private_key_id: field("private_key_id"),
        token_uri: field("token_uri").unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
    })
}

/// The claims of a grant.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Grant {
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Whether a service-account key file can be used: its JSON has what a
/// grant needs, its private key is an RSA key in PEM, and its token URL
/// is http(s). The error names the field, never a value.
pub fn check_key(key: &str) -> Result<(), String> {
    let account = service_account(key)?;
    signing_key(&account)?;
    match reqwest::Url::parse(&account.token_uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        _ => Err("the service-account key's token_uri is not an http(s) URL".to_owned()),
    }
}

/// The key a grant is signed with.
fn signing_key(account: &ServiceAccount) -> Result<jsonwebtoken::EncodingKey, String> {
    jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
        .map_err(|_| "the service-account key's private_key is not an RSA key in PEM".to_owned())
}

/// The signed grant (RS256 JWT) for `account`, acting for `subject`, made
/// at `now` (Unix seconds) and valid for an hour.
pub fn signed_grant(
    account: &ServiceAccount,
    subject: Option<&str>,
    now: i64,
) -> Result<String, String> {
    let key = signing_key(account)?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = account.private_key_id.clone();
    let grant = Grant {
        iss: account.client_email.clone(),
        sub: subject.map(str::to_owned),
        scope: SCOPE.to_owned(),
        aud: account.token_uri.clone(),
        iat: now,
        exp: now + 3600,
    };
    jsonwebtoken::encode(&header, &grant, &key).map_err(|_| "the grant cannot be signed".to_owned())
}

/// A token endpoint's answer: the access token and, when given, how many
/// seconds it lasts.
pub struct AccessToken {
    pub token: String,
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The access token of a token endpoint's answer, with its lifetime.
pub fn access_token(body: &[u8]) -> Result<AccessToken, PayloadError> {
    let site = Site::top(TOKEN);
    let json = parse_json(TOKEN, body)?;
    let object = expect_object(&json, &site, "")?;
    let token = required_str(object, "access_token", &site, "")?.to_owned();
    let expires_in = optional_count(object, "expires_in", CountStyle::Number, &site, "")?;
    Ok(AccessToken { token, expires_in })
}

/// `GET /v1/domains`: the domain names and the next page token.
pub fn parse_domains(body: &[u8]) -> Result<(Vec<String>, Option<String>), PayloadError> {
    let site = Site::top(DOMAINS);
    let json = parse_json(DOMAINS, body)?;
    let object = expect_object(&json, &site, "")?;
    let mut names = Vec::new();
    if let Some(domains) = present(object, "domains") {
        for (index, domain) in expect_array(domains, &site, "domains")?.iter().enumerate() {
            let site = site.labelled(format!("domains item {index}"));
            let name = required_str(expect_object(domain, &site, "")?, "name", &site, "")?;
            let domain = name.strip_prefix("domains/").ok_or_else(|| {
                site.field_error(
                    "name",
                    format!(
                        "expected domains/<name>, got {}",
                        super::quote_short(name, 40)
                    ),
                )
            })?;
            names.push(domain.to_owned());
        }
    }
    Ok((names, next_page(object)))
}

fn next_page(object: &Map<String, Value>) -> Option<String> {
    present(object, "nextPageToken")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|token| !token.is_empty())
}

/// `GET /v1/domains/{domain}/trafficStats`: one sample per day, for
/// `stream`, and the next page token.
pub fn parse_traffic_stats(
    body: &[u8],
    stream: &StreamKey,
) -> Result<(Vec<Sample>, Option<String>), PayloadError> {
    let site = Site::top(TRAFFIC_STATS);
    let json = parse_json(TRAFFIC_STATS, body)?;
    let object = expect_object(&json, &site, "")?;
    let mut samples = Vec::new();
    if let Some(days) = present(object, "trafficStats") {
        for (index, day) in expect_array(days, &site, "trafficStats")?
            .iter()
            .enumerate()
        {
            let site = site.labelled(format!("trafficStats item {index}"));
            samples.push(day_sample(expect_object(day, &site, "")?, &site, stream)?);
        }
    }
    Ok((samples, next_page(object)))
}

fn day_sample(
    day: &Map<String, Value>,
    site: &Site,
    stream: &StreamKey,
) -> Result<Sample, PayloadError> {
    let name = required_str(day, "name", site, "")?;
    let date = name
        .rsplit_once("/trafficStats/")
        .and_then(|(_, date)| NaiveDate::parse_from_str(date, "%Y%m%d").ok())
        .ok_or_else(|| {
            site.field_error(
                "name",
                format!(
                    "expected domains/<name>/trafficStats/YYYYMMDD, got {}",
                    super::quote_short(name, 60)
                ),
            )
        })?;
    let ratio = |key: &str| -> Result<Option<u32>, PayloadError> {
        match present(day, key) {
            None => Ok(None),
            Some(value) => value.as_f64().and_then(to_ppm).map(Some).ok_or_else(|| {
                site.field_error(
                    key,
                    format!("expected a ratio between 0 and 1, got {}", describe(value)),
                )
            }),
        }
    };
    let domain_reputation = match present(day, "domainReputation") {
        None => None,
        Some(value) => reputation(value, site, "domainReputation")?,
    };
    let mut ip_reputation: Option<Reputation> = None;
    if let Some(ips) = present(day, "ipReputations") {
        for (index, entry) in expect_array(ips, site, "ipReputations")?.iter().enumerate() {
            let field = format!("ipReputations[{index}]");
            let entry = expect_object(entry, site, &field)?;
            let count = match present(entry, "ipCount") {
                None => 0,
                Some(Value::String(text)) => text.trim().parse::<u64>().map_err(|_| {
                    site.field_error(&format!("{field}.ipCount"), "expected a count in a string")
                })?,
                Some(Value::Number(number)) => number.as_u64().unwrap_or(0),
                Some(other) => {
                    return Err(site.field_error(
                        &format!("{field}.ipCount"),
                        format!("expected a count, got {}", describe(other)),
                    ))
                }
            };
            let level = match present(entry, "reputation") {
                None => None,
                Some(value) => reputation(value, site, &format!("{field}.reputation"))?,
            };
            if let (true, Some(level)) = (count > 0, level) {
                ip_reputation = Some(ip_reputation.map_or(level, |worst| worst.min(level)));
            }
        }
    }
    let delivery_error_ppm = match present(day, "deliveryErrors") {
        None => None,
        Some(errors) => {
            let mut total = 0.0;
            for (index, error) in expect_array(errors, site, "deliveryErrors")?
                .iter()
                .enumerate()
            {
                let field = format!("deliveryErrors[{index}]");
                let error = expect_object(error, site, &field)?;
                total += present(error, "errorRatio")
                    .map(|value| {
                        value
                            .as_f64()
                            .filter(|ratio| (0.0..=1.0).contains(ratio))
                            .ok_or_else(|| {
                                site.field_error(
                                    &format!("{field}.errorRatio"),
                                    format!(
                                        "expected a ratio between 0 and 1, got {}",
                                        describe(value)
                                    ),
                                )
                            })
                    })
                    .transpose()?
                    .unwrap_or(0.0);
            }
            Some(to_ppm(total.min(1.0)).unwrap_or(0))
        }
    };
    let reported = Reported {
        spam_ppm: ratio("userReportedSpamRatio")?,
        spam_upper_ppm: ratio("userReportedSpamRatioUpperBound")?,
        domain_reputation,
        ip_reputation,
        spf_ppm: ratio("spfSuccessRatio")?,
        dkim_ppm: ratio("dkimSuccessRatio")?,
        dmarc_ppm: ratio("dmarcSuccessRatio")?,
        delivery_error_ppm,
        needs_work: None,
    };
    Ok(Sample {
        stream: stream.clone(),
        bucket: Bucket {
            start: date.and_time(chrono::NaiveTime::MIN).and_utc(),
            width: BucketWidth::Day,
            provider_tz: "unspecified".to_owned(),
        },
        counts: Counts {
            reported: Some(Box::new(reported)),
            ..Counts::default()
        },
    })
}

/// A `ReputationCategory`; `REPUTATION_CATEGORY_UNSPECIFIED` is no figure.
fn reputation(value: &Value, site: &Site, field: &str) -> Result<Option<Reputation>, PayloadError> {
    match value.as_str() {
        Some("HIGH") => Ok(Some(Reputation::High)),
        Some("MEDIUM") => Ok(Some(Reputation::Medium)),
        Some("LOW") => Ok(Some(Reputation::Low)),
        Some("BAD") => Ok(Some(Reputation::Bad)),
        Some("REPUTATION_CATEGORY_UNSPECIFIED") => Ok(None),
        _ => Err(site.field_error(
            field,
            format!("expected HIGH, MEDIUM, LOW or BAD, got {}", describe(value)),
        )),
    }
}

/// `GET /v2/domains/{domain}/complianceStatus`: the requirements that need
/// work (the rows, then the one-click and honouring verdicts), in order.
pub fn parse_compliance(body: &[u8]) -> Result<Vec<String>, PayloadError> {
    let site = Site::top(COMPLIANCE);
    let json = parse_json(COMPLIANCE, body)?;
    let object = expect_object(&json, &site, "")?;
    let Some(data) = present(object, "complianceData") else {
        return Ok(Vec::new());
    };
    let data = expect_object(data, &site, "complianceData")?;
    let needs_work = |status: Option<&Value>| {
        status
            .and_then(|status| status.get("status"))
            .and_then(Value::as_str)
            == Some("NEEDS_WORK")
    };
    let mut names = Vec::new();
    if let Some(rows) = present(data, "rowData") {
        for (index, row) in expect_array(rows, &site, "complianceData.rowData")?
            .iter()
            .enumerate()
        {
            let field = format!("complianceData.rowData[{index}]");
            let row = expect_object(row, &site, &field)?;
            if needs_work(present(row, "status")) {
                names.push(required_str(row, "requirement", &site, &field)?.to_owned());
            }
        }
    }
    for (key, name) in [
        ("oneClickUnsubscribeVerdict", "ONE_CLICK_UNSUBSCRIBE"),
        ("honorUnsubscribeVerdict", "HONOR_UNSUBSCRIBE"),
    ] {
        let verdict = present(data, key).and_then(|verdict| verdict.get("status"));
        if needs_work(verdict) && !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Whether `domain` can go into a request path as it is.
pub fn is_domain_name(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.')
}

pub(crate) mod source {
    #![allow(clippy::result_large_err)]

    use std::hash::{Hash, Hasher};

    use chrono::{Datelike, Days, NaiveDate};
    use reqwest::RequestBuilder;

    use crate::delivery::{Reported, Sample, StreamKey};
    use crate::esp::client::{
        inclusive_dates, rejected_locally, FetchError, Plan, Session, Window,
    };
    use crate::esp::postmaster;
    use crate::esp::source::{Refusal, Source, SourceFuture, NO_STATED_LIMIT};
    use crate::redact::Credential;

    /// Gmail Postmaster Tools: a service-account grant for a bearer token.
    pub(crate) struct Postmaster;

    impl Source for Postmaster {
        fn name(&self) -> &'static str {
            "Gmail Postmaster Tools"
        }

        fn stream_kinds(&self) -> &'static [&'static str] {
            &["domain"]
        }

        fn base_url(&self, region: &str) -> Option<String> {
            (region == "us").then(|| "https://gmailpostmastertools.googleapis.com".to_owned())
        }

        fn acts_for_a_user(&self) -> bool {
            true
        }

        // Days published one to three days late: re-read four.
        fn default_window_hours(&self) -> u64 {
            96
        }

        fn settle_minutes(&self) -> u64 {
            60
        }

        // Google's quotas count queries per minute, not open
        // connections. Domains at a time, each its traffic statistics and
        // compliance status together.
        fn concurrency(&self) -> usize {
            NO_STATED_LIMIT
        }

        // A wrong key file is named when the configuration is read, not
        // at the first poll.
        fn check_credential(&self, credential: &str) -> Result<(), String> {
            postmaster::check_key(credential)
        }

        // JSON; the access token the fetch obtained is added by the
        // session (`Session::use_bearer`).
        fn authorize(
            &self,
            request: RequestBuilder,
            _credential: &str,
        ) -> Result<RequestBuilder, String> {
            Ok(crate::esp::source::accept_json(request))
        }

        /// A refused grant (`invalid_grant`, `unauthorized_client`, …) is
        /// a refused credential.
        fn refusal(&self, status: u16, body: &[u8]) -> Option<Refusal> {
            let json: serde_json::Value = serde_json::from_slice(body).ok()?;
            let code = json.get("error")?.as_str()?;
            (matches!(status, 400 | 401)
                && matches!(
                    code,
                    "invalid_grant" | "unauthorized_client" | "invalid_client" | "access_denied"
                ))
            .then_some(Refusal::Credential)
        }

        fn fetch<'a>(
            &'a self,
            session: &'a Session<'_>,
            plan: &'a Plan,
            window: Window,
        ) -> SourceFuture<'a> {
            Box::pin(fetch(session, plan, window))
        }
    }

    async fn fetch(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        let grant = Grant::of(session)?;
        let kept = match session.tokens.kept(&grant.key, session.now()) {
            Some(token) => {
                session.use_bearer(token);
                true
            }
            None => {
                authenticate(session, &grant).await?;
                false
            }
        };
        match read(session, plan, window).await {
            // A kept token refused: revoked before it expired. Once more
            // with a new grant.
            Err(FetchError::Auth { .. }) if kept => {
                session.tokens.forget(&grant.key);
                authenticate(session, &grant).await?;
                read(session, plan, window).await
            }
            other => other,
        }
    }

    /// The domains' days, with the session's access token.
    async fn read(
        session: &Session<'_>,
        plan: &Plan,
        window: Window,
    ) -> Result<Vec<Sample>, FetchError> {
        let mut domains: Vec<String> = plan.names().map(str::to_owned).collect();
        if plan.account_wide || plan.discover {
            for domain in list_domains(session).await? {
                if !domains.contains(&domain) {
                    domains.push(domain);
                }
            }
        }
        if let Some(bad) = domains.iter().find(|d| !postmaster::is_domain_name(d)) {
            return Err(rejected_locally(
                session.account,
                &format!(
                    "`{}` is not a domain name",
                    crate::esp::quote_short(bad, 40)
                ),
            ));
        }
        let (first, last) = inclusive_dates(window, 0);
        let pending: Vec<_> = domains
            .iter()
            .map(|domain| domain_samples(session, domain, first, last))
            .collect();
        let per_domain = session.together(pending).await?;
        Ok(per_domain.into_iter().flatten().collect())
    }

    /// One account's grant: its service-account key, and what a token
    /// obtained with it is kept under in the session's token cache
    /// ([`crate::esp::client::TokenCache`]): the token endpoint, the
    /// service account, the key (a fingerprint, never the key) and the
    /// user acted for.
    struct Grant {
        account: postmaster::ServiceAccount,
        key: String,
    }

    impl Grant {
        fn of(session: &Session<'_>) -> Result<Grant, FetchError> {
            let account = postmaster::service_account(session.account.credential.expose())
                .map_err(|why| rejected_locally(session.account, &why))?;
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            account.private_key.hash(&mut hasher);
            let key = format!(
                "{}\n{}\n{:016x}\n{}",
                account.token_uri,
                account.client_email,
                hasher.finish(),
                session.account.subject.as_deref().unwrap_or_default()
            );
            Ok(Grant { account, key })
        }
    }

    /// Signs the grant, exchanges it, makes the session use the token and
    /// keeps it for later fetches when the answer says how long it lasts.
    async fn authenticate(session: &Session<'_>, grant: &Grant) -> Result<(), FetchError> {
        let account = &grant.account;
        let signed = postmaster::signed_grant(
            account,
            session.account.subject.as_deref(),
            session.now().timestamp(),
        )
        .map_err(|why| rejected_locally(session.account, &why))?;
        // The grant is as good as a token for an hour: kept out of logs.
        let signed = Credential::new(signed);
        let body = session
            .post_form_to(
                postmaster::TOKEN,
                &account.token_uri,
                &[
                    ("grant_type", postmaster::JWT_BEARER),
                    ("assertion", signed.expose()),
                ],
            )
            .await?;
        let answer = session.payload(postmaster::access_token(&body))?;
        let token = Credential::new(answer.token);
        session.use_bearer(token.clone());
        let lifetime = answer
            .expires_in
            .and_then(|seconds| i64::try_from(seconds).ok())
            .and_then(chrono::Duration::try_seconds);
        if let Some(expires_at) = lifetime.and_then(|l| session.now().checked_add_signed(l)) {
            session.tokens.keep(&grant.key, token, expires_at);
        }
        Ok(())
    }

    async fn list_domains(session: &Session<'_>) -> Result<Vec<String>, FetchError> {
        let mut domains = Vec::new();
        let mut token: Option<String> = None;
        for page in 0.. {
            session.check_page(postmaster::DOMAINS, page)?;
            let mut query = vec![("pageSize", "100".to_owned())];
            if let Some(token) = &token {
                query.push(("pageToken", token.clone()));
            }
            let body = session.get(postmaster::DOMAINS, &query).await?;
            let (names, next) = session.payload(postmaster::parse_domains(&body))?;
            domains.extend(names);
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(domains)
    }

    /// One domain's days in `[first, last]`, the newest carrying the
    /// compliance status when Gmail has one for the domain.
    async fn domain_samples(
        session: &Session<'_>,
        domain: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<Sample>, FetchError> {
        // The days and the compliance status do not depend on each other.
        let (samples, needs_work) = futures_util::future::try_join(
            traffic_stats(session, domain, first, last),
            compliance(session, domain),
        )
        .await?;
        let mut samples = samples;
        if let (Some(needs_work), Some(newest)) = (
            needs_work,
            samples.iter_mut().max_by_key(|sample| sample.bucket.start),
        ) {
            let reported = newest
                .counts
                .reported
                .get_or_insert_with(|| Box::new(Reported::default()));
            reported.needs_work = Some(needs_work);
        }
        Ok(samples)
    }

    /// Every page of one domain's days in `[first, last]`.
    async fn traffic_stats(
        session: &Session<'_>,
        domain: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<Sample>, FetchError> {
        let stream = StreamKey::new(format!("domain:{domain}"));
        let path = format!("/v1/domains/{domain}/trafficStats");
        // The end date is exclusive.
        let end = last.checked_add_days(Days::new(1)).unwrap_or(last);
        let mut samples = Vec::new();
        let mut token: Option<String> = None;
        for page in 0.. {
            session.check_page(postmaster::TRAFFIC_STATS, page)?;
            let mut query = vec![
                ("startDate.year", first.year().to_string()),
                ("startDate.month", first.month().to_string()),
                ("startDate.day", first.day().to_string()),
                ("endDate.year", end.year().to_string()),
                ("endDate.month", end.month().to_string()),
                ("endDate.day", end.day().to_string()),
                ("pageSize", "100".to_owned()),
            ];
            if let Some(token) = &token {
                query.push(("pageToken", token.clone()));
            }
            let body = session
                .get_at(postmaster::TRAFFIC_STATS, &path, &query)
                .await?;
            let (days, next) = session.payload(postmaster::parse_traffic_stats(&body, &stream))?;
            samples.extend(days);
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(samples)
    }

    /// The requirements that need work, or `None` when Gmail has no
    /// compliance status for the domain (not a bulk sender, or no
    /// permission for it: 403, 404).
    async fn compliance(
        session: &Session<'_>,
        domain: &str,
    ) -> Result<Option<Vec<String>>, FetchError> {
        let answer = session
            .get_at(
                postmaster::COMPLIANCE,
                &format!("/v2/domains/{domain}/complianceStatus"),
                &[],
            )
            .await;
        match answer {
            Ok(body) => Ok(Some(session.payload(postmaster::parse_compliance(&body))?)),
            Err(FetchError::Auth { status: 403, .. })
            | Err(FetchError::Rejected { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    const TRAFFIC: &str = include_str!("../../tests/fixtures/esp/postmaster/traffic_stats.json");
    const COMPLIANCE_SAMPLE: &str =
        include_str!("../../tests/fixtures/esp/postmaster/compliance_status.json");
    const DOMAINS_SAMPLE: &str = include_str!("../../tests/fixtures/esp/postmaster/domains.json");

    #[test]
    fn traffic_stats_are_kept_as_the_providers_ratios_and_levels() {
        let stream = StreamKey::new("domain:mail.example.com");
        let (days, next) = parse_traffic_stats(TRAFFIC.as_bytes(), &stream).unwrap();
        assert_eq!(next, None);
        assert_eq!(days.len(), 2);
        assert_eq!(
            days[0].bucket.start,
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(days[0].counts.sent, None, "no counts are invented");
        assert_eq!(
            days[0].counts.reported.as_deref(),
            Some(&Reported {
                spam_ppm: Some(1_200),
                spam_upper_ppm: Some(1_600),
                domain_reputation: Some(Reputation::High),
                ip_reputation: Some(Reputation::High),
                spf_ppm: Some(1_000_000),
                dkim_ppm: Some(998_000),
                dmarc_ppm: Some(997_000),
                delivery_error_ppm: Some(4_000),
                needs_work: None,
            })
        );
        // The worst category that has IPs in it.
        let second = days[1].counts.reported.as_deref().unwrap();
        assert_eq!(second.ip_reputation, Some(Reputation::Low));
        assert_eq!(second.domain_reputation, Some(Reputation::Medium));
        assert_eq!(second.spam_upper_ppm, None);
        assert_eq!(second.delivery_error_ppm, None);
    }

    #[test]
    fn compliance_lists_what_needs_work() {
        assert_eq!(
            parse_compliance(COMPLIANCE_SAMPLE.as_bytes()).unwrap(),
            vec![
                "DMARC_POLICY".to_owned(),
                "ONE_CLICK_UNSUBSCRIBE".to_owned()
            ]
        );
        assert_eq!(parse_compliance(b"{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn domains_are_listed() {
        assert_eq!(
            parse_domains(DOMAINS_SAMPLE.as_bytes()).unwrap(),
            (
                vec!["mail.example.com".to_owned(), "news.example.com".to_owned()],
                None
            )
        );
        assert!(parse_domains(br#"{"domains":[{"name":"example.com"}]}"#).is_err());
    }

    #[test]
    fn bad_days_say_where() {
        let stream = StreamKey::account();
        let day = |fields: &str| {
            format!(r#"{{"trafficStats":[{{"name":"domains/x/trafficStats/20260301",{fields}}}]}}"#)
        };
        let error = parse_traffic_stats(day(r#""userReportedSpamRatio":1.5"#).as_bytes(), &stream)
            .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("userReportedSpamRatio"));
        let error = parse_traffic_stats(day(r#""domainReputation":"GREAT""#).as_bytes(), &stream)
            .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("domainReputation"));
        let error = parse_traffic_stats(
            day(r#""deliveryErrors":[{"errorRatio":-0.2}]"#).as_bytes(),
            &stream,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("deliveryErrors[0].errorRatio"));
        let error = parse_traffic_stats(
            br#"{"trafficStats":[{"name":"domains/x/trafficStats/March"}]}"#,
            &stream,
        )
        .unwrap_err();
        assert_eq!(error.item.as_deref(), Some("trafficStats item 0"));
        assert!(parse_traffic_stats(b"{\"trafficStats\":", &stream).is_err());
    }

    #[test]
    fn service_account_keys_are_read_without_showing_them() {
        let error = service_account("not json").unwrap_err();
        assert!(!error.contains("not json"));
        let error = service_account(r#"{"client_email":"a@b"}"#).unwrap_err();
        assert_eq!(error, "the service-account key has no `private_key`");
        let account =
            service_account(r#"{"client_email":"a@b","private_key":"-----BEGIN"}"#).unwrap();
        assert_eq!(account.token_uri, DEFAULT_TOKEN_URI);
        assert!(!format!("{account:?}").contains("BEGIN"));
        assert!(signed_grant(&account, None, 0).is_err());
    }

    #[test]
    fn a_key_file_is_checked_whole_without_showing_it() {
        let template =
            include_str!("../../tests/fixtures/esp/postmaster/service_account.json.template");
        let key = template.replace("TOKEN_URI", "https://oauth2.googleapis.com/token");
        assert_eq!(check_key(&key), Ok(()));

        let mut json: Value = serde_json::from_str(&key).unwrap_or_default();
        json["private_key"] =
            Value::from("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
        let error = check_key(&json.to_string()).unwrap_err();
        assert_eq!(
            error,
            "the service-account key's private_key is not an RSA key in PEM"
        );
        assert!(!error.contains("bm90"));

        let ftp = template.replace("TOKEN_URI", "ftp://example.com/token");
        assert_eq!(
            check_key(&ftp),
            Err("the service-account key's token_uri is not an http(s) URL".to_owned())
        );
        let error = check_key("garbage-secret").unwrap_err();
        assert!(!error.contains("garbage-secret"), "{error}");
    }
}
