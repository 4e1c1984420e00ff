//! Key-name rules: what the name of a JSON key, form/query parameter,
//! cookie, header or `key=value` pair says about its value.
//!
//! Keys are compared normalised — ASCII-lowercased, with `_`, `-`, `.`
//! and spaces dropped and `%XX` decoded — so `client_secret`,
//! `clientSecret`, `Client-Secret` and `client%5Fsecret` are one key.

use std::ops::Range;

use super::{PiiType, TypeIdx};

mod seen;

/// What to do with a value, decided by its key (or inherited from the key
/// of an enclosing object or array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// Run the detectors, except the built-in types in `suppress` (a bit
    /// per [`TypeIdx`]): a dotted quad under `version` is not an address.
    Scan { suppress: u16 },
    /// The value is PII of this type (`password`, `name`, `dob`), redacted
    /// as `how` says.
    Redact { ty: TypeIdx, how: How },
    /// Allow-listed key: nothing under it is redacted.
    Allow,
}

/// How the value of a key rule is redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum How {
    /// All of it (in free text: one word).
    Whole,
    /// All of it; in free text it may run over several capitalised words
    /// (`name: Jane Doe`).
    Words,
    /// `Scheme credentials` (`Authorization`): the credentials, not the
    /// scheme; of auth-params (`Digest`, `AWS4-HMAC-SHA256`) the values
    /// that are not public (`nonce`, `realm`, `SignedHeaders` stay).
    Scheme,
    /// An object's `name`, which may be a person's or a thing's: redacted
    /// when it looks like a person's name and its object does not say it
    /// is a thing (sibling keys such as `sku`, `price`, `replicas`, or the
    /// key it is under, such as `product`).
    Name,
    /// A key that names a person or something else (`owner`, `author`,
    /// `customer`): redacted when it looks like a person's name.
    Person,
    /// A generic key (`key`, `auth`, `sig`): redacted when the value looks
    /// like a secret (hex, base64 or base64url of 16 or more characters).
    Secret,
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

/// What a JSON key says about its object, beyond its own value: bits of
/// [`Marker`]s.
pub(super) mod marker {
    /// Keys of a person's object (`email`, `phone`, `dob`, `address`).
    pub const PERSON: u8 = 1;
    /// Keys of a thing's object (`sku`, `price`, `version`, `replicas`).
    pub const THING: u8 = 2;
    /// Keys that hold people (`user`, `customer`, `members`).
    pub const PERSON_HOME: u8 = 4;
    /// Keys that hold things (`product`, `service`, `containers`).
    pub const THING_HOME: u8 = 8;
    /// `name`: in a `{"name": …, "value": …}` pair it names the value.
    pub const NAME: u8 = 16;
    /// `value`: the value of the pair's `name` (also a [`THING`] key).
    pub const VALUE: u8 = 32;
}

/// Where a built-in key name points.
#[derive(Clone)]
enum Rule {
    Redact(PiiType),
    /// `name`: PERSON when it looks like one in a person's object
    /// ([`How::Name`]).
    Name,
    /// PERSON when it looks like a name ([`How::Person`]).
    Person,
    /// A generic key whose secret-looking values are of this type
    /// ([`How::Secret`]).
    Secret(PiiType),
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
            "pin",
            // The same in other languages.
            "passwort",
            "kennwort",
            "motdepasse",
            "contraseña",
            "contrasena",
            "senha",
            "wachtwoord",
            "hasło",
            "haslo",
            "lösenord",
            "losenord",
            "passord",
            "adgangskode",
            "salasana",
            "heslo",
            "jelszó",
            "şifre",
            "пароль",
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
            "firstname",
            "lastname",
            "middlename",
            "givenname",
            "familyname",
            "surname",
            "fname",
            "lname",
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
            // Given and family names in other languages.
            "vorname",
            "nachname",
            "familienname",
            "prénom",
            "prenom",
            "nomdefamille",
            "apellido",
            "apellidos",
            "nombrecompleto",
            "cognome",
            "nomecompleto",
            "sobrenome",
            "voornaam",
            "achternaam",
            "imię",
            "imie",
            "nazwisko",
        ],
    ),
    (
        Rule::Name,
        &[
            "name",
            "displayname",
            "fullname",
            "nombre",
            "nome",
            "nom",
            "naam",
        ],
    ),
    (
        Rule::Person,
        &[
            "customer",
            "contact",
            "author",
            "sender",
            "recipient",
            "owner",
            "assignee",
            "patient",
            "user",
            "holder",
        ],
    ),
    (Rule::Secret(PiiType::ApiKey), &["key", "apisecret"]),
    (Rule::Secret(PiiType::Password), &["auth", "code", "otp"]),
    (
        Rule::Redact(PiiType::DateOfBirth),
        &[
            "dob",
            "birthdate",
            "dateofbirth",
            "birthday",
            "geburtsdatum",
            "datedenaissance",
            "fechadenacimiento",
            "datadinascita",
            "datadenascimento",
            "geboortedatum",
            "dataurodzenia",
        ],
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
            "homephone",
            "workphone",
            "contactphone",
            "tel",
            "telephone",
            "fax",
            // The same in other languages.
            "telefon",
            "telefono",
            "teléfono",
            "téléphone",
            "telefone",
            "telefoon",
            "celular",
            "cellulare",
            "móvil",
            "movil",
            "handy",
            "handynummer",
            "telefonnummer",
            "numerodetelephone",
            "numérodetéléphone",
            "numerodetelefono",
            "númerodeteléfono",
            "numertelefonu",
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
            "zip",
            "zipcode",
            "postcode",
            "postalcode",
        ],
    ),
    (Rule::Version, &["ver", "v", "build", "release", "firmware"]),
];

