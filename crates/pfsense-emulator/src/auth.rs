//! Authentication (Basic, API key, JWT) with pfrest's "first requested method wins" rule, and
//! authorization by privilege.

use crate::reply::{ApiError, ApiResult};
use crate::store::{Store, now_unix};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The realm real boxes send with Basic failures.
pub const BASIC_REALM: &str = "Basic realm=\"Login for pfSense REST API\"";

fn auth_failed(basic: bool) -> ApiError {
    let e = ApiError::new(401, "AUTH_AUTHENTICATION_FAILED", "Authentication failed.");
    if basic {
        e.with_header("WWW-Authenticate", BASIC_REALM)
    } else {
        e
    }
}

/// Credentials found on a request.
pub struct Presented<'a> {
    pub authorization: Option<&'a str>,
    pub api_key: Option<&'a str>,
}

/// When a method counts as "requested" (the first requested method decides), by pfrest version:
/// up to v2.9, Basic as soon as a user name or password is sent, a key or token only when it
/// validates (an invalid `X-API-Key` is skipped); from v2.10.0 Basic only with both user name and
/// password, and a key or token whenever its header is present (an invalid one fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Lenient,
    ByHeader,
}

/// The rule of each version range, keyed by its first version.
pub const REQUESTED_BY_VERSION: &[((u32, u32, u32), Requested)] = &[
    ((0, 0, 0), Requested::Lenient),
    ((2, 10, 0), Requested::ByHeader),
];

pub fn requested_rule(version: (u32, u32, u32)) -> Requested {
    REQUESTED_BY_VERSION
        .iter()
        .rev()
        .find(|(since, _)| version >= *since)
        .map_or(Requested::Lenient, |(_, r)| *r)
}

