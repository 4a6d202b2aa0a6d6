//! The duration format of `timeout = "1m30s"` and `retry_delay = "500ms"`: numbers with units,
//! largest unit first.

/// What a malformed duration is told.
pub(crate) const FORMAT: &str = "write a number followed by a unit (`ms`, `s`, `m` or `h`), \
    largest unit first: \"500ms\", \"30s\", \"5m\", \"1h\" or \"1m30s\"";

/// The units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1h30m"`, `"1m30s"`, `"1s500ms"` into milliseconds.
///
/// Each unit appears at most once, largest first, with no spaces: one way to write each
/// duration. The error says what is wrong, without the [`FORMAT`] advice. Zero (`"0s"`) parses:
/// each option says for itself why it cannot be zero.
pub(crate) fn parse_millis(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("the string is empty".to_owned());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    // Index into `UNITS` of the smallest unit that may come next.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let (unit, after) = after.split_at(letters);
        if unit.is_empty() {
            return Err(format!("`{number}` has no unit"));
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("`{unit}` is not a unit"));
        };
        if index + 1 == next_unit {
            return Err(format!("`{unit}` appears twice"));
        }
        if index < next_unit {
            let smaller = UNITS[next_unit - 1].0;
            return Err(format!("`{unit}` comes after the smaller unit `{smaller}`"));
        }
        next_unit = index + 1;
        let too_long = || format!("`{text}` is too long");
        let number: u64 = number.parse().map_err(|_| too_long())?;
        total = number
            .checked_mul(UNITS[index].1)
            .and_then(|millis| total.checked_add(millis))
            .ok_or_else(too_long)?;
        rest = after;
    }
    Ok(total)
}

/// Writes `millis` in the format [`parse_millis`] reads: `1m30s`, `1s500ms`, `0ms`.
pub(crate) fn format_millis(millis: u64) -> String {
    if millis == 0 {
        return "0ms".to_owned();
    }
    let mut rest = millis;
    let mut text = String::new();
    for (unit, length) in UNITS {
        if rest >= length {
            text.push_str(&format!("{}{unit}", rest / length));
            rest %= length;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{format_millis, parse_millis};

    #[test]
    fn formats_as_it_parses() {
        for (millis, text) in [
            (0, "0ms"),
            (500, "500ms"),
            (1_000, "1s"),
            (1_500, "1s500ms"),
            (90_000, "1m30s"),
            (3_723_004, "1h2m3s4ms"),
            (7_200_000, "2h"),
        ] {
            assert_eq!(format_millis(millis), text);
            assert_eq!(parse_millis(text), Ok(millis));
        }
    }

    #[test]
    fn accepts_each_unit_and_combinations() {
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("30s"), Ok(30_000));
        assert_eq!(parse_millis("5m"), Ok(300_000));
        assert_eq!(parse_millis("1h"), Ok(3_600_000));
        assert_eq!(parse_millis("1m30s"), Ok(90_000));
        assert_eq!(parse_millis("1h2m3s4ms"), Ok(3_723_004));
        assert_eq!(parse_millis("1s500ms"), Ok(1_500));
        assert_eq!(parse_millis("90s"), Ok(90_000));
        assert_eq!(parse_millis("0s"), Ok(0));
        assert_eq!(parse_millis("0m0s"), Ok(0));
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "",
            "30",
            "s",
            "30 s",
            " 30s",
            "30sec",
            "1.5s",
            "30s1m",
            "1m1m",
            "-1s",
            "1h ",
            "99999999999999999999h",
        ] {
            assert!(parse_millis(text).is_err(), "{text:?} was accepted");
        }
    }
}
