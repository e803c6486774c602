//! Who may run code inside tenantctl: which plugin files are trusted.
//!
//! Built-in plugins are trusted. A file from the plugin directory is trusted only when a
//! minisign signature beside it (`FILE.minisig`) is by a key the operator trusts for the
//! vendor the plugin says it is, when its SHA-256 is pinned for that vendor, or when the
//! operator opted out (`allow_unsigned`, `TENANTCTL_ALLOW_UNSIGNED_PLUGINS=1`).
//!
//! The vendor a plugin is for is only known once it is described, which means running it.
//! So the check comes in two halves: [`Trust::vouch`] looks at the raw bytes and the
//! signature before anything else does — a file no configured key, pin or opt-out vouches
//! for is refused there and never parsed, compiled or instantiated — and
//! [`Vouch::for_vendor`] then requires that what vouched is trusted for the vendor the
//! plugin declares (a key trusted for one vendor does not vouch for a plugin that says it
//! is another).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use minisign_verify::{PublicKey, Signature};

use crate::config::TrustConfig;

/// The variable that allows unsigned plugin files (`1`) or forbids them (`0`), whatever
/// the configuration file says.
pub const ALLOW_UNSIGNED_VAR: &str = "TENANTCTL_ALLOW_UNSIGNED_PLUGINS";

/// Parses a minisign public key: the base64 line of a `.pub` file, or the whole file.
pub fn parse_key(text: &str) -> Result<PublicKey, String> {
    let text = text.trim();
    let parsed = if text.contains('\n') {
        PublicKey::decode(text)
    } else {
        PublicKey::from_base64(text)
    };
    parsed.map_err(|err| err.to_string())
}

/// The key id minisign prints for a key or signature (16 upper-case hex digits), from the
/// base64 of a public key (42 bytes) or of a signature line (74 bytes): algorithm (2 bytes),
/// then the id, little-endian.
fn key_id_of(base64_line: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_line.trim())
        .ok()?;
    let id: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
    Some(format!("{:016X}", u64::from_le_bytes(id)))
}

/// The signature file of a plugin file: `FILE.minisig`.
pub fn signature_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

/// Why a plugin may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Compiled into tenantctl.
    Builtin,
    /// Signed by a key trusted for its vendor.
    Signed {
        /// The key's id, as minisign prints it.
        key_id: String,
    },
    /// Its SHA-256 is pinned for its vendor.
    Pinned,
    /// Neither signed nor pinned, loaded because the operator allowed unsigned plugins.
    Unsigned {
        /// Which setting allowed it.
        allowed_by: String,
    },
}

impl Verdict {
    /// A one-word name: `built-in`, `signature`, `pin`, `unsigned`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Builtin => "built-in",
            Verdict::Signed { .. } => "signature",
            Verdict::Pinned => "pin",
            Verdict::Unsigned { .. } => "unsigned",
        }
    }

    /// The key id of a signed plugin.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Verdict::Signed { key_id } => Some(key_id),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Builtin => f.write_str("trusted: built-in"),
            Verdict::Signed { key_id } => write!(f, "trusted: signed by key {key_id}"),
            Verdict::Pinned => f.write_str("trusted: SHA-256 pinned"),
            Verdict::Unsigned { allowed_by } => {
                write!(f, "not signed or pinned; loaded because {allowed_by}")
            }
        }
    }
}

/// One trusted key.
#[derive(Debug, Clone)]
struct TrustedKey {
    id: String,
    key: PublicKey,
}

/// The keys and pins of one vendor.
#[derive(Debug, Clone, Default)]
struct VendorTrust {
    keys: Vec<TrustedKey>,
    pins: Vec<String>,
}

/// The operator's trust settings, from `[trust]` and the environment.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    allow_unsigned: Option<String>,
    vendors: BTreeMap<String, VendorTrust>,
}

/// What vouched for a file's bytes, before knowing which vendor it is for.
#[derive(Debug, Clone)]
pub struct Vouch {
    /// `(vendor, key id)` of every trusted key that verified the signature.
    signed: Vec<(String, String)>,
    /// The vendors whose pins list the file's SHA-256.
    pinned: Vec<String>,
    /// Set when unsigned files are allowed: by what.
    unsigned: Option<String>,
    /// Why the signature (if any) did not vouch, for messages.
    signature_problem: Option<String>,
}

