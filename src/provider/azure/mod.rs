//! Azure: remote state on Blob Storage (`azblob://`). The Function App
//! backend lands with its own work; Azure targets say so (see
//! `provider::open`).

pub mod app;
pub mod arm;
pub mod base;
pub mod blob;
pub mod slots;
