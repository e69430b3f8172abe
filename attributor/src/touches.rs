//! How a partition keeps the touchpoints of its keys compactly: one key's text and all its
//! touchpoints packed into a single allocation, with the text that repeats across touchpoints (kind,
//! channel, partner, link, code, SharedId, UTM values, landing domain) interned once per
//! partition and referred to by number. A key with one click costs about 60 bytes here where
//! sixteen separately allocated strings cost about 600.
//!
//! The packed form is internal to the process: the changelog carries the plain
//! [`StoredTouchpoint`] records (encoded from here through [`TouchpointsOf`], byte for byte as
//! from owned ones), and a restore packs them again.
//!
//! The bytes start with the key (`[length][text]`); then each touchpoint is `[body length][occurred ms: 8][offset: 8][window: 1][fields]`, where a field
//! is `0` (none), `1` + symbol number, or `2` + length + text (lengths and numbers LEB128). The
//! event id and click id, unique by nature, are always inline; every other field is interned
//! while the partition holds fewer than [`SYMBOLS_MAX`] distinct texts, and inline after that,
//! so free-text fields cannot make the table grow without bound. Symbols are never freed while
//! the process runs; a restart rebuilds the table from what is still kept.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::DateTime;
use schemas::attribution::AttributionWindow;
use schemas::attributor_state::{StoredTouchpoint, StoredTouchpointRef};
use serde::ser::SerializeSeq;
use serde::Serialize;

/// Most distinct texts one partition interns.
pub const SYMBOLS_MAX: usize = 1 << 18;

/// The texts a partition's touchpoints share, by number.
#[derive(Debug, Default)]
pub struct Symbols {
    numbers: HashMap<Arc<str>, u32>,
    texts: Vec<Arc<str>>,
    /// Where a touchpoint is packed before it is placed.
    scratch: Vec<u8>,
}

impl Symbols {
    /// The number of `text`, interning it if there is room.
    fn intern(&mut self, text: &str) -> Option<u32> {
        if let Some(&n) = self.numbers.get(text) {
            return Some(n);
        }
        if self.texts.len() >= SYMBOLS_MAX {
            return None;
        }
        let n = self.texts.len() as u32;
        let shared: Arc<str> = Arc::from(text);
        self.texts.push(shared.clone());
        self.numbers.insert(shared, n);
        Some(n)
    }

    fn text(&self, n: u32) -> &str {
        self.texts.get(n as usize).map_or("", |t| t)
    }

    /// Distinct texts held.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Approximate bytes held: each text once, its two shared handles, and the table slot.
    pub fn approx_bytes(&self) -> usize {
        self.texts.iter().map(|t| t.len() + 16).sum::<usize>()
            + self.texts.capacity() * 16
            + self.numbers.capacity() * 25
    }
}

/// The fields after the fixed header, in [`StoredTouchpoint`]'s order.
const FIELDS: usize = 14;
const EVENT_ID: usize = 0;
const CLICK_ID: usize = 8;
const HEADER: usize = 17;

const NONE: u8 = 0;
const SYMBOL: u8 = 1;
const INLINE: u8 = 2;

/// The attribution window a touchpoint claims through: codes (resolved by code, or a code
/// redemption) through the code window, page views through the view-through window, the rest
/// through the click-through window.
pub fn window_of(kind: &str, resolved_by: &str) -> AttributionWindow {
    if resolved_by == "code" || kind == "code_redemption" {
        AttributionWindow::Code
    } else if kind == "page_view" {
        AttributionWindow::ViewThrough
    } else {
        AttributionWindow::ClickThrough
    }
}

fn window_byte(w: AttributionWindow) -> u8 {
    match w {
        AttributionWindow::ClickThrough => 0,
        AttributionWindow::ViewThrough => 1,
        AttributionWindow::Code => 2,
    }
}