/// What keys say about the objects they are in (as a sibling) or hold
/// (as the key of an object or array): normalised, exact.
const MARKERS: &[(u8, &[&str])] = &[
    (
        marker::PERSON,
        &[
            "email",
            "emailaddress",
            "mail",
            "phone",
            "phonenumber",
            "mobile",
            "tel",
            "telephone",
            "dob",
            "birthdate",
            "dateofbirth",
            "birthday",
            "address",
            "streetaddress",
            "street",
            "address1",
            "addressline1",
            "gender",
            "sex",
            "ssn",
            "firstname",
            "lastname",
            "surname",
            "givenname",
            "familyname",
            "middlename",
            "fullname",
            "nationality",
            "passport",
            "passportnumber",
            "age",
            "salutation",
            "username",
            "login",
            "avatarurl",
            "jobtitle",
        ],
    ),
    (
        marker::THING,
        &[
            "sku",
            "price",
            "prices",
            "unitprice",
            "currency",
            "version",
            "replicas",
            "image",
            "kind",
            "apiversion",
            "namespace",
            "labels",
            "annotations",
            "description",
            "category",
            "quantity",
            "qty",
            "stock",
            "brand",
            "vendor",
            "size",
            "weight",
            "color",
            "colour",
            "href",
            "path",
            "filename",
            "extension",
            "mimetype",
            "contenttype",
            "checksum",
            "sha",
            "digest",
            "stars",
            "stargazerscount",
            "forks",
            "forkscount",
            "language",
            "license",
            "visibility",
            "defaultbranch",
            "interval",
            "region",
            "zone",
            "hostname",
            "port",
            "protocol",
            "endpoint",
            "slug",
            "mountpath",
            "containerport",
            "schedule",
            "selector",
            "command",
            "args",
            "tier",
            "billingcycle",
        ],
    ),
    (
        marker::PERSON_HOME,
        &[
            "user",
            "users",
            "customer",
            "customers",
            "person",
            "people",
            "persons",
            "contact",
            "contacts",
            "author",
            "authors",
            "sender",
            "recipient",
            "recipients",
            "patient",
            "employee",
            "employees",
            "member",
            "members",
            "assignee",
            "assignees",
            "reviewer",
            "reviewers",
            "billing",
            "billingaddress",
            "shipping",
            "shippingaddress",
            "profile",
            "passenger",
            "passengers",
            "guest",
            "guests",
            "student",
            "students",
            "driver",
            "applicant",
            "beneficiary",
            "payer",
            "payee",
            "buyer",
            "cardholder",
            "accountholder",
            "holder",
            "requester",
            "reporter",
            "attendee",
            "attendees",
            "participant",
            "participants",
            "traveler",
            "travelers",
            "traveller",
            "from",
            "to",
            "cc",
            "bcc",
            "replyto",
            "me",
            "createdby",
            "updatedby",
            "committer",
            "creator",
            "owner",
        ],
    ),
    (
        marker::THING_HOME,
        &[
            "product",
            "products",
            "item",
            "items",
            "lineitems",
            "service",
            "services",
            "plan",
            "plans",
            "repo",
            "repository",
            "repositories",
            "file",
            "files",
            "team",
            "teams",
            "project",
            "projects",
            "organization",
            "organisation",
            "org",
            "orgs",
            "company",
            "app",
            "application",
            "metadata",
            "spec",
            "template",
            "container",
            "containers",
            "initcontainers",
            "deployment",
            "pod",
            "cluster",
            "node",
            "nodes",
            "bucket",
            "dataset",
            "package",
            "packages",
            "dependency",
            "dependencies",
            "plugin",
            "plugins",
            "module",
            "modules",
            "job",
            "jobs",
            "queue",
            "topic",
            "branch",
            "branches",
            "tag",
            "tags",
            "label",
            "categories",
            "group",
            "groups",
            "role",
            "roles",
            "channel",
            "channels",
            "event",
            "events",
            "metric",
            "metrics",
            "store",
            "shop",
            "merchant",
            "device",
            "model",
            "browser",
            "os",
            "course",
            "workflow",
            "workflows",
            "pipeline",
            "step",
            "steps",
            "task",
            "tasks",
            "campaign",
            "feature",
            "features",
            "flag",
            "flags",
            "server",
            "database",
            "table",
            "schema",
            "index",
            "library",
            "env",
            "variables",
            "field",
            "fields",
            "column",
            "columns",
            "param",
            "params",
            "parameters",
            "attribute",
            "attributes",
            "volume",
            "volumes",
            "ports",
            "configmap",
            "secretref",
            "ingress",
            "route",
            "routes",
            "endpoints",
            "api",
            "resource",
            "resources",
            "headers",
            "cookies",
            "querystring",
            "queryparams",
            "variant",
            "variants",
            "subscription",
            "coupon",
            "discount",
            "tax",
            "host",
            "image",
            "region",
            "category",
            "brand",
            "vendor",
        ],
    ),
    (marker::NAME, &["name", "displayname"]),
    (marker::VALUE | marker::THING, &["value"]),
];

