//! API Gateway's JWT authorizer (HTTP APIs), in AWS's order: the signature against the issuer's
//! JWKS (RSA only, the key chosen by `kid`), `iss`, `aud` (or `client_id` when `aud` is
//! absent), `exp`/`nbf`/`iat` against the clock, then the route's scopes (`scope` or `scp`
//! must hold at least one). A failure before the scopes is 401 with a `www-authenticate`
//! header; missing scopes are 403.

use std::collections::BTreeMap;

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

/// An authorizer's settings and the issuer's keys.
#[derive(Clone, Debug)]
pub struct JwtAuthorizer {
    pub issuer: String,
    /// At least one must match `aud` (or `client_id`).
    pub audiences: Vec<String>,
    /// `kid` -> the RSA public key's modulus and exponent (big-endian bytes).
    pub keys: BTreeMap<String, (Vec<u8>, Vec<u8>)>,
}

/// Why a request was refused: 401 (with the `error_description` AWS puts in
/// `www-authenticate`) or 403 (a valid token without the route's scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    Unauthorized(String),
    Forbidden,
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::Unauthorized(_) => 401,
            Denied::Forbidden => 403,
        }
    }

    /// The `www-authenticate` header of a 401 (as API Gateway words it: RFC 6750's bearer
    /// challenge with the reason); none for 403.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            Denied::Unauthorized(why) => Some(format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{why}\"")),
            Denied::Forbidden => None,
        }
    }
}

/// Base64url without padding (RFC 7515), as JWTs and JWKS use.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

impl JwtAuthorizer {
    /// Reads the keys of a JWKS document (`{"keys":[{"kty":"RSA","kid":..,"n":..,"e":..}]}`).
    pub fn from_jwks(issuer: &str, audiences: Vec<String>, jwks: &str) -> Result<JwtAuthorizer, String> {
        let doc: serde_json::Value = serde_json::from_str(jwks).map_err(|e| format!("JWKS: {e}"))?;
        let mut keys = BTreeMap::new();
        for k in doc["keys"].as_array().ok_or("JWKS: no `keys` array")? {
            if k["kty"] != "RSA" {
                continue; // API Gateway supports RSA keys only
            }
            let field = |f: &str| k[f].as_str().and_then(b64url_decode).ok_or_else(|| format!("JWKS: key without a valid `{f}`"));
            keys.insert(k["kid"].as_str().unwrap_or_default().to_string(), (field("n")?, field("e")?));
        }
        if keys.is_empty() {
            return Err("JWKS: no RSA key".into());
        }
        Ok(JwtAuthorizer { issuer: issuer.into(), audiences, keys })
    }

    /// Checks the identity source's value (`Authorization`: the token or `Bearer <token>`) at
    /// `now` (seconds since the Unix epoch) for a route requiring `scopes` (none: any valid
    /// token). Returns the token's claims.
    pub fn check(&self, header: Option<&str>, now: u64, scopes: &[String]) -> Result<serde_json::Value, Denied> {
        let bad = |why: &str| Denied::Unauthorized(why.to_string());
        let token = header.ok_or_else(|| bad("no token"))?.trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not a JWT"));
        };
        let json = |part: &str| b64url_decode(part).and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).ok_or_else(|| bad("not a JWT"));
        let (header, claims) = (json(h)?, json(p)?);
        if header["alg"] != "RS256" {
            return Err(bad("unsupported algorithm"));
        }
        let (n, e) = self.keys.get(header["kid"].as_str().unwrap_or_default()).ok_or_else(|| bad("unknown kid"))?;
        let signature = b64url_decode(s).ok_or_else(|| bad("bad signature"))?;
        RsaPublicKeyComponents { n, e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, format!("{h}.{p}").as_bytes(), &signature)
            .map_err(|_| bad("signature verification failed"))?;
        if claims["iss"] != self.issuer.as_str() {
            return Err(bad("invalid issuer"));
        }
        let audience_ok = match &claims["aud"] {
            serde_json::Value::String(a) => self.audiences.contains(a),
            serde_json::Value::Array(a) => a.iter().any(|x| x.as_str().is_some_and(|x| self.audiences.iter().any(|m| m == x))),
            _ => claims["client_id"].as_str().is_some_and(|c| self.audiences.iter().any(|m| m == c)),
        };
        if !audience_ok {
            return Err(bad("invalid audience"));
        }
        let time = |f: &str| claims[f].as_u64();
        if time("exp").is_none_or(|exp| exp <= now) {
            return Err(bad("the token has expired"));
        }
        if time("nbf").is_some_and(|t| t > now) || time("iat").is_some_and(|t| t > now) {
            return Err(bad("the token is not valid yet"));
        }
        if !scopes.is_empty() {
            let held: Vec<&str> = match (&claims["scope"], &claims["scp"]) {
                (serde_json::Value::String(s), _) => s.split_whitespace().collect(),
                (_, serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).collect(),
                (_, serde_json::Value::String(s)) => s.split_whitespace().collect(),
                _ => Vec::new(),
            };
            if !scopes.iter().any(|s| held.contains(&s.as_str())) {
                return Err(Denied::Forbidden);
            }
        }
        Ok(claims)
    }
}
