//! Deploy order: components grouped into waves, each wave after every wave it depends on.

use std::collections::{BTreeMap, BTreeSet};

use crate::resources::lock::Lock;

/// The components of `lock` in waves: wave 0 depends on nothing, wave N only on components of
/// earlier waves (its longest dependency chain has N links). Within a wave, sorted by name.
/// Locks come from checked manifests, so there is no cycle; should one appear anyway, its
/// components are returned as a last wave rather than lost.
pub fn deploy_waves(lock: &Lock) -> Vec<Vec<String>> {
    let depends: BTreeMap<&str, BTreeSet<&str>> = lock
        .components
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut waves = Vec::new();
    while placed.len() < depends.len() {
        let wave: Vec<&str> = depends
            .iter()
            .filter(|(name, deps)| {
                !placed.contains(*name)
                    && deps
                        .iter()
                        .all(|d| placed.contains(d) || !depends.contains_key(d))
            })
            .map(|(name, _)| *name)
            .collect();
        if wave.is_empty() {
            waves.push(
                depends
                    .keys()
                    .filter(|n| !placed.contains(*n))
                    .map(|n| (*n).to_owned())
                    .collect(),
            );
            break;
        }
        placed.extend(wave.iter().copied());
        waves.push(wave.into_iter().map(str::to_owned).collect());
    }
    waves
}

/// Every component that depends on `failed`, directly or through others.
pub fn dependents_of(lock: &Lock, failed: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut frontier = vec![failed.to_owned()];
    while let Some(current) = frontier.pop() {
        for component in &lock.components {
            if component.depends_on.contains(&current) && out.insert(component.name.clone()) {
                frontier.push(component.name.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lock::{LockedChart, LockedComponent};
    use crate::resources::version_line::VersionLine;

    fn lock(edges: &[(&str, &[&str])]) -> Lock {
        Lock::new(
            "p",
            VersionLine { major: 1, minor: 0 },
            edges
                .iter()
                .map(|(name, deps)| LockedComponent {
                    name: (*name).to_owned(),
                    source: None,
                    chart: LockedChart {
                        name: (*name).to_owned(),
                        version: "1.0.0".to_owned(),
                        digest: String::new(),
                        repository: None,
                    },
                    images: vec![],
                    depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
                    values: serde_json::Map::new(),
                })
                .collect(),
            None,
        )
    }

    #[test]
    fn a_diamond_deploys_in_three_waves_with_the_independent_one_first() {
        let l = lock(&[
            ("db", &[]),
            ("api", &["db"]),
            ("worker", &["db"]),
            ("web", &["api", "worker"]),
            ("docs", &[]),
        ]);
        assert_eq!(
            deploy_waves(&l),
            [vec!["db", "docs"], vec!["api", "worker"], vec!["web"]]
        );
        assert_eq!(
            dependents_of(&l, "db"),
            ["api", "web", "worker"].map(String::from).into()
        );
        assert!(dependents_of(&l, "web").is_empty());
    }

    #[test]
    fn a_cycle_is_not_lost() {
        let l = lock(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        assert_eq!(deploy_waves(&l), [vec!["c"], vec!["a", "b"]]);
    }
}
