//! The one configuration file every command reads.
//!
//! Found at `--config FILE`, else `$TENANTCTL_CONFIG`, else
//! `$XDG_CONFIG_HOME/tenantctl/config.toml` (`~/.config/tenantctl/config.toml`). A file named
//! by the flag or the variable must exist; the default one may be missing (an empty
//! configuration). Flags and environment variables override what the file says.
//!
//! ```toml
//! [vendors.commvault]
//! url = "https://cv.example.com/commandcenter/api"
//! concurrency = 4              # operations at once for this vendor (default: --concurrency)
//! rate_limit = "100/hour"      # requests per second, minute or hour; off when absent
//! ca_cert = "certs/corp-ca.pem" # a private CA (PEM), relative to this file's folder
//! allow_http = false           # plain http:// to a host that is not loopback
//!
//! [trust]
//! allow_unsigned = false       # load plugin files without signature or pin (warns)
//! [trust.vendors.vspc]
//! keys = ["RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"] # minisign public keys
//! sha256 = ["<hex>"]           # or exact files
//! ```
//!
//! A key that is not in this list is an error naming the key, so a typo never silently
//! turns a setting off.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

/// The environment variable naming the configuration file.
pub const CONFIG_VAR: &str = "TENANTCTL_CONFIG";

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings by vendor id.
    #[serde(default)]
    pub vendors: BTreeMap<String, VendorConfig>,
    /// Which plugin files may run.
    #[serde(default)]
    pub trust: TrustConfig,
    /// The file this was read from; `None` when there was none.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// One vendor's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorConfig {
    /// The vendor's base URL (`--url` and `TENANTCTL_<VENDOR>_URL` override it).
    pub url: Option<String>,
    /// Operations at once for this vendor.
    pub concurrency: Option<NonZeroU32>,
    /// Requests allowed per period, e.g. `100/hour`.
    pub rate_limit: Option<String>,
    /// A PEM file of CA certificates to trust for this vendor, besides the system's
    /// (`--ca-cert` and `TENANTCTL_<VENDOR>_CA_CERT` override it). A relative path is taken
    /// from the configuration file's folder.
    pub ca_cert: Option<PathBuf>,
    /// Allow plain `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_http: bool,
}

/// `[trust]`: which plugin files from the plugin directory may run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Load plugin files that are neither signed by a trusted key nor pinned (a warning is
    /// printed at every run). `TENANTCTL_ALLOW_UNSIGNED_PLUGINS` overrides it.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// What vouches for each vendor's plugins.
    #[serde(default)]
    pub vendors: BTreeMap<String, VendorTrust>,
}

/// `[trust.vendors.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorTrust {
    /// Minisign public keys (base64, as in the second line of a `.pub` file) whose
    /// signatures vouch for this vendor's plugins.
    #[serde(default)]
    pub keys: Vec<String>,
    /// SHA-256 (hex) of plugin files trusted as they are.
    #[serde(default)]
    pub sha256: Vec<String>,
}

/// A rate: `requests` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed...
    pub requests: NonZeroU32,
    /// ...per this long.
    pub period: Duration,
}

impl Rate {
    /// Parses `N/second`, `N/minute` or `N/hour` (also `s`, `m`, `h`).
    pub fn parse(text: &str) -> Result<Rate> {
        let (count, unit) = text
            .split_once('/')
            .with_context(|| format!("rate {text:?} must look like 100/hour"))?;
        let requests: NonZeroU32 = count
            .trim()
            .parse()
            .with_context(|| format!("rate {text:?}: {count:?} is not a positive whole number"))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => bail!("rate {text:?}: unit {other:?} must be second, minute or hour"),
        };
        Ok(Rate { requests, period })
    }

    /// How long `requests` requests take at this rate (the first burst is free).
    pub fn time_for(&self, requests: u64) -> Duration {
        let beyond_burst = requests.saturating_sub(u64::from(self.requests.get()));
        self.period
            .mul_f64(beyond_burst as f64 / f64::from(self.requests.get()))
    }
}

