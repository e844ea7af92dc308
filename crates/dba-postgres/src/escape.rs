//! A whole-word byte test shared by the text encoders (JSON strings in `json_out`, `COPY` text fields in
//! `copy`): both pass over eight bytes at a time while none of them needs an escape.

/// Whether any of the eight bytes packed in `word` is a control character, `"` or `\\` (the exact
/// whole-word tests "has a byte less than n" and "has a zero byte" from Bit Twiddling Hacks).
pub(crate) fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    control
        | zero_byte(word ^ (ONES * u64::from(b'"')))
        | zero_byte(word ^ (ONES * u64::from(b'\\')))
        != 0
}
