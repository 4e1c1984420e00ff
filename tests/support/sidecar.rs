//! A second Envoy in front of the collector, as the collector's sidecar in the mesh: an
//! inbound HTTP/2 listener → router → the collector over HTTP/2. The filter's stream then
//! crosses a proxy that parses its `:authority` and headers as Istio's inbound listener does.
//! With [`Sidecar::start_mtls`] the listener also requires a client certificate of the test CA
//! and writes `x-forwarded-client-cert` as Istio's inbound listener does (`APPEND_FORWARD`,
//! with the peer's subject, URI and DNS names), for a collector in `xfcc` mode. Its access log
//! line per stream, written when the stream starts (`sidecar-log <authority>
//! <x-observatory-proxy> <x-forwarded-client-cert>`), shows what arrived.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use crate::collector::tail;
use crate::envoy::{tls_socket, Side, STARTUP_TIMEOUT};
use crate::{envoy_bin, free_port, Pki};

/// The sidecar Envoy; killed on Drop (its log printed when the test panicked).
pub struct Sidecar {
    child: Option<Child>,
    dir: TempDir,
    /// The inbound listener: point the filter's collector cluster here.
    pub port: u16,
}

impl Sidecar {
    /// Start in front of the collector on `collector_port`; waits until it listens.
    pub async fn start(collector_port: u16) -> Sidecar {
        Sidecar::launch(collector_port, None).await
    }

    /// Like [`Sidecar::start`], the listener speaking mTLS with `pki`'s server certificate
    /// and forwarding the client's certificate details in `x-forwarded-client-cert`.
    pub async fn start_mtls(collector_port: u16, pki: &Pki) -> Sidecar {
        Sidecar::launch(collector_port, Some(pki)).await
    }

    async fn launch(collector_port: u16, mtls: Option<&Pki>) -> Sidecar {
        let dir = tempfile::Builder::new()
            .prefix("obs-e2e-sidecar-")
            .tempdir()
            .expect("sidecar tempdir");
        let port = free_port();
        let h2 = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
        let hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "inbound",
            "codec_type": "HTTP2",
            "access_log_options": {"flush_access_log_on_new_request": true},
            "access_log": [{
                "name": "envoy.access_loggers.stdout",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                    "log_format": {"text_format_source": {"inline_string":
                        "sidecar-log %REQ(:AUTHORITY)% %REQ(X-OBSERVATORY-PROXY)% %REQ(X-FORWARDED-CLIENT-CERT)%\n"}}
                }
            }],
            "route_config": {"virtual_hosts": [{
                "name": "collector",
                "domains": ["*"],
                // A stream lives for hours: no route timeout.
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "collector", "timeout": "0s"}}]
            }]},
            "http_filters": [{
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
            }]
        });
        let mut chain = json!({"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": hcm
        }]});
        if let Some(pki) = mtls {
            // What Istio's inbound HTTP listener sets (buildSidecarInboundHTTPOpts).
            chain["filters"][0]["typed_config"]["forward_client_cert_details"] =
                json!("APPEND_FORWARD");
            chain["filters"][0]["typed_config"]["set_current_client_cert_details"] =
                json!({"subject": true, "uri": true, "dns": true});
            chain["transport_socket"] = tls_socket(
                Side::Downstream,
                (
                    pki.server_cert_path.as_path(),
                    pki.server_key_path.as_path(),
                ),
                &pki.ca_path,
                &["h2"],
            );
        }
        let bootstrap = json!({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}},
            "static_resources": {
                "listeners": [{
                    "name": "inbound",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                    "filter_chains": [chain]
                }],
                "clusters": [{
                    "name": "collector",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": h2,
                    "load_assignment": {"cluster_name": "collector", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": collector_port}
                    }}}]}]}
                }]
            }
        });
        let path = dir.path().join("bootstrap.json");
        std::fs::write(&path, bootstrap.to_string()).expect("sidecar bootstrap");
        let log = File::create(dir.path().join("envoy.log")).expect("sidecar log");
        let log2 = log.try_clone().expect("clone log");
        let child = Command::new(envoy_bin())
            .arg("-c")
            .arg(&path)
            .args(["--concurrency", "1", "--use-dynamic-base-id", "-l", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("spawn sidecar envoy");
        let mut sidecar = Sidecar {
            child: Some(child),
            dir,
            port,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(status))) = sidecar.child.as_mut().map(Child::try_wait) {
                panic!("sidecar envoy exited with {status}:\n{}", sidecar.log());
            }
            assert!(
                Instant::now() < deadline,
                "sidecar envoy not listening within {STARTUP_TIMEOUT:?}:\n{}",
                sidecar.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sidecar
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("envoy.log")
    }

    /// The sidecar's log (its access log lines start with `sidecar-log`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("===== sidecar envoy log =====\n{}", tail(&self.log(), 100));
        }
    }
}
