//! A validated request frame: what the RESP and inline parsers hand the
//! command table. It sits between them so that neither imports the other:
//! `resp` builds frames and calls the table, the table reads frames.

use super::Args;

/// Arguments remembered by position while validating; later ones are only
/// reachable through [`Frame::tail`]. Four covers every fixed position the
/// command table reads (`SET key value` + options from index 3).
pub(super) const HEAD: usize = 4;

/// How a frame's arguments are laid out, for [`Frame::tail`].
#[derive(Clone, Copy)]
pub(super) enum Layout {
    /// `$len\r\nbytes\r\n` runs.
    Multibulk,
    /// Space-separated inline tokens.
    Inline,
}

/// A validated request: its argument count, its first arguments, and where
/// each of those begins in `raw` so that any suffix of the arguments can be
/// handed out as [`Args`].
pub(crate) struct Frame<'a> {
    pub(super) raw: &'a [u8],
    pub(super) layout: Layout,
    pub(super) argc: usize,
    pub(super) head: [&'a [u8]; HEAD],
    pub(super) starts: [usize; HEAD],
}

impl<'a> Frame<'a> {
    /// Number of arguments, command name included.
    pub(crate) fn argc(&self) -> usize {
        self.argc
    }

    /// Argument `i`. Callers check `argc` first; `i` must be below
    /// [`HEAD`]; anything else reads as empty.
    pub(crate) fn arg(&self, i: usize) -> &'a [u8] {
        debug_assert!(i < self.argc && i < HEAD);
        self.head.get(i).copied().unwrap_or_default()
    }

    /// Arguments from index `from` (below [`HEAD`]) to the end.
    pub(crate) fn tail(&self, from: usize) -> Args<'a> {
        debug_assert!(from < HEAD);
        if from >= self.argc || from >= HEAD {
            return Args::empty();
        }
        let raw = &self.raw[self.starts[from]..];
        let count = self.argc - from;
        match self.layout {
            Layout::Multibulk => Args::resp(raw, count),
            Layout::Inline => Args::inline(raw, count),
        }
    }
}

impl<'a> Frame<'a> {
    /// The arguments from index `from` (below [`HEAD`] and `argc`) on, as
    /// a frame of their own: `ACL DRYRUN user <command ...>` hands its
    /// command to the command table this way. The frame was validated
    /// whole, so walking its layout again cannot fail; a broken promise
    /// yields empty arguments, never a panic.
    pub(crate) fn sub(&self, from: usize) -> Frame<'a> {
        let start = self.starts.get(from).copied().unwrap_or(self.raw.len());
        let raw = &self.raw[start.min(self.raw.len())..];
        let argc = self.argc.saturating_sub(from);
        let mut head: [&'a [u8]; HEAD] = [&[]; HEAD];
        let mut starts = [raw.len(); HEAD];
        let mut pos = 0;
        for i in 0..argc.min(HEAD) {
            starts[i] = pos;
            match self.layout {
                Layout::Multibulk => {
                    // `$<len>\r\n<bytes>\r\n`.
                    let mut at = pos + 1;
                    let mut len = 0usize;
                    while let Some(d) = raw.get(at).filter(|d| d.is_ascii_digit()) {
                        len = len.saturating_mul(10).saturating_add(usize::from(d - b'0'));
                        at += 1;
                    }
                    let data = (at + 2).min(raw.len());
                    let end = data.saturating_add(len).min(raw.len());
                    head[i] = &raw[data..end];
                    pos = (end + 2).min(raw.len());
                }
                Layout::Inline => match super::inline::next_token(raw, pos) {
                    Ok(Some(token)) => {
                        head[i] = &raw[token.start..token.end];
                        pos = token.next;
                    }
                    _ => break,
                },
            }
        }
        Frame { raw, layout: self.layout, argc, head, starts }
    }
}
