//! The server secret: 32 random bytes kept in `<data_dir>/secrets/server.key`
//! (folder 0700, file 0600), created on first use. Keys for separate
//! purposes (user tokens, pseudonyms) are derived from it with HMAC-SHA256
//! over a label, so one file serves all and none can be computed from
//! another.

use crate::{AuthError, random_bytes};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};

/// The server's master secret.
pub struct ServerSecret {
    master: [u8; 32],
}

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

impl ServerSecret {
    /// Where the secret of a data folder lives.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("secrets").join("server.key")
    }

    /// Reads the data folder's secret, creating it (with restrictive
    /// permissions) when there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, AuthError> {
        let path = Self::path(data_dir);
        let fail = |reason: String| AuthError::Secret {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = decode_hex(text.trim())
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| fail("is not 64 hex digits; delete it to make a new one (all user tokens become invalid)".into()))?;
                let mut master = [0u8; 32];
                master.copy_from_slice(&bytes);
                Ok(Self { master })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let master = random_bytes::<32>()?;
                let dir = path.parent().expect("has a parent");
                std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                restrict(dir, 0o700).map_err(|e| fail(e.to_string()))?;
                let hex: String = master.iter().map(|b| format!("{b:02x}")).collect();
                let tmp = path.with_extension("tmp");
                write_private(&tmp, hex.as_bytes()).map_err(|e| fail(e.to_string()))?;
                // Two processes starting at once: the first rename wins and
                // both read it back.
                if std::fs::hard_link(&tmp, &path).is_err() {
                    let _ = std::fs::remove_file(&tmp);
                    return Self::load_or_create(data_dir);
                }
                let _ = std::fs::remove_file(&tmp);
                Ok(Self { master })
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// A secret from operator-given bytes (tests, configured secrets).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut m =
            Hmac::<Sha256>::new_from_slice(b"sommelier server secret").expect("any key length");
        m.update(bytes);
        Self {
            master: m.finalize().into_bytes().into(),
        }
    }

    /// The signer of user tokens: with the operator's `configured` key when
    /// one is set (their backend signs with it), else with a key derived
    /// from this secret. Tokens may live at most `max_ttl_secs`.
    pub fn token_signer(&self, configured: &str, max_ttl_secs: u64) -> crate::TokenSigner {
        let derived;
        let key: &[u8] = if configured.is_empty() {
            derived = self.derive("user-token");
            &derived
        } else {
            configured.as_bytes()
        };
        crate::TokenSigner::new(key, max_ttl_secs)
    }

    /// The key for one purpose (`user-token`, `pseudonym`, …).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.master).expect("any key length");
        m.update(label.as_bytes());
        m.finalize().into_bytes().into()
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

/// Writes `bytes` to a file only its owner may read (0600 on Unix), and
/// syncs it: for secrets and keys kept on disk.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_created_once_private_and_derives_distinct_keys() {
        let dir = tempfile::tempdir().unwrap();
        let a = ServerSecret::load_or_create(dir.path()).unwrap();
        let b = ServerSecret::load_or_create(dir.path()).unwrap();
        assert_eq!(a.derive("user-token"), b.derive("user-token"));
        assert_ne!(a.derive("user-token"), a.derive("pseudonym"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(ServerSecret::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(ServerSecret::path(dir.path()), "not hex").unwrap();
        let e = ServerSecret::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 hex digits"), "{e}");
    }
}
