//! RESP2 framing and the Redis command table (to be written).
