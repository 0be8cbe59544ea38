//! The stored objects, indexed by resource type and ordered by (namespace, name) within
//! each type, so that reading every object of one type (a LIST, a controller snapshot) costs
//! only that type's objects, and one namespace of a type is a range, not a scan.
//!
//! Iterating every object visits the types in plural order and each type in (namespace,
//! name) order: the same total order as a single map keyed by (resource, namespace, name).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::Key;

/// Every stored object, by resource plural, then by key.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    by_resource: BTreeMap<&'static str, BTreeMap<Key, Arc<Value>>>,
    /// How many stored objects carry the `foregroundDeletion` finalizer, so that the
    /// housekeeping of every controller tick scans for them only when there are any.
    in_foreground_deletion: usize,
}

/// Whether `object` waits for the foreground deletion of its dependents.
pub(crate) fn in_foreground_deletion(object: &Value) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"))
}

impl Objects {
    /// How many stored objects carry the `foregroundDeletion` finalizer.
    pub(crate) fn in_foreground_deletion(&self) -> usize {
        self.in_foreground_deletion
    }

    fn count_out(&mut self, gone: Option<&Arc<Value>>) {
        if gone.is_some_and(|v| in_foreground_deletion(v)) {
            self.in_foreground_deletion = self.in_foreground_deletion.saturating_sub(1);
        }
    }

    /// The object stored under `key`.
    pub(crate) fn get(&self, key: &Key) -> Option<&Arc<Value>> {
        self.by_resource.get(key.resource)?.get(key)
    }

    /// Whether an object is stored under `key`.
    pub(crate) fn contains_key(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }

    /// Stores `object` under `key`, returning the object it replaced.
    pub(crate) fn insert(&mut self, key: Key, object: Arc<Value>) -> Option<Arc<Value>> {
        if in_foreground_deletion(&object) {
            self.in_foreground_deletion += 1;
        }
        let replaced = self.by_resource.entry(key.resource).or_default().insert(key, object);
        self.count_out(replaced.as_ref());
        replaced
    }

    /// Removes the object stored under `key`.
    pub(crate) fn remove(&mut self, key: &Key) -> Option<Arc<Value>> {
        let of_type = self.by_resource.get_mut(key.resource)?;
        let removed = of_type.remove(key);
        if of_type.is_empty() {
            self.by_resource.remove(key.resource);
        }
        self.count_out(removed.as_ref());
        removed
    }

