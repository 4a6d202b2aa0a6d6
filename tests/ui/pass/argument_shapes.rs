//! Every accepted argument shape: `mut` bindings, `&'static` references, `'static` lifetimes,
//! higher-ranked fn pointers and closures, arrays, tuples, raw identifiers, an argument named
//! `host` (so `queue_on` names its own parameter differently) and one named like the fn.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use qbwi::{Host, Outcome, background_task};

#[background_task]
async fn mutable(mut count: u32, mut names: Vec<String>) -> Result<(), String> {
    count += 1;
    names.push(count.to_string());
    if names == ["a", "2"] {
        Ok(())
    } else {
        Err(format!("{names:?}"))
    }
}

#[background_task]
async fn statics(
    greeting: &'static str,
    title: Cow<'static, str>,
    table: &'static [u8],
    callback: Box<dyn Fn(&str) -> usize + Send + Sync + 'static>,
    parse: fn(&str) -> usize,
    higher_ranked: for<'a> fn(&'a str) -> &'a str,
) -> Result<(), String> {
    let total = callback(greeting) + parse(&title) + table.len() + higher_ranked("x").len();
    if total == 5 + 5 + 2 + 1 {
        Ok(())
    } else {
        Err(total.to_string())
    }
}

#[background_task]
fn containers(
    pair: (u8, String),
    bytes: [u8; 4],
    path: PathBuf,
    shared: Arc<HashMap<String, u32>>,
    maybe: Option<Box<u64>>,
) -> Result<(), String> {
    let ok = pair.0 == 1 && bytes.len() == 4 && path.ends_with("x") && shared.is_empty();
    if ok && maybe.is_none() {
        Ok(())
    } else {
        Err("bad".to_owned())
    }
}

#[background_task]
async fn keywords(r#type: String, r#match: u8) -> Result<(), String> {
    if r#type == "t" && r#match == 1 {
        Ok(())
    } else {
        Err("bad".to_owned())
    }
}

/// An argument named `host`: `queue_on`'s own parameter gets another name.
#[background_task]
async fn named_host(host: String, on_host: u16) -> Result<(), String> {
    if host == "example.com" && on_host == 80 {
        Ok(())
    } else {
        Err(host)
    }
}

/// An argument named like the fn: the generated code does not call it by mistake.
#[background_task]
async fn shadowed(shadowed: u32) -> Result<(), String> {
    if shadowed == 7 {
        Ok(())
    } else {
        Err(shadowed.to_string())
    }
}

#[tokio::main]
async fn main() {
    let host = Host::builder().build().unwrap();
    let handles = [
        mutable::queue_on(&host, 1, vec!["a".to_owned()]),
        statics::queue_on(
            &host,
            "hello",
            Cow::Borrowed("title"),
            b"ab",
            Box::new(|text| text.len()),
            str::len,
            |text| text,
        ),
        containers::queue_on(
            &host,
            (1, "one".to_owned()),
            [0; 4],
            PathBuf::from("/tmp/x"),
            Arc::default(),
            None,
        ),
        keywords::queue_on(&host, "t".to_owned(), 1),
        named_host::queue_on(&host, "example.com".to_owned(), 80),
        shadowed::queue_on(&host, 7),
    ];
    for handle in handles {
        let handle = handle.unwrap();
        assert_eq!(
            handle.outcome().await,
            Outcome::Completed,
            "{}",
            handle.name()
        );
    }
    // The struct's fields are the arguments, under their names.
    let task = named_host {
        host: String::new(),
        on_host: 1,
    };
    assert_eq!((task.host.as_str(), task.on_host), ("", 1));
    let task = keywords {
        r#type: String::new(),
        r#match: 0,
    };
    assert_eq!(format!("{task:?}"), "keywords { .. }");
    host.shutdown().await;
}
