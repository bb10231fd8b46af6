//! The server's address as users write it, and the channel to it: plain HTTP/2 for
//! `grpc://`, TLS for `grpcs://` (the system's roots, or the given CA; a client identity
//! for mutual TLS).

use std::fmt;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::{RemoteOptions, SettingsError, TlsFiles};

/// `grpc://HOST:PORT` or `grpcs://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// As written, for messages.
    pub text: String,
    pub tls: bool,
    /// `host:port` (`[v6]:port` for IPv6).
    authority: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("`{0}`: a remote address starts with grpc:// or grpcs://")]
    Scheme(String),
    #[error("`{0}`: a remote address needs a host and a port (grpc://HOST:PORT)")]
    HostPort(String),
}

impl Address {
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("grpcs://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("grpc://") {
            (false, rest)
        } else {
            return Err(AddressError::Scheme(text.to_owned()));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let bad = || AddressError::HostPort(text.to_owned());
        let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
        let host_ok = !host.is_empty()
            && !host.contains(['/', '@', '?', '#', ' '])
            && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
        if !host_ok || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(Address {
            text: text.to_owned(),
            tls,
            authority: authority.to_owned(),
        })
    }
}

impl Address {
    /// Whether the host is this machine's loopback (a token may go there unencrypted).
    pub(crate) fn is_loopback(&self) -> bool {
        let host = self.authority.rsplit_once(':').map_or("", |(host, _)| host);
        matches!(host, "127.0.0.1" | "[::1]" | "localhost")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The endpoint to connect to, its TLS files read now: a missing file is a settings
/// error before anything runs, not a failure in the middle of the run.
pub(crate) fn endpoint(options: &RemoteOptions) -> Result<Endpoint, SettingsError> {
    let address = &options.address;
    let scheme = if address.tls { "https" } else { "http" };
    let uri = format!("{scheme}://{}", address.authority);
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|_| AddressError::HostPort(address.text.clone()))?
        .connect_timeout(options.timeout)
        .tcp_nodelay(true)
        // A connection that went silent (a half-open one under a long Execute) is found
        // out rather than waited on forever.
        .http2_keep_alive_interval(std::time::Duration::from_secs(30))
        .keep_alive_timeout(std::time::Duration::from_secs(20))
        .keep_alive_while_idle(true);
    let TlsFiles { ca, cert, key } = &options.tls;
    if !address.tls {
        if ca.is_some() || cert.is_some() || key.is_some() {
            return Err(SettingsError::TlsWithoutGrpcs);
        }
        return Ok(endpoint);
    }
    let read = |path: &std::path::PathBuf| {
        std::fs::read(path).map_err(|source| SettingsError::TlsFile {
            path: path.display().to_string(),
            source,
        })
    };
    let mut tls = ClientTlsConfig::new();
    tls = match ca {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca)?)),
        None => tls.with_native_roots(),
    };
    match (cert, key) {
        (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?)),
        (None, None) => {}
        _ => return Err(SettingsError::HalfClientIdentity),
    }
    endpoint
        .tls_config(tls)
        .map_err(|e| SettingsError::TlsFile {
            path: address.text.clone(),
            source: std::io::Error::other(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let plain = Address::parse("grpc://127.0.0.1:8980").unwrap();
        assert!(!plain.tls);
        assert_eq!(plain.authority, "127.0.0.1:8980");
        assert!(plain.is_loopback());
        assert!(Address::parse("grpc://[::1]:1").unwrap().is_loopback());
        assert!(
            !Address::parse("grpc://127.0.0.2.example.com:1")
                .unwrap()
                .is_loopback()
        );
        assert!(
            Address::parse("grpcs://cache.example.com:443/")
                .unwrap()
                .tls
        );
        assert_eq!(
            Address::parse("grpc://[::1]:50051").unwrap().authority,
            "[::1]:50051"
        );
        for bad in [
            "http://h:1",
            "h:1",
            "grpc://h",
            "grpc://:1",
            "grpc://h:x",
            "grpc://::1:5",
            "grpc://u@h:1",
            "grpc://h:1/p",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }
}
