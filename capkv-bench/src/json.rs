//! A tiny JSON object writer (results are flat numbers, strings and a few
//! nested objects; not worth a serde dependency).

use std::fmt::Write as _;

/// A JSON object under construction.
#[derive(Debug, Default, Clone)]
pub struct Obj(Vec<(String, String)>);

/// `s` as a JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        Obj::default()
    }
    /// Adds a field whose value is already JSON.
    pub fn raw(&mut self, k: &str, v: String) -> &mut Obj {
        self.0.push((k.to_string(), v));
        self
    }
    /// Adds an integer.
    pub fn int(&mut self, k: &str, v: u64) -> &mut Obj {
        self.raw(k, v.to_string())
    }
    /// Adds a number (`null` when not finite).
    pub fn num(&mut self, k: &str, v: f64) -> &mut Obj {
        self.raw(
            k,
            if v.is_finite() { format!("{}", (v * 1e5).round() / 1e5) } else { "null".into() },
        )
    }
    /// Adds a string.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Obj {
        self.raw(k, string(v))
    }
    /// Adds a boolean.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Obj {
        self.raw(k, v.to_string())
    }
    /// Adds an optional integer (`null` when absent).
    pub fn opt(&mut self, k: &str, v: Option<u64>) -> &mut Obj {
        self.raw(k, v.map_or("null".into(), |v| v.to_string()))
    }
    /// Adds a nested object.
    pub fn obj(&mut self, k: &str, v: &Obj) -> &mut Obj {
        self.raw(k, v.render())
    }
    /// The fields, in order, with values as JSON text.
    pub fn into_fields(self) -> Vec<(String, String)> {
        self.0
    }
    /// The JSON text.
    pub fn render(&self) -> String {
        let fields: Vec<String> =
            self.0.iter().map(|(k, v)| format!("{}:{v}", string(k))).collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// A JSON array of already-rendered values.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let mut inner = Obj::new();
        inner.int("n", 3);
        let mut o = Obj::new();
        o.str("s", "a\"b\n").num("f", 0.5).bool("b", true).opt("none", None).obj("in", &inner);
        o.raw("arr", array([string("x")]));
        assert_eq!(
            o.render(),
            r#"{"s":"a\"b\n","f":0.5,"b":true,"none":null,"in":{"n":3},"arr":["x"]}"#
        );
    }
}
