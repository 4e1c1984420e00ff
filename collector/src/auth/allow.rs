//! Which proxy ids an authenticated sender may write. By default a SPIFFE
//! id `spiffe://TD/ns/NS/sa/SA` may write the Istio proxy ids of its own
//! namespace's pods (`sidecar~IP~POD.NS~NS.svc.cluster.local`, `router~…`
//! for gateways): the node id a workload's sidecar reports. `[[ingest.allow]]`
//! entries add identities and proxy ids the rule does not cover.

use super::config::{AllowEntry, IngestConfig};

/// The compiled allow-list.
#[derive(Debug, Clone)]
pub struct AllowList {
    same_namespace: bool,
    service_accounts: Vec<String>,
    entries: Vec<AllowEntry>,
}

impl AllowList {
    pub fn new(config: &IngestConfig) -> AllowList {
        AllowList {
            same_namespace: config.same_namespace,
            service_accounts: config.service_accounts.clone(),
            entries: config.allow.clone(),
        }
    }

    /// `Ok` when `identity` may write `proxy_id`, else why not.
    pub fn check(&self, identity: &str, proxy_id: &str) -> Result<(), String> {
        let listed = self
            .entries
            .iter()
            .any(|e| glob(&e.identity, identity) && e.proxy_ids.iter().any(|p| glob(p, proxy_id)));
        if listed {
            return Ok(());
        }
        let why = match self.by_namespace(identity, proxy_id) {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        Err(format!(
            "{identity} may not write proxy_id {proxy_id:?}: {why}, and no [[ingest.allow]] entry lets it"
        ))
    }

    /// The default rule.
    fn by_namespace(&self, identity: &str, proxy_id: &str) -> Result<(), String> {
        if !self.same_namespace {
            return Err("the same-namespace rule is off".to_owned());
        }
        let Some(spiffe) = Spiffe::parse(identity) else {
            return Err("it is not a SPIFFE id spiffe://TRUST_DOMAIN/ns/NS/sa/SA".to_owned());
        };
        if !self.service_accounts.is_empty()
            && !self.service_accounts.iter().any(|sa| sa == spiffe.sa)
        {
            return Err(format!(
                "service account {:?} is not in [ingest] service_accounts",
                spiffe.sa
            ));
        }
        match istio_namespace(proxy_id) {
            Some(ns) if ns == spiffe.ns => Ok(()),
            Some(ns) => Err(format!(
                "the proxy's namespace is {ns:?}, the sender's {:?}",
                spiffe.ns
            )),
            None => Err("it is not an Istio proxy id (sidecar~IP~POD.NAMESPACE~…)".to_owned()),
        }
    }
}

/// The parts of `spiffe://TD/ns/NS/sa/SA`.
#[derive(Debug, PartialEq, Eq)]
struct Spiffe<'a> {
    ns: &'a str,
    sa: &'a str,
}

impl<'a> Spiffe<'a> {
    fn parse(id: &'a str) -> Option<Spiffe<'a>> {
        let path = id.strip_prefix("spiffe://")?;
        match path.split('/').collect::<Vec<_>>()[..] {
            [td, "ns", ns, "sa", sa] if [td, ns, sa].iter().all(|p| !p.is_empty()) => {
                Some(Spiffe { ns, sa })
            }
            _ => None,
        }
    }
}

/// The pod's namespace in an Istio proxy id `TYPE~IP~POD.NAMESPACE~DOMAIN`
/// (`TYPE` `sidecar` or `router`). A namespace has no dots; a pod name may.
fn istio_namespace(proxy_id: &str) -> Option<&str> {
    match proxy_id.split('~').collect::<Vec<_>>()[..] {
        ["sidecar" | "router", ip, pod, _domain] if !ip.is_empty() => {
            let (pod, ns) = pod.rsplit_once('.')?;
            (!pod.is_empty() && !ns.is_empty()).then_some(ns)
        }
        _ => None,
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of
/// characters (also none) and everything else for itself.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut text) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match text.find(part) {
            Some(at) => text = &text[at + part.len()..],
            None => return false,
        }
    }
    text.len() >= last.len() && text.ends_with(last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ORDERS: &str = "spiffe://cluster.local/ns/shop/sa/orders";
    const SHOP_PROXY: &str = "sidecar~10.0.0.7~orders-7d9c8-x2k4p.shop~shop.svc.cluster.local";

    fn list(tweak: impl FnOnce(&mut IngestConfig)) -> AllowList {
        let mut config = IngestConfig::default();
        tweak(&mut config);
        AllowList::new(&config)
    }

    #[test]
    fn a_workload_writes_its_namespace_s_proxies_only() {
        let allow = list(|_| {});
        assert_eq!(allow.check(ORDERS, SHOP_PROXY), Ok(()));
        let gateway = "router~10.0.0.9~gw-1.shop~shop.svc.cluster.local";
        assert_eq!(allow.check(ORDERS, gateway), Ok(()));
        let other = "sidecar~10.0.0.8~api-1.payments~payments.svc.cluster.local";
        let why = allow.check(ORDERS, other).unwrap_err();
        assert!(why.contains("namespace is \"payments\""), "{why}");
        for not_istio in [
            "e2e-proxy",
            "sidecar~~a.shop~d",
            "sidecar~1~shop~d",
            "x~1~a.shop~d",
        ] {
            let why = allow.check(ORDERS, not_istio).unwrap_err();
            assert!(why.contains("not an Istio proxy id"), "{not_istio}: {why}");
        }
        for not_spiffe in ["orders.shop", "spiffe://td/ns/shop", "spiffe://td/ns//sa/x"] {
            let why = allow.check(not_spiffe, SHOP_PROXY).unwrap_err();
            assert!(why.contains("not a SPIFFE id"), "{not_spiffe}: {why}");
        }
    }

    #[test]
    fn service_accounts_narrow_the_default_rule_and_entries_widen_it() {
        let allow = list(|c| c.service_accounts = vec!["web".into()]);
        let why = allow.check(ORDERS, SHOP_PROXY).unwrap_err();
        assert!(why.contains("\"orders\" is not in"), "{why}");
        let web = "spiffe://cluster.local/ns/shop/sa/web";
        assert_eq!(allow.check(web, SHOP_PROXY), Ok(()));

        let allow = list(|c| {
            c.same_namespace = false;
            c.allow = vec![AllowEntry {
                identity: "collector-gw.example.com".into(),
                proxy_ids: vec!["edge-*".into(), "lab".into()],
            }];
        });
        assert_eq!(allow.check("collector-gw.example.com", "edge-3"), Ok(()));
        assert_eq!(allow.check("collector-gw.example.com", "lab"), Ok(()));
        assert!(allow.check("collector-gw.example.com", "lab2").is_err());
        let why = allow.check(ORDERS, SHOP_PROXY).unwrap_err();
        assert!(why.contains("rule is off"), "{why}");
    }

    #[test]
    fn globs_match_runs_of_anything() {
        for (pattern, text, matches) in [
            ("a", "a", true),
            ("a", "ab", false),
            ("*", "", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "ac", true),
            ("a*c", "abcbc", true),
            ("a*c", "abcb", false),
            ("sidecar~*~orders-*.shop~*", SHOP_PROXY, true),
            ("sidecar~*~orders-*.shop~*", "sidecar~1~web-1.shop~x", false),
            ("a*b*a", "aba", true),
            ("a*a", "a", false),
        ] {
            assert_eq!(glob(pattern, text), matches, "{pattern} ~ {text}");
        }
    }
}
