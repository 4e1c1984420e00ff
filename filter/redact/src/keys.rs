//! Key-name rules: what the name of a JSON key, form/query parameter,
//! cookie, header or `key=value` pair says about its value.
//!
//! Keys are compared normalised — ASCII-lowercased, with `_`, `-`, `.`
//! and spaces dropped and `%XX` decoded — so `client_secret`,
//! `clientSecret`, `Client-Secret` and `client%5Fsecret` are one key.

use super::{PiiType, TypeIdx};

/// What to do with a value, decided by its key (or inherited from the key
/// of an enclosing object or array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// Run the detectors, except the built-in types in `suppress` (a bit
    /// per [`TypeIdx`]): a dotted quad under `version` is not an address.
    Scan { suppress: u16 },
    /// The whole value is PII of this type (`password`, `name`, `dob`).
    /// `scheme`: the value is `Scheme credentials` and only the credentials
    /// are redacted (`Authorization`). `words`: in free text the value may
    /// run over several words (`name: Jane Doe`).
    Redact {
        ty: TypeIdx,
        scheme: bool,
        words: bool,
    },
    /// Allow-listed key: nothing under it is redacted.
    Allow,
}

impl Ctx {
    pub const SCAN: Ctx = Ctx::Scan { suppress: 0 };

    pub fn suppresses(self, ty: TypeIdx) -> bool {
        match self {
            Ctx::Scan { suppress } => ty.bit() & suppress != 0,
            Ctx::Redact { .. } => false,
            Ctx::Allow => true,
        }
    }
}

/// Where a built-in key name points.
#[derive(Clone)]
enum Rule {
    Redact(PiiType),
    /// `Authorization`-style `Scheme credentials` values (PASSWORD).
    Credential,
    /// Ids, references, digests: numbers there are not cards or phones.
    Identifier,
    /// Versions: dotted quads there are not addresses.
    Version,
}

/// Built-in key names (normalised), matched exactly.
const EXACT: &[(Rule, &[&str])] = &[
    (
        Rule::Redact(PiiType::Password),
        &[
            "password",
            "passwd",
            "pwd",
            "pass",
            "passphrase",
            "secret",
            "clientsecret",
            "token",
            "accesstoken",
            "refreshtoken",
            "idtoken",
            "authtoken",
            "sessiontoken",
            "bearertoken",
            "privatekey",
            "secretkey",
            "secretaccesskey",
            "awssecretaccesskey",
            "session",
            "sessionid",
            "sid",
            "jsessionid",
            "phpsessid",
            "connectsid",
            "credential",
            "credentials",
            "cvv",
            "cvc",
            "cvv2",
        ],
    ),
    (Rule::Credential, &["authorization", "proxyauthorization"]),
    (
        Rule::Redact(PiiType::ApiKey),
        &[
            "apikey",
            "apitoken",
            "appkey",
            "accesskey",
            "accesskeyid",
            "awsaccesskeyid",
            "subscriptionkey",
            "ocpapimsubscriptionkey",
        ],
    ),
    (
        Rule::Redact(PiiType::Person),
        &[
            "name",
            "fullname",
            "firstname",
            "lastname",
            "middlename",
            "givenname",
            "familyname",
            "surname",
            "fname",
            "lname",
            "displayname",
            "legalname",
            "maidenname",
            "cardholder",
            "cardholdername",
            "holdername",
            "accountholder",
            "accountholdername",
            "customername",
            "contactname",
            "billingname",
            "shippingname",
            "recipientname",
            "patientname",
        ],
    ),
    (
        Rule::Redact(PiiType::DateOfBirth),
        &["dob", "birthdate", "dateofbirth", "birthday"],
    ),
    (
        Rule::Redact(PiiType::Phone),
        &[
            "phone",
            "phonenumber",
            "mobile",
            "mobilenumber",
            "mobilephone",
            "cellphone",
            "tel",
            "telephone",
            "fax",
        ],
    ),
    (
        Rule::Redact(PiiType::UsSsn),
        &["ssn", "socialsecuritynumber"],
    ),
    (
        Rule::Identifier,
        &[
            "ref",
            "reference",
            "sku",
            "tracking",
            "trackingnumber",
            "trackingno",
            "ordernumber",
            "orderno",
            "invoice",
            "invoicenumber",
            "invoiceno",
            "confirmationnumber",
            "serial",
            "serialnumber",
            "barcode",
            "traceparent",
            "tracestate",
        ],
    ),
    (Rule::Version, &["ver", "v", "build", "release", "firmware"]),
];

