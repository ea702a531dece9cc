//! Lossless reading and writing of provenance objects.
//!
//! A [`Fields`] reader takes the fields a model names out of a JSON object, checking their
//! JSON types, and leaves everything else (unknown fields, and named fields set to `null`)
//! in the object's `extra` map. Writing starts from `extra` and puts the named fields back,
//! so that reading then writing gives the same JSON value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::strict_json::kind;

/// The fields of one JSON object not yet taken by the model, with the object's path for
/// messages (`buildDefinition.resolvedDependencies[0]`; empty for the predicate itself).
pub(super) struct Fields {
    rest: Map<String, Value>,
    path: String,
}

/// How a path is named in messages.
fn describe(path: &str) -> &str {
    if path.is_empty() {
        "the predicate"
    } else {
        path
    }
}

/// `path` followed by field `key`.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Fields {
    /// `value` as an object to read, or why it is not one.
    pub(super) fn new(value: Value, path: String) -> Result<Self, String> {
        match value {
            Value::Object(rest) => Ok(Self { rest, path }),
            other => Err(format!(
                "{} is {}, expected an object",
                describe(&path),
                kind(&other)
            )),
        }
    }

    /// The path of field `key`, for messages.
    pub(super) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Takes `key` out of the object unless it is absent or `null` (a `null` stays, to be
    /// written back as it was).
    fn take(&mut self, key: &str) -> Option<Value> {
        match self.rest.get(key) {
            None | Some(Value::Null) => None,
            Some(_) => self.rest.remove(key),
        }
    }

    fn wrong_type(&self, key: &str, value: &Value, expected: &str) -> String {
        format!(
            "{} is {}, expected {expected}",
            self.path_of(key),
            kind(value)
        )
    }

    /// The string at `key`; `None` when absent or `null`.
    pub(super) fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong_type(key, &other, "a string")),
        }
    }

    /// The string at `key`, which must be present and not empty.
    pub(super) fn required_string(&mut self, key: &str) -> Result<String, String> {
        match self.string(key)? {
            None => Err(self.missing(key)),
            Some(text) if text.is_empty() => Err(format!("{} is empty", self.path_of(key))),
            Some(text) => Ok(text),
        }
    }

    /// The message for a required field that is absent or `null`.
    pub(super) fn missing(&self, key: &str) -> String {
        match self.rest.get(key) {
            Some(Value::Null) => format!("{} is null", self.path_of(key)),
            _ => format!("missing field {}", self.path_of(key)),
        }
    }

    /// The boolean at `key`; `None` when absent or `null`.
    pub(super) fn bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(flag)),
            Some(other) => Err(self.wrong_type(key, &other, "a boolean")),
        }
    }

    /// The object at `key`, kept as free-form JSON; `None` when absent or `null`.
    pub(super) fn object(&mut self, key: &str) -> Result<Option<Map<String, Value>>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.wrong_type(key, &other, "an object")),
        }
    }

    /// The object of strings at `key` (a digest set, a version map); `None` when absent or
    /// `null`.
    pub(super) fn string_map(
        &mut self,
        key: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        let Some(map) = self.object(key)? else {
            return Ok(None);
        };
        let path = self.path_of(key);
        map.into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name, text)),
                other => Err(format!(
                    "{} is {}, expected a string",
                    join(&path, &name),
                    kind(&other)
                )),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some)
    }

    /// The object at `key`, read by `read`; `None` when absent or `null`.
    pub(super) fn nested<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(Fields) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        let path = self.path_of(key);
        self.take(key)
            .map(|value| Fields::new(value, path).and_then(read))
            .transpose()
    }

    /// The object at `key`, read by `read`, which must be present.
    pub(super) fn required_nested<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(Fields) -> Result<T, String>,
    ) -> Result<T, String> {
        match self.nested(key, read)? {
            Some(value) => Ok(value),
            None => Err(self.missing(key)),
        }
    }

    /// The array of objects at `key`, each read by `read`; `None` when absent or `null`, an
    /// empty list when `[]`.
    pub(super) fn list<T>(
        &mut self,
        key: &str,
        read: impl Fn(Fields) -> Result<T, String>,
    ) -> Result<Option<Vec<T>>, String> {
        let path = self.path_of(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| Fields::new(item, format!("{path}[{index}]")).and_then(&read))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.wrong_type(key, &other, "an array")),
        }
    }

    /// The path of this object, for messages.
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// Everything not taken: unknown fields, and named fields set to `null`.
    pub(super) fn finish(self) -> Map<String, Value> {
        self.rest
    }
}

/// Refuses an `extra` map that holds, with a value other than `null`, a field the model
/// names: the typed field and the extra one would disagree on what the document says.
pub(super) fn check_extra(
    extra: &Map<String, Value>,
    named: &[&str],
    path: &str,
) -> Result<(), String> {
    match named
        .iter()
        .find(|key| extra.get(**key).is_some_and(|value| !value.is_null()))
    {
        Some(key) => Err(format!(
            "{} is set in the extra fields of {}; set the typed field instead",
            join(path, key),
            describe(path)
        )),
        None => Ok(()),
    }
}

/// Writes an object: `extra`, then each named field that is set.
pub(super) struct Writer(Map<String, Value>);

impl Writer {
    /// Starts from the fields kept as they were read.
    pub(super) fn new(extra: &Map<String, Value>) -> Self {
        Self(extra.clone())
    }

    /// Sets `key` to `value` when it is `Some`.
    pub(super) fn put(&mut self, key: &str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(value) = value {
            self.0.insert(key.to_owned(), value.into());
        }
        self
    }

    /// The object.
    pub(super) fn finish(&mut self) -> Value {
        Value::Object(std::mem::take(&mut self.0))
    }
}

/// A string map as a JSON object.
pub(super) fn string_map_value(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect(),
    )
}
