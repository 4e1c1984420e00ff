//! Compiles the .proto files with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["observatory/audit/v1/audit.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
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
