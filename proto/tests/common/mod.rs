//! What the golden-file tests share: reading a file of `tests/golden` and
//! checking a value against it both ways.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The text of the golden file `name`.
pub fn golden(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The golden file `name` decodes to `value`, and `value` encodes to
/// exactly the file's JSON (compared as JSON values).
pub fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: T) {
    let text = golden(name);
    let decoded: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded, value, "{name} decodes differently");
    let encoded = serde_json::to_value(&value).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(encoded, expected, "{name} encodes differently");
}
