//! Dates and timestamps as PostgreSQL counts them (days and microseconds since 2000-01-01), read from
//! their ISO 8601 text exactly as `date_in`, `timestamp_in` and `timestamptz_in` read it, for the binary
//! `COPY`. Only forms whose meaning does not depend on the session are read: a
//! four-digit year from 1 to 9999, a time with seconds, at most six digits of a second's fraction (the
//! server rounds more), and for `timestamptz` a numeric offset (without one the server takes the
//! session's `TimeZone`). Any other text gives `None` and is left to the server's parser.

/// The Julian day of 2000-01-01, PostgreSQL's epoch.
pub(crate) const POSTGRES_EPOCH_JDATE: i64 = 2_451_545;
/// Microseconds in a day.
pub(crate) const USECS_PER_DAY: i64 = 86_400_000_000;

/// PostgreSQL's `date2j`: the Julian day of a date in the proleptic Gregorian calendar.
fn date2j(year: i64, month: i64, day: i64) -> i64 {
    let (year, month) = if month > 2 {
        (year + 4800, month + 1)
    } else {
        (year + 4799, month + 13)
    };
    let century = year / 100;
    year * 365 - 32167 + year / 4 - century + century / 4 + 7834 * month / 256 + day
}

/// The number written by `text`, which is one or more ASCII digits and nothing else.
fn digits(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DD` as days since 2000-01-01.
fn ymd(text: &[u8]) -> Option<i64> {
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let (year, month, day) = (
        digits(&text[0..4])?,
        digits(&text[5..7])?,
        digits(&text[8..10])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(date2j(year, month, day) - POSTGRES_EPOCH_JDATE)
}

/// A `date` written `YYYY-MM-DD`, as days since 2000-01-01.
pub(crate) fn date(text: &str) -> Option<i32> {
    ymd(text.as_bytes()).and_then(|days| i32::try_from(days).ok())
}

/// A `timestamp` written `YYYY-MM-DDTHH:MM:SS` (or with a space for the `T`) and an optional fraction of
/// up to six digits, as microseconds since 2000-01-01 00:00; with `zoned` (`timestamptz`) it must end
/// with a numeric offset (`+HH`, `+HH:MM` or `+HH:MM:SS`, at most 15:59:59 as the server allows), and the
/// result counts from 2000-01-01 00:00 UTC. Without `zoned` an offset is refused: `timestamp_in` would
/// ignore it, which is the server's to do.
pub(crate) fn timestamp(text: &str, zoned: bool) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || !matches!(b[10], b'T' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = ymd(&b[..10])?;
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    // The server also takes 24:00:00 and a 60th second, moving to the next day or minute: left to it.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut fraction = 0;
    if let Some(after_point) = rest.strip_prefix(b".") {
        let n = after_point
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 || n > 6 {
            return None;
        }
        fraction = digits(&after_point[..n])? * 10i64.pow(6 - n as u32);
        rest = &after_point[n..];
    }
    let offset = if zoned {
        let (sign, zone) = match rest.split_first()? {
            (b'+', zone) => (1, zone),
            (b'-', zone) => (-1, zone),
            _ => return None,
        };
        sign * zone_seconds(zone)?
    } else if rest.is_empty() {
        0
    } else {
        return None;
    };
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    Some(seconds * 1_000_000 + fraction)
}

/// An offset's `HH`, `HH:MM` or `HH:MM:SS` in seconds, within what `timestamptz_in` accepts.
fn zone_seconds(zone: &[u8]) -> Option<i64> {
    let (hours, minutes, seconds) = match zone.len() {
        2 => (digits(zone)?, 0, 0),
        5 if zone[2] == b':' => (digits(&zone[..2])?, digits(&zone[3..])?, 0),
        8 if zone[2] == b':' && zone[5] == b':' => (
            digits(&zone[..2])?,
            digits(&zone[3..5])?,
            digits(&zone[6..])?,
        ),
        _ => return None,
    };
    if hours > 15 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(hours * 3_600 + minutes * 60 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_from_2000() {
        assert_eq!(date("2000-01-01"), Some(0));
        assert_eq!(date("2000-03-01"), Some(60));
        assert_eq!(date("1999-12-31"), Some(-1));
        assert_eq!(date("2024-02-29"), Some(8_825));
        assert_eq!(date("0001-01-01"), Some(-730_119));
        assert_eq!(date("9999-12-31"), Some(2_921_939));
        for refused in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "0000-01-01",
            "24-01-01",
            "2024-1-01",
            "2024-01-01 BC",
            "infinity",
            "+024-01-01",
            "2024/01/01",
        ] {
            assert_eq!(date(refused), None, "{refused}");
        }
    }

    #[test]
    fn timestamps_count_microseconds_and_offsets_move_them_to_utc() {
        assert_eq!(timestamp("2000-01-01T00:00:00", false), Some(0));
        assert_eq!(timestamp("2000-01-01 00:00:01.5", false), Some(1_500_000));
        assert_eq!(timestamp("1999-12-31T23:59:59.999999", false), Some(-1));
        assert_eq!(timestamp("2000-01-01T00:00:00.000001", false), Some(1));
        assert_eq!(timestamp("2000-01-01T05:30:00+05:30", true), Some(0));
        assert_eq!(timestamp("1999-12-31T21:00:00-03", true), Some(0));
        assert_eq!(
            timestamp("2000-01-01T00:00:00+00:53:28", true),
            Some(-3_208_000_000)
        );
        assert_eq!(
            timestamp("2000-01-02T00:00:00+00:00", true),
            Some(USECS_PER_DAY)
        );
        for (refused, zoned) in [
            ("2000-01-01T00:00:00", true),
            ("2000-01-01T00:00:00+00:00", false),
            ("2000-01-01T00:00:00Z", true),
            ("2000-01-01T24:00:00", false),
            ("2000-01-01T23:59:60", false),
            ("2000-01-01T00:00", false),
            ("2000-01-01T00:00:00.", false),
            ("2000-01-01T00:00:00.1234567", false),
            ("2000-01-01T00:00:00+16:00", true),
            ("2000-01-01T00:00:00+05:60", true),
            ("2000-01-01T00:00:00+0530", true),
            ("2000-01-01T00:00:00+00:00 BC", true),
            ("2000-01-01t00:00:00", false),
            ("2000-01-01T00:00:00 ", false),
        ] {
            assert_eq!(timestamp(refused, zoned), None, "{refused}");
        }
    }
}
