//! TLS between agent and proxy (rustls, with the ring provider chosen explicitly). The agent
//! always verifies the proxy's certificate against the CA it is given (there is no switch to
//! skip it); the proxy can require agents to present a certificate from its client CA (mutual
//! TLS), in addition to the greeting's token.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The proxy's side, as PEM file paths in its config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// Require agents to present a certificate issued by this CA.
    #[serde(default)]
    pub client_ca: Option<std::path::PathBuf>,
}

/// The agent's side, as PEM file paths in its config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsFiles {
    /// The CA that issued the proxies' certificates.
    pub ca: std::path::PathBuf,
    /// The name the proxies' certificates carry.
    pub server_name: String,
    /// The agent's own certificate and key, for mutual TLS.
    #[serde(default)]
    pub cert: Option<std::path::PathBuf>,
    #[serde(default)]
    pub key: Option<std::path::PathBuf>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().map_err(|e| format!("certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the PEM".into());
    }
    Ok(certs)
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("private key PEM: {e}"))
}

fn roots(pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(pem)? {
        roots.add(c).map_err(|e| format!("CA certificate: {e}"))?;
    }
    Ok(roots)
}

/// The proxy's acceptor for agent connections.
pub fn acceptor(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: Option<&[u8]>) -> Result<TlsAcceptor, String> {
    let builder = rustls::ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider()).build().map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs(cert_pem)?, key(key_pem)?).map_err(|e| format!("certificate and key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The agent's connector: verifies the proxy against `ca_pem` for `server_name`.
pub fn connector(ca_pem: &[u8], server_name: &str, client: Option<(&[u8], &[u8])>) -> Result<(TlsConnector, ServerName<'static>), String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca_pem)?);
    let config = match client {
        Some((cert, k)) => builder.with_client_auth_cert(certs(cert)?, key(k)?).map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| format!("server name {server_name}: {e}"))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// A connector for public endpoints (AWS APIs): trusts the CAs of a system bundle (PEM), and
/// verifies each endpoint's certificate for the name it is given per connection.
pub fn public_connector(bundle_pem: &[u8]) -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    // A system bundle holds certificates some of which webpki may not parse: keep the rest.
    let (added, _ignored) = roots.add_parsable_certificates(certs(bundle_pem)?);
    if added == 0 {
        return Err("no usable CA certificate in the bundle".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl ServerTlsFiles {
    pub fn acceptor(&self) -> Result<TlsAcceptor, String> {
        let ca = self.client_ca.as_deref().map(read).transpose()?;
        acceptor(&read(&self.cert)?, &read(&self.key)?, ca.as_deref())
    }
}

impl ClientTlsFiles {
    pub fn connector(&self) -> Result<(TlsConnector, ServerName<'static>), String> {
        let client = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            (None, None) => None,
            _ => return Err("give both `cert` and `key` for mutual TLS".into()),
        };
        connector(&read(&self.ca)?, &self.server_name, client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())))
    }
}

/// When the first certificate of a PEM file expires (its `notAfter`, as seconds since the
/// Unix epoch), or `None` if it cannot be read. For the expiry metric; nothing relies on it to
/// accept or refuse a certificate (rustls checks validity itself).
pub fn not_after(pem: &[u8]) -> Option<u64> {
    let der = certs(pem).ok()?.into_iter().next()?;
    let (_, cert, _) = der_tlv(&der)?;
    let (_, mut tbs, _) = der_tlv(cert)?;
    // TBSCertificate: [0] version (optional), serial, signature algorithm, issuer, validity.
    if tbs.first() == Some(&0xa0) {
        tbs = der_tlv(tbs)?.2;
    }
    for _ in 0..3 {
        tbs = der_tlv(tbs)?.2;
    }
    let (_, validity, _) = der_tlv(tbs)?;
    let (_, _, rest) = der_tlv(validity)?;
    let (tag, time, _) = der_tlv(rest)?;
    let time = std::str::from_utf8(time).ok()?;
    let digits = |s: &str| -> Option<i64> { if s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None } };
    let (year, rest) = match tag {
        // UTCTime: YYMMDDHHMMSSZ, years 1950 to 2049.
        0x17 => {
            let yy = digits(time.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, time.get(2..)?)
        }
        // GeneralizedTime: YYYYMMDDHHMMSSZ.
        0x18 => (digits(time.get(..4)?)?, time.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| digits(rest.get(i..i + 2)?);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if rest.get(10..) != Some("Z") || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// One DER element: its tag, its content and what follows it.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_expiry_of_a_certificate_is_read() {
        use rcgen::{CertificateParams, KeyPair, date_time_ymd};
        let key = KeyPair::generate().unwrap();
        for ((y, m, d), want) in [((2031, 5, 17), 1_936_742_400), ((2051, 1, 1), 2_556_144_000)] {
            let mut params = CertificateParams::new(vec!["proxy.test".to_string()]).unwrap();
            params.not_after = date_time_ymd(y, m, d);
            let pem = params.self_signed(&key).unwrap().pem();
            assert_eq!(super::not_after(pem.as_bytes()), Some(want), "{y}-{m}-{d}");
        }
        assert_eq!(super::not_after(b"not a certificate"), None);
        assert_eq!(super::not_after(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), None);
    }
}
