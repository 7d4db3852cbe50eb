//! Azure: one Function App per runtime of a service and target, switched
//! with one slot swap each ([`provider::AzureProvider`]); remote state on
//! Blob Storage (`azblob://`).

pub mod app;
pub mod arm;
pub mod base;
pub mod blob;
pub mod cert;
pub mod provider;
pub mod slots;
