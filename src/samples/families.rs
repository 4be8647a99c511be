//! The metric families: each name's type, unit and help text, taken from the tables of
//! `docs/metrics.md` at build time (`build.rs`), so the contract and what the samples say about
//! themselves cannot drift apart. The dry-run text writes them as `# HELP` / `# TYPE`; the
//! senders send them as remote-write metadata.

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) counter: bool,
    /// The base unit the name ends in (`seconds`, `joules`), else empty.
    pub(crate) unit: &'static str,
    pub(crate) help: &'static str,
}

/// Sorted by name.
const TABLE: &[(&str, bool, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/families.rs"));

fn row(&(name, counter, unit, help): &(&'static str, bool, &'static str, &'static str)) -> Family {
    Family { name, counter, unit, help }
}

/// Every family, by name.
pub(crate) fn all() -> impl Iterator<Item = Family> {
    TABLE.iter().map(row)
}

/// The family of a metric name; `None` for a name the contract does not list.
pub(crate) fn family(name: &str) -> Option<Family> {
    let i = TABLE.binary_search_by(|r| r.0.cmp(name)).ok()?;
    Some(row(&TABLE[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_read_from_the_contract() {
        let f = family("costpush_jobs_total").expect("listed");
        assert!(f.counter);
        assert_eq!(f.help, "Jobs ingested.");
        let f = family("costpush_job_energy_joules").expect("listed");
        assert_eq!((f.counter, f.unit), (false, "joules"));
        assert_eq!(family("costpush_job_cost").map(|f| f.unit), Some(""), "money has no unit suffix");
        assert!(family("costpush_nothing").is_none());
        assert!(all().count() > 100);
        assert!(all().all(|f| f.counter == f.name.ends_with("_total")), "counters end in _total");
        assert!(all().all(|f| !f.help.contains('\n') && !f.help.contains('`') && !f.help.ends_with('|')));
    }
}
