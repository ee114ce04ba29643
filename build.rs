//! Decides once whether the Linux kernel paths are compiled: on Linux, unless `IO_COPY_PORTABLE`
//! is set, which builds the portable read/write layer every other Unix gets, so CI can check on
//! Linux that it still compiles.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(kernel_paths)");
    println!("cargo::rustc-check-cfg=cfg(docsrs)");
    println!("cargo::rerun-if-env-changed=IO_COPY_PORTABLE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("IO_COPY_PORTABLE").is_none() {
        println!("cargo::rustc-cfg=kernel_paths");
    }
}