/// Where the configuration file is, and whether it was asked for by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `--config FILE`: must exist.
    Flag(PathBuf),
    /// `$TENANTCTL_CONFIG`: must exist.
    Env(PathBuf),
    /// The XDG default: may be missing.
    Default(PathBuf),
}

impl Location {
    /// The path.
    pub fn path(&self) -> &Path {
        match self {
            Location::Flag(path) | Location::Env(path) | Location::Default(path) => path,
        }
    }

    fn named_by(&self) -> String {
        match self {
            Location::Flag(_) => "--config".to_string(),
            Location::Env(_) => format!("${CONFIG_VAR}"),
            Location::Default(_) => "the default location".to_string(),
        }
    }
}

/// Where to look: `flag`, else `$TENANTCTL_CONFIG`, else
/// `$XDG_CONFIG_HOME/tenantctl/config.toml`, else `~/.config/tenantctl/config.toml`; `None`
/// when none of them can be formed (no HOME).
pub fn locate(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Option<Location> {
    if let Some(path) = flag {
        return Some(Location::Flag(path.to_path_buf()));
    }
    if let Some(path) = env(CONFIG_VAR).filter(|p| !p.is_empty()) {
        return Some(Location::Env(PathBuf::from(path)));
    }
    let base = env("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(Location::Default(
        base.join("tenantctl").join("config.toml"),
    ))
}

impl Config {
    /// Reads the configuration file `flag` or the environment names (see [`locate`]).
    pub fn find_and_load(
        flag: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        match locate(flag, env) {
            Some(location) => Config::load_from(&location),
            None => Ok(Config::default()),
        }
    }

