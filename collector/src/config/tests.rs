#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn file_values_fill_unset_settings_and_defaults_the_rest() {
    let file = Settings::from_toml("listen = \"0.0.0.0:9000\"\nmax_senders = 5\n").unwrap();
    let flags = Settings {
        max_senders: NonZeroUsize::new(7),
        ..Settings::default()
    };
    let merged = flags.or(file);
    assert_eq!(merged.listen, Some("0.0.0.0:9000".parse().unwrap()));
    assert_eq!(merged.max_senders, NonZeroUsize::new(7));
    assert_eq!(merged.data_dir, None);
}

#[test]
fn resolve_without_file_uses_defaults() {
    let config = ServeConfig::resolve(Settings::default(), None).unwrap();
    assert_eq!(config, ServeConfig::default());
    assert_eq!(config.listen.to_string(), "127.0.0.1:4317");
    assert_eq!(config.max_batch_bytes.get(), 4 * 1024 * 1024);
}

#[test]
fn resolve_reads_the_file_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    std::fs::write(
        &path,
        "data_dir = \"/var/lib/x\"\nmax_records_per_batch = 10\n",
    )
    .unwrap();
    let flags = Settings {
        max_records_per_batch: NonZeroUsize::new(20),
        ..Settings::default()
    };
    let config = ServeConfig::resolve(flags, Some(&path)).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/var/lib/x"));
    assert_eq!(config.max_records_per_batch.get(), 20);
}

#[test]
fn wrong_value_names_the_key_and_line() {
    let err = Settings::from_toml("listen = \"127.0.0.1:1\"\nmax_senders = 0\n").unwrap_err();
    let TomlError::Key { line, key, message } = err else {
        unreachable!("{err:?}")
    };
    assert_eq!((line, key.as_str()), (2, "max_senders"));
    assert!(message.contains("nonzero"), "{message}");
}

#[test]
fn unknown_key_is_named() {
    let err = Settings::from_toml("lisen = \"127.0.0.1:1\"\n").unwrap_err();
    assert!(format!("{err:?}").contains("lisen"), "{err:?}");
}

#[test]
fn loki_table_is_read_and_the_url_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    std::fs::write(
        &path,
        "[loki]\nurl = \"http://file:3100\"\ntenant = \"mesh\"\n",
    )
    .unwrap();
    let config = ServeConfig::resolve(Settings::default(), Some(&path)).unwrap();
    let loki = config.loki.unwrap();
    assert_eq!(loki.url.unwrap().as_str(), "http://file:3100/");
    assert_eq!(loki.tenant.as_deref(), Some("mesh"));
    assert_eq!(loki.max_label_sets.get(), 1000);

    let flags = Settings {
        loki_url: Some("http://flag:3100".parse().unwrap()),
        ..Settings::default()
    };
    let loki = ServeConfig::resolve(flags, Some(&path))
        .unwrap()
        .loki
        .unwrap();
    assert_eq!(loki.url.unwrap().host_str(), Some("flag"));
    assert_eq!(loki.tenant.as_deref(), Some("mesh"));
}

#[test]
fn the_file_sink_goes_only_when_loki_stays() {
    assert!(ServeConfig::default().file_sink);
    let off = |loki: Option<&str>| {
        ServeConfig::resolve(
            Settings {
                file_sink: Some(false),
                loki_url: loki.map(|u| u.parse().unwrap()),
                ..Settings::default()
            },
            None,
        )
    };
    assert!(matches!(off(None), Err(ConfigError::NoSink)));
    let config = off(Some("http://loki:3100")).unwrap();
    assert!(!config.file_sink);
    assert!(config.loki.is_some());
    let file = Settings::from_toml("file_sink = false\n").unwrap();
    assert_eq!(file.file_sink, Some(false));
}