/// Built-in key name endings (normalised); the longest match wins. CJK
/// labels are here because CJK text glues them to the words before them
/// (`連絡先は…です。電話: …`).
const SUFFIX: &[(Rule, &[&str])] = &[
    (Rule::Redact(PiiType::ApiKey), &["apikey"]),
    (
        Rule::Redact(PiiType::Phone),
        &[
            "phonenumber",
            "電話",
            "電話番号",
            "携帯",
            "携帯番号",
            "电话",
            "手机",
        ],
    ),
    (Rule::Redact(PiiType::Person), &["氏名", "姓名"]),
    (
        Rule::Redact(PiiType::DateOfBirth),
        &["生年月日", "出生日期"],
    ),
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
            "パスワード",
            "暗証番号",
            "密码",
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
    /// [`marker`] bits of keys equal to the path to this node.
    marker: u8,
}

/// Compiled key rules: built-ins, operator keys and allow-listed keys.
#[derive(Debug)]
pub(super) struct KeyRules {
    /// `nodes[0]` is the root.
    nodes: Vec<Node>,
    /// The root's children by last byte (0: none), so most keys are
    /// dismissed with one load.
    root: [usize; 256],
    /// These rules' id in the answers kept across calls ([`seen`]).
    owner: u64,
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
            Rule::Name => index(&PiiType::Person).map(|ty| Ctx::Redact { ty, how: How::Name }),
            Rule::Person => index(&PiiType::Person).map(|ty| Ctx::Redact {
                ty,
                how: How::Person,
            }),
            Rule::Secret(ty) => index(ty).map(|ty| Ctx::Redact {
                ty,
                how: How::Secret,
            }),
            Rule::Credential => index(&PiiType::Password).map(|ty| Ctx::Redact {
                ty,
                how: How::Scheme,
            }),
            Rule::Identifier => Some(suppress(&identifier)),
            Rule::Version => Some(suppress(&version)),
        };
        let mut rules = KeyRules {
            nodes: vec![Node::default()],
            root: [0; 256],
            owner: seen::owner(),
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
        for (bits, names) in MARKERS {
            for name in *names {
                rules.mark(name.as_bytes(), *bits);
            }
        }
        for (ty, key) in extra {
            let words = [PiiType::Person, PiiType::DateOfBirth]
                .iter()
                .any(|t| index(t) == Some(*ty));
            let how = if words { How::Words } else { How::Whole };
            rules.insert(key, true, Ctx::Redact { ty: *ty, how });
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
        let node = self.node(name);
        if let Some(node) = self.nodes.get_mut(node) {
            *if exact {
                &mut node.exact
            } else {
                &mut node.suffix
            } = Some(ctx);
        }
    }

    fn mark(&mut self, name: &[u8], bits: u8) {
        let node = self.node(name);
        if let Some(node) = self.nodes.get_mut(node) {
            node.marker |= bits;
        }
    }

    /// The node of `name`, created with its path if needed.
    fn node(&mut self, name: &[u8]) -> usize {
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
        node
    }

    /// The names (normalised) whose rule redacts a value as a type that
    /// `kept` keeps, as the whole key or as its ending: a key that does not
    /// end in one of them gets no such rule.
    pub fn names_of(&self, kept: impl Fn(TypeIdx) -> bool) -> Vec<Vec<u8>> {
        let keeps = |ctx: Option<Ctx>| matches!(ctx, Some(Ctx::Redact { ty, .. }) if kept(ty));
        let mut names = Vec::new();
        // Depth first; a path from the root is a name read backwards.
        let mut stack = vec![(0, Vec::new())];
        while let Some((node, path)) = stack.pop() {
            let Some(n) = self.nodes.get(node) else {
                continue;
            };
            if node != 0 && (keeps(n.exact) || keeps(n.suffix)) {
                names.push(path.iter().rev().copied().collect());
            }
            for &(b, child) in &n.edges {
                let mut longer = path.clone();
                longer.push(b);
                stack.push((child, longer));
            }
        }
        names.sort_unstable();
        names
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
        self.classify_key(key).0
    }

    /// The rule for this key name as a whole: a name, or a name ending
    /// standing alone (`version`), never a longer word that ends in one
    /// (in prose, `paid` is no `…id`).
    pub fn classify_whole(&self, key: &[u8]) -> Option<Ctx> {
        let mut node = 0;
        for b in key
            .iter()
            .rev()
            .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
        {
            node = self.child(node, b.to_ascii_lowercase())?;
        }
        let node = self.nodes.get(node).filter(|_| node != 0)?;
        node.exact.or(node.suffix)
    }

    /// The rule for a key and its [`marker`] bits.
    pub fn classify_key(&self, key: &[u8]) -> (Option<Ctx>, u8) {
        seen::classify(self.owner, key, || self.walk_key(key))
    }

    /// [`KeyRules::classify_key`] by walking the trie.
    fn walk_key(&self, key: &[u8]) -> (Option<Ctx>, u8) {
        if key.contains(&b'%') {
            let mut buf = [0; MAX_KEY];
            return match normalize(key, &mut buf) {
                Some(key) => self.lookup(key.iter().rev().copied()),
                None => (None, 0),
            };
        }
        self.lookup(
            key.iter()
                .rev()
                .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
                .map(u8::to_ascii_lowercase),
        )
    }

    fn lookup(&self, reversed: impl Iterator<Item = u8>) -> (Option<Ctx>, u8) {
        let mut node = 0;
        let mut suffix = None;
        let mut empty = true;
        for b in reversed {
            empty = false;
            let Some(child) = self.child(node, b) else {
                return (suffix, 0);
            };
            node = child;
            suffix = self.nodes.get(node).and_then(|n| n.suffix).or(suffix);
        }
        if empty {
            return (None, 0);
        }
        match self.nodes.get(node) {
            Some(n) => (n.exact.or(suffix), n.marker),
            None => (suffix, 0),
        }
    }
}

