//! The callbacks Envoy enters the VM by (proxy-wasm ABI 0.2.1), each
//! forwarded to its context's engine object with [`WasmHost`].
//!
//! Only what the filter uses is exported: Envoy skips a callback the module
//! does not export, and every entry into the VM costs a request time. Not
//! exported: `proxy_on_delete` (a stream is dropped at done, see
//! [`crate::contexts`]), the gRPC metadata callbacks, HTTP callouts, queues,
//! and the network-filter callbacks.
//!
//! The table is borrowed for the length of a callback. Envoy defers what a
//! host call would re-enter the VM for, so a second borrow is not expected;
//! if one happens the callback does nothing (the request continues) and
//! says so, rather than panic.

use std::cell::RefCell;

use log::warn;
use observatory_engine::http::{Action, HttpFilter};
use observatory_engine::plugin::Plugin;

use crate::contexts::Contexts;
use crate::host::WasmHost;

thread_local! {
    static CONTEXTS: RefCell<Contexts> = const { RefCell::new(Contexts::new()) };
}

/// `Continue` and `Pause` (StopIteration) as the ABI numbers them.
const CONTINUE: u32 = 0;
const PAUSE: u32 = 1;

fn with<R>(f: impl FnOnce(&mut Contexts) -> Option<R>) -> Option<R> {
    CONTEXTS.with(|contexts| match contexts.try_borrow_mut() {
        Ok(mut contexts) => f(&mut contexts),
        Err(_) => {
            warn!("a callback re-entered the module; it was skipped");
            None
        }
    })
}

fn root<R>(id: u32, f: impl FnOnce(&mut Plugin) -> R) -> Option<R> {
    with(|contexts| contexts.root(id).map(f))
}

/// A stream's callback, as the action Envoy reads; `Continue` for a stream
/// the module does not know.
fn stream(id: u32, f: impl FnOnce(&mut HttpFilter) -> Action) -> u32 {
    match with(|contexts| contexts.stream(id).map(f)) {
        Some(Action::Pause) => PAUSE,
        Some(Action::Continue) | None => CONTINUE,
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(id: u32, parent: u32) {
    with(|contexts| {
        contexts.create(id, parent);
        Some(())
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root: u32, _vm_configuration_size: usize) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(id: u32, _configuration_size: usize) -> bool {
    root(id, |plugin| plugin.on_configure(&WasmHost)).unwrap_or(false)
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(id: u32) {
    root(id, |plugin| plugin.on_tick(&WasmHost));
}

/// gRPC streams belong to the root that opened them, and name it here.
#[no_mangle]
pub extern "C" fn proxy_on_grpc_receive(id: u32, token: u32, size: usize) {
    root(id, |plugin| {
        plugin.on_grpc_stream_message(&WasmHost, token, size)
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_close(id: u32, token: u32, status: u32) {
    root(id, |plugin| {
        plugin.on_grpc_stream_close(&WasmHost, token, status)
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(id: u32, _headers: usize, end_of_stream: bool) -> u32 {
    stream(id, |filter| {
        filter.on_request_headers(&WasmHost, end_of_stream)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(id: u32, size: usize, end_of_stream: bool) -> u32 {
    stream(id, |filter| {
        filter.on_request_body(&WasmHost, size, end_of_stream)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(id: u32, _trailers: usize) -> u32 {
    stream(id, |filter| filter.on_request_trailers(&WasmHost))
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(id: u32, _headers: usize, end_of_stream: bool) -> u32 {
    stream(id, |filter| {
        filter.on_response_headers(&WasmHost, end_of_stream)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(id: u32, size: usize, end_of_stream: bool) -> u32 {
    stream(id, |filter| {
        filter.on_response_body(&WasmHost, size, end_of_stream)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(id: u32, _trailers: usize) -> u32 {
    stream(id, |filter| filter.on_response_trailers(&WasmHost))
}

/// A stream's record; or, for a root used as an HCM access logger, the
/// record of a stream no HTTP filter saw.
#[no_mangle]
pub extern "C" fn proxy_on_log(id: u32) {
    with(|contexts| {
        if let Some(filter) = contexts.stream(id) {
            filter.on_log(&WasmHost);
        } else if let Some(plugin) = contexts.root(id) {
            plugin.on_log(&WasmHost);
        } else {
            // Envoy logs a stream before it is done; if that ever changed,
            // say so rather than lose records unseen.
            warn!("no context {id} to log: its audit record is lost");
        }
        Some(())
    });
}

/// A stream is done and dropped (Envoy deletes it next). A root is done
/// when its plugin says so, and then dropped too.
#[no_mangle]
pub extern "C" fn proxy_on_done(id: u32) -> bool {
    if let Some(filter) = with(|contexts| contexts.remove_stream(id)) {
        drop(filter);
        return true;
    }
    let done = root(id, |plugin| plugin.on_done(&WasmHost)).unwrap_or(true);
    if done {
        drop(with(|contexts| contexts.remove_root(id)));
    }
    done
}
