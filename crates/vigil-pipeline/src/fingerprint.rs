//! Content fingerprints and the deterministic Observation names built from
//! them. Owns the folding of volatile text (generated name suffixes, ids,
//! addresses, numbers, durations) so that repeats of one problem hash alike;
//! it keeps no state across events.
//!
//! The hash is SHA-256 truncated to 64 bits: stable across processes, builds
//! and versions (unlike std's `RandomState`), and — since event messages are
//! written by whoever can create Events — not collidable on purpose, which
//! FNV would be (a crafted collision would hide another event for a window).

use crate::event::KubeEvent;
use sha2::{Digest, Sha256};
use std::fmt;

/// Longest Observation name: a DNS label, so it also fits in label values.
pub const MAX_NAME_LEN: usize = 63;

/// 64 bits of a SHA-256 over the event's folded content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// 16 lowercase hex digits.
    pub fn to_hex(self) -> String {
        let mut s = String::with_capacity(16);
        push_hex(&mut s, self.0);
        s
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Computes fingerprints, reusing one buffer for the folded text.
#[derive(Debug, Default, Clone)]
pub struct Fingerprinter {
    scratch: Vec<u8>,
}

impl Fingerprinter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fingerprint of source, regarding kind, namespace and folded name,
    /// reason and folded message. The window is not part of it. Every field
    /// is length-prefixed but the message: it comes last, so it needs none.
    /// The input is assembled in one buffer and hashed in one call.
    pub fn fingerprint(&mut self, source: &str, event: &KubeEvent) -> Fingerprint {
        self.fingerprint_parts(
            source,
            &event.regarding.kind,
            event.effective_namespace(),
            &event.regarding.name,
            &event.reason,
            Text::Folded(&event.message),
        )
    }

    /// The same fingerprint for any record: source, the object's kind,
    /// namespace and name (folded as [`fold_name`] does for its kind), a
    /// reason (a rule name) and a text, folded ([`fold_message`]) or exact.
    /// A Kubernetes Event's fingerprint is this with its own fields and a
    /// folded message.
    pub fn fingerprint_parts(
        &mut self,
        source: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        reason: &str,
        text: Text<'_>,
    ) -> Fingerprint {
        let buf = &mut self.scratch;
        buf.clear();
        buf.extend_from_slice(match text {
            Text::Folded(_) => b"vigil-fingerprint-v1",
            Text::Exact(_) => b"vigil-fingerprint-v1-exact",
        });
        field(buf, source.as_bytes());
        field(buf, kind.as_bytes());
        field(buf, namespace.as_bytes());
        let at = buf.len();
        buf.extend_from_slice(&[0; 8]); // the folded name's length, filled in below
        fold_name_with(kind, name, |part| buf.extend_from_slice(part));
        let len = (buf.len() - at - 8) as u64;
        buf[at..at + 8].copy_from_slice(&len.to_be_bytes());
        field(buf, reason.as_bytes());
        match text {
            Text::Folded(message) => fold_message_with(message, |part| buf.extend_from_slice(part)),
            Text::Exact(text) => buf.extend_from_slice(text.as_bytes()),
        }
        Fingerprint(first_u64(&Sha256::digest(buf.as_slice())))
    }
}

/// The last part of a fingerprint's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text<'a> {
    /// Free text whose volatile words are folded (an event message, a Falco output).
    Folded(&'a str),
    /// Text taken as it is (fields that name who did what).
    Exact(&'a str),
}

/// Length-prefixed, so no two different field lists hash the same bytes.
fn field(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    buf.extend_from_slice(bytes);
}

fn push_hex(out: &mut String, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[((value >> (shift * 4)) & 0xf) as usize]));
    }
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

