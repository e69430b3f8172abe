//! The short way for the URLs nearly every event carries. Ingest stores a landing URL as the
//! WHATWG parser serialises it and a referrer as its `scheme://host/`; for a *plain* URL both
//! are known without parsing: the landing URL is already its own serialisation, and the
//! referrer's host is written as it stands. Anything else goes through the `url` crate. A
//! property test holds both answers to the parser's on URLs built from the characters that
//! parsers treat specially.
//!
//! Plain: `http://` or `https://`; a host of lower-case ASCII letters, digits, dots and
//! hyphens whose last label starts with a letter (no IPv4 number), without punycode labels,
//! port or user; then visible ASCII only, without the characters the parser escapes or reads
//! as separators (`"` `'` `<` `>` `` ` `` `{` `}` `|` `^` `\`).

/// A plain URL's scheme and host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The host as written.
    pub host: &'a str,
    /// Everything after the host (`/path?query#fragment`, possibly empty).
    pub rest: &'a str,
}

/// Splits `text` when it is plain (see the module); `None` otherwise.
pub fn split(text: &str) -> Option<Plain<'_>> {
    let (scheme, after) = text.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let visible = |b: u8| {
        b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'\'' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'^' | b'\\'
            )
    };
    if !after.bytes().all(visible) {
        return None;
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (host, rest) = after.split_at(end);
    let host_chars = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
    let last_label = host
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap_or_default();
    let plain_host = host.bytes().all(host_chars)
        && last_label.starts_with(|c: char| c.is_ascii_lowercase())
        && !host.split('.').any(|label| label.starts_with("xn--"));
    plain_host.then_some(Plain { scheme, host, rest })
}

/// `text` itself when it is plain and already what the WHATWG parser would serialise: its
/// path is present and has no dot segment (`/./`, `/../`, also percent-encoded).
pub fn landing(text: &str) -> Option<&str> {
    let plain = split(text)?;
    let path = plain.rest.split(['?', '#']).next().unwrap_or_default();
    let dot_segment = path.contains("/.")
        || path
            .as_bytes()
            .windows(4)
            .any(|w| w[..3] == *b"/%2" && w[3].eq_ignore_ascii_case(&b'e'));
    (path.starts_with('/') && !dot_segment).then_some(text)
}

/// `scheme://host/` of a plain referrer.
pub fn referrer(text: &str) -> Option<String> {
    split(text).map(|plain| format!("{}://{}/", plain.scheme, plain.host))
}
