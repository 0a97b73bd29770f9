//! The names of an RDS component's resources, by the core's rules (`panka_core::naming`);
//! names recorded in state take precedence, so a component keeps what it was created with.

use super::{ID_INSTANCE, ID_PARAMETER_GROUP, ID_SUBNET_GROUP};
use crate::naming::{self, limits};
use panka_core::reconcile::{ErrorKind, KnownIds, ProviderError, ResourceContext};

/// The names of a component's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Names {
    pub(super) instance: String,
    pub(super) subnet_group: String,
    pub(super) parameter_group: String,
    pub(super) db_security_group: String,
    pub(super) client_security_group: String,
}

impl Names {
    /// The deterministic names, with the ones recorded in state taking precedence.
    pub(super) fn new(ctx: &ResourceContext, known: &KnownIds) -> Result<Names, ProviderError> {
        let recorded = |role: &str, limit: usize| {
            known
                .get(role)
                .cloned()
                .unwrap_or_else(|| naming::physical(ctx, "", limit))
        };
        let names = Names {
            instance: recorded(ID_INSTANCE, limits::RDS_IDENTIFIER),
            subnet_group: recorded(ID_SUBNET_GROUP, limits::DB_SUBNET_GROUP),
            parameter_group: recorded(ID_PARAMETER_GROUP, limits::DB_PARAMETER_GROUP),
            db_security_group: naming::physical(ctx, "-db", limits::SECURITY_GROUP),
            client_security_group: naming::physical(ctx, "-clients", limits::SECURITY_GROUP),
        };
        check_identifier(&names.instance)?;
        Ok(names)
    }
}

/// RDS identifiers: 1–63 lowercase letters, digits and hyphens, starting with a letter,
/// never `--` nor a hyphen at the end. Names are validated upstream; this guards against
/// a name that would only fail after the subnet and parameter groups were made.
pub(super) fn check_identifier(identifier: &str) -> Result<(), ProviderError> {
    let valid = (1..=limits::RDS_IDENTIFIER).contains(&identifier.len())
        && identifier.starts_with(|c: char| c.is_ascii_lowercase())
        && identifier
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !identifier.contains("--")
        && !identifier.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("`{identifier}` is not a valid RDS instance identifier"),
        )
        .with_hint("RDS identifiers are lowercase letters, digits and single hyphens, starting with a letter"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::testing::{ctx, spec};
    use panka_core::model::ComponentSpec;

    /// `validate` finds components that would share a name from the core's list.
    #[test]
    fn every_shared_name_is_one_validate_checks_for_collisions() {
        let ctx = ctx(false);
        let names = Names::new(&ctx, &KnownIds::new()).expect("names");
        let checked: Vec<String> =
            panka_core::naming::physical_names(&ctx, &ComponentSpec::Rds(spec()))
                .into_iter()
                .map(|(_, name)| name)
                .collect();
        for name in [
            &names.instance,
            &names.subnet_group,
            &names.parameter_group,
            &names.db_security_group,
            &names.client_security_group,
        ] {
            assert!(checked.contains(name), "{name} is not checked: {checked:?}");
        }
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("shop-dev-web-db").is_ok());
        for bad in ["", "1db", "Db", "a--b", "a-", &"a".repeat(64)] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
