//! Compiles kefu's .proto files with the protoc binary vendored by a crate, so
//! a fresh machine needs no protoc installed; then derives the proto3 JSON
//! mapping (serde impls) for the same messages from the descriptor set, so the
//! REST API speaks the .proto's own types and names.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = out.join("kefu_descriptor.bin");
    let protos = [
        "proto/kefu/v1/answers.proto",
        "proto/kefu/v1/admin.proto",
        "proto/kefu/v1/routing.proto",
    ];
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptors)
        .compile_protos(&protos, &["proto"])?;
    // Fields at their default value are written too (`"assigned": false`, `"queuePosition": 0`):
    // a JSON caller should not need the .proto to know a field exists. Unknown fields in a
    // request are refused by name rather than ignored, as a typo would otherwise pass silently.
    pbjson_build::Builder::new()
        .register_descriptors(&std::fs::read(&descriptors)?)?
        .emit_fields()
        .build(&[".kefu.v1"])?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
