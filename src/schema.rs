//! The JSON Schema of `nubo.yaml`, generated from the manifest's types.
//!
//! `schemas/nubo.schema.json` is this output, checked in for editors; a test
//! fails when the two drift.

use crate::manifest::Manifest;

/// The schema as pretty JSON with a trailing newline.
pub fn generate() -> String {
    let schema = schemars::schema_for!(Manifest);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
