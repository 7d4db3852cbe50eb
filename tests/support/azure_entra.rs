//! Entra ID's token endpoint for the Azure fake (`azure_fake.rs`): the
//! OAuth 2.0 client-credentials grant of the v2.0 endpoint, as a service
//! principal uses it
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>),
//! and a minimal OpenID configuration document.
//!
//! - `POST /{tenant}/oauth2/v2.0/token`, form-encoded: `grant_type=client_credentials`,
//!   `client_id`, `scope` (one resource's `/.default`), and either
//!   `client_secret` (or HTTP Basic `client_id:client_secret`) or
//!   `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//!   with a `client_assertion`. The assertion is a certificate credential
//!   (`iss` = `sub` = the client id, `aud` = the token endpoint) or a
//!   federated one (`aud` = `api://AzureADTokenExchange`, `iss`/`sub`
//!   trusted with `Fake::trust_federated_identity`); its shape, claims and
//!   times are checked, not its signature.
//! - Answers `{"token_type": "Bearer", "expires_in": 3599,
//!   "ext_expires_in": 3599, "access_token": ...}`, the token a JWT whose
//!   claims say its audience, tenant and application; errors are Entra's
//!   JSON (`error`, `error_description` starting `AADSTSnnnn:`,
//!   `error_codes`, `timestamp`, `trace_id`, `correlation_id`,
//!   `error_uri`) with the AADSTS codes and texts Entra uses for each case.
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration`.
//!
//! The v1.0 endpoint (`/{tenant}/oauth2/token` with `resource`) answers 501
//! and records a violation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use regex::Regex;
use serde_json::{Value, json};
use std::sync::LazyLock;

use super::{
    CLIENT_ID, CLIENT_SECRET, Incoming, OBJECT_ID, OPENID_OPERATION, State, TENANT_ID,
    TOKEN_OPERATION, Token, json_response, parse_query, random_hex, random_uuid, rfc3339,
};

const CLIENT_CREDENTIALS: &str = "client_credentials";
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Entra answers `expires_in` 3599 for a one-hour token.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// Answers the request if it is one for Entra ID, else `None`.
pub(super) fn handle(st: &mut State, req: &Incoming) -> Option<Response> {
    static TOKEN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^/([^/]+)/oauth2/(v2\.0/)?token/?$").expect("a valid regex"));
    static OPENID: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^/([^/]+)/(v2\.0/)?\.well-known/openid-configuration/?$")
            .expect("a valid regex")
    });
    if let Some(c) = TOKEN.captures(&req.path) {
        let tenant = c[1].to_owned();
        st.calls.push((TOKEN_OPERATION.to_owned(), req.describe()));
        if c.get(2).is_none() {
            let message = "the fake implements Entra ID's v2.0 token endpoint \
                           (/{tenant}/oauth2/v2.0/token), not the v1.0 one";
            st.violation(req, message);
            return Some(aad_error(501, "invalid_request", 0, message));
        }
        return Some(st.token(req, &tenant));
    }
    if let Some(c) = OPENID.captures(&req.path) {
        st.calls.push((OPENID_OPERATION.to_owned(), req.describe()));
        let tenant = c[1].to_owned();
        if req.method != "GET" {
            st.violation(req, "the OpenID configuration takes GET");
            return Some(aad_error(405, "invalid_request", 0, "Use GET."));
        }
        if !tenant.eq_ignore_ascii_case(TENANT_ID) {
            return Some(unknown_tenant(&tenant));
        }
        let base = req.base();
        let issuer = format!("https://login.microsoftonline.com/{TENANT_ID}/v2.0");
        return Some(json_response(
            200,
            &json!({
                "issuer": issuer,
                "token_endpoint": format!("{base}/{TENANT_ID}/oauth2/v2.0/token"),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "authorization_endpoint": format!("{base}/{TENANT_ID}/oauth2/v2.0/authorize"),
                "jwks_uri": format!("{base}/{TENANT_ID}/discovery/v2.0/keys"),
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            }),
        ));
    }
    None
}

impl State {
    /// Issues an access token for `audience` (a resource such as
    /// `https://management.azure.com/`).
    pub(super) fn issue_token(&mut self, client_id: &str, audience: &str) -> String {
        let now = SystemTime::now();
        let expires = now + TOKEN_LIFETIME;
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": "nubo-azure-fake"});
        let claims = json!({
            "aud": audience,
            "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
            "iat": secs(now),
            "nbf": secs(now),
            "exp": secs(expires),
            "appid": client_id,
            "appidacr": "1",
            "idp": format!("https://sts.windows.net/{TENANT_ID}/"),
            "idtyp": "app",
            "oid": OBJECT_ID,
            "sub": OBJECT_ID,
            "tid": TENANT_ID,
            "uti": random_hex(16),
            "ver": "1.0",
        });
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
        // Unique per token; the fake looks tokens up, it verifies nothing.
        let token = format!(
            "{}.{}.{}",
            part(&header),
            part(&claims),
            URL_SAFE_NO_PAD.encode(super::random_bytes(64))
        );
        self.tokens.insert(
            token.clone(),
            Token {
                client_id: client_id.to_owned(),
                audience: audience.to_owned(),
                expires,
                expired: false,
            },
        );
        token
    }

    /// Whether an `Authorization: Bearer` token is a live one for `audience`
    /// (any of them when empty).
    pub(super) fn bearer_ok(&self, token: &str, audiences: &[&str]) -> bool {
        self.tokens.get(token).is_some_and(|t| {
            !t.expired
                && t.expires > SystemTime::now()
                && (audiences.is_empty() || audiences.contains(&t.audience.as_str()))
        })
    }

    /// The token endpoint.
    fn token(&mut self, req: &Incoming, tenant: &str) -> Response {
        let refuse = |st: &mut State, status: u16, error: &str, code: u32, why: String| {
            st.violation(req, format!("AADSTS{code}: {why}"));
            aad_error(status, error, code, &why)
        };
        if req.method != "POST" {
            return refuse(
                self,
                405,
                "invalid_request",
                900_561,
                "The endpoint only accepts POST requests.".into(),
            );
        }
        let form_type = req
            .header(header::CONTENT_TYPE)
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if !form_type {
            return refuse(
                self,
                400,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'grant_type'. (The body \
                 must be application/x-www-form-urlencoded.)"
                    .into(),
            );
        }
        if !tenant.eq_ignore_ascii_case(TENANT_ID) {
            // Not a violation: a client may be pointed at the wrong tenant.
            return unknown_tenant(tenant);
        }
        let form = parse_query(&String::from_utf8_lossy(&req.body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        // client_secret_basic: `Authorization: Basic base64(id:secret)`.
        let basic = req
            .header(header::AUTHORIZATION)
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                let (id, secret) = s.split_once(':')?;
                Some((super::decode_component(id), super::decode_component(secret)))
            });
        match field("grant_type") {
            Some(CLIENT_CREDENTIALS) => {}
            None => {
                return refuse(
                    self,
                    400,
                    "invalid_request",
                    900_144,
                    "The request body must contain the following parameter: 'grant_type'.".into(),
                );
            }
            Some(other) => {
                return refuse(
                    self,
                    400,
                    "unsupported_grant_type",
                    70_003,
                    format!(
                        "The app requested an unsupported grant type '{other}' (the fake serves \
                         client_credentials)."
                    ),
                );
            }
        }
        let client_id = field("client_id")
            .map(str::to_owned)
            .or_else(|| basic.as_ref().map(|(id, _)| id.clone()));
        let Some(client_id) = client_id else {
            return refuse(
                self,
                400,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'client_id'.".into(),
            );
        };
        let Some(scope) = field("scope") else {
            return refuse(
                self,
                400,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'scope'.".into(),
            );
        };
        let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        let resource = match scopes.as_slice() {
            // `https://management.azure.com/.default` is for the resource
            // `https://management.azure.com`, and `…windows.net//.default`
            // for `…windows.net/`.
            [one] if one.ends_with("/.default") => one.trim_end_matches("/.default").to_owned(),
            _ => {
                return refuse(
                    self,
                    400,
                    "invalid_scope",
                    1_002_012,
                    format!(
                        "The provided value for scope {scope} is not valid. Client credential \
                         flows must have a scope value with /.default suffixed to the resource \
                         identifier (application ID URI)."
                    ),
                );
            }
        };
        if !client_id.eq_ignore_ascii_case(CLIENT_ID) {
            // Credentials that are refused are not malformed requests: no violation.
            return aad_error(
                400,
                "unauthorized_client",
                700_016,
                &format!(
                    "Application with identifier '{client_id}' was not found in the directory \
                     '{TENANT_ID}'. This can happen if the application has not been installed by \
                     the administrator of the tenant or consented to by any user in the tenant. \
                     You may have sent your authentication request to the wrong tenant."
                ),
            );
        }
        let secret = field("client_secret")
            .map(str::to_owned)
            .or_else(|| basic.map(|(_, s)| s));
        let assertion = field("client_assertion");
        match (secret, assertion) {
            (Some(_), Some(_)) => {
                return refuse(
                    self,
                    400,
                    "invalid_request",
                    50_027,
                    "Send either client_secret or client_assertion, not both.".into(),
                );
            }
            (None, None) => {
                return refuse(
                    self,
                    401,
                    "invalid_client",
                    7_000_218,
                    "The request body must contain the following parameter: 'client_assertion' \
                     or 'client_secret'."
                        .into(),
                );
            }
            (Some(secret), None) => {
                if secret != CLIENT_SECRET {
                    // A wrong secret is not a malformed request: not a violation.
                    return aad_error(
                        401,
                        "invalid_client",
                        7_000_215,
                        &format!(
                            "Invalid client secret provided. Ensure the secret being sent in the \
                             request is the client secret value, not the client secret ID, for a \
                             secret added to app '{CLIENT_ID}'."
                        ),
                    );
                }
            }
            (None, Some(assertion)) => {
                if field("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
                    return refuse(
                        self,
                        400,
                        "invalid_request",
                        90_014,
                        format!(
                            "The request body must contain the following parameter: \
                             'client_assertion_type' with the value {JWT_BEARER_ASSERTION}."
                        ),
                    );
                }
                let endpoints = [
                    format!("https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token"),
                    format!("{}/{TENANT_ID}/oauth2/v2.0/token", req.base()),
                    format!("{}/{TENANT_ID}/oauth2/v2.0/token", self.url),
                ];
                match check_assertion(assertion, &client_id, &endpoints, &self.federated) {
                    Ok(()) => {}
                    Err(Refusal::Malformed(why)) => {
                        return refuse(self, 400, "invalid_request", 50_027, why);
                    }
                    // A valid JWT that does not authenticate the client is
                    // refused like a wrong secret: not a violation.
                    Err(Refusal::Denied(status, error, code, why)) => {
                        return aad_error(status, error, code, &why);
                    }
                }
            }
        }
        if let Some((status, retry_after)) = self.take_fault(TOKEN_OPERATION) {
            let mut response = aad_error(
                status,
                "temporarily_unavailable",
                50_196,
                "The server is temporarily unavailable. (injected by the fake)",
            );
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.into());
            }
            return response;
        }
        let token = self.issue_token(&client_id, &resource);
        json_response(
            200,
            &json!({
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME.as_secs(),
                "ext_expires_in": TOKEN_LIFETIME.as_secs(),
                "access_token": token,
            }),
        )
    }
}

