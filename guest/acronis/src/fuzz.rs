//! Property tests: the Acronis plugin's response parsing never panics on any answer (mutated
//! transcript bodies, arbitrary JSON, arbitrary bytes, any status); every answer it does not
//! understand is a typed failure with a message. `PROPTEST_CASES` sets the number of cases.

use std::path::Path;

use proptest::prelude::*;
use tenantctl_plugin_sdk::fuzz::{config, corpus, response};
use tenantctl_plugin_sdk::{Failure, HttpResponse};

use crate::api::{self, Phase};

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    corpus(&root.join("transcripts"), &root.join("fuzz-seeds"))
}

/// The failure's message, which every variant carries.
fn message(failure: &Failure) -> &str {
    match failure {
        Failure::Auth(d)
        | Failure::SessionExpired(d)
        | Failure::NotFound(d)
        | Failure::Ambiguous(d)
        | Failure::Conflict(d)
        | Failure::Vendor(d)
        | Failure::InvalidInput(d)
        | Failure::Unsupported(d) => &d.message,
        Failure::RateLimited(r) => &r.detail.message,
    }
}

fn parses_or_fails<T: serde::de::DeserializeOwned>(response: &HttpResponse) {
    if let Err(failure) = api::parse::<T>(response, "reading something") {
        assert!(!message(&failure).is_empty(), "{failure:?}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_answer_is_understood_or_a_typed_failure(response in response(seeds())) {
        parses_or_fails::<api::Token>(&response);
        parses_or_fails::<api::Client>(&response);
        parses_or_fails::<api::SearchAnswer>(&response);
        parses_or_fails::<api::Tenant>(&response);
        for phase in [Phase::Login, Phase::Action] {
            let failure = api::failure(&response, "reading tenant x", phase);
            prop_assert!(!message(&failure).is_empty(), "{failure:?}");
        }
        let _ = api::is_version_conflict(&response);
        if let Some(failure) = api::error_despite_success(&response, "updating tenant x") {
            prop_assert!(!message(&failure).is_empty(), "{failure:?}");
        }
    }

    #[test]
    fn any_tenant_id_is_accepted_or_refused_as_invalid_input(id in ".{0,80}") {
        if let Err(failure) = api::check_tenant_id(&id) {
            prop_assert!(matches!(failure, Failure::InvalidInput(_)), "{failure:?}");
        }
    }
}
