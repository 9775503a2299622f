//! Golden files of the generator, one-time code, clipboard, search and
//! trash methods (as `golden.rs` does for the rest): each file decodes to
//! the value built here, and that value encodes to the file's JSON.

mod common;

use coffer_proto::clipboard::{ClipParams, ClipReply, DisplayEnv};
use coffer_proto::envelope::RawRequest;
use coffer_proto::generate::{GenerateParams, Generated};
use coffer_proto::otp::{TotpParams, TotpReply};
use coffer_proto::reply::{AddReply, ItemSummary};
use coffer_proto::request::{AddParams, EditParams, FieldInput, NoParams, QueryParams};
use coffer_proto::search::{SearchHitView, SearchParams, SearchReply};
use coffer_proto::trash::{TrashEmptyParams, TrashEntry};
use coffer_proto::{ErrorCode, Request, RequestEnvelope, Secret};
use common::{check, golden};

fn request(name: &str, id: u64, request: Request) {
    check(name, RequestEnvelope { id, request });
    // And the daemon's decoder reads it as the same request.
    let (got_id, got) = RawRequest::decode(golden(name).trim()).unwrap();
    assert_eq!(got_id, id, "{name}");
    assert_eq!(
        RequestEnvelope {
            id: got_id,
            request: got
        },
        serde_json::from_str(&golden(name)).unwrap(),
        "{name}"
    );
}

#[test]
fn generator() {
    request(
        "request-add-generate.json",
        11,
        Request::Add(AddParams {
            fields: vec![
                FieldInput {
                    name: "title".into(),
                    value: Some(Secret::new("Bank")),
                },
                FieldInput {
                    name: "otp".into(),
                    value: Some(Secret::new(
                        "otpauth://totp/Bank:ann?secret=JBSWY3DPEHPK3PXP",
                    )),
                },
            ],
            generate: Some(GenerateParams {
                policy: Some("words:n=6;sep=-".into()),
                words: Some(7),
                reveal: true,
                ..GenerateParams::default()
            }),
        }),
    );
    request(
        "request-edit-generate.json",
        12,
        Request::Edit(EditParams {
            query: "Bank".into(),
            fields: vec![],
            generate: Some(GenerateParams {
                length: Some(32),
                no_symbols: true,
                ..GenerateParams::default()
            }),
        }),
    );
    check(
        "reply-add-generated.json",
        AddReply {
            id: "0b8e2a7c-1111-4222-8333-944455556666".into(),
            generated: Some(Generated {
                policy: "chars:len=20;classes=luds".into(),
                entropy_bits: 129.5,
                password: Some(Secret::new("x!Y2…")),
            }),
        },
    );
    // Without `generate`, an add is what it always was.
    let plain = r#"{"id":1,"method":"add","params":{"fields":[]}}"#;
    let (_, req) = RawRequest::decode(plain).unwrap();
    assert_eq!(
        req,
        Request::Add(AddParams {
            fields: vec![],
            generate: None
        })
    );
}

#[test]
fn search() {
    request(
        "request-search.json",
        13,
        Request::Search(SearchParams {
            query: "github.com ann".into(),
            limit: Some(20),
        }),
    );
    check(
        "reply-search.json",
        SearchReply {
            hits: vec![SearchHitView {
                item: ItemSummary {
                    id: "a1".into(),
                    title: "GitHub".into(),
                    username: "ann".into(),
                    url: "https://github.com".into(),
                    modified_ms: 5,
                    collection: None,
                    attributes: Default::default(),
                    kind: None,
                },
                tier: "title-prefix".into(),
                score: 5_000_120,
            }],
            total: 1,
        },
    );
}

#[test]
fn one_time_codes_and_clipboard() {
    request(
        "request-totp-clip.json",
        14,
        Request::Totp(TotpParams {
            query: "Bank".into(),
            clip: Some(DisplayEnv {
                display: Some(":0".into()),
                xauthority: Some("/home/ann/.Xauthority".into()),
                ..DisplayEnv::default()
            }),
        }),
    );
    check(
        "reply-totp.json",
        TotpReply {
            id: "a1".into(),
            title: "Bank".into(),
            kind: "totp".into(),
            code: Some(Secret::new("287082")),
            seconds_left: Some(12),
            period: Some(30),
            counter: None,
            clipboard: None,
        },
    );
    request(
        "request-clip.json",
        15,
        Request::Clip(ClipParams {
            query: "Bank".into(),
            field: Some("username".into()),
            display: DisplayEnv {
                wayland_display: Some("wayland-0".into()),
                xdg_runtime_dir: Some("/run/user/1000".into()),
                ..DisplayEnv::default()
            },
        }),
    );
    check(
        "reply-clip.json",
        ClipReply {
            id: "a1".into(),
            title: "Bank".into(),
            field: "username".into(),
            clear_after_secs: 30,
        },
    );
    assert_eq!(ErrorCode::Clipboard.as_str(), "clipboard");
}

#[test]
fn trash() {
    request(
        "request-trash-empty.json",
        16,
        Request::TrashEmpty(TrashEmptyParams {
            older_than_secs: Some(30 * 24 * 3600),
            query: None,
        }),
    );
    check(
        "reply-trash-list.json",
        vec![TrashEntry {
            id: "a1".into(),
            title: "Old forum".into(),
            username: "ann".into(),
            url: "https://forum.example.org".into(),
            trashed_ms: 1_735_689_600_000,
            trashed_by: "d1".into(),
        }],
    );
    let (_, req) = RawRequest::decode(r#"{"id":1,"method":"trash_list"}"#).unwrap();
    assert_eq!(req, Request::TrashList(NoParams {}));
    let (_, req) =
        RawRequest::decode(r#"{"id":1,"method":"trash_restore","params":{"query":"x"}}"#).unwrap();
    assert_eq!(
        req,
        Request::TrashRestore(QueryParams { query: "x".into() })
    );
}

#[test]
fn every_new_method_is_listed_and_named() {
    for m in [
        "search",
        "totp",
        "clip",
        "trash_list",
        "trash_restore",
        "trash_empty",
    ] {
        assert!(Request::METHODS.contains(&m), "{m}");
    }
}
