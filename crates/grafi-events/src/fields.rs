//! Taking typed fields out of a JSON object while remembering where we are.
//!
//! Decoding moves values out of the parsed document (no copies) and leaves behind only the
//! fields the model does not know, which the event keeps so that nothing is dropped.

use serde_json::{Map, Value};

use crate::error::{DecodeError, DecodeErrorKind};

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn wrong_type(path: String, expected: &'static str, found: &Value) -> DecodeError {
    DecodeError::new(
        path,
        DecodeErrorKind::WrongType {
            expected,
            found: json_type(found),
        },
    )
}

/// A JSON object being taken apart, with the path that leads to it.
#[derive(Default)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    path: String,
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>, path: impl Into<String>) -> Self {
        Self {
            map,
            path: path.into(),
        }
    }

    pub(crate) fn from_value(value: Value, path: impl Into<String>) -> Result<Self, DecodeError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self::new(map, path)),
            other => Err(wrong_type(path, "object", &other)),
        }
    }

    pub(crate) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn take_opt_value(&mut self, key: &str) -> Option<Value> {
        self.map.shift_remove(key)
    }

    pub(crate) fn take_value(&mut self, key: &str) -> Result<Value, DecodeError> {
        self.take_opt_value(key)
            .ok_or_else(|| DecodeError::new(self.path_of(key), DecodeErrorKind::Missing))
    }

    pub(crate) fn take_str(&mut self, key: &str) -> Result<String, DecodeError> {
        match self.take_value(key)? {
            Value::String(s) => Ok(s),
            other => Err(wrong_type(self.path_of(key), "string", &other)),
        }
    }

    /// A string that grafi lets be `null` (absent reads as `null` too).
    pub(crate) fn take_nullable_str(&mut self, key: &str) -> Result<Option<String>, DecodeError> {
        match self.take_opt_value(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(self.path_of(key), "string or null", &other)),
        }
    }

    pub(crate) fn take_object(&mut self, key: &str) -> Result<Fields, DecodeError> {
        let path = self.path_of(key);
        Fields::from_value(self.take_value(key)?, path)
    }

    pub(crate) fn take_i64(&mut self, key: &str) -> Result<i64, DecodeError> {
        let path = self.path_of(key);
        match self.take_value(key)? {
            Value::Number(n) => n.as_i64().ok_or_else(|| {
                DecodeError::new(
                    path,
                    DecodeErrorKind::InvalidValue(format!("{n} is not a 64-bit integer")),
                )
            }),
            other => Err(wrong_type(path, "integer", &other)),
        }
    }

    /// A list of strings; absent reads as empty, like grafi's pydantic defaults.
    pub(crate) fn take_str_list_or_empty(&mut self, key: &str) -> Result<Vec<String>, DecodeError> {
        let path = self.path_of(key);
        match self.take_opt_value(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    other => Err(wrong_type(format!("{path}[{i}]"), "string", &other)),
                })
                .collect(),
            Some(other) => Err(wrong_type(path, "array of strings", &other)),
        }
    }

    pub(crate) fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// What is left: the fields the model does not know.
    pub(crate) fn into_rest(self) -> Map<String, Value> {
        self.map
    }
}
