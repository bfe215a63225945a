//! The dependency graph of components: cycle detection.

use std::collections::BTreeMap;

/// The first dependency cycle found, as a path that starts and ends with the same name
/// (`["api", "web", "api"]`), or `None` when the graph is acyclic. Edges to unknown names are
/// ignored (they are reported separately). Deterministic: names are visited in sorted order.
pub fn find_cycle<'a>(edges: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|n| *n == node).expect("on path");
                let mut cycle: Vec<String> =
                    path[start..].iter().map(|s| (*s).to_owned()).collect();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        path.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if edges.contains_key(next)
                && let Some(cycle) = visit(next, edges, marks, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut marks, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(pairs: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        pairs.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    #[test]
    fn a_diamond_has_no_cycle() {
        let g = graph(&[
            ("db", &[]),
            ("api", &["db"]),
            ("worker", &["db"]),
            ("web", &["api", "worker"]),
        ]);
        assert_eq!(find_cycle(&g), None);
    }

    #[test]
    fn a_cycle_is_printed_as_a_path() {
        let g = graph(&[("db", &[]), ("api", &["web"]), ("web", &["api"])]);
        assert_eq!(find_cycle(&g).unwrap(), ["api", "web", "api"]);
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["b"])]);
        assert_eq!(find_cycle(&g).unwrap(), ["b", "c", "b"]);
        let g = graph(&[("self", &["self"])]);
        assert_eq!(find_cycle(&g).unwrap(), ["self", "self"]);
    }

    #[test]
    fn unknown_targets_are_left_to_other_checks() {
        let g = graph(&[("a", &["ghost"])]);
        assert_eq!(find_cycle(&g), None);
    }
}
