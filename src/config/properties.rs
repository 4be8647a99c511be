//! Generated configurations, sensible and not: reading one never panics, ends quickly, and
//! either gives a configuration or names at least one problem, each a line of its own.

use std::path::Path;

use proptest::prelude::*;

use super::{from_str, Overrides};

/// A YAML value as text: scalars of every kind, the fields costpush knows, and nesting.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e400".to_string()),
        Just(".nan".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("''".to_string()),
        Just("\"http://127.0.0.1:8428/api/v1/write\"".to_string()),
        Just("eu-north-1".to_string()),
        Just("/dev/zero".to_string()),
        Just("\"*/30 * * * * *\"".to_string()),
        Just("[file, rapl, query]".to_string()),
        Just("SEK".to_string()),
        "[a-z0-9 :/._*-]{0,16}".prop_map(|s| format!("\"{s}\"")),
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "name",
            "region",
            "dirs",
            "pattern",
            "max_file_bytes",
            "max_label_values",
            "url",
            "timeout_seconds",
            "auth",
            "bearer_token_file",
            "tls",
            "ca_file",
            "queue_max_bytes",
            "extra_labels",
            "reporting",
            "rates",
            "per_eur",
            "sources",
            "query",
            "rapl",
            "expr",
            "model",
            "fit_days",
            "enabled",
            "currency",
            "electricity_price_per_kwh",
            "max_attempts",
            "long_period",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

/// A document: known sections and others, with any values, sometimes cut short.
fn document() -> impl Strategy<Value = String> {
    let section = prop_oneof![
        prop::sample::select(super::raw::SECTIONS.to_vec()).prop_map(str::to_string),
        Just("regions".to_string()),
        "[a-z_]{1,10}",
    ];
    (prop::collection::vec((section, value()), 0..10), prop::option::of(any::<prop::sample::Index>()))
        .prop_map(|(sections, cut)| {
            let mut text: String = sections.into_iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
            if let Some(i) = cut {
                let mut at = i.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_document_reads_without_a_panic_and_names_its_problems(text in document()) {
        let t = std::time::Instant::now();
        match from_str(&text, Path::new("/nonexistent"), &Overrides::default()) {
            Ok(cfg) => prop_assert!(!cfg.host.is_empty()),
            Err(e) => {
                prop_assert!(!e.problems.is_empty());
                prop_assert!(e.problems.iter().all(|p| !p.trim().is_empty() && !p.contains('\n')), "{e}");
            }
        }
        prop_assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());
    }
}