/// Authenticate; returns the user name.
pub fn authenticate(
    store: &Store,
    methods: &[String],
    presented: &Presented,
    jwt_secret: &[u8],
    rule: Requested,
) -> ApiResult<String> {
    let basic = presented.authorization.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
    });
    let bearer = presented.authorization.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
    });
    for method in methods {
        match method.as_str() {
            // Basic counts as requested as soon as a username or password is present.
            "BasicAuth" => {
                let Some(encoded) = basic else { continue };
                let decoded = STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
                let requested = match rule {
                    Requested::Lenient => !user.is_empty() || !password.is_empty(),
                    Requested::ByHeader => !user.is_empty() && !password.is_empty(),
                };
                if !requested {
                    continue;
                }
                return if check_password(store, user, password) {
                    Ok(user.to_string())
                } else {
                    Err(auth_failed(true))
                };
            }
            "KeyAuth" => {
                if let Some(key) = presented.api_key {
                    match key_owner(store, key) {
                        Some(user) => return Ok(user),
                        None if rule == Requested::ByHeader => return Err(auth_failed(false)),
                        None => {}
                    }
                }
            }
            "JWTAuth" => {
                if let Some(token) = bearer {
                    match verify_jwt(store, token, jwt_secret) {
                        Some(user) => return Ok(user),
                        None if rule == Requested::ByHeader => return Err(auth_failed(false)),
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
    Err(auth_failed(methods.iter().any(|m| m == "BasicAuth")))
}

fn users(store: &Store) -> impl Iterator<Item = &Value> {
    store.collections.get("User").into_iter().flatten()
}

fn check_password(store: &Store, user: &str, password: &str) -> bool {
    users(store).any(|u| {
        u.get("name").and_then(Value::as_str) == Some(user)
            && u.get("password").and_then(Value::as_str) == Some(password)
            && u.get("disabled").and_then(Value::as_bool) != Some(true)
    })
}

/// `hash(hash_algo, key)` as stored for API keys.
pub fn hash_key(algo: &str, key: &str) -> String {
    match algo {
        "sha384" => hex::encode(Sha384::digest(key.as_bytes())),
        "sha512" => hex::encode(Sha512::digest(key.as_bytes())),
        _ => hex::encode(Sha256::digest(key.as_bytes())),
    }
}

fn key_owner(store: &Store, key: &str) -> Option<String> {
    store
        .collections
        .get("RESTAPIKey")?
        .iter()
        .find(|k| {
            let algo = k
                .get("hash_algo")
                .and_then(Value::as_str)
                .unwrap_or("sha256");
            k.get("hash").and_then(Value::as_str) == Some(hash_key(algo, key).as_str())
        })
        .and_then(|k| k.get("username").and_then(Value::as_str))
        // A key outlives its user (pfrest deletes none with it): it signs in only while a user
        // has its name, then as whoever has it (lab-tested:
        // `a_user_with_api_keys_is_not_deleted_or_renamed`).
        .filter(|name| users(store).any(|u| u.get("name").and_then(Value::as_str) == Some(name)))
        .map(str::to_string)
}

type HmacSha256 = Hmac<Sha256>;

fn sign(secret: &[u8], data: &str) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(data.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn hostname(store: &Store) -> String {
    store
        .singletons
        .get("SystemHostname")
        .and_then(|h| h.get("hostname"))
        .and_then(Value::as_str)
        .unwrap_or("pfSense")
        .to_string()
}

/// An HS256 JWT: iss/aud = hostname, exp = now + jwt_exp, nbf, data = username.
pub fn issue_jwt(store: &Store, user: &str, secret: &[u8]) -> String {
    let exp = store
        .singletons
        .get("RESTAPISettings")
        .and_then(|s| s.get("jwt_exp"))
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let now = now_unix();
    let host = hostname(store);
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let claims =
        json!({"iss": host, "aud": host, "exp": now + exp, "nbf": now, "iat": now, "data": user});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = sign(secret, &signing_input);
    format!("{signing_input}.{signature}")
}

fn verify_jwt(store: &Store, token: &str, secret: &[u8]) -> Option<String> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let expected = sign(secret, &format!("{header}.{payload}"));
    if expected.is_empty() || expected != signature {
        return None;
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let now = now_unix();
    if claims.get("exp")?.as_i64()? < now || claims.get("nbf")?.as_i64()? > now {
        return None;
    }
    let user = claims.get("data")?.as_str()?.to_string();
    users(store)
        .any(|u| u.get("name").and_then(Value::as_str) == Some(user.as_str()))
        .then_some(user)
}

/// `page-all` or the endpoint's own privilege, from the user, any group it belongs to, or `all`.
pub fn authorize(store: &Store, user: &str, privilege: &str) -> ApiResult<()> {
    let allowed = |privs: Option<&Value>| {
        privs.and_then(Value::as_array).is_some_and(|p| {
            p.iter()
                .any(|x| x.as_str() == Some("page-all") || x.as_str() == Some(privilege))
        })
    };
    let user_ok = users(store)
        .filter(|u| u.get("name").and_then(Value::as_str) == Some(user))
        .any(|u| allowed(u.get("priv")));
    let group_ok = store
        .collections
        .get("UserGroup")
        .into_iter()
        .flatten()
        // auth.inc `get_user_privileges`: every user holds the privileges of the group `all`.
        .filter(|g| {
            g.get("name").and_then(Value::as_str) == Some("all")
                || g.get("member")
                    .and_then(Value::as_array)
                    .is_some_and(|m| m.iter().any(|x| x.as_str() == Some(user)))
        })
        .any(|g| allowed(g.get("priv")));
    if user_ok || group_ok {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            "AUTH_AUTHORIZATION_FAILED",
            format!(
                "User `{user}` does not have the privilege `{privilege}` this endpoint requires."
            ),
        ))
    }
}

/// Fresh random bytes for keys and secrets.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if getrandom::fill(&mut buf).is_err() {
        // Never reached on supported platforms; fall back to a time-seeded hash stream.
        let mut seed = Sha256::digest(now_unix().to_le_bytes()).to_vec();
        for chunk in buf.chunks_mut(32) {
            chunk.copy_from_slice(&seed[..chunk.len()]);
            seed = Sha256::digest(&seed).to_vec();
        }
    }
    buf
}
