//! Envoy under test: bootstrap + file-based LDS (so a test can push a new plugin config to a
//! running Envoy, as Istio does over xDS), process lifecycle, admin stats and log helpers.
//!
//! Listeners (from `lds.json`, replaced atomically by write-temp + rename):
//! - `plain` on `http_port`: HCM → [set_filter_state `observatory.peer`, wasm filter] →
//!   router → cluster `upstream`; with the filter, the same module is also the HCM's access
//!   logger for streams the codec reset (HTTP/2 `DPE` with status 0)
//! - `mtls` on `https_port`: same chain behind a DownstreamTlsContext that requires a client
//!   certificate signed by the test CA.
//!
//! Static clusters: `upstream` (the recording upstream) and [`COLLECTOR_CLUSTER`], named as
//! Istio names it (HTTP/2, the collector's gRPC port; mTLS with a workload certificate when
//! [`EnvoySetup::collector_client_cert`] is set, as Istio's `ISTIO_MUTUAL`).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::collector::tail;
use crate::{
    envoy_bin, eventually, filter_wasm, raw_request, Pki, COLLECTOR_CLUSTER, NAMESPACE, NODE_ID,
    WAIT, WORKLOAD_NAME,
};

/// How long Envoy may take to become ready (V8 compiles the module per VM).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(40);

/// What to put into the bootstrap and listeners.
#[derive(Debug, Clone)]
pub struct EnvoySetup {
    pub node_id: String,
    pub workload_name: String,
    pub namespace: String,
    pub upstream_port: u16,
    pub collector_port: u16,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub ca: PathBuf,
    /// Plugin JSON; `None` → no wasm filter in the chains (plain routing).
    pub plugin_config: Option<String>,
    /// The filter module; defaults to [`filter_wasm()`] when a plugin config is set.
    pub wasm: Option<PathBuf>,
    /// `envoy.filters.http.set_filter_state` ahead of the filter hands it the TCP peer's
    /// address (`observatory.peer`); true by default.
    pub peer_filter_state: bool,
    /// Variables of Envoy's own environment handed to the filter's VM
    /// (`vm_config.environment_variables.host_env_keys`, what Istio's
    /// `vmConfig.env` with `valueFrom: HOST` sets): (name, value).
    pub vm_host_env: Vec<(String, String)>,
    /// Certificate and key files the collector cluster presents over TLS (to a sidecar in
    /// front of the collector); plaintext when `None`.
    pub collector_client_cert: Option<(PathBuf, PathBuf)>,
    /// Several collectors behind the collector cluster instead of `collector_port` alone.
    pub collector_pool: Option<CollectorPool>,
}

/// The collector cluster as Istio builds it from a consistent-hash DestinationRule: one
/// endpoint per collector pod, a hashing load balancer and outlier detection, so a stream
/// whose pod died moves to another pod once the dead one is ejected.
#[derive(Debug, Clone)]
pub struct CollectorPool {
    /// `MAGLEV` or `RING_HASH`.
    pub lb_policy: String,
    /// (port, hash key): the key stands in for the pod's address, which ports chosen at
    /// random would make differ from run to run (`envoy.lb` `hash_key` metadata).
    pub endpoints: Vec<(u16, String)>,
}

impl EnvoySetup {
    pub fn new(
        pki: &Pki,
        upstream_port: u16,
        collector_port: u16,
        plugin_config: Option<String>,
    ) -> EnvoySetup {
        EnvoySetup {
            node_id: NODE_ID.to_string(),
            workload_name: WORKLOAD_NAME.to_string(),
            namespace: NAMESPACE.to_string(),
            upstream_port,
            collector_port,
            server_cert: pki.server_cert_path.clone(),
            server_key: pki.server_key_path.clone(),
            ca: pki.ca_path.clone(),
            plugin_config,
            wasm: None,
            peer_filter_state: true,
            vm_host_env: Vec::new(),
            collector_client_cert: None,
            collector_pool: None,
        }
    }

    fn wasm_path(&self) -> PathBuf {
        self.wasm.clone().unwrap_or_else(filter_wasm)
    }