impl Trust {
    /// The trust settings of `config`; `env` is asked for [`ALLOW_UNSIGNED_VAR`], which
    /// overrides `allow_unsigned`.
    pub fn from_config(
        config: &TrustConfig,
        config_path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Trust, String> {
        let allow_unsigned = match env(ALLOW_UNSIGNED_VAR).as_deref().map(str::trim) {
            None | Some("") => config.allow_unsigned.then(|| {
                format!(
                    "allow_unsigned = true in {}",
                    config_path
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the configuration".into())
                )
            }),
            Some("1" | "true" | "yes") => Some(format!("{ALLOW_UNSIGNED_VAR}=1")),
            Some("0" | "false" | "no") => None,
            Some(other) => {
                return Err(format!(
                    "{ALLOW_UNSIGNED_VAR}={other:?}: use 1 to allow unsigned plugin files or 0 \
                     to forbid them"
                ));
            }
        };
        let mut vendors = BTreeMap::new();
        for (vendor, settings) in &config.vendors {
            let mut trust = VendorTrust::default();
            for text in &settings.keys {
                let key = parse_key(text).map_err(|err| {
                    format!("[trust.vendors.{vendor}] keys: {text:?} is not a minisign key: {err}")
                })?;
                let line = text.trim().lines().last().unwrap_or_default();
                let id = key_id_of(line).unwrap_or_default();
                trust.keys.push(TrustedKey { id, key });
            }
            trust.pins = settings
                .sha256
                .iter()
                .map(|pin| pin.trim().to_ascii_lowercase())
                .collect();
            vendors.insert(vendor.clone(), trust);
        }
        Ok(Trust {
            allow_unsigned,
            vendors,
        })
    }

    /// Trust that allows unsigned plugin files because of `why` (tests, embedders).
    pub fn allowing_unsigned(why: &str) -> Trust {
        Trust {
            allow_unsigned: Some(why.to_string()),
            vendors: BTreeMap::new(),
        }
    }

    /// What allows unsigned plugin files, when something does.
    pub fn allow_unsigned(&self) -> Option<&str> {
        self.allow_unsigned.as_deref()
    }

    /// Checks a file's raw bytes, and its signature file's text when there is one, before
    /// anything else reads them. `Err` says why nothing vouches for the file and what to
    /// do; such a file must not be parsed, compiled or instantiated.
    pub fn vouch(&self, bytes: &[u8], signature: Option<&str>) -> Result<Vouch, String> {
        let sha256 = super::sha256_hex(bytes);
        let pinned: Vec<String> = self
            .vendors
            .iter()
            .filter(|(_, trust)| trust.pins.contains(&sha256))
            .map(|(vendor, _)| vendor.clone())
            .collect();
        let mut signed = Vec::new();
        let mut signature_problem = None;
        match signature {
            None => {}
            Some(text) => match Signature::decode(text) {
                Err(err) => {
                    signature_problem = Some(format!("its signature file is not minisign's: {err}"))
                }
                Ok(sig) => {
                    let sig_key = text
                        .lines()
                        .nth(1)
                        .and_then(key_id_of)
                        .unwrap_or_else(|| "?".into());
                    let mut key_known = false;
                    for (vendor, trust) in &self.vendors {
                        for key in &trust.keys {
                            if key.id != sig_key {
                                continue;
                            }
                            key_known = true;
                            if key.key.verify(bytes, &sig, true).is_ok() {
                                signed.push((vendor.clone(), key.id.clone()));
                            }
                        }
                    }
                    if signed.is_empty() {
                        signature_problem = Some(if key_known {
                            format!(
                                "its signature by key {sig_key} does not match the file: the \
                                 file or its signature was changed after signing"
                            )
                        } else {
                            format!(
                                "it is signed by key {sig_key}, which is not trusted for any \
                                 vendor (no [trust.vendors.NAME] keys entry)"
                            )
                        });
                    }
                }
            },
        }
        let vouch = Vouch {
            signed,
            pinned,
            unsigned: self.allow_unsigned.clone(),
            signature_problem,
        };
        if vouch.signed.is_empty() && vouch.pinned.is_empty() && vouch.unsigned.is_none() {
            let why = match (&vouch.signature_problem, signature) {
                (Some(problem), _) => format!("{problem}, and its SHA-256 {sha256} is not pinned"),
                (None, _) => format!(
                    "it has no signature (.minisig file) and its SHA-256 {sha256} is not pinned"
                ),
            };
            return Err(format!("not trusted: {why}; {}", what_to_do()));
        }
        Ok(vouch)
    }
}

/// What an operator can do about an untrusted plugin file.
pub fn what_to_do() -> String {
    format!(
        "to trust it, sign it (`minisign -Sm FILE` writes FILE.minisig) with a key listed in \
         [trust.vendors.VENDOR] keys of the configuration file, or pin its SHA-256 in \
         [trust.vendors.VENDOR] sha256 (`tenantctl plugins verify FILE` prints it), or allow \
         unsigned plugins with [trust] allow_unsigned = true or {ALLOW_UNSIGNED_VAR}=1"
    )
}

impl Vouch {
    /// The verdict for a plugin that says it is `vendor`, or why what vouched for its bytes
    /// does not vouch for that vendor.
    pub fn for_vendor(&self, vendor: &str) -> Result<Verdict, String> {
        if let Some((_, key_id)) = self.signed.iter().find(|(v, _)| v == vendor) {
            return Ok(Verdict::Signed {
                key_id: key_id.clone(),
            });
        }
        if self.pinned.iter().any(|v| v == vendor) {
            return Ok(Verdict::Pinned);
        }
        if let Some(allowed_by) = &self.unsigned {
            return Ok(Verdict::Unsigned {
                allowed_by: allowed_by.clone(),
            });
        }
        let mut vouchers: Vec<String> = self
            .signed
            .iter()
            .map(|(v, key)| format!("key {key} is trusted for {v}"))
            .collect();
        vouchers.extend(
            self.pinned
                .iter()
                .map(|v| format!("its SHA-256 is pinned for {v}")),
        );
        Err(format!(
            "not trusted: the plugin says it is vendor {vendor:?}, but {}; a key or pin vouches \
             only for its own vendor's plugins (add it to [trust.vendors.{vendor}] if this \
             vendor really publishes this file)",
            vouchers.join(" and ")
        ))
    }

