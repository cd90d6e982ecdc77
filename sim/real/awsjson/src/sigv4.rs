//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for requests to AWS APIs, and the credentials
//! it signs with: from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`) or a profile of the shared credentials file (`AWS_PROFILE`, default
//! `default`; `AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`).
//!
//! The signing time is an argument: production passes the wall clock, the simulation its own.
//! Checked against AWS's SigV4 test suite (`get-vanilla`, `post-vanilla`) in the tests below.
//!
//! Not covered: query-string (presigned) signing, URI paths that need encoding (AWS JSON APIs
//! post to `/`), credentials from instance metadata, ECS task roles or SSO.

use ring::{digest, hmac};

/// An access key, its secret, and the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    /// Never prints the secret or the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl Credentials {
    /// From environment variables, read through `var` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
        let id = var("AWS_ACCESS_KEY_ID").filter(|v| !v.is_empty())?;
        let secret = var("AWS_SECRET_ACCESS_KEY").filter(|v| !v.is_empty())?;
        Some(Credentials { access_key_id: id, secret_access_key: secret, session_token: var("AWS_SESSION_TOKEN").filter(|v| !v.is_empty()) })
    }

    /// From `profile` in the text of a shared credentials file (INI: `[name]`, then
    /// `aws_access_key_id = ...` lines).
    pub fn from_profile(file: &str, profile: &str) -> Option<Credentials> {
        let mut section = String::new();
        let (mut id, mut secret, mut token) = (None, None, None);
        for line in file.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                continue;
            }
            if section != profile {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else { continue };
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
        Some(Credentials { access_key_id: id?, secret_access_key: secret?, session_token: token })
    }

    /// The usual chain: the environment, then the shared credentials file's profile.
    pub fn load(var: impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
        if let Some(c) = Credentials::from_env(&var) {
            return Ok(c);
        }
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let path = match var("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => std::path::PathBuf::from(p),
            None => {
                std::path::PathBuf::from(var("HOME").ok_or("no AWS credentials: AWS_ACCESS_KEY_ID is not set and HOME is unknown")?).join(".aws/credentials")
            }
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("no AWS credentials: AWS_ACCESS_KEY_ID is not set and {} cannot be read: {e}", path.display()))?;
        Credentials::from_profile(&text, &profile).ok_or_else(|| format!("no AWS credentials: profile `{profile}` in {} has no key", path.display()))
    }
}

/// Signs requests for one service in one Region.
#[derive(Clone, Debug)]
pub struct Signer {
    pub credentials: Credentials,
    pub region: String,
    /// The signing name, e.g. `servicediscovery` for Cloud Map.
    pub service: String,
}

/// `YYYYMMDDTHHMMSSZ` for a time in seconds since the Unix epoch (UTC).
pub fn amz_date(unix_secs: u64) -> String {
    let (year, month, day) = civil_date((unix_secs / 86_400) as i64);
    let secs = unix_secs % 86_400;
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The civil date (year, month, day; proleptic Gregorian) `days` after 1970-01-01 (Howard
/// Hinnant's algorithm).
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg.as_bytes()).as_ref().to_vec()
}

impl Signer {
    /// The headers to add to a request so AWS accepts it: `x-amz-date`,
    /// `x-amz-security-token` (temporary credentials) and `authorization`. `headers` are the
    /// request's other headers to sign (they must include `host`); `path` is the URI path as
    /// sent, `query` the canonical query string (`""` for none).
    pub fn sign(&self, method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: &[u8], amz_date: &str) -> Vec<(String, String)> {
        let mut signed: Vec<(String, String)> =
            headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" "))).collect();
        signed.push(("x-amz-date".into(), amz_date.into()));
        if let Some(t) = &self.credentials.session_token {
            signed.push(("x-amz-security-token".into(), t.clone()));
        }
        signed.sort();
        let names = signed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
        let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!("{method}\n{path}\n{query}\n{canonical_headers}\n{names}\n{}", sha256_hex(body));
        let date = &amz_date[..8];
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
        let mut key = hmac(format!("AWS4{}", self.credentials.secret_access_key).as_bytes(), date);
        for part in [self.region.as_str(), self.service.as_str(), "aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = hex(&hmac(&key, &to_sign));
        let mut out = vec![("x-amz-date".to_string(), amz_date.to_string())];
        if let Some(t) = &self.credentials.session_token {
            out.push(("x-amz-security-token".into(), t.clone()));
        }
        out.push((
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={signature}", self.credentials.access_key_id),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials and scope of AWS's SigV4 test suite.
    fn suite() -> Signer {
        Signer {
            credentials: Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            region: "us-east-1".into(),
            service: "service".into(),
        }
    }

    fn signature(method: &str) -> String {
        let headers = suite().sign(method, "/", "", &[("Host", "example.amazonaws.com")], b"", "20150830T123600Z");
        headers.into_iter().find(|(k, _)| k == "authorization").map(|(_, v)| v).expect("authorization")
    }

    #[test]
    fn matches_the_aws_test_suite_get_vanilla() {
        assert_eq!(
            signature("GET"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn matches_the_aws_test_suite_post_vanilla() {
        assert!(signature("POST").ends_with("Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let mut s = suite();
        s.credentials.session_token = Some("tok".into());
        let headers = s.sign("POST", "/", "", &[("host", "example.amazonaws.com")], b"{}", "20150830T123600Z");
        assert_eq!(headers[1], ("x-amz-security-token".to_string(), "tok".to_string()));
        assert!(headers[2].1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"));
    }

    #[test]
    fn dates_format_as_aws_expects() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }

    #[test]
    fn credentials_come_from_the_environment_or_a_profile() {
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKID".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let c = Credentials::from_env(env).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token.as_deref()), ("AKID", None));
        let file =
            "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[ops]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token=T2\n";
        assert_eq!(Credentials::from_profile(file, "ops").unwrap().session_token.as_deref(), Some("T2"));
        assert_eq!(Credentials::from_profile(file, "default").unwrap().access_key_id, "A1");
        assert!(Credentials::from_profile(file, "missing").is_none());
        assert!(!format!("{c:?}").contains("secret"), "the secret never reaches a log");
    }
}