#[test]
fn the_otlp_logs_flag_sets_the_tables_endpoint() {
    let file = Settings::from_toml(
        "file_sink = false\n[otlp_logs]\nendpoint = \"http://file:4318\"\nprotocol = \"http\"\n",
    )
    .unwrap();
    let config = ServeConfig::resolve(file.clone(), None).unwrap();
    let otlp_logs = config.otlp_logs.unwrap();
    assert_eq!(otlp_logs.endpoint.unwrap().host_str(), Some("file"));
    assert_eq!(
        otlp_logs.protocol,
        crate::sink::otlp::config::Protocol::Http
    );
    let flags = Settings {
        otlp_logs_endpoint: Some("http://flag:4318".parse().unwrap()),
        ..Settings::default()
    };
    let otlp_logs = ServeConfig::resolve(flags.or(file), None)
        .unwrap()
        .otlp_logs
        .unwrap();
    assert_eq!(otlp_logs.endpoint.unwrap().host_str(), Some("flag"));
    assert_eq!(
        otlp_logs.protocol,
        crate::sink::otlp::config::Protocol::Http
    );
    assert!(ServeConfig::default().otlp_logs.is_none());
}

#[test]
fn redaction_is_on_by_default_and_can_be_turned_off() {
    assert!(ServeConfig::default().redact);
    let file = Settings::from_toml("redact = false\nredaction_config = \"/etc/r.json\"\n").unwrap();
    let config = ServeConfig::resolve(file.clone(), None).unwrap();
    assert!(!config.redact);
    assert_eq!(config.redaction_config, Some(PathBuf::from("/etc/r.json")));
    let flags = Settings {
        redact: Some(true),
        ..Settings::default()
    };
    assert!(ServeConfig::resolve(flags.or(file), None).unwrap().redact);
}

#[test]
fn loki_is_off_without_table_or_flag() {
    let file = Settings::from_toml("listen = \"127.0.0.1:1\"\n").unwrap();
    assert_eq!(ServeConfig::resolve(file, None).unwrap().loki, None);
}

#[test]
fn wrong_loki_value_names_the_key_and_line() {
    let err = Settings::from_toml(
        "[loki]\nurl = \"http://loki:3100\"\nlabels = { who = \"source_principal\" }\n",
    )
    .unwrap_err();
    let TomlError::Key { line, key, message } = err else {
        unreachable!("{err:?}")
    };
    assert_eq!((line, key.as_str()), (3, "loki.labels.who"));
    assert!(message.contains("source_principal"), "{message}");
    // The URL flag is not a file key.
    assert!(Settings::from_toml("loki_url = \"http://x\"\n").is_err());
}

#[test]
fn score_table_is_read_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    std::fs::write(
        &path,
        "[score]\nthreshold = 0.9\nwarmup_secs = 60\nmax_principals = 5\n",
    )
    .unwrap();
    let score = ServeConfig::resolve(Settings::default(), Some(&path))
        .unwrap()
        .score;
    assert!(score.enabled);
    assert_eq!((score.threshold, score.warmup_secs), (0.9, 60));
    assert_eq!(score.max_principals.get(), 5);
    let flags = Settings {
        score_enabled: Some(false),
        score_warmup_secs: Some(5),
        ..Settings::default()
    };
    let score = ServeConfig::resolve(flags, Some(&path)).unwrap().score;
    assert_eq!((score.enabled, score.warmup_secs), (false, 5));
    assert_eq!(score.threshold, 0.9);
    let err = Settings::from_toml("[score]\nthreshold = 2.0\n").unwrap_err();
    assert!(format!("{err:?}").contains("score.threshold"), "{err:?}");
}

