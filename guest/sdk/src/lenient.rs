//! Deserializers that read a field leniently, so one odd field cannot make a whole vendor
//! answer unreadable: use them with `#[serde(default, deserialize_with = "...")]`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A string field: a number becomes its digits, anything else but a string the empty
/// string.
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    })
}

/// An optional field: `Some` when the value has the expected type, `None` otherwise.
pub fn option<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(deserializer)?).ok())
}

/// A flag that is true only when it says so: `true`, `"true"` (any case) or a non-zero
/// number.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(flag) => flag,
        Value::String(text) => text.trim().eq_ignore_ascii_case("true"),
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Odd {
        #[serde(deserialize_with = "super::string")]
        id: String,
        #[serde(deserialize_with = "super::option")]
        version: Option<u64>,
        #[serde(deserialize_with = "super::flag")]
        on: bool,
    }

    fn odd(value: serde_json::Value) -> Odd {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn odd_fields_read_as_absent_instead_of_failing() {
        let read = odd(json!({"id": 42, "version": "seven", "on": "TRUE"}));
        assert_eq!(
            (read.id.as_str(), read.version, read.on),
            ("42", None, true)
        );
        let read = odd(json!({"id": null, "version": 7, "on": 0}));
        assert_eq!(
            (read.id.as_str(), read.version, read.on),
            ("", Some(7), false)
        );
        let read = odd(json!({}));
        assert_eq!((read.id.as_str(), read.version, read.on), ("", None, false));
    }
}
