//! Compiles the .proto files with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (audit, loki) = ("observatory/audit/v1/audit.proto", "loki/push.proto");
    println!("cargo:rerun-if-changed={audit}");
    println!("cargo:rerun-if-changed={loki}");
    let mut protos = vec![audit];
    // Loki's messages only when asked for: the wasm filter never needs them.
    if std::env::var_os("CARGO_FEATURE_LOKI").is_some() {
        protos.push(loki);
    }
    // protox resolves `google/protobuf/*.proto` itself; prost maps
    // `google.protobuf.Timestamp` to `prost_types::Timestamp`.
    let fds = protox::compile(protos, ["."])?;
    // BTreeMap keeps map fields (redaction counts) in a stable order in JSON.
    if std::env::var_os("CARGO_FEATURE_GRPC").is_some() {
        tonic_prost_build::configure()
            .btree_map(".")
            .build_client(true)
            .build_server(true)
            .compile_fds(fds)?;
    } else {
        prost_build::Config::new()
            .btree_map(["."])
            .compile_fds(fds)?;
    }
    Ok(())
}
