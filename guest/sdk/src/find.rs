//! Finding a tenant by name, as its vendor matches names, without ever guessing.

use serde::{Deserialize, Serialize};

use crate::{ErrorDetail, Failure, Flow, HttpRequest, HttpResponse, Io, TenantRef};

/// How a vendor matches tenant names, and what it calls a tenant (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    what: &'static str,
    ignore_case: bool,
}

impl Names {
    /// Names match whole and case-sensitively; `what` is e.g. `"Acronis tenant"`.
    pub const fn exact(what: &'static str) -> Self {
        Names {
            what,
            ignore_case: false,
        }
    }

    /// Names match whole, trimmed and ignoring case; `what` is e.g. `"Commvault company"`.
    pub const fn ignoring_case(what: &'static str) -> Self {
        Names {
            what,
            ignore_case: true,
        }
    }

    /// True when `candidate` is the name `wanted` under this rule.
    pub fn matches(&self, candidate: &str, wanted: &str) -> bool {
        if self.ignore_case {
            candidate.trim().to_lowercase() == wanted.trim().to_lowercase()
        } else {
            candidate == wanted
        }
    }

    fn rule(&self) -> &'static str {
        if self.ignore_case {
            "names compare ignoring case and must match in full"
        } else {
            "names must match in full, with the same case"
        }
    }
}

/// One tenant a name lookup returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its id, or `None` when the answer gave none this plugin can use.
    pub id: Option<String>,
    /// Its name.
    pub name: String,
}

/// What a name lookup returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Candidates {
    /// The tenants (only tenants: leave out users and other objects).
    pub items: Vec<Candidate>,
    /// False when the answer may have been cut short (a full page, a total above the
    /// items): then even one match may not be the only one.
    pub complete: bool,
}

/// The tenant an operation acts on, as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    /// Its id.
    pub id: String,
    /// Its name, when a lookup found it by name.
    pub name: Option<String>,
}

impl Found {
    /// A tenant given by its (checked) id.
    pub fn id(id: impl Into<String>) -> Self {
        Found {
            id: id.into(),
            name: None,
        }
    }

    /// The tenant with the name a read returned, or the one it was found by when the read
    /// gave none.
    pub fn tenant(&self, read_name: Option<&str>) -> TenantRef {
        let name = read_name
            .filter(|name| !name.trim().is_empty())
            .or(self.name.as_deref())
            .unwrap_or_default();
        TenantRef::new(&self.id, name)
    }
}

impl Io {
    /// Finds the one tenant named `name` with `request` (a search, or a listing: mark it
    /// [`HttpRequest::cache_for`] when every lookup reads the same list), whose answer
    /// `parse` turns into candidates. None is `not-found`; several, or an answer that may
    /// be incomplete, `ambiguous` with the ids to choose from. Only the match is recorded,
    /// however long the answer.
    pub fn find(
        &mut self,
        names: &Names,
        name: &str,
        request: HttpRequest,
        parse: impl FnOnce(&HttpResponse) -> Result<Candidates, Failure>,
    ) -> Flow<Found> {
        let found = self.read(request, |response| pick(names, name, parse(response)?))?;
        self.about(&found.tenant(None), None);
        Ok(found)
    }
}