    /// Reads the file at `location`; a missing default file is an empty configuration.
    pub fn load_from(location: &Location) -> Result<Config> {
        let path = location.path();
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound
                    && matches!(location, Location::Default(_)) =>
            {
                Ok(Config::default())
            }
            Err(err) => Err(anyhow::Error::new(err).context(format!(
                "reading the configuration file {} (named by {})",
                path.display(),
                location.named_by()
            ))),
        }
    }

    /// Reads and checks a configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_from(&Location::Flag(path.to_path_buf()))
    }

    /// Parses and checks `text`, read from `path` (relative paths in it are taken from the
    /// folder of `path`).
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|err| {
            anyhow::anyhow!(
                "{} is not a valid configuration file: {}",
                path.display(),
                err.to_string().trim_end()
            )
        })?;
        let folder = path.parent().unwrap_or(Path::new("."));
        for (vendor, settings) in &mut config.vendors {
            if let Some(rate) = &settings.rate_limit {
                Rate::parse(rate).with_context(|| {
                    format!("{}: [vendors.{vendor}] rate_limit", path.display())
                })?;
            }
            if let Some(url) = &settings.url {
                crate::http::Origin::of(url).map_err(|err| {
                    anyhow::anyhow!("{}: [vendors.{vendor}] url: {err}", path.display())
                })?;
            }
            if let Some(ca) = &mut settings.ca_cert
                && ca.is_relative()
            {
                *ca = folder.join(&*ca);
            }
        }
        for (vendor, trust) in &config.trust.vendors {
            for (index, key) in trust.keys.iter().enumerate() {
                crate::plugin::trust::parse_key(key).map_err(|err| {
                    anyhow::anyhow!(
                        "{}: [trust.vendors.{vendor}] keys[{index}] {key:?} is not a minisign \
                         public key ({err}); give the base64 line of the .pub file, e.g. \
                         \"RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3\"",
                        path.display()
                    )
                })?;
            }
            for (index, pin) in trust.sha256.iter().enumerate() {
                if pin.len() != 64 || !pin.chars().all(|c| c.is_ascii_hexdigit()) {
                    bail!(
                        "{}: [trust.vendors.{vendor}] sha256[{index}] {pin:?} is not a SHA-256 \
                         (64 hex digits; `tenantctl plugins verify FILE` prints a file's)",
                        path.display()
                    );
                }
            }
        }
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// The settings for `vendor` (empty when the file has none).
    pub fn vendor(&self, vendor: &str) -> VendorConfig {
        self.vendors.get(vendor).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/tenantctl/config.toml"))
    }

    #[test]
    fn rates_parse_and_estimate() {
        let rate = Rate::parse("100/hour").unwrap();
        assert_eq!(rate.period, Duration::from_secs(3600));
        assert_eq!(rate.time_for(100), Duration::ZERO);
        assert_eq!(rate.time_for(300), Duration::from_secs(7200));
        assert!(Rate::parse("0/h").is_err());
        assert!(Rate::parse("10/week").is_err());
        assert!(Rate::parse("fast").is_err());
    }

    #[test]
    fn config_files_are_checked() {
        let config = parse(
            "[vendors.commvault]\nurl = \"https://cv\"\nconcurrency = 2\nrate_limit = \"100/h\"\n\
             ca_cert = \"ca.pem\"\nallow_http = true\n",
        )
        .unwrap();
        let commvault = config.vendor("commvault");
        assert_eq!(commvault.concurrency.map(|c| c.get()), Some(2));
        assert_eq!(
            commvault.ca_cert.as_deref(),
            Some(Path::new("/etc/tenantctl/ca.pem"))
        );
        assert!(commvault.allow_http);
        assert!(config.vendor("acronis").url.is_none());
        assert!(!config.vendor("acronis").allow_http);
        assert!(parse("[vendors.x]\nrate_limit = \"often\"\n").is_err());
        assert!(parse("[vendors.x]\nurl = \"ftp://x\"\n").is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        for (text, key) in [
            ("[vendors.x]\nurll = \"typo\"\n", "urll"),
            ("[trust]\nallow_unsinged = true\n", "allow_unsinged"),
            ("[trust.vendors.x]\nkey = []\n", "key"),
            ("vendor = 1\n", "vendor"),
        ] {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn trust_keys_and_pins_are_checked() {
        let good = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
        let config = parse(&format!(
            "[trust]\nallow_unsigned = true\n[trust.vendors.vspc]\nkeys = [\"{good}\"]\n\
             sha256 = [\"{}\"]\n",
            "ab".repeat(32)
        ))
        .unwrap();
        assert!(config.trust.allow_unsigned);
        assert_eq!(config.trust.vendors["vspc"].keys, vec![good.to_string()]);
        let err = format!(
            "{:#}",
            parse("[trust.vendors.vspc]\nkeys = [\"nope\"]\n").unwrap_err()
        );
        assert!(err.contains("keys[0]"), "{err}");
        let err = format!(
            "{:#}",
            parse("[trust.vendors.vspc]\nsha256 = [\"abc\"]\n").unwrap_err()
        );
        assert!(err.contains("sha256[0]"), "{err}");
    }

    #[test]
    fn the_flag_beats_the_variable_beats_the_default() {
        let both = env(&[(CONFIG_VAR, "/from/env"), ("XDG_CONFIG_HOME", "/xdg")]);
        assert_eq!(
            locate(Some(Path::new("/from/flag")), &both),
            Some(Location::Flag("/from/flag".into()))
        );
        assert_eq!(locate(None, &both), Some(Location::Env("/from/env".into())));
        assert_eq!(
            locate(
                None,
                env(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")])
            ),
            Some(Location::Default("/xdg/tenantctl/config.toml".into()))
        );
        assert_eq!(
            locate(None, env(&[(CONFIG_VAR, ""), ("HOME", "/home/u")])),
            Some(Location::Default(
                "/home/u/.config/tenantctl/config.toml".into()
            ))
        );
        assert_eq!(locate(None, env(&[])), None);
    }

    #[test]
    fn a_missing_default_file_is_empty_but_a_named_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("config.toml");
        let config = Config::load_from(&Location::Default(missing.clone())).unwrap();
        assert!(config.vendors.is_empty() && config.path.is_none());
        for location in [Location::Flag(missing.clone()), Location::Env(missing)] {
            let err = format!("{:#}", Config::load_from(&location).unwrap_err());
            assert!(err.contains("config.toml"), "{err}");
        }
    }
}
