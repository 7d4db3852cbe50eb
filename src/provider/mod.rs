//! Provider backends and what each cloud allows.
//!
//! Backends (local, AWS, GCP, Azure) arrive with the release engine; the
//! provider specs are what `validate` checks a service against today.

pub mod spec;
