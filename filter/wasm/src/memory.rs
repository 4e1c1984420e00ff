//! The two exports that are not callbacks: the ABI version Envoy checks
//! for, and the allocator it fills every buffer it hands over through.

/// The ABI version Envoy checks for.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Envoy allocates here every buffer it hands over (header maps,
/// properties, bodies); the receiving code owns it as a `Vec<u8>` of
/// exactly `size` bytes (`host::take`), so the allocation is exactly `size`
/// bytes at alignment 1, as a boxed slice's is.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    Box::into_raw(Box::<[u8]>::new_uninit_slice(size)).cast::<u8>()
}
