//! Product versions (`Chrome/126.0.0.0`) are not IPv4 addresses, in a
//! User-Agent header or anywhere else; an address after a `/` of a URL is.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn product_versions_are_not_addresses() {
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/126.0.0.0 Safari/537.36 Edg/120.0.2210.91";
    assert_eq!(found(ua, Content::Header("User-Agent")), []);
    assert_eq!(found(&format!(r#"{{"ua": "{ua}"}}"#), Content::Json), []);
    assert_eq!(
        found("GET http://10.1.2.3/health ua=curl/8.5.0.1", Content::Text),
        pairs(&[("10.1.2.3", "IPV4")])
    );
}