fn pick(names: &Names, name: &str, candidates: Candidates) -> Result<Found, Failure> {
    let mut matches: Vec<Candidate> = Vec::new();
    for candidate in candidates.items {
        // The same tenant listed twice is one match, not an ambiguity.
        let twice = candidate.id.is_some() && matches.iter().any(|seen| seen.id == candidate.id);
        if names.matches(&candidate.name, name) && !twice {
            matches.push(candidate);
        }
    }
    let what = names.what;
    match matches.as_slice() {
        [] if candidates.complete => Err(Failure::NotFound(ErrorDetail::new(format!(
            "no {what} is named `{name}` ({}); check the name, or give the id with --tenant",
            names.rule()
        )))),
        [one] if candidates.complete => match &one.id {
            Some(id) => Ok(Found {
                id: id.clone(),
                name: Some(one.name.clone()),
            }),
            None => Err(Failure::Vendor(ErrorDetail::new(format!(
                "the {what} `{}` came without an id tenantctl can use; give its id with --tenant",
                one.name
            )))),
        },
        [] | [_] => Err(Failure::Ambiguous(ErrorDetail::new(format!(
            "the lookup of `{name}` may have been cut short (the answer was a full page), so \
             another {what} with this name may have been left out; give the id with --tenant"
        )))),
        several => {
            let ids: Vec<String> = several
                .iter()
                .map(|c| format!("{} (`{}`)", c.id.as_deref().unwrap_or("no id"), c.name))
                .collect();
            Err(Failure::Ambiguous(ErrorDetail::new(format!(
                "{} {what}s are named `{name}` ({}): {}; give the id of the one you mean with \
                 --tenant",
                several.len(),
                names.rule(),
                ids.join(", ")
            ))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(items: &[(Option<&str>, &str)], complete: bool) -> Candidates {
        Candidates {
            items: items
                .iter()
                .map(|(id, name)| Candidate {
                    id: id.map(str::to_string),
                    name: name.to_string(),
                })
                .collect(),
            complete,
        }
    }

    const EXACT: Names = Names::exact("tenant");
    const LOOSE: Names = Names::ignoring_case("company");

    #[test]
    fn one_match_is_found_and_near_matches_are_not() {
        let list = candidates(
            &[
                (Some("1"), "Acme"),
                (Some("2"), "Acme Corp"),
                (Some("3"), "acme"),
            ],
            true,
        );
        let found = pick(&EXACT, "Acme", list.clone()).unwrap();
        assert_eq!(
            found,
            Found {
                id: "1".into(),
                name: Some("Acme".into())
            }
        );
        assert!(matches!(
            pick(&EXACT, "Acme C", list.clone()),
            Err(Failure::NotFound(_))
        ));
        assert!(matches!(
            pick(&LOOSE, "ACME", list),
            Err(Failure::Ambiguous(_))
        ));
    }

    #[test]
    fn ignoring_case_trims_and_folds() {
        let list = candidates(&[(Some("7"), " Twin Co ")], true);
        assert_eq!(pick(&LOOSE, "twin co", list.clone()).unwrap().id, "7");
        assert!(matches!(
            pick(&EXACT, "twin co", list),
            Err(Failure::NotFound(_))
        ));
    }

    #[test]
    fn several_matches_list_their_ids_and_duplicates_count_once() {
        let list = candidates(
            &[
                (Some("1"), "Twin"),
                (Some("2"), "Twin"),
                (Some("1"), "Twin"),
            ],
            true,
        );
        let Err(Failure::Ambiguous(detail)) = pick(&EXACT, "Twin", list) else {
            panic!()
        };
        assert!(
            detail.message.starts_with("2 tenants"),
            "{}",
            detail.message
        );
        assert!(
            detail.message.contains("1 (`Twin`), 2 (`Twin`)"),
            "{}",
            detail.message
        );
        let twice = candidates(&[(Some("1"), "Twin"), (Some("1"), "Twin")], true);
        assert_eq!(pick(&EXACT, "Twin", twice).unwrap().id, "1");
    }

    #[test]
    fn an_incomplete_answer_is_ambiguous_even_with_one_match_or_none() {
        let one = candidates(&[(Some("1"), "Acme")], false);
        assert!(matches!(
            pick(&EXACT, "Acme", one),
            Err(Failure::Ambiguous(_))
        ));
        assert!(matches!(
            pick(&EXACT, "Acme", candidates(&[], false)),
            Err(Failure::Ambiguous(_))
        ));
    }

    #[test]
    fn a_match_without_a_usable_id_is_a_vendor_error() {
        let list = candidates(&[(None, "Acme")], true);
        assert!(matches!(
            pick(&EXACT, "Acme", list),
            Err(Failure::Vendor(_))
        ));
    }

    #[test]
    fn found_names_the_tenant_from_the_read_or_the_lookup() {
        let by_name = Found {
            id: "1".into(),
            name: Some("Acme".into()),
        };
        assert_eq!(by_name.tenant(Some("Acme Ltd")).name, "Acme Ltd");
        assert_eq!(by_name.tenant(Some(" ")).name, "Acme");
        assert_eq!(Found::id("1").tenant(None).name, "");
    }
}
