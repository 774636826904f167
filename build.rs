//! Compiles `proto/` into Rust (prost messages, tonic servers and clients) without a system
//! `protoc`: `protox` parses the files, `tonic-prost-build` generates the code, and the encoded
//! descriptor set is written to `$OUT_DIR/reestr_descriptor.bin` for gRPC reflection.

use std::{env, fs, path::PathBuf};

use protox::prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto");
    let mut files = Vec::new();
    for entry in fs::read_dir(proto_dir.join("reestr/v1"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    files.sort();
    println!("cargo:rerun-if-changed=proto");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&proto_dir])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("reestr_descriptor.bin"), fds.encode_to_vec())?;

    // Maps as BTreeMap: a message then always encodes to the same bytes, which the
    // request_id check relies on (it hashes the encoded request).
    // Document chunks as `bytes::Bytes`: decoded without a copy, and passed on to the
    // document store as they are.
    tonic_prost_build::configure()
        .btree_map(".")
        .bytes(".reestr.v1.UploadDocumentRequest.data")
        .bytes(".reestr.v1.DownloadDocumentResponse.data")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
