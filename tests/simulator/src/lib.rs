//! Local simulators of the vendor APIs tenantctl talks to: Acronis Cyber Protect Cloud
//! (Account Management API v2), Commvault (Command Center REST API) and Veeam Service
//! Provider Console (REST API v3).
//!
//! Each simulator is an HTTP/1.1 server on loopback that follows `shared/vendor-apis.md`:
//! same endpoints, shapes, statuses and auth checks, in-memory state seeded with fixed
//! fixtures and a configurable number of generated tenants, every request recorded, and
//! faults injectable on demand ([`FaultRule`]).
//!
//! In a test (sync or async alike; the simulator runs its own runtime on its own thread):
//!
//! ```no_run
//! use tenantctl_simulator::{AcronisConfig, AcronisSim, Fault, FaultRule};
//!
//! let sim = AcronisSim::start(AcronisConfig::default());
//! sim.inject(FaultRule::new(Fault::status(503)).method("PUT").path("/tenants/"));
//! // ... run tenantctl against sim.url() ...
//! assert_eq!(sim.count("PUT", "/api/2/tenants/"), 2);
//! ```
//!
//! The `tenantctl-simulator` program runs them all for demos and for tests in other languages,
//! with a small control API under `/_sim/` (see the crate's README).

mod acronis;
pub mod cli;
mod commvault;
mod fault;
mod record;
mod server;
mod util;
mod vspc;

pub use acronis::{AcronisConfig, AcronisFixtures, AcronisSim, AcronisTenant, TenantKind};
pub use commvault::{
    CommvaultConfig, CommvaultFixtures, CommvaultOrganization, CommvaultSim, DeactivateOptions,
    LoginFailure, RateLimit,
};
pub use fault::{Fault, FaultRule};
pub use record::RecordedRequest;
pub use vspc::{
    VspcActionStatus, VspcCompany, VspcConfig, VspcDeletion, VspcFixtures, VspcRateLimit, VspcSim,
    VspcStatus,
};