    /// The plugin (`PluginConfig`), for the HTTP filter and the access logger alike: one VM.
    fn plugin(&self, plugin_config: &str) -> Value {
        json!({
            "name": "observatory",
            "root_id": "observatory",
            "vm_config": {
                "vm_id": "observatory",
                "runtime": "envoy.wasm.runtime.v8",
                "code": {"local": {"filename": self.wasm_path()}},
                "environment_variables": {
                    "host_env_keys": self.vm_host_env.iter().map(|(name, _)| name).collect::<Vec<_>>()
                }
            },
            "configuration": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": plugin_config
            },
            "fail_open": false
        })
    }

    fn wasm_filter(&self, plugin_config: &str) -> Value {
        json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": self.plugin(plugin_config)
            }
        })
    }

    /// The module as access logger of the streams no HTTP filter saw: those the codec reset
    /// (`DPE`) before a response (status 0).
    fn codec_reset_logger(&self, plugin_config: &str) -> Value {
        json!({
            "name": "envoy.access_loggers.wasm",
            "filter": {"and_filter": {"filters": [
                {"response_flag_filter": {"flags": ["DPE"]}},
                {"status_code_filter": {"comparison": {
                    "op": "EQ",
                    "value": {"default_value": 0, "runtime_key": "observatory.codec_reset_status"}
                }}}
            ]}},
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.wasm.v3.WasmAccessLog",
                "config": self.plugin(plugin_config)
            }
        })
    }

    fn hcm(&self, stat_prefix: &str) -> Value {
        let mut http_filters = Vec::new();
        let mut access_log = vec![json!({
            "name": "envoy.access_loggers.stdout",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"}
        })];
        if let Some(cfg) = &self.plugin_config {
            if self.peer_filter_state {
                http_filters.push(peer_filter_state());
            }
            http_filters.push(self.wasm_filter(cfg));
            access_log.push(self.codec_reset_logger(cfg));
        }
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
        }));
        json!({
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": stat_prefix,
                "codec_type": "AUTO",
                // As an Istio sidecar's: WebSocket upgrades pass.
                "upgrade_configs": [{"upgrade_type": "websocket"}],
                "access_log": access_log,
                "route_config": {
                    "name": "local",
                    "virtual_hosts": [{
                        "name": "all",
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "10s"}}]
                    }]
                },
                "http_filters": http_filters
            }
        })
    }

    /// The two listeners as LDS resources.
    pub fn listeners(&self, http_port: u16, https_port: u16) -> Vec<Value> {
        let plain = json!({
            "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
            "name": "plain",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": http_port}},
            "filter_chains": [{"filters": [self.hcm("plain")]}]
        });
        let mtls = json!({
            "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
            "name": "mtls",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": https_port}},
            "filter_chains": [{
                "filters": [self.hcm("mtls")],
                "transport_socket": tls_socket(
                    Side::Downstream,
                    (self.server_cert.as_path(), self.server_key.as_path()),
                    &self.ca,
                    &["h2", "http/1.1"],
                )
            }]
        });
        vec![plain, mtls]
    }

    fn static_cluster(name: &str, port: u16) -> Value {
        json!({
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                    "socket_address": {"address": "127.0.0.1", "port_value": port}
                }}}]}]
            }
        })
    }

    fn clusters(&self) -> Vec<Value> {
        let upstream = Self::static_cluster("upstream", self.upstream_port);
        let mut collector = Self::static_cluster(COLLECTOR_CLUSTER, self.collector_port);
        collector["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
        if let Some(pool) = &self.collector_pool {
            collector["lb_policy"] = json!(pool.lb_policy);
            collector["load_assignment"]["endpoints"][0]["lb_endpoints"] = pool
                .endpoints
                .iter()
                .map(|(port, key)| {
                    json!({
                        "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}},
                        "metadata": {"filter_metadata": {"envoy.lb": {"hash_key": key}}}
                    })
                })
                .collect();
            // The DestinationRule's outlierDetection: a failed connect counts as a gateway
            // error (a local-origin failure counts as 503).
            collector["outlier_detection"] = json!({
                "consecutive_5xx": 5,
                "consecutive_gateway_failure": 3,
                "interval": "1s",
                "base_ejection_time": "30s",
                "max_ejection_percent": 50
            });
        }
        if let Some((cert, key)) = &self.collector_client_cert {
            collector["transport_socket"] = tls_socket(
                Side::Upstream,
                (cert.as_path(), key.as_path()),
                &self.ca,
                &["h2"],
            );
        }
        vec![upstream, collector]
    }

    /// Bootstrap with listeners from the LDS file at `lds_path`.
    pub fn bootstrap(&self, admin_port: u16, lds_path: &Path) -> Value {
        let mut b = self.base_bootstrap(admin_port);
        b["dynamic_resources"] = json!({
            "lds_config": {"path_config_source": {"path": lds_path}, "resource_api_version": "V3"}
        });
        b
    }

    /// Bootstrap with the same listeners inline (for `envoy --mode validate`, which does not
    /// read LDS files).
    pub fn static_bootstrap(&self, admin_port: u16, http_port: u16, https_port: u16) -> Value {
        let mut listeners = self.listeners(http_port, https_port);
        for l in &mut listeners {
            if let Some(o) = l.as_object_mut() {
                o.remove("@type");
            }
        }
        let mut b = self.base_bootstrap(admin_port);
        b["static_resources"]["listeners"] = Value::Array(listeners);
        b
    }

    fn base_bootstrap(&self, admin_port: u16) -> Value {
        json!({
            "node": {
                "id": self.node_id,
                "cluster": "e2e",
                "metadata": {"WORKLOAD_NAME": self.workload_name, "NAMESPACE": self.namespace}
            },
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
            "static_resources": {"clusters": self.clusters()}
        })
    }
}