/// Built-in key name endings (normalised); the longest match wins.
const SUFFIX: &[(Rule, &[&str])] = &[
    (Rule::Redact(PiiType::ApiKey), &["apikey"]),
    (
        Rule::Redact(PiiType::Password),
        &[
            "password",
            "passwd",
            "passphrase",
            "secret",
            "token",
            "privatekey",
            "secretkey",
        ],
    ),
    (
        Rule::Identifier,
        &[
            "id", "ids", "uuid", "guid", "hash", "digest", "checksum", "sha", "sha1", "sha256",
            "md5", "etag",
        ],
    ),
    (Rule::Version, &["version"]),
];

/// Longest key name compared; longer keys are not sensitive names.
pub(super) const MAX_KEY: usize = 64;

/// Normalises a key into `buf`; `None` when empty or longer than
/// [`MAX_KEY`].
pub(super) fn normalize<'b>(key: &[u8], buf: &'b mut [u8; MAX_KEY]) -> Option<&'b [u8]> {
    let mut n = 0;
    let mut push = |b: u8| {
        if !matches!(b, b'_' | b'-' | b'.' | b' ') {
            *buf.get_mut(n)? = b.to_ascii_lowercase();
            n += 1;
        }
        Some(())
    };
    if !key.contains(&b'%') {
        for &b in key {
            push(b)?;
        }
    } else {
        let mut i = 0;
        while let Some(&b) = key.get(i) {
            let escaped = (b == b'%')
                .then(|| Some(hex(*key.get(i + 1)?)? << 4 | hex(*key.get(i + 2)?)?))
                .flatten();
            i += if escaped.is_some() { 3 } else { 1 };
            push(escaped.unwrap_or(b))?;
        }
    }
    buf.get(..n).filter(|k| !k.is_empty())
}

pub(super) fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A node of the key trie, which holds key names read backwards, so that
/// exact names and name endings are found in one walk that usually stops
/// after a byte or two.
#[derive(Debug, Default)]
struct Node {
    /// Children by the byte before, sorted.
    edges: Vec<(u8, usize)>,
    /// Rule for keys equal to the path to this node.
    exact: Option<Ctx>,
    /// Rule for keys ending in the path to this node.
    suffix: Option<Ctx>,
}

/// Compiled key rules: built-ins, operator keys and allow-listed keys.
#[derive(Debug)]
pub(super) struct KeyRules {
    /// `nodes[0]` is the root.
    nodes: Vec<Node>,
    /// The root's children by last byte (0: none), so most keys are
    /// dismissed with one load.
    root: [usize; 256],
}