/// Why a client assertion is refused.
enum Refusal {
    /// Not a well-formed JWT assertion (a client bug: a violation).
    Malformed(String),
    /// Well formed, but it does not authenticate the client: (status,
    /// error, AADSTS code, text).
    Denied(u16, &'static str, u32, String),
}

/// Checks a client assertion JWT: three base64url parts, a header with
/// `alg` (and `x5t` or `x5t#S256` for a certificate), claims with `aud`,
/// `iss`, `sub`, `exp` (future), `nbf` (not in the future). A certificate
/// credential has `iss` = `sub` = the client id and the token endpoint as
/// `aud`; a federated one `aud` = `api://AzureADTokenExchange` and a trusted
/// (`iss`, `sub`). The signature is not verified.
fn check_assertion(
    jwt: &str,
    client_id: &str,
    endpoints: &[String],
    federated: &[(String, String)],
) -> Result<(), Refusal> {
    let malformed =
        |why: String| Refusal::Malformed(format!("JWT token is invalid or malformed: {why}"));
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(malformed(format!(
            "expected three parts, got {}",
            parts.len()
        )));
    }
    let decode = |i: usize| -> Result<Value, Refusal> {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts[i].trim_end_matches('='))
            .map_err(|e| malformed(format!("part {} is not base64url: {e}", i + 1)))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| malformed(format!("part {} is not JSON: {e}", i + 1)))
    };
    let header = decode(0)?;
    let claims = decode(1)?;
    if parts[2].is_empty() {
        return Err(malformed("the signature is empty".into()));
    }
    if !header["alg"].is_string() || header["alg"] == "none" {
        return Err(malformed("the header's alg is missing or none".into()));
    }
    let text = |c: &str| claims[c].as_str().unwrap_or("").to_owned();
    let (iss, sub, aud) = (text("iss"), text("sub"), text("aud"));
    for (name, value) in [("iss", &iss), ("sub", &sub), ("aud", &aud)] {
        if value.is_empty() {
            return Err(malformed(format!("the claims lack `{name}`")));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let Some(exp) = claims["exp"].as_i64() else {
        return Err(malformed("the claims lack a numeric `exp`".into()));
    };
    let too_early = claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + 300);
    if exp <= now || too_early {
        return Err(Refusal::Denied(
            401,
            "invalid_client",
            700_024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, \
                 assertion valid from {}, to: {exp}.",
                claims["nbf"]
            ),
        ));
    }
    if aud == FEDERATED_AUDIENCE {
        if federated.iter().any(|(i, s)| *i == iss && *s == sub) {
            return Ok(());
        }
        return Err(Refusal::Denied(
            400,
            "invalid_request",
            70_021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion \
                 Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'."
            ),
        ));
    }
    if header["x5t"].as_str().is_none() && header["x5t#S256"].as_str().is_none() {
        return Err(malformed(
            "a certificate credential's header names its certificate in x5t or x5t#S256".into(),
        ));
    }
    if !iss.eq_ignore_ascii_case(client_id) || !sub.eq_ignore_ascii_case(client_id) {
        return Err(Refusal::Denied(
            401,
            "invalid_client",
            700_021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter. \
                 (iss {iss:?}, sub {sub:?})"
            ),
        ));
    }
    if !endpoints.iter().any(|e| e.eq_ignore_ascii_case(&aud)) {
        return Err(Refusal::Denied(
            401,
            "invalid_client",
            50_013,
            format!(
                "Assertion audience '{aud}' is invalid: a certificate credential's audience is \
                 the token endpoint."
            ),
        ));
    }
    Ok(())
}

/// Entra's 400 for a tenant it does not know.
fn unknown_tenant(tenant: &str) -> Response {
    aad_error(
        400,
        "invalid_request",
        90_002,
        &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and \
             are signing into the correct cloud."
        ),
    )
}

/// Entra's error JSON.
fn aad_error(status: u16, error: &str, code: u32, description: &str) -> Response {
    let trace = random_uuid();
    let correlation = random_uuid();
    let now = rfc3339(SystemTime::now());
    let timestamp = now
        .replace('T', " ")
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned()
        + "Z";
    json_response(
        status,
        &json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}