/// The keys of one input already classified: an array of objects repeats
/// the same few keys, and comparing a key with one seen before is cheaper
/// than walking the trie again. Direct-mapped on length, end and middle bytes;
/// a collision only costs a walk.
pub(super) struct KeyMemo<'t> {
    text: &'t [u8],
    /// Per slot: the key's range in `text` (empty: free) and its rule.
    slots: [(u32, u32, Option<Ctx>, u8); KeyMemo::SLOTS],
}

impl<'t> KeyMemo<'t> {
    const SLOTS: usize = 32;

    pub fn new(text: &'t [u8]) -> Self {
        KeyMemo {
            text,
            slots: [(0, 0, None, 0); Self::SLOTS],
        }
    }

    /// [`KeyRules::classify_key`] of the key at `range` of the text.
    pub fn classify_key(&mut self, rules: &KeyRules, range: Range<usize>) -> (Option<Ctx>, u8) {
        let key = self.text.get(range.clone()).unwrap_or_default();
        if key.is_empty() {
            return rules.classify_key(key);
        }
        let slot = (shape_hash(0, key) >> (32 - Self::SLOTS.trailing_zeros())) as usize;
        let text = self.text;
        let Some(entry) = self.slots.get_mut(slot) else {
            return rules.classify_key(key);
        };
        let seen = text.get(entry.0 as usize..entry.1 as usize);
        if seen == Some(key) {
            return (entry.2, entry.3);
        }
        let (ctx, marker) = rules.classify_key(key);
        if let (Ok(start), Ok(end)) = (u32::try_from(range.start), u32::try_from(range.end)) {
            *entry = (start, end, ctx, marker);
        }
        (ctx, marker)
    }
}