    /// Every object, by type, then namespace, then name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Key, &Arc<Value>)> {
        self.by_resource.values().flat_map(BTreeMap::iter)
    }

    /// Every key, in the order of [`Objects::iter`].
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.iter().map(|(k, _)| k)
    }

    /// Every object, in the order of [`Objects::iter`].
    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<Value>> {
        self.iter().map(|(_, v)| v)
    }

    /// The objects of one type, by namespace and name.
    pub(crate) fn of(&self, plural: &str) -> impl Iterator<Item = (&Key, &Arc<Value>)> {
        self.by_resource.get(plural).into_iter().flat_map(BTreeMap::iter)
    }

    /// How many objects of one type are stored.
    pub(crate) fn count(&self, plural: &str) -> usize {
        self.by_resource.get(plural).map_or(0, BTreeMap::len)
    }

    /// The objects of one type in one namespace, by name.
    pub(crate) fn in_namespace<'a>(
        &'a self,
        plural: &'static str,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a Key, &'a Arc<Value>)> + 'a {
        let start = Key {
            resource: plural,
            namespace: namespace.to_string(),
            name: String::new(),
        };
        self.by_resource
            .get(plural)
            .into_iter()
            .flat_map(move |of_type| of_type.range(start.clone()..))
            .take_while(move |(k, _)| k.namespace == namespace)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(resource: &'static str, namespace: &str, name: &str) -> Key {
        Key {
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    fn names<'a>(items: impl Iterator<Item = (&'a Key, &'a Arc<Value>)>) -> Vec<String> {
        items
            .map(|(k, _)| format!("{}/{}/{}", k.resource, k.namespace, k.name))
            .collect()
    }

    #[test]
    fn iteration_follows_type_then_namespace_then_name() {
        let mut objects = Objects::default();
        for (r, ns, n) in [
            ("pods", "b", "x"),
            ("deployments", "b", "a"),
            ("pods", "a", "z"),
            ("deployments", "a", "b"),
            ("namespaces", "", "a"),
        ] {
            objects.insert(key(r, ns, n), Arc::new(json!({"n": n})));
        }
        assert_eq!(
            names(objects.iter()),
            [
                "deployments/a/b",
                "deployments/b/a",
                "namespaces//a",
                "pods/a/z",
                "pods/b/x"
            ]
        );
        assert_eq!(names(objects.of("pods")), ["pods/a/z", "pods/b/x"]);
        assert_eq!(objects.count("deployments"), 2);
        assert_eq!(objects.count("services"), 0);
        assert_eq!(objects.keys().count(), 5);
        assert_eq!(objects.values().count(), 5);
    }

    #[test]
    fn a_namespace_range_holds_exactly_that_namespace() {
        let mut objects = Objects::default();
        for (ns, n) in [("a", "1"), ("ab", "2"), ("a", "3"), ("b", "4"), ("", "5")] {
            objects.insert(key("pods", ns, n), Arc::new(json!({})));
        }
        objects.insert(key("services", "a", "svc"), Arc::new(json!({})));
        assert_eq!(names(objects.in_namespace("pods", "a")), ["pods/a/1", "pods/a/3"]);
        assert_eq!(names(objects.in_namespace("pods", "ab")), ["pods/ab/2"]);
        assert_eq!(names(objects.in_namespace("pods", "c")), Vec::<String>::new());
        assert_eq!(names(objects.in_namespace("configmaps", "a")), Vec::<String>::new());
    }

    #[test]
    fn insert_replace_and_remove_keep_the_type_index_consistent() {
        let mut objects = Objects::default();
        let k = key("pods", "a", "p");
        assert!(objects.insert(k.clone(), Arc::new(json!(1))).is_none());
        assert_eq!(
            objects.insert(k.clone(), Arc::new(json!(2))).as_deref(),
            Some(&json!(1))
        );
        assert_eq!(objects.get(&k).map(|v| (**v).clone()), Some(json!(2)));
        assert!(objects.contains_key(&k));
        assert_eq!(objects.count("pods"), 1);
        assert_eq!(objects.remove(&k).as_deref(), Some(&json!(2)));
        assert!(!objects.contains_key(&k));
        assert_eq!(objects.count("pods"), 0);
        assert!(objects.remove(&k).is_none());
        assert_eq!(objects.iter().count(), 0);
    }

    #[test]
    fn owners_in_foreground_deletion_are_counted_through_every_change() {
        let mut objects = Objects::default();
        let deleting = || Arc::new(json!({"metadata": {"finalizers": ["foregroundDeletion"]}}));
        let other = || Arc::new(json!({"metadata": {"finalizers": ["example.com/keep"]}}));
        let (a, b) = (key("deployments", "n", "a"), key("replicasets", "n", "b"));
        objects.insert(a.clone(), other());
        assert_eq!(objects.in_foreground_deletion(), 0);
        objects.insert(a.clone(), deleting());
        objects.insert(b.clone(), deleting());
        assert_eq!(objects.in_foreground_deletion(), 2);
        objects.insert(b.clone(), deleting());
        assert_eq!(
            objects.in_foreground_deletion(),
            2,
            "replacing one by one still counts one"
        );
        objects.insert(a.clone(), other());
        assert_eq!(objects.in_foreground_deletion(), 1);
        objects.remove(&b);
        assert_eq!(objects.in_foreground_deletion(), 0);
        objects.remove(&b);
        assert_eq!(objects.in_foreground_deletion(), 0);
    }
}
