//! A vendor's lane in a batch: its account (one session for every row), its own slots and
//! rate limit.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::account::Account;
use crate::config::{Config, Rate};
use crate::credentials;
use crate::http::{HttpClient, HttpSettings, Transport};
use crate::plugin::catalog::Catalog;

/// One vendor's account and limits, shared by all its rows.
pub struct Lane {
    /// The account.
    pub account: Account,
    /// Operations of this vendor at once.
    pub slots: Arc<Semaphore>,
    /// The rate limit, when configured.
    pub rate: Option<Rate>,
}

/// Where URLs and credentials are looked up (the process environment, in the CLI).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Picks the transport for a vendor instead of HTTP (tests, embedders); `None` means HTTP.
pub type TransportFor = dyn Fn(&str) -> Option<Arc<dyn Transport>> + Send + Sync;

/// What a lane is made from.
pub struct LaneSettings<'a> {
    /// The plugins.
    pub catalog: &'a Catalog,
    /// Per-vendor settings.
    pub config: &'a Config,
    /// Timeouts and retries.
    pub http: &'a HttpSettings,
    /// Operations at once for a vendor without its own `concurrency`.
    pub concurrency: usize,
    /// URLs and credentials.
    pub env: Env,
    /// A transport to use instead of HTTP, by vendor (tests, embedders).
    pub transport: Option<&'a TransportFor>,
}

impl LaneSettings<'_> {
    /// The lane of `vendor`, or why it cannot run (unknown vendor or untrusted plugin, no URL,
    /// plain http:// to a remote host, no credentials, an unreadable CA file), naming what to
    /// set.
    pub fn open(&self, vendor: &str) -> Result<Lane, String> {
        let plugin = self
            .catalog
            .get(vendor)
            .ok_or_else(|| self.catalog.missing_vendor(vendor))?;
        let settings = self.config.vendor(vendor);
        let env = self.env.clone();
        // CA certificates given for the whole batch (--ca-cert) win over the vendor's.
        let reach = credentials::reach(
            plugin.info(),
            None,
            &settings,
            |name| env(name),
            self.http.clone(),
        )?;
        let rate = settings
            .rate_limit
            .as_deref()
            .map(Rate::parse)
            .transpose()
            .map_err(|err| format!("{err:#}"))?;
        let account = match self.transport.and_then(|make| make(vendor)) {
            Some(transport) => Account::new(plugin.clone(), &reach.url, reach.values, transport)?,
            None => {
                let mut http = HttpClient::new(reach.http).map_err(|err| format!("{err:#}"))?;
                if let Some(rate) = rate {
                    http = http.with_rate_limit(rate.requests, rate.period);
                }
                Account::new(plugin.clone(), &reach.url, reach.values, http)?
            }
        };
        let slots = settings
            .concurrency
            .map(|c| c.get() as usize)
            .unwrap_or(self.concurrency)
            .max(1);
        Ok(Lane {
            account,
            slots: Arc::new(Semaphore::new(slots)),
            rate,
        })
    }
}