#[test]
fn mesh_mode_comes_from_the_mesh_table_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    let mode = |flags: Settings| ServeConfig::resolve(flags, Some(&path)).unwrap().score.mesh;
    std::fs::write(&path, "[score]\nthreshold = 0.9\n").unwrap();
    assert_eq!(mode(Settings::default()), MeshMode::Permissive);
    std::fs::write(&path, "[mesh]\nmtls = \"strict\"\n").unwrap();
    assert_eq!(mode(Settings::default()), MeshMode::Strict);
    let flag = Settings {
        mesh_mtls: Some(MeshMode::Permissive),
        ..Settings::default()
    };
    assert_eq!(mode(flag), MeshMode::Permissive);
    let err = Settings::from_toml("[mesh]\nmtls = \"sometimes\"\n").unwrap_err();
    assert!(format!("{err:?}").contains("mesh.mtls"), "{err:?}");
}

#[test]
fn otlp_is_off_without_an_endpoint_and_reads_its_keys() {
    assert_eq!(
        ServeConfig::resolve(Settings::default(), None)
            .unwrap()
            .otlp,
        None
    );
    let file = Settings::from_toml(
        "otlp_endpoint = \"http://otel:4317\"\notlp_resource_attributes = \"deployment.environment=prod, k8s.cluster.name=eu1\"\n",
    )
    .unwrap();
    let otlp = ServeConfig::resolve(file, None).unwrap().otlp.unwrap();
    assert_eq!(otlp.endpoint.as_str(), "http://otel:4317/");
    assert_eq!(otlp.service_name, "observatory-collector");
    assert_eq!(
        otlp.resource_attributes,
        [
            ("deployment.environment".to_owned(), "prod".to_owned()),
            ("k8s.cluster.name".to_owned(), "eu1".to_owned())
        ]
    );
    assert_eq!(otlp.metrics_interval, Duration::from_secs(60));
    let bad = Settings {
        otlp_endpoint: Some("http://otel:4317".parse().unwrap()),
        otlp_resource_attributes: Some("a=1,b".into()),
        ..Settings::default()
    };
    let err = ServeConfig::resolve(bad, None).unwrap_err();
    assert!(err.to_string().contains("\"b\" is not key=value"), "{err}");
}

#[test]
fn bad_syntax_and_missing_file_are_errors() {
    assert!(matches!(
        Settings::from_toml("listen = "),
        Err(TomlError::Syntax(_))
    ));
    let err = ServeConfig::resolve(Settings::default(), Some(Path::new("/nonexistent/x.toml")))
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/x.toml"), "{err}");
}

#[test]
fn ingest_table_is_read_and_the_auth_flag_wins() {
    let file = Settings::from_toml(
        "[ingest]\nauth = \"xfcc\"\ntrusted_peers = [\"127.0.0.6\", \"10.0.0.0/8\"]\n\
         service_accounts = [\"orders\"]\n\
         [[ingest.allow]]\nidentity = \"gw.example.com\"\nproxy_ids = [\"edge-*\"]\n",
    )
    .unwrap();
    let ingest = ServeConfig::resolve(file.clone(), None).unwrap().ingest;
    assert_eq!(ingest.auth, AuthMode::Xfcc);
    let peers: Vec<String> = ingest.trusted_peers.iter().map(|p| p.to_string()).collect();
    assert_eq!(peers, ["127.0.0.6/32", "10.0.0.0/8"]);
    assert_eq!(ingest.service_accounts, ["orders"]);
    assert_eq!(ingest.allow[0].proxy_ids, ["edge-*"]);
    // The flag wins: mtls needs its files.
    let flags = Settings {
        ingest_auth: Some(AuthMode::Mtls),
        ..Settings::default()
    };
    let err = ServeConfig::resolve(flags.or(file), None).unwrap_err();
    assert!(err.to_string().contains("tls_cert_file"), "{err}");
    let err = Settings::from_toml("[ingest]\nauth = \"open\"\n").unwrap_err();
    assert!(format!("{err:?}").contains("ingest.auth"), "{err:?}");
    let err = Settings::from_toml("[ingest]\ntrusted_peers = [\"lo\"]\n").unwrap_err();
    assert!(
        format!("{err:?}").contains("ingest.trusted_peers"),
        "{err:?}"
    );
}