/// Which end of a connection a [`tls_socket`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A listener's, requiring a client certificate.
    Downstream,
    /// A cluster's, presenting one.
    Upstream,
}

/// A TLS transport socket presenting `identity` (certificate and key files), trusting `ca`
/// and offering `alpn`.
pub fn tls_socket(side: Side, identity: (&Path, &Path), ca: &Path, alpn: &[&str]) -> Value {
    let common = json!({
        "tls_certificates": [{
            "certificate_chain": {"filename": identity.0},
            "private_key": {"filename": identity.1}
        }],
        "validation_context": {"trusted_ca": {"filename": ca}},
        "alpn_protocols": alpn
    });
    let typed_config = match side {
        Side::Downstream => json!({
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": true,
            "common_tls_context": common
        }),
        Side::Upstream => json!({
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": common
        }),
    };
    json!({"name": "envoy.transport_sockets.tls", "typed_config": typed_config})
}

/// `envoy.filters.http.set_filter_state` setting `observatory.peer` to the TCP peer.
fn peer_filter_state() -> Value {
    json!({
        "name": "envoy.filters.http.set_filter_state",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config",
            "on_request_headers": [{
                "object_key": "observatory.peer",
                "factory_key": "envoy.string",
                "format_string": {"text_format_source": {"inline_string": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%"}}
            }]
        }
    })
}

/// Result of pushing a listener update through the LDS file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdsOutcome {
    Accepted,
    Rejected,
    /// Neither counter moved within the deadline.
    NoResponse,
}

/// A running Envoy; SIGKILLed on Drop (its log is printed when the test panicked).
pub struct Envoy {
    child: Option<Child>,
    dir: TempDir,
    pub admin_port: u16,
    pub http_port: u16,
    pub https_port: u16,
    setup: EnvoySetup,
    lds_version: u64,
}

fn write_json_atomically(path: &Path, value: &Value) {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value).expect("serialise json");
    std::fs::write(&tmp, text).expect("write temp json");
    std::fs::rename(&tmp, path).expect("rename json into place");
}

