//! Parsing request paths into what they address.

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/GROUP`
    Group(String),
    /// `/api/v1` or `/apis/GROUP/VERSION`
    Resources {
        /// The group, empty for core.
        group: String,
        /// The version.
        version: String,
    },
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3` and below.
    OpenApiV3(String),
    /// `/healthz`, `/livez`, `/readyz` and their sub-paths.
    Health,
    /// A resource collection, object or subresource.
    Resource(ResourcePath),
}

/// A resource path: `/api/v1/namespaces/NS/pods/NAME/log` and the like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// The group, empty for core.
    pub group: String,
    /// The version.
    pub version: String,
    /// The namespace segment, when the path has one.
    pub namespace: Option<String>,
    /// The plural resource name.
    pub plural: String,
    /// The object name.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, `log`).
    pub subresource: Option<String>,
}

/// Parses a request path; `None` when it addresses nothing kube-sim serves.
pub fn parse(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Some(Route::Version),
        ["api"] => Some(Route::CoreVersions),
        ["apis"] => Some(Route::Groups),
        ["apis", group] => Some(Route::Group((*group).to_owned())),
        ["api", version] => Some(Route::Resources {
            group: String::new(),
            version: (*version).to_owned(),
        }),
        ["apis", group, version] => Some(Route::Resources {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        }),
        ["openapi", "v2"] => Some(Route::OpenApiV2),
        ["openapi", "v3", rest @ ..] => Some(Route::OpenApiV3(rest.join("/"))),
        ["healthz" | "livez" | "readyz", ..] => Some(Route::Health),
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => None,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let (namespace, rest) = match rest {
        ["namespaces", namespace, plural, tail @ ..]
            if !is_namespace_subresource(plural) || !tail.is_empty() =>
        {
            (
                Some((*namespace).to_owned()),
                [&[*plural][..], tail].concat(),
            )
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    Some(Route::Resource(ResourcePath {
        group: group.to_owned(),
        version: version.to_owned(),
        namespace,
        plural: plural.to_owned(),
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
    }))
}

fn is_namespace_subresource(segment: &str) -> bool {
    matches!(segment, "status" | "finalize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource_path(path: &str) -> ResourcePath {
        match parse(path) {
            Some(Route::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths_are_told_apart() {
        let log = resource_path("/api/v1/namespaces/demo/pods/web-0/log");
        assert_eq!(log.namespace.as_deref(), Some("demo"));
        assert_eq!(
            (
                log.plural.as_str(),
                log.name.as_deref(),
                log.subresource.as_deref()
            ),
            ("pods", Some("web-0"), Some("log"))
        );

        let namespace = resource_path("/api/v1/namespaces/demo");
        assert_eq!(
            (
                namespace.namespace,
                namespace.plural.as_str(),
                namespace.name.as_deref()
            ),
            (None, "namespaces", Some("demo"))
        );

        let status = resource_path("/api/v1/namespaces/demo/status");
        assert_eq!(
            (
                status.plural.as_str(),
                status.name.as_deref(),
                status.subresource.as_deref()
            ),
            ("namespaces", Some("demo"), Some("status"))
        );

        let all = resource_path("/apis/apps/v1/deployments");
        assert_eq!(
            (all.group.as_str(), all.namespace, all.name),
            ("apps", None, None)
        );

        assert_eq!(
            parse("/apis/apps/v1"),
            Some(Route::Resources {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        assert_eq!(parse("/nonsense"), None);
    }
}
