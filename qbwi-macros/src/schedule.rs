//! `cron = ".."`, `timezone = ".."` and `backfill = ".."`: a schedule checked at compile time by
//! the crates the runtime evaluates it with (croner for the expression, jiff for the zone), so
//! that a schedule that compiles is one the host can run.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use syn::{Error, LitStr};

/// The names of the fields of a 6-field expression, in order; a 5-field one starts at `minute`.
const FIELDS: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day of month",
    "month",
    "day of week",
];

/// What a malformed expression is told, after what is wrong.
const FORMAT: &str = "write 5 fields, `minute hour day-of-month month day-of-week` (\"0 3 * * *\": \
    every day at 03:00), or 6 with the second first (\"*/10 * * * * *\": every 10 s)";

/// The parser both the macro and the host use: 5 or 6 fields, no year field.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Checks `cron = ".."`: it parses, and it fires at some time.
pub(crate) fn cron(text: LitStr) -> syn::Result<LitStr> {
    let expression = text.value();
    let problem = |message: String| Error::new(text.span(), message);
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if expression.trim_start().starts_with('@') {
        // `@daily`, `@hourly`..: croner's nicknames, minute precision.
        parser()
            .parse(&expression)
            .map_err(|error| problem(format!("unknown cron nickname `{expression}`: {error}")))?;
    } else {
        if fields.len() != 5 && fields.len() != 6 {
            return Err(problem(format!(
                "a cron expression has 5 or 6 fields, and `{expression}` has {}: {FORMAT}",
                fields.len()
            )));
        }
        let names = &FIELDS[6 - fields.len()..];
        for (index, (field, name)) in fields.iter().zip(names).enumerate() {
            // The field alone, every other one `*`: the first that fails is the one to blame.
            let probe: Vec<&str> = (0..fields.len())
                .map(|other| if other == index { *field } else { "*" })
                .collect();
            if parser().parse(&probe.join(" ")).is_err() {
                return Err(problem(field_problem(name, field)));
            }
        }
        parser()
            .parse(&expression)
            .map_err(|error| problem(format!("malformed cron expression: {error}; {FORMAT}")))?;
    }
    // An expression every field of which is valid may still match no day (`0 0 30 2 *`).
    let cron = parser()
        .parse(&expression)
        .map_err(|error| problem(format!("malformed cron expression: {error}; {FORMAT}")))?;
    if next(&cron).is_none() {
        return Err(problem(format!(
            "`{expression}` never fires: no date has what its fields ask for (such as the 30th \
             of February); check the day of month, the month and the day of week"
        )));
    }
    Ok(text)
}

/// The next time `cron` fires after the start of 2026, in UTC, if there is one within croner's
/// search limit.
fn next(cron: &Cron) -> Option<jiff::Zoned> {
    let start = jiff::civil::date(2026, 1, 1)
        .at(0, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?;
    cron.find_next_occurrence(&start, false).ok()
}

/// The values each field takes, by [`FIELDS`]' order.
const RANGES: [(u32, u32); 6] = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];

/// What is wrong with field `name` (`text`), in words: "hour 25 is out of range 0-23".
fn field_problem(name: &str, text: &str) -> String {
    let index = FIELDS.iter().position(|field| *field == name).unwrap_or(0);
    let (low, high) = RANGES[index];
    // The values of the field (not the steps after `/`, nor the nth after `#`), the first one out
    // of range named.
    for part in text.split(',') {
        let values = part.split(['/', '#']).next().unwrap_or(part);
        for value in values.split('-') {
            if let Ok(value) = value.parse::<u32>()
                && !(low..=high).contains(&value)
            {
                return format!("{name} {value} is out of range {low}-{high}");
            }
        }
    }
    // croner's own words name its internals (`CronPattern`, the part upper-cased): ours say what
    // the field takes.
    format!(
        "the {name} field `{text}` is malformed: it takes numbers from {low} to {high}{names}, \
         `*`, ranges (`1-5`), lists (`1,15`) and steps (`*/10`)",
        names = match name {
            "month" => " or JAN-DEC",
            "day of week" => " (0 and 7 are Sunday) or SUN-SAT",
            _ => "",
        }
    )
}

/// Checks `timezone = ".."`: an IANA name the time zone database knows (the system's, as the
/// host's will be), with the nearest known names when it is not.
pub(crate) fn timezone(text: LitStr) -> syn::Result<LitStr> {
    let name = text.value();
    if jiff::tz::TimeZone::get(&name).is_ok() {
        return Ok(text);
    }
    let known: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_owned())
        .collect();
    let mut nearest: Vec<(usize, &String)> = known
        .iter()
        .map(|candidate| {
            (
                distance(&name.to_lowercase(), &candidate.to_lowercase()),
                candidate,
            )
        })
        .collect();
    nearest.sort();
    let suggestion = match nearest.first() {
        Some((distance, candidate)) if *distance <= 3 => format!("did you mean \"{candidate}\"? "),
        _ => String::new(),
    };
    let source = if known.is_empty() {
        " (this machine has no time zone database: install `tzdata`)"
    } else {
        ""
    };
    Err(Error::new(
        text.span(),
        format!(
            "unknown time zone `{name}`: {suggestion}write an IANA name such as \"Europe/Paris\", \
             \"America/New_York\" or \"UTC\"{source}"
        ),
    ))
}

/// Levenshtein distance, for the suggestion of a misspelt zone.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron_error(expression: &str) -> String {
        match cron(LitStr::new(expression, proc_macro2::Span::call_site())) {
            Ok(_) => String::new(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn good_expressions_pass() {
        for expression in [
            "0 3 * * *",
            "*/10 * * * * *",
            "0 0 3 * * *",
            "@daily",
            "0 9 * * MON-FRI",
        ] {
            assert_eq!(cron_error(expression), "", "{expression}");
        }
    }

    #[test]
    fn a_value_out_of_range_names_its_field() {
        assert_eq!(cron_error("0 25 * * *"), "hour 25 is out of range 0-23");
        assert_eq!(cron_error("61 * * * * *"), "second 61 is out of range 0-59");
        assert_eq!(cron_error("0 0 * 1-13 *"), "month 13 is out of range 1-12");
        assert_eq!(cron_error("0 0 0 * * *"), "");
        assert!(cron_error("0 0 32 * *").starts_with("day of month 32 is out of range 1-31"));
        let malformed = cron_error("0 x * * *");
        assert!(
            malformed.starts_with("the hour field `x` is malformed"),
            "{malformed}"
        );
    }

    #[test]
    fn the_field_count_and_impossible_dates_are_explained() {
        assert!(cron_error("0 3 * *").starts_with("a cron expression has 5 or 6 fields, and"));
        assert!(cron_error("0 0 30 2 *").contains("never fires"));
    }

    #[test]
    fn an_unknown_zone_gets_the_nearest_name() {
        let Err(error) = timezone(LitStr::new("Europe/Pariss", proc_macro2::Span::call_site()))
        else {
            panic!("`Europe/Pariss` passed");
        };
        let error = error.to_string();
        assert!(
            error.starts_with("unknown time zone `Europe/Pariss`"),
            "{error}"
        );
        if jiff::tz::TimeZone::get("Europe/Paris").is_ok() {
            assert!(error.contains("did you mean \"Europe/Paris\"?"), "{error}");
        }
        assert!(timezone(LitStr::new("UTC", proc_macro2::Span::call_site())).is_ok());
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
