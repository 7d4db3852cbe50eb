//! nubo: deploy serverless functions to AWS, Google Cloud, Azure and an
//! embedded local cloud from one provider-neutral manifest.
//!
//! The pipeline runs one way: `manifest` (load) → `validate` → `resolve`
//! → package → plan → apply. Each module is one phase and hands typed output
//! to the next.

pub mod cli;
pub mod diag;
pub mod manifest;
pub mod package;
pub mod provider;
pub mod release;
pub mod resolve;
pub mod scaffold;
pub mod schema;
pub mod state;
pub mod suggest;
pub mod ui;
pub mod validate;
