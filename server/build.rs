//! Compiles kefu's .proto files with the protoc binary vendored by a crate, so
//! a fresh machine needs no protoc installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "proto/kefu/v1/answers.proto",
        "proto/kefu/v1/admin.proto",
        "proto/kefu/v1/routing.proto",
    ];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("kefu_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
