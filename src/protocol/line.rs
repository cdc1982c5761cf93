//! The seed's newline text protocol (to be written).
