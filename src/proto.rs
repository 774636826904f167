//! The generated gRPC contract, package `reestr.v1`.

/// Messages, enums, clients and servers of `reestr.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("reestr.v1");
}

/// The encoded `FileDescriptorSet` of every reestr proto file and its imports, served by gRPC
/// reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/reestr_descriptor.bin"));
