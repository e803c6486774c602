//! `--config FILE`: per-vendor settings for batch runs, in TOML.
//!
//! ```toml
//! [vendors.commvault]
//! url = "https://cv.example.com/commandcenter/api"
//! concurrency = 4          # operations at once for this vendor (default: --concurrency)
//! rate_limit = "100/hour"  # requests per second, minute or hour; off when absent
//! ```

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Settings by vendor id.
    #[serde(default)]
    pub vendors: BTreeMap<String, VendorConfig>,
}

/// One vendor's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorConfig {
    /// The vendor's base URL (else `TENANTCTL_<VENDOR>_URL`).
    pub url: Option<String>,
    /// Operations at once for this vendor.
    pub concurrency: Option<NonZeroU32>,
    /// Requests allowed per period, e.g. `100/hour`.
    pub rate_limit: Option<String>,
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

impl BatchConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<BatchConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: BatchConfig = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid config", path.display()))?;
        for (vendor, settings) in &config.vendors {
            if let Some(rate) = &settings.rate_limit {
                Rate::parse(rate).with_context(|| format!("[vendors.{vendor}] rate_limit"))?;
            }
        }
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
        let config: BatchConfig = toml::from_str(
            "[vendors.commvault]\nurl = \"https://cv\"\nconcurrency = 2\nrate_limit = \"100/h\"\n",
        )
        .unwrap();
        assert_eq!(
            config.vendor("commvault").concurrency.map(|c| c.get()),
            Some(2)
        );
        assert!(config.vendor("acronis").url.is_none());
        assert!(toml::from_str::<BatchConfig>("[vendors.x]\nurll = \"typo\"\n").is_err());
    }
}
