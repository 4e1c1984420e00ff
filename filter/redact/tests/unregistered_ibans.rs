//! Account numbers in IBAN form from countries outside the ISO 13616
//! registry (`AR…`, as some banks and generators write them), or of a length
//! the registry does not give their country (`GB…` of 21), are taken when
//! the whole token is compact, upper-case, of IBAN length and mod-97 valid;
//! the same shape with a wrong check digit, or inside an upper-case word,
//! is not.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn an_unregistered_country_with_a_valid_check_is_an_iban() {
    let line = "transfer to AR35GZZS06018077121612881864 today";
    assert_eq!(
        found(line, Content::Text),
        pairs(&[("AR35GZZS06018077121612881864", "IBAN")])
    );
    assert_eq!(
        found("acct GB73WBUU1591471447805 ok", Content::Text),
        pairs(&[("GB73WBUU1591471447805", "IBAN")])
    );
    let glued = "ref AR21RXFW66481437909062686821x num";
    assert_eq!(
        found(&glued.replace("ref ", "ref"), Content::Text),
        pairs(&[("AR21RXFW66481437909062686821", "IBAN")])
    );
    let json = r#"{"account":{"iban":"AR71NPDY43730546248822198207"}}"#;
    assert_eq!(
        found(json, Content::Json),
        pairs(&[("AR71NPDY43730546248822198207", "IBAN")])
    );
}

#[test]
fn the_same_shape_failing_mod_97_or_glued_is_not() {
    for line in [
        "build AR36GZZS06018077121612881864 done",
        "ref XAR35GZZS06018077121612881864",
        "id ZZ00AAAA0000000000000000",
    ] {
        assert_eq!(found(line, Content::Text), pairs(&[]), "{line}");
    }
}