/// FxHash's step (32-bit) over `seed` and a key's length, first, middle
/// and last byte: cheap, and it tells apart the few dozen keys of a
/// service. The top bits pick a slot of [`KeyMemo`] and of the kept answers.
pub(super) fn shape_hash(seed: u32, key: &[u8]) -> u32 {
    let byte = |i: usize| key.get(i).copied().map_or(0, u32::from);
    [
        key.len() as u32,
        byte(0),
        byte(key.len() / 2),
        byte(key.len().wrapping_sub(1)),
    ]
    .iter()
    .fold(seed, |h, &v| {
        (h.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9)
    })
}

fn redact(ty: TypeIdx, kind: &PiiType) -> Ctx {
    let how = match kind {
        PiiType::Person | PiiType::DateOfBirth => How::Words,
        _ => How::Whole,
    };
    Ctx::Redact { ty, how }
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
            Some(Ctx::Redact {
                how: How::Scheme,
                ..
            })
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

    #[test]
    fn kept_answers_are_the_walks_of_each_rule_set() {
        // Two rule sets that answer differently for `name`, asked in turns
        // about more keys than the table has slots.
        let plain = rules();
        let allowing = KeyRules::new(TypeIdx::builtin, &[], &[Box::from(&b"name"[..])]);
        assert_ne!(plain.walk_key(b"name"), allowing.walk_key(b"name"));
        for round in 0..3 {
            for i in 0..400 {
                let key = match i % 4 {
                    0 => "name".to_owned(),
                    1 => format!("field_{i}"),
                    2 => format!("user{i}_email"),
                    _ => format!("x{round}_{i}_password"),
                };
                for r in [&plain, &allowing] {
                    assert_eq!(
                        r.classify_key(key.as_bytes()),
                        r.walk_key(key.as_bytes()),
                        "{key}"
                    );
                }
            }
        }
    }

    #[test]
    fn memo_answers_as_the_trie_also_when_keys_share_a_slot() {
        let r = rules();
        // More keys than slots, so some share one; each appears several
        // times, in an order that evicts and re-reads them.
        let names = [
            "email",
            "sku",
            "name",
            "price",
            "id",
            "Password",
            "user-id",
            "phone_number",
            "version",
            "api_key",
            "first name",
            "dob",
            "x",
            "qty",
            "tracking",
            "card",
            "customer",
            "ssn",
            "ip",
            "client_ip",
            "token",
            "authorization",
            "order_id",
            "created_at",
            "tier",
            "note",
            "city",
            "zip",
            "country",
            "iban",
            "jwt",
            "secret",
            "session",
            "sid",
            "full_name",
            "product_name",
            "email%5Faddress",
            "repo",
        ];
        let mut text = Vec::new();
        let mut ranges = Vec::new();
        for round in 0..3 {
            for (i, name) in names.iter().enumerate() {
                let name = names.get((i * 7 + round * 5) % names.len()).unwrap_or(name);
                ranges.push(text.len()..text.len() + name.len());
                text.extend_from_slice(name.as_bytes());
                text.push(b',');
            }
        }
        let mut memo = KeyMemo::new(&text);
        for range in ranges {
            let key = &text[range.clone()];
            assert_eq!(memo.classify_key(&r, range), r.walk_key(key), "{key:?}");
        }
    }
}