impl Envoy {
    /// Run `envoy --mode validate` on the static form of this setup.
    /// Returns Envoy's output; `Err` when validation fails.
    pub fn validate(setup: &EnvoySetup) -> Result<String, String> {
        let dir = tempfile::Builder::new()
            .prefix("obs-e2e-validate-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().join("bootstrap.json");
        let bootstrap =
            setup.static_bootstrap(crate::free_port(), crate::free_port(), crate::free_port());
        write_json_atomically(&path, &bootstrap);
        let out = Command::new(envoy_bin())
            .arg("--mode")
            .arg("validate")
            .arg("-c")
            .arg(&path)
            .arg("--use-dynamic-base-id")
            .arg("-l")
            .arg("info")
            .stdin(Stdio::null())
            .output()
            .expect("run envoy --mode validate");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// Write bootstrap + LDS, start Envoy, wait until admin `/ready` is 200 and both
    /// listeners accept connections.
    pub async fn start(setup: EnvoySetup) -> Envoy {
        let bin = envoy_bin();
        if setup.plugin_config.is_some() {
            // Fail early, with the `make test` hint, when the module is missing.
            let wasm = setup.wasm_path();
            if !wasm.is_file() {
                panic!("wasm module {} not found", wasm.display());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("obs-e2e-envoy-")
            .tempdir()
            .expect("envoy tempdir");
        let mut envoy = Envoy {
            child: None,
            admin_port: crate::free_port(),
            http_port: crate::free_port(),
            https_port: crate::free_port(),
            dir,
            setup,
            lds_version: 0,
        };
        envoy.write_lds();
        let bootstrap_path = envoy.dir.path().join("bootstrap.json");
        write_json_atomically(
            &bootstrap_path,
            &envoy.setup.bootstrap(envoy.admin_port, &envoy.lds_path()),
        );
        let log = File::create(envoy.log_path()).expect("envoy log");
        let log2 = log.try_clone().expect("clone log");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&bootstrap_path)
            .args(["--concurrency", "1", "--use-dynamic-base-id"])
            .args(["--component-log-level", "wasm:debug", "-l", "info"])
            // Replaced listeners drain quickly.
            .args(["--drain-time-s", "1"])
            .envs(envoy.setup.vm_host_env.iter().map(|(n, v)| (n, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn envoy {}: {e}", bin.display()));
        envoy.child = Some(child);
        envoy.wait_ready().await;
        envoy
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut ready = false;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "envoy exited during start-up with {status}; log:\n{}",
                        tail(&self.log(), 200)
                    );
                }
            }
            if !ready {
                ready = matches!(
                    raw_request(self.admin_port, "GET", "/ready", &[], b"").await,
                    Ok(r) if r.status == 200
                );
            }
            if ready && self.stat("listener_manager.lds.update_rejected").await > 0 {
                let errors: Vec<String> = self
                    .log()
                    .lines()
                    .filter(|l| {
                        l.contains("[error]") || l.contains("[critical]") || l.contains("rejected")
                    })
                    .map(str::to_string)
                    .collect();
                panic!(
                    "envoy rejected the initial listeners (plugin config invalid?):\n{}\n\nlog:\n{}",
                    errors.join("\n"),
                    tail(&self.log(), 200)
                );
            }
            if ready
                && std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", self.https_port)).is_ok()
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "envoy not ready within {STARTUP_TIMEOUT:?} (admin /ready ok: {ready}); log:\n{}",
                    tail(&self.log(), 200)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("envoy.log")
    }

    pub fn lds_path(&self) -> PathBuf {
        self.dir.path().join("lds.json")
    }

    pub fn setup(&self) -> &EnvoySetup {
        &self.setup
    }

    fn write_lds(&mut self) {
        self.lds_version += 1;
        let doc = json!({
            "version_info": self.lds_version.to_string(),
            "resources": self.setup.listeners(self.http_port, self.https_port)
        });
        write_json_atomically(&self.lds_path(), &doc);
    }

    /// Atomically replace the LDS file with listeners carrying `plugin_config`
    /// (`None` removes the wasm filter). Does not wait; see [`Envoy::push_and_wait`].
    pub fn push_plugin_config(&mut self, plugin_config: Option<String>) {
        self.setup.plugin_config = plugin_config;
        self.write_lds();
    }

    /// Push `plugin_config` and wait until Envoy accepted (`lds.update_success` moved and no
    /// listener is warming) or rejected (`lds.update_rejected` moved) it.
    pub async fn push_and_wait(&mut self, plugin_config: Option<String>) -> LdsOutcome {
        let ok0 = self.stat("listener_manager.lds.update_success").await;
        let rej0 = self.stat("listener_manager.lds.update_rejected").await;
        self.push_plugin_config(plugin_config);
        let deadline = Instant::now() + WAIT;
        loop {
            let rej = self.stat("listener_manager.lds.update_rejected").await;
            if rej > rej0 {
                return LdsOutcome::Rejected;
            }
            let ok = self.stat("listener_manager.lds.update_success").await;
            if ok > ok0 && self.stat("listener_manager.total_listeners_warming").await == 0 {
                return LdsOutcome::Accepted;
            }
            if Instant::now() >= deadline {
                return LdsOutcome::NoResponse;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:<plain><path>`
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// `https://127.0.0.1:<mtls><path>`
    pub fn https_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.https_port)
    }

    /// GET an admin path; returns the body (panics when admin does not answer 200).
    pub async fn admin_get(&self, path: &str) -> String {
        let r = raw_request(self.admin_port, "GET", path, &[], b"")
            .await
            .unwrap_or_else(|e| panic!("admin GET {path}: {e}"));
        if r.status != 200 {
            panic!("admin GET {path}: status {} body {}", r.status, r.text());
        }
        r.text()
    }

    /// Numeric stats whose name matches the admin regex `filter` (`name: value` lines;
    /// histograms are skipped).
    pub async fn stats(&self, filter: &str) -> BTreeMap<String, u64> {
        let body = self
            .admin_get(&format!("/stats?filter={}", percent_encode(filter)))
            .await;
        parse_stats(&body)
    }

    /// The value of the stat named exactly `name` (0 when it does not exist yet).
    pub async fn stat(&self, name: &str) -> u64 {
        let pattern = format!("^{}$", regex_escape(name));
        self.stats(&pattern).await.get(name).copied().unwrap_or(0)
    }

    /// Wait (up to `timeout`) until stat `name` satisfies `pred`; returns the last value and
    /// whether it did.
    pub async fn wait_stat(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(u64) -> bool,
    ) -> (u64, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.stat(name).await;
            if pred(v) {
                return (v, true);
            }
            if Instant::now() >= deadline {
                return (v, false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The filter's counters (`wasmcustom.observatory_*`), for diagnostics.
    pub async fn observatory_stats(&self) -> BTreeMap<String, u64> {
        self.stats("wasmcustom").await
    }

    /// The whole Envoy log (stdout + stderr, including access log lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Current log size in bytes (an offset for [`Envoy::log_since`]).
    pub fn log_len(&self) -> usize {
        std::fs::metadata(self.log_path())
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// Log text written after byte `offset`.
    pub fn log_since(&self, offset: usize) -> String {
        let bytes = std::fs::read(self.log_path()).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(offset..).unwrap_or(&[])).into_owned()
    }

    /// Log lines containing `needle`.
    pub fn log_lines_containing(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// Wait (up to `timeout`) for a log line written after `offset` satisfying `pred`.
    pub async fn wait_for_log_since(
        &self,
        offset: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        eventually(timeout, || {
            self.log_since(offset)
                .lines()
                .find(|l| pred(l))
                .map(str::to_string)
        })
        .await
    }

    /// Whether the Envoy process is still alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Print the tail of the log to stderr (shown by cargo test on failure).
    pub fn dump_log(&self, lines: usize) {
        eprintln!(
            "===== envoy log ({}) =====\n{}",
            self.log_path().display(),
            tail(&self.log(), lines)
        );
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            self.dump_log(250);
            if std::env::var_os("E2E_KEEP_DIRS").is_some() {
                eprintln!("keeping envoy dir {}", self.dir.path().display());
                let dir = std::mem::replace(
                    &mut self.dir,
                    tempfile::tempdir().expect("placeholder tempdir"),
                );
                let _ = dir.keep();
            }
        }
    }
}

/// Parse admin `/stats` text output (`name: value` per line; non-integers skipped).
pub fn parse_stats(body: &str) -> BTreeMap<String, u64> {
    body.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            Some((k.trim().to_string(), v.trim().parse::<u64>().ok()?))
        })
        .collect()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
