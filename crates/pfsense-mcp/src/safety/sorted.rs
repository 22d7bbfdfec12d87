//! The lists pfrest keeps sorted, for a batch undo's preview (`undo::read_left_by_newer`) to
//! play a list as the firewall will hold it. The table and PHP's sort are
//! `pfsense_spec::php_sort`, shared with the emulator; what is the product's own is the
//! firewall's version (`crate::version::Version`, a [`php_sort::Release`] through `From`) and
//! the check that the table fits the generated tools.

pub use pfsense_spec::php_sort::{self, SORTED_MODELS, Sorted, row};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Version;

    /// Every row names a model the tools have, with a list to read and sort fields its create
    /// takes.
    #[test]
    fn the_sorted_models_table_names_models_and_fields_the_tools_have() {
        use crate::catalog::TOOLS;
        use crate::spec::{Method, PathKind};
        for row in SORTED_MODELS {
            let has = |method: Method, kind: PathKind| {
                TOOLS
                    .iter()
                    .find(|d| d.model == row.model && d.method == method && d.path_kind == kind)
            };
            assert!(
                has(Method::Get, PathKind::Plural).is_some(),
                "{} has a list",
                row.model
            );
            let create = has(Method::Post, PathKind::Item)
                .unwrap_or_else(|| panic!("{} has a create", row.model));
            for field in row.by {
                assert!(
                    create.args.iter().any(|a| a.name == *field),
                    "{} takes {field}",
                    create.name
                );
            }
        }
    }

    #[test]
    fn port_forwards_are_sorted_only_before_v2_8_0() {
        let forwards = row("PortForward").unwrap();
        assert!(forwards.applies_to(Version::parse("v2.7.1")));
        assert!(forwards.applies_to(Version::parse("v2.7.7")));
        assert!(!forwards.applies_to(Version::parse("v2.8.4")));
        assert!(!forwards.applies_to(Version::parse("v2.10.0")));
        let hosts = row("DNSResolverHostOverride").unwrap();
        assert!(hosts.applies_to(Version::parse("v2.10.0")) && !hosts.depends_on_version());
    }
}