impl KeyRules {
    /// `index` maps enabled types to their index (`None`: disabled, so its
    /// keys are ignored too). `extra` are operator keys per type, `allow`
    /// allow-listed keys; both already normalised, and they override the
    /// built-ins in that order.
    pub fn new(
        index: impl Fn(&PiiType) -> Option<TypeIdx>,
        extra: &[(TypeIdx, Box<[u8]>)],
        allow: &[Box<[u8]>],
    ) -> Self {
        let identifier = [
            PiiType::CreditCard,
            PiiType::Phone,
            PiiType::UsSsn,
            PiiType::Iban,
        ];
        let version = [PiiType::Ipv4, PiiType::Phone];
        let suppress = |types: &[PiiType]| Ctx::Scan {
            suppress: types
                .iter()
                .filter_map(&index)
                .fold(0, |bits, ty| bits | ty.bit()),
        };
        let ctx = |rule: &Rule| match rule {
            Rule::Redact(ty) => index(ty).map(|idx| redact(idx, ty)),
            Rule::Credential => index(&PiiType::Password).map(|ty| Ctx::Redact {
                ty,
                scheme: true,
                words: false,
            }),
            Rule::Identifier => Some(suppress(&identifier)),
            Rule::Version => Some(suppress(&version)),
        };
        let mut rules = KeyRules {
            nodes: vec![Node::default()],
            root: [0; 256],
        };
        for (table, exact) in [(EXACT, true), (SUFFIX, false)] {
            for (rule, names) in table {
                if let Some(ctx) = ctx(rule) {
                    for name in *names {
                        rules.insert(name.as_bytes(), exact, ctx);
                    }
                }
            }
        }
        for (ty, key) in extra {
            let words = [PiiType::Person, PiiType::DateOfBirth]
                .iter()
                .any(|t| index(t) == Some(*ty));
            let ctx = Ctx::Redact {
                ty: *ty,
                scheme: false,
                words,
            };
            rules.insert(key, true, ctx);
        }
        for key in allow {
            rules.insert(key, true, Ctx::Allow);
        }
        if let Some(root) = rules.nodes.first() {
            for &(b, child) in &root.edges {
                if let Some(slot) = rules.root.get_mut(usize::from(b)) {
                    *slot = child;
                }
            }
        }
        rules
    }

    fn insert(&mut self, name: &[u8], exact: bool, ctx: Ctx) {
        let mut node = 0;
        for &b in name.iter().rev() {
            node = match self.edge(node, b) {
                Some(child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node::default());
                    if let Some(parent) = self.nodes.get_mut(node) {
                        let at = parent.edges.partition_point(|&(e, _)| e < b);
                        parent.edges.insert(at, (b, child));
                    }
                    child
                }
            };
        }
        if let Some(node) = self.nodes.get_mut(node) {
            *if exact {
                &mut node.exact
            } else {
                &mut node.suffix
            } = Some(ctx);
        }
    }

    /// The child of `node` for byte `b` (after construction).
    fn child(&self, node: usize, b: u8) -> Option<usize> {
        if node == 0 {
            return self.root.get(usize::from(b)).copied().filter(|&c| c != 0);
        }
        self.edge(node, b)
    }

    fn edge(&self, node: usize, b: u8) -> Option<usize> {
        // Inner nodes have few children: a linear scan of the sorted edges
        // beats a binary search's dependent branches.
        let edges = &self.nodes.get(node)?.edges;
        edges
            .iter()
            .take_while(|&&(e, _)| e <= b)
            .find(|&&(e, _)| e == b)
            .map(|&(_, child)| child)
    }

    /// The rule for a key as it appears in the input, if any: an exact
    /// name, else the longest matching ending.
    pub fn classify(&self, key: &[u8]) -> Option<Ctx> {
        if key.contains(&b'%') {
            let mut buf = [0; MAX_KEY];
            return self.lookup(normalize(key, &mut buf)?.iter().rev().copied());
        }
        self.lookup(
            key.iter()
                .rev()
                .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
                .map(u8::to_ascii_lowercase),
        )
    }

    fn lookup(&self, reversed: impl Iterator<Item = u8>) -> Option<Ctx> {
        let mut node = 0;
        let mut suffix = None;
        let mut empty = true;
        for b in reversed {
            empty = false;
            let Some(child) = self.child(node, b) else {
                return suffix;
            };
            node = child;
            suffix = self.nodes.get(node).and_then(|n| n.suffix).or(suffix);
        }
        if empty {
            return None;
        }
        self.nodes.get(node).and_then(|n| n.exact).or(suffix)
    }
}

