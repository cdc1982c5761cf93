//! RESP2 (being written on the proto branch).
use super::{Limits, Parsed};
/// Parses one request.
pub fn parse<'a>(_buf: &'a [u8], _limits: &Limits) -> Parsed<'a> {
    Parsed::Incomplete
}
