//! 10,000-item files in every format parse completely; the time is printed
//! (run with `--nocapture` to see it), not asserted.

use std::fmt::Write as _;
use std::time::Instant;

use coffer_interchange::{
    parse, write_bitwarden_json, write_generic_csv, CustomField, ExternalItem, Format,
    HistoryVersion,
};

const N: usize = 10_000;

fn timed(label: &str, format: Format, bytes: &[u8]) -> Vec<ExternalItem> {
    let start = Instant::now();
    let items = parse(format, bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
    println!(
        "{label}: {} items, {} KiB, parsed in {:.1} ms",
        items.len(),
        bytes.len() / 1024,
        start.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(items.len(), N, "{label}");
    items
}

fn synthetic(i: usize) -> ExternalItem {
    let mut item = ExternalItem::default();
    item.source_id = Some(format!("id-{i}"));
    // Titles repeat: duplicates must all be kept.
    item.title = format!("Site {} ✓", i % 1000);
    item.username = format!("user{i}@example.com");
    item.password = format!("pw-{i}-\"quoted\",comma");
    item.url = format!("https://site{i}.example.com/login");
    item.notes = format!("note {i}\nsecond line");
    item.tags = vec![format!("Group {}", i % 20)];
    item.fields = vec![
        CustomField::new("PIN", format!("{:04}", i % 10_000), true),
        CustomField::new("Question", "first pet?", false),
    ];
    let mut old = HistoryVersion::default();
    old.password = Some(format!("old-{i}"));
    old.modified = Some("2024-01-01T00:00:00Z".into());
    item.history = vec![old];
    item
}

fn check(items: &[ExternalItem]) {
    let last = &items[N - 1];
    assert_eq!(last.title, format!("Site {} ✓", (N - 1) % 1000));
    assert_eq!(last.username, format!("user{}@example.com", N - 1));
}

#[test]
fn ten_thousand_items_through_the_writers() {
    let items: Vec<ExternalItem> = (0..N).map(synthetic).collect();

    let start = Instant::now();
    let csv = write_generic_csv(&items);
    println!(
        "generic CSV written in {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    let back = timed("generic csv", Format::GenericCsv, &csv);
    check(&back);
    assert_eq!(back[1234].password, items[1234].password);

    let start = Instant::now();
    let json = write_bitwarden_json(&items);
    println!(
        "Bitwarden JSON written in {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    let back = timed("bitwarden json", Format::Bitwarden, &json);
    check(&back);
    assert_eq!(back[42].history[0].password.as_deref(), Some("old-42"));
}

#[test]
fn ten_thousand_keepass_xml_entries() {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<KeePassFile><Meta/><Root><Group><Name>Root</Name>\n",
    );
    for g in 0..10 {
        write!(xml, "<Group><Name>G{g}</Name>").unwrap();
        for i in (g * N / 10)..((g + 1) * N / 10) {
            writeln!(
                xml,
                "<Entry><UUID>{i:022}==</UUID>\
                 <String><Key>Title</Key><Value>Site {} ✓</Value></String>\
                 <String><Key>UserName</Key><Value>user{i}@example.com</Value></String>\
                 <String><Key>Password</Key><Value ProtectInMemory=\"True\">p&amp;{i}</Value></String>\
                 <String><Key>URL</Key><Value>https://s{i}.example</Value></String>\
                 <String><Key>Notes</Key><Value>n</Value></String>\
                 <String><Key>PIN</Key><Value ProtectInMemory=\"True\">{i}</Value></String>\
                 <History><Entry><Times><LastModificationTime>2024-01-01T00:00:00Z</LastModificationTime></Times>\
                 <String><Key>Password</Key><Value>old</Value></String></Entry></History></Entry>",
                i % 1000
            )
            .unwrap();
        }
        xml.push_str("</Group>\n");
    }
    xml.push_str("</Group></Root></KeePassFile>\n");
    let items = timed("keepass xml", Format::KeepassXml, xml.as_bytes());
    check(&items);
    assert_eq!(items[N - 1].tags, vec!["G9".to_owned()]);
    assert_eq!(items[7].password, "p&7");
}

#[test]
fn ten_thousand_rows_of_each_vendor_csv() {
    let mut kp = String::from(
        "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\",\"TOTP\",\"Icon\",\"Last Modified\",\"Created\"\n",
    );
    let mut op =
        String::from("Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\r\n");
    let mut ms = String::new();
    for i in 0..N {
        let title = format!("Site {} ✓", i % 1000);
        writeln!(
            kp,
            "\"Root/G{}\",\"{title}\",\"user{i}@example.com\",\"p\"\"w{i}\",\"https://s{i}\",\"a\nb\",\"\",\"0\",\"2024-01-01T00:00:00Z\",\"2024-01-01T00:00:00Z\"",
            i % 7
        )
        .unwrap();
        write!(
            op,
            "{title},https://s{i},user{i}@example.com,pw{i},,false,false,a;b,\"n, {i}\"\r\n"
        )
        .unwrap();
        writeln!(
            ms,
            "{title}|{i},Login,tag,note,Website|2|s{i}.example,Username|7|user{i}@example.com,Password|8|p|w{i},"
        )
        .unwrap();
    }
    check(&timed("keepassxc csv", Format::KeepassCsv, kp.as_bytes()));
    check(&timed(
        "1password csv",
        Format::OnePasswordCsv,
        op.as_bytes(),
    ));
    let items = timed("msecure csv", Format::MsecureCsv, ms.as_bytes());
    check(&items);
    assert_eq!(items[9].password, "p|w9");
}