fn window_from(b: u8) -> AttributionWindow {
    match b {
        1 => AttributionWindow::ViewThrough,
        2 => AttributionWindow::Code,
        _ => AttributionWindow::ClickThrough,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*at`, moving past it. The bytes are this module's own, so they are
/// well formed; a short read yields what was read.
fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    v
}

fn get_i64(bytes: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    i64::from_le_bytes(raw)
}

/// One packed touchpoint's fixed part, and where it lies in its key's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// When it happened, epoch ms.
    pub occurred_ms: i64,
    /// Input offset it arrived at.
    pub offset: i64,
    /// The window it claims through.
    pub window: AttributionWindow,
    start: usize,
    body: usize,
    end: usize,
}

/// Packs one touchpoint into `out` (its body, without the length prefix).
fn pack(t: &StoredTouchpointRef<'_>, symbols: &mut Symbols, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&t.occurred_at.timestamp_millis().to_le_bytes());
    out.extend_from_slice(&t.offset.to_le_bytes());
    out.push(window_byte(window_of(t.kind, t.resolved_by)));
    let fields: [Option<&str>; FIELDS] = [
        Some(t.event_id),
        Some(t.kind),
        t.partner_id,
        t.partner_status,
        Some(t.resolved_by),
        t.shared_id,
        t.link_id,
        t.code,
        t.click_id,
        t.landing_domain,
        Some(t.channel),
        t.utm_source,
        t.utm_medium,
        t.utm_campaign,
    ];
    for (i, field) in fields.into_iter().enumerate() {
        let Some(text) = field else {
            out.push(NONE);
            continue;
        };
        let interned = (i != EVENT_ID && i != CLICK_ID)
            .then(|| symbols.intern(text))
            .flatten();
        match interned {
            Some(n) => {
                out.push(SYMBOL);
                put_varint(out, u64::from(n));
            }
            None => {
                out.push(INLINE);
                put_varint(out, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
}

/// An attribution key and its touchpoints, ascending by (time, offset), in one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touches(Box<[u8]>);

impl Touches {
    /// `key`, with no touchpoint yet.
    pub fn new(key: &str) -> Touches {
        let mut out = Vec::with_capacity(key.len() + 1);
        put_varint(&mut out, key.len() as u64);
        out.extend_from_slice(key.as_bytes());
        Touches(out.into_boxed_slice())
    }

    /// `key` with `touchpoints` (a restore's): packed in one pass when they come in order, as
    /// the changelog writes them.
    pub fn from_records(
        key: &str,
        touchpoints: &[StoredTouchpointRef<'_>],
        symbols: &mut Symbols,
    ) -> Touches {
        let in_order = touchpoints
            .windows(2)
            .all(|w| (w[0].occurred_at, w[0].offset) <= (w[1].occurred_at, w[1].offset));
        let mut touches = Touches::new(key);
        if !in_order {
            for t in touchpoints {
                touches.insert(t, symbols);
            }
            return touches;
        }
        let mut out = touches.0.into_vec();
        let mut body = std::mem::take(&mut symbols.scratch);
        for t in touchpoints {
            pack(t, symbols, &mut body);
            put_varint(&mut out, body.len() as u64);
            out.extend_from_slice(&body);
        }
        symbols.scratch = body;
        Touches(out.into_boxed_slice())
    }

    /// The attribution key.
    pub fn key(&self) -> &str {
        let mut at = 0;
        let len = get_varint(&self.0, &mut at) as usize;
        std::str::from_utf8(&self.0[at..at + len]).unwrap_or_default()
    }

    /// Where the first touchpoint starts (after the key).
    fn first(&self) -> usize {
        let mut at = 0;
        let len = get_varint(&self.0, &mut at) as usize;
        at + len
    }

    /// Whether there is no touchpoint.
    pub fn is_empty(&self) -> bool {
        self.0.len() == self.first()
    }

    /// Bytes held (the key's included).
    pub fn bytes(&self) -> usize {
        self.0.len()
    }

    /// The fixed part of each touchpoint, in order.
    pub fn headers(&self) -> impl Iterator<Item = Header> + '_ {
        let bytes = &self.0;
        let mut at = self.first();
        std::iter::from_fn(move || {
            if at >= bytes.len() {
                return None;
            }
            let start = at;
            let len = get_varint(bytes, &mut at) as usize;
            let body = at;
            at += len;
            Some(Header {
                occurred_ms: get_i64(bytes, body),
                offset: get_i64(bytes, body + 8),
                window: window_from(bytes[body + 16]),
                start,
                body,
                end: at,
            })
        })
    }

    /// How many touchpoints.
    pub fn len(&self) -> usize {
        self.headers().count()
    }

    /// The touchpoint at `h`, its text borrowed from here and from `symbols`.
    fn read<'a>(&'a self, h: &Header, symbols: &'a Symbols) -> StoredTouchpointRef<'a> {
        let bytes = &self.0[..h.end];
        let mut at = h.body + HEADER;
        let mut fields: [Option<&'a str>; FIELDS] = [None; FIELDS];
        for field in &mut fields {
            let tag = bytes[at];
            at += 1;
            *field = match tag {
                SYMBOL => Some(symbols.text(get_varint(bytes, &mut at) as u32)),
                INLINE => {
                    let len = get_varint(bytes, &mut at) as usize;
                    let text = std::str::from_utf8(&bytes[at..at + len]).unwrap_or_default();
                    at += len;
                    Some(text)
                }
                _ => None,
            };
        }
        let [event_id, kind, partner_id, partner_status, resolved_by, shared_id, link_id, code, click_id, landing_domain, channel, utm_source, utm_medium, utm_campaign] =
            fields;
        StoredTouchpointRef {
            event_id: event_id.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
            occurred_at: DateTime::from_timestamp_millis(h.occurred_ms).unwrap_or_default(),
            offset: h.offset,
            partner_id,
            partner_status,
            resolved_by: resolved_by.unwrap_or_default(),
            shared_id,
            link_id,
            code,
            click_id,
            landing_domain,
            channel: channel.unwrap_or_default(),
            utm_source,
            utm_medium,
            utm_campaign,
        }
    }

    /// Every touchpoint, borrowed, in order.
    pub fn iter<'a>(
        &'a self,
        symbols: &'a Symbols,
    ) -> impl Iterator<Item = StoredTouchpointRef<'a>> + 'a {
        self.headers().map(move |h| self.read(&h, symbols))
    }

    /// Every touchpoint as an owned record (what attribution reads).
    pub fn to_stored(&self, symbols: &Symbols) -> Vec<StoredTouchpoint> {
        self.iter(symbols).map(|t| t.to_stored()).collect()
    }

    /// Whether a touchpoint with `event_id` is held (event ids are always inline).
    pub fn contains_event(&self, event_id: &str) -> bool {
        let want = event_id.as_bytes();
        self.headers().any(|h| {
            let mut at = h.body + HEADER + 1;
            let len = get_varint(&self.0, &mut at) as usize;
            self.0.get(at..at + len) == Some(want)
        })
    }

    /// The newest touchpoint's time (the last one's), if any.
    pub fn newest_ms(&self) -> Option<i64> {
        self.headers().last().map(|h| h.occurred_ms)
    }

    /// Inserts `t` in (time, offset) order.
    pub fn insert(&mut self, t: &StoredTouchpointRef<'_>, symbols: &mut Symbols) {
        // Packed in a buffer the partition reuses: no allocation but the new bytes themselves.
        let mut body = std::mem::take(&mut symbols.scratch);
        pack(t, symbols, &mut body);
        let key = (t.occurred_at.timestamp_millis(), t.offset);
        let at = self
            .headers()
            .find(|h| (h.occurred_ms, h.offset) > key)
            .map_or(self.0.len(), |h| h.start);
        let mut out = Vec::with_capacity(self.0.len() + body.len() + 2);
        out.extend_from_slice(&self.0[..at]);
        put_varint(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        out.extend_from_slice(&self.0[at..]);
        self.0 = out.into_boxed_slice();
        symbols.scratch = body;
    }

    /// Keeps the touchpoints `keep` says to; returns how many were dropped. Rewrites the bytes
    /// only when one is.
    pub fn retain(&mut self, mut keep: impl FnMut(&Header) -> bool) -> usize {
        let dropped: Vec<Header> = self.headers().filter(|h| !keep(h)).collect();
        if dropped.is_empty() {
            return 0;
        }
        let mut out = Vec::with_capacity(self.0.len());
        let mut from = 0;
        for h in &dropped {
            out.extend_from_slice(&self.0[from..h.start]);
            from = h.end;
        }
        out.extend_from_slice(&self.0[from..]);
        self.0 = out.into_boxed_slice();
        dropped.len()
    }

    /// Removes the `n`th touchpoint, if there is one.
    pub fn remove(&mut self, n: usize) {
        let mut i = 0;
        self.retain(|_| {
            i += 1;
            i != n + 1
        });
    }
}

/// A key's touchpoints as the changelog writes them: a sequence of [`StoredTouchpoint`]s.
#[derive(Debug, Clone, Copy)]
pub struct TouchpointsOf<'a> {
    /// The touchpoints.
    pub touches: &'a Touches,
    /// The partition's symbols they refer to.
    pub symbols: &'a Symbols,
}

impl Serialize for TouchpointsOf<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.touches.len()))?;
        for t in self.touches.iter(self.symbols) {
            seq.serialize_element(&t)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(id: &str, at_ms: i64, offset: i64) -> StoredTouchpoint {
        StoredTouchpoint {
            event_id: id.into(),
            kind: "click".into(),
            occurred_at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
            offset,
            partner_id: Some("p-anna".into()),
            partner_status: Some("verified".into()),
            resolved_by: "link".into(),
            shared_id: None,
            link_id: Some("l-1".into()),
            code: None,
            click_id: Some(format!("gclid-{id}")),
            landing_domain: Some("shop.example".into()),
            channel: "referral".into(),
            utm_source: Some("newsletter".into()),
            utm_medium: None,
            utm_campaign: Some("spring".into()),
        }
    }

    #[test]
    fn touchpoints_come_back_as_they_went_in_ordered_by_time_then_offset() {
        let mut symbols = Symbols::default();
        let mut touches = Touches::new("shop/v-1");
        let mut a = touch("a", 2_000, 5);
        a.code = Some("SPRING10".into());
        a.resolved_by = "code".into();
        let b = touch("b", 1_000, 9);
        let c = touch("c", 2_000, 3);
        for t in [&a, &b, &c] {
            touches.insert(&t.borrowed(), &mut symbols);
        }
        assert_eq!(
            touches.to_stored(&symbols),
            vec![b.clone(), c.clone(), a.clone()]
        );
        for restored in [
            Touches::from_records(
                "shop/v-1",
                &[b.borrowed(), c.borrowed(), a.borrowed()],
                &mut symbols,
            ),
            Touches::from_records(
                "shop/v-1",
                &[a.borrowed(), b.borrowed(), c.borrowed()],
                &mut symbols,
            ),
        ] {
            assert_eq!(restored, touches);
        }
        let windows: Vec<AttributionWindow> = touches.headers().map(|h| h.window).collect();
        assert_eq!(
            windows,
            [
                AttributionWindow::ClickThrough,
                AttributionWindow::ClickThrough,
                AttributionWindow::Code
            ]
        );
        assert!(touches.contains_event("c") && !touches.contains_event("gclid-c"));
        assert_eq!(touches.key(), "shop/v-1");
        assert_eq!(touches.newest_ms(), Some(2_000));
        touches.remove(1);
        assert_eq!(touches.to_stored(&symbols), vec![b, a]);
        assert_eq!(touches.retain(|h| h.occurred_ms > 1_500), 1);
        assert_eq!(touches.len(), 1);
        assert_eq!(touches.retain(|_| false), 1);
        assert!(touches.is_empty());
        assert_eq!(touches.key(), "shop/v-1");
    }

    #[test]
    fn text_past_the_symbol_limit_is_kept_inline_and_reads_the_same() {
        let mut symbols = Symbols::default();
        for n in 0..SYMBOLS_MAX {
            symbols.intern(&n.to_string());
        }
        let mut touches = Touches::new("shop/v-1");
        let mut t = touch("x", 1, 1);
        t.utm_campaign = Some("never seen before".into());
        touches.insert(&t.borrowed(), &mut symbols);
        assert_eq!(symbols.len(), SYMBOLS_MAX);
        assert_eq!(touches.to_stored(&symbols), vec![t]);
    }

    #[test]
    fn repeated_text_is_held_once() {
        let mut symbols = Symbols::default();
        let mut touches = Touches::new("shop/v-1");
        for n in 0..100 {
            touches.insert(&touch(&n.to_string(), n, n).borrowed(), &mut symbols);
        }
        // kind, partner, status, resolved_by, link, domain, channel, two UTM values.
        assert_eq!(symbols.len(), 9);
        // About 53 bytes a touchpoint: header, two inline ids, a byte or two per field.
        assert!(touches.bytes() < 100 * 60, "{} bytes", touches.bytes());
    }
}