    /// A verdict before the vendor is known (for messages about a file that then failed to
    /// load): the first thing that vouched.
    pub fn any_verdict(&self) -> Verdict {
        if let Some((_, key_id)) = self.signed.first() {
            Verdict::Signed {
                key_id: key_id.clone(),
            }
        } else if !self.pinned.is_empty() {
            Verdict::Pinned
        } else {
            Verdict::Unsigned {
                allowed_by: self.unsigned.clone().unwrap_or_default(),
            }
        }
    }

    /// Why the signature beside the file did not vouch for it, if it did not.
    pub fn signature_problem(&self) -> Option<&str> {
        self.signature_problem.as_deref()
    }
}

/// Reads `FILE.minisig` beside `file`: `Ok(None)` when there is none.
pub fn read_signature(file: &Path) -> Result<Option<String>, String> {
    let path = signature_path(file);
    match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("not trusted: {} is not a text file", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("not trusted: reading {}: {err}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VendorTrust as VendorTrustConfig;

    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    fn trust(vendors: &[(&str, &[&str], &[&str])], env: &[(&str, &str)]) -> Result<Trust, String> {
        let config = TrustConfig {
            allow_unsigned: false,
            vendors: vendors
                .iter()
                .map(|(vendor, keys, pins)| {
                    (
                        vendor.to_string(),
                        VendorTrustConfig {
                            keys: keys.iter().map(|k| k.to_string()).collect(),
                            sha256: pins.iter().map(|p| p.to_string()).collect(),
                        },
                    )
                })
                .collect(),
        };
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Trust::from_config(&config, None, move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn key_ids_are_what_minisign_prints() {
        // minisign's own example key: "minisign public key 6253E8204A12C3E0" style ids are
        // the 8 bytes after the algorithm, little-endian.
        let id = key_id_of(KEY).unwrap();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(parse_key(KEY).map(|_| ()), Ok(()));
        assert!(parse_key("RWQ").is_err());
    }

    #[test]
    fn pins_vouch_only_for_their_vendor() {
        let bytes = b"plugin bytes";
        let pin = super::super::sha256_hex(bytes);
        let trust = trust(&[("vspc", &[], &[pin.as_str()])], &[]).unwrap();
        let vouch = trust.vouch(bytes, None).unwrap();
        assert_eq!(vouch.for_vendor("vspc"), Ok(Verdict::Pinned));
        let err = vouch.for_vendor("acronis").unwrap_err();
        assert!(err.contains("pinned for vspc"), "{err}");
        let err = trust.vouch(b"other bytes", None).unwrap_err();
        assert!(
            err.contains("no signature") && err.contains("allow_unsigned"),
            "{err}"
        );
    }

    #[test]
    fn the_environment_overrides_allow_unsigned() {
        let allowed = trust(&[], &[(ALLOW_UNSIGNED_VAR, "1")]).unwrap();
        let vouch = allowed.vouch(b"x", None).unwrap();
        assert!(matches!(
            vouch.for_vendor("x"),
            Ok(Verdict::Unsigned { .. })
        ));
        let config = TrustConfig {
            allow_unsigned: true,
            vendors: BTreeMap::new(),
        };
        let forbidden = Trust::from_config(&config, None, |_| Some("0".to_string())).unwrap();
        assert!(forbidden.vouch(b"x", None).is_err());
        assert!(trust(&[], &[(ALLOW_UNSIGNED_VAR, "maybe")]).is_err());
    }

    #[test]
    fn a_garbled_signature_is_refused_with_why() {
        let trust = trust(&[("vspc", &[KEY], &[])], &[]).unwrap();
        let err = trust
            .vouch(b"x", Some("untrusted comment: x\nnot base64\n"))
            .unwrap_err();
        assert!(err.contains("signature file"), "{err}");
    }
}
