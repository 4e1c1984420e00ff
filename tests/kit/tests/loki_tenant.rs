//! With authentication on, Loki refuses a request without a tenant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{answer, client, entry, get, now, protobuf};
use observatory_testkit::loki::FakeLoki;

#[tokio::test]
async fn without_x_scope_orgid_requests_are_unauthorized() {
    let loki = FakeLoki::start().await;
    loki.require_tenant();
    let body = protobuf(&[("{job=\"x\"}", vec![entry(now(), "line")])]);
    let push = |tenant: Option<&str>| {
        let mut request = client()
            .post(loki.url().join("/loki/api/v1/push").unwrap())
            .header("content-type", "application/x-protobuf")
            .body(body.clone());
        if let Some(tenant) = tenant {
            request = request.header("x-scope-orgid", tenant);
        }
        answer(request)
    };
    assert_eq!(push(None).await, (401, "no org id\n".into()));
    assert_eq!(
        get(&loki, "/loki/api/v1/query_range?query=%7Bjob%3D%22x%22%7D").await,
        (401, "no org id\n".into())
    );
    assert_eq!(push(Some("mesh")).await, (204, String::new()));
    assert_eq!(loki.stored_lines(), ["line"]);
    // Refused before the push is read.
    let tenants: Vec<String> = loki.requests().into_iter().map(|r| r.tenant).collect();
    assert_eq!(tenants, ["mesh"]);
}