fn redact(ty: TypeIdx, kind: &PiiType) -> Ctx {
    Ctx::Redact {
        ty,
        scheme: false,
        words: matches!(kind, PiiType::Person | PiiType::DateOfBirth),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn rules() -> KeyRules {
        KeyRules::new(TypeIdx::builtin, &[], &[])
    }

    fn redacts(rules: &KeyRules, key: &str) -> Option<PiiType> {
        match rules.classify(key.as_bytes()) {
            Some(Ctx::Redact { ty, .. }) => Some(PiiType::BUILTIN[usize::from(ty.0)].clone()),
            _ => None,
        }
    }

    #[test]
    fn normalisation() {
        let mut buf = [0; MAX_KEY];
        assert_eq!(
            normalize(b"Client-Secret", &mut buf).unwrap(),
            b"clientsecret"
        );
        assert_eq!(normalize(b"api%5Fkey", &mut buf).unwrap(), b"apikey");
        assert_eq!(normalize(b"%zz", &mut buf).unwrap(), b"%zz");
        assert_eq!(normalize(b"_-. ", &mut buf), None);
        assert_eq!(normalize(&[b'a'; 65], &mut buf), None);
    }

    #[test]
    fn builtin_names() {
        let r = rules();
        for (key, ty) in [
            ("password", PiiType::Password),
            ("newPassword", PiiType::Password),
            ("client_secret", PiiType::Password),
            ("refresh_token", PiiType::Password),
            ("csrf-token", PiiType::Password),
            ("private_key", PiiType::Password),
            ("x-api-key", PiiType::ApiKey),
            ("stripeApiKey", PiiType::ApiKey),
            ("full_name", PiiType::Person),
            ("firstName", PiiType::Person),
            ("Date of Birth", PiiType::DateOfBirth),
            ("birth_date", PiiType::DateOfBirth),
            ("phone_number", PiiType::Phone),
            ("SSN", PiiType::UsSsn),
        ] {
            assert_eq!(redacts(&r, key), Some(ty), "{key}");
        }
        for key in [
            "token_type",
            "file_name_x",
            "email",
            "expires_in",
            "username",
        ] {
            assert_eq!(redacts(&r, key), None, "{key}");
        }
        assert!(matches!(
            r.classify(b"Authorization"),
            Some(Ctx::Redact { scheme: true, .. })
        ));
    }

    #[test]
    fn identifiers_and_versions_suppress_numbers() {
        let r = rules();
        let card = TypeIdx::builtin(&PiiType::CreditCard).unwrap();
        let ipv4 = TypeIdx::builtin(&PiiType::Ipv4).unwrap();
        let order = r.classify(b"order_id").unwrap();
        assert!(order.suppresses(card) && !order.suppresses(ipv4));
        let version = r.classify(b"appVersion").unwrap();
        assert!(version.suppresses(ipv4) && !version.suppresses(card));
        // An exact rule beats a suffix: `session_id` is a credential.
        assert_eq!(redacts(&r, "session_id"), Some(PiiType::Password));
    }

    #[test]
    fn operator_keys_and_allow_list_override() {
        let pw = TypeIdx::builtin(&PiiType::Password).unwrap();
        let r = KeyRules::new(
            TypeIdx::builtin,
            &[(pw, Box::from(&b"pin"[..]))],
            &[Box::from(&b"name"[..])],
        );
        assert_eq!(redacts(&r, "PIN"), Some(PiiType::Password));
        assert_eq!(r.classify(b"name"), Some(Ctx::Allow));
    }

    #[test]
    fn disabled_types_have_no_keys() {
        let r = KeyRules::new(
            |t| {
                (*t != PiiType::Password)
                    .then(|| TypeIdx::builtin(t))
                    .flatten()
            },
            &[],
            &[],
        );
        assert_eq!(r.classify(b"password"), None);
        assert_eq!(r.classify(b"authorization"), None);
        assert_eq!(redacts(&r, "api_key"), Some(PiiType::ApiKey));
    }
}