/// `<source>-<eventType, _ as ->-<16 hex of SHA-256(fingerprint, window)>`,
/// lowercase, at most [`MAX_NAME_LEN`]: the same fingerprint in the same
/// window is the same name in every process, so a second create conflicts.
pub fn observation_name(
    source: &str,
    event_type: &str,
    fingerprint: Fingerprint,
    window: i64,
) -> String {
    let mut h = Sha256::new();
    h.update(b"vigil-name-v1");
    h.update(fingerprint.0.to_be_bytes());
    h.update(window.to_be_bytes());
    let suffix = first_u64(&h.finalize());
    let mut name = String::with_capacity(MAX_NAME_LEN);
    for c in source
        .chars()
        .chain(std::iter::once('-'))
        .chain(event_type.chars())
    {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    name.truncate(MAX_NAME_LEN - 17);
    while name.ends_with('-') {
        name.pop();
    }
    if !name.is_empty() {
        name.push('-');
    }
    push_hex(&mut name, suffix);
    name
}

/// Kinds whose names carry controller-generated suffixes (pod-template-hash,
/// CronJob schedule time, random pod suffix, StatefulSet ordinal). Other
/// kinds keep their names: two Nodes are two problems, not one.
const GENERATED_NAME_KINDS: &[&str] = &["Pod", "ReplicaSet", "Job", "ControllerRevision"];

/// The regarding object's name with generated suffixes folded:
/// `web-7c9d8f6b5-x2x7q` → `web-*`, `backup-28412340-xkzpq` → `backup-*`.
pub fn fold_name(kind: &str, name: &str) -> String {
    let mut out = Vec::with_capacity(name.len());
    fold_name_with(kind, name, |part| out.extend_from_slice(part));
    String::from_utf8_lossy(&out).into_owned()
}

fn fold_name_with(kind: &str, name: &str, mut emit: impl FnMut(&[u8])) {
    let name = name.as_bytes();
    if GENERATED_NAME_KINDS.contains(&kind) {
        if let Some(keep) = volatile_from(name, true) {
            emit(&name[..keep]);
            emit(b"*");
            return;
        }
    }
    emit(name);
}

/// The message with volatile words folded to `*`: every run of
/// `[A-Za-z0-9-]` is a word, everything else is kept as it is.
pub fn fold_message(message: &str) -> String {
    let mut out = Vec::with_capacity(message.len());
    fold_message_with(message, |part| out.extend_from_slice(part));
    String::from_utf8_lossy(&out).into_owned()
}

/// Hands the folded message to `emit` in as few pieces as possible: the
/// unchanged text between folds goes out in one piece.
fn fold_message_with(message: &str, mut emit: impl FnMut(&[u8])) {
    let bytes = message.as_bytes();
    let (mut flushed, mut i) = (0, 0);
    while i < bytes.len() {
        if !is_word_byte(bytes[i]) {
            i += 1; // separators, every byte of a non-ASCII character included, pass through
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word_byte(bytes[i]) {
            i += 1;
        }
        if let Some(keep) = volatile_from(&bytes[start..i], false) {
            emit(&bytes[flushed..start + keep]);
            emit(b"*");
            flushed = i;
        }
    }
    emit(&bytes[flushed..]);
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Where the fold of `word` starts: the offset of its first volatile
/// `-`-separated segment (everything from there on becomes `*`), or `None`
/// if nothing is volatile. `keep_first` keeps at least the first segment
/// (an object name's stem).
fn volatile_from(word: &[u8], keep_first: bool) -> Option<usize> {
    let mut start = 0;
    let mut first = true;
    loop {
        let end = word[start..]
            .iter()
            .position(|&b| b == b'-')
            .map_or(word.len(), |i| start + i);
        let last_of_several = end == word.len() && start > 0;
        if !(keep_first && first) && is_volatile(&word[start..end], last_of_several) {
            return Some(start);
        }
        if end == word.len() {
            return None;
        }
        start = end + 1;
        first = false;
    }
}

/// Characters Kubernetes uses for generated suffixes (`rand.SafeEncodeString`:
/// no vowels, no 0, 1, 3), in which pod-template-hashes and pod suffixes are written.
fn is_safe_encoded(b: u8) -> bool {
    matches!(b, b'b'..=b'd' | b'f'..=b'h' | b'j'..=b'n' | b'p'..=b't' | b'v'..=b'x' | b'z' | b'2' | b'4'..=b'9')
}

/// A segment that differs between repeats of the same problem: a number,
/// duration, size or address part (starts with a digit), a hex id of 8 or
/// more, a pod-template-hash (6–10 safe characters with a digit) or a random
/// 5-character suffix (with a digit, or as the last segment of a name).
fn is_volatile(segment: &[u8], last_of_several: bool) -> bool {
    let Some(&first) = segment.first() else {
        return false;
    };
    if first.is_ascii_digit() {
        return true;
    }
    let has_digit = segment.iter().any(u8::is_ascii_digit);
    if segment.len() >= 8 && has_digit && segment.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    if !segment.iter().all(|&b| is_safe_encoded(b)) {
        return false;
    }
    match segment.len() {
        5 => has_digit || last_of_several,
        6..=10 => has_digit,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
