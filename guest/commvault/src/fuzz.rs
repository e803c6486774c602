//! Property tests: the Commvault plugin's response parsing never panics on any answer
//! (mutated transcript bodies, arbitrary JSON, arbitrary bytes, any status); every answer it
//! does not understand is a typed failure with a message. `PROPTEST_CASES` sets the number of
//! cases.

use std::path::Path;

use proptest::prelude::*;
use tenantctl_plugin_sdk::Failure;
use tenantctl_plugin_sdk::fuzz::{config, corpus, response};

use crate::api;

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

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_answer_is_understood_or_a_typed_failure(response in response(seeds())) {
        let failures = [
            api::parse_login(&response, "admin").err(),
            api::parse_list(&response).err(),
            api::parse_company(&response, 42).err(),
            api::parse_write(&response, "deactivating company 42").err(),
            Some(api::failure(&response, "reading company 42")),
        ];
        for failure in failures.iter().flatten() {
            prop_assert!(!message(failure).is_empty(), "{failure:?}");
        }
    }

    #[test]
    fn any_company_id_is_a_number_or_invalid_input(id in ".{0,40}") {
        match api::parse_id(&id) {
            Ok(parsed) => prop_assert!(parsed > 0),
            Err(failure) => prop_assert!(matches!(failure, Failure::InvalidInput(_)), "{failure:?}"),
        }
    }
}
