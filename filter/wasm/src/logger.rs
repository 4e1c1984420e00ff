//! `log` records to Envoy's log (`proxy_log`), and a panic's message at
//! critical level before the VM aborts.

use crate::abi;

struct Logger;

static LOGGER: Logger = Logger;

/// Installs the logger and the panic hook; called once, from `_initialize`.
pub fn init(max: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(max);
    std::panic::set_hook(Box::new(|info| {
        emit(abi::level::CRITICAL, &format!("observatory: panic: {info}"));
    }));
}

fn emit(level: u32, message: &str) {
    // SAFETY: the host only reads the message during the call.
    let _ = unsafe { abi::proxy_log(level, message.as_ptr(), message.len()) };
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => abi::level::TRACE,
            log::Level::Debug => abi::level::DEBUG,
            log::Level::Info => abi::level::INFO,
            log::Level::Warn => abi::level::WARN,
            log::Level::Error => abi::level::ERROR,
        };
        match record.args().as_str() {
            Some(message) => emit(level, message),
            None => emit(level, &record.args().to_string()),
        }
    }

    fn flush(&self) {}
}
