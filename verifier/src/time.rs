//! Instants in UTC ([`UnixTime`]), read from the textual forms trust material uses. The type
//! lives in [`vouch_keys::time`]; it is re-exported here because every verification takes the
//! time as a value of it. No clock is read in this crate.

pub use vouch_keys::time::{TimeError, UnixTime};
