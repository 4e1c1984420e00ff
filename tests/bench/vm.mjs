// Runs the filter module under Node's V8 (the engine Envoy embeds) behind a
// simulated Envoy host, request after request, so that the module's own
// per-request work can be profiled and its host calls counted:
//
//   node tests/bench/vm.mjs --wasm FILTER.wasm [--config JSON] [--requests N]
//        [--body FILE] [--connections N] [--rounds N] [--evict BYTES]
//   node --cpu-prof --cpu-prof-dir DIR tests/bench/vm.mjs ...   (a V8 profile)
//
// Each request goes through the callbacks Envoy makes for a request routed
// upstream: context create, request headers (and body), response headers,
// response body, log, done, delete (those the module exports); the root gets
// a tick every simulated millisecond (60 µs of simulated time per request)
// and an Ack for every batch it sends. Prints the host calls per request by
// kind, the module's wall time per request (including this host's
// JavaScript, which is not Envoy's cost), and with --cpu-prof V8 writes a
// profile whose wasm functions are named when the module keeps its name section
// (CARGO_PROFILE_RELEASE_STRIP=false). With --evict, BYTES of other memory
// are written before each request and each request is timed alone: in a
// proxy, Envoy's own work between two requests evicts the module's code and
// data from the CPU caches, which a tight loop of requests keeps warm.
import { readFileSync } from "node:fs";
import process from "node:process";

const opts = {
  wasm: null,
  config: null,
  requests: 200000,
  rounds: 3,
  body: null,
  connections: 16,
  path: "/bench/orders/1",
  evict: 0,
};
const numeric = { requests: 1, rounds: 1, connections: 1, evict: 0 }; // option: least value
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i]?.replace(/^--/, "");
  if (!(key in opts) || argv[i + 1] === undefined) {
    console.error(`unknown or incomplete option ${argv[i]}`);
    process.exit(2);
  }
  opts[key] = key in numeric ? Number(argv[i + 1]) : argv[i + 1];
}
for (const [key, min] of Object.entries(numeric)) {
  if (!Number.isInteger(opts[key]) || opts[key] < min) {
    console.error(`--${key} ${opts[key]}: want an integer ≥ ${min}`);
    process.exit(2);
  }
}
if (!opts.wasm) {
  console.error(
    "usage: node vm.mjs --wasm FILTER.wasm [--config JSON] [--requests N] [--rounds N] [--body FILE] [--evict BYTES]",
  );
  process.exit(2);
}
// The benchmark's setup c (tests/bench/load.sh's DEFAULT_PLUGIN_JSON).
const config =
  opts.config ??
  JSON.stringify({
    collector: { cluster: "observatory_collector" },
    requireMtls: false,
    auditFailureMode: "open",
    batch: { maxRecords: 256, maxAgeMs: 1000, maxBufferedBytes: 4194304 },
    correlationHeader: "x-correlation-id",
    policies: [
      {
        name: "frontend-reads",
        action: "ALLOW",
        rules: [
          {
            from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }],
            to: [{ operation: { methods: ["GET"], paths: ["/api/orders/{*}", "/healthz"] } }],
          },
        ],
      },
      { name: "no-admin", action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }] },
      { name: "audit-exports", action: "AUDIT", rules: [{ to: [{ operation: { paths: ["/api/export*"] } }] }] },
      {
        name: "bench",
        action: "ALLOW",
        rules: [{ to: [{ operation: { methods: ["GET", "POST"], paths: ["/bench*"] } }] }],
      },
    ],
  });
const body = opts.body ? readFileSync(opts.body) : null;

// proxy-wasm ABI constants.
const OK = 0, NOT_FOUND = 1, BAD_ARGUMENT = 2;
const MAP_REQUEST = 0, MAP_RESPONSE = 2;
const BUF_REQUEST_BODY = 0, BUF_RESPONSE_BODY = 1, BUF_GRPC = 5, BUF_VM_CONFIG = 6, BUF_PLUGIN_CONFIG = 7;

const enc = new TextEncoder();
const dec = new TextDecoder();
// Host calls by kind; the host's own work is kept small (cached names,
// prepared answers) so that a profile shows the module's.
const calls = new Map();
const count = (name) => calls.set(name, (calls.get(name) ?? 0) + 1);
const texts = new Map();
const names = new Map();
/// `kind arg` as one string, built once.
function named(kind, arg) {
  let byArg = names.get(kind);
  if (byArg === undefined) names.set(kind, (byArg = new Map()));
  let name = byArg.get(arg);
  if (name === undefined) byArg.set(arg, (name = `${kind} ${arg.replaceAll("\0", ".")}`));
  return name;
}
/// A string the module passes from its static data (a property path, a
/// header name): decoded once per address.
function cachedStr(ptr, len) {
  const key = ptr * 65536 + len;
  let s = texts.get(key);
  if (s === undefined) {
    s = str(ptr, len);
    texts.set(key, s);
  }
  return s;
}

let exports_ = null;
// Views of the module's memory, made again only when it grows.
let buffer = null, view = null, u8 = null;
function refresh() {
  if (exports_.memory.buffer !== buffer) {
    buffer = exports_.memory.buffer;
    view = new DataView(buffer);
    u8 = new Uint8Array(buffer);
  }
}
const mem = () => (refresh(), view);
const bytes = (ptr, len) => (refresh(), u8.subarray(ptr, ptr + len));
const str = (ptr, len) => dec.decode(bytes(ptr, len));

/// Hands `data` to the module as the ABI does: memory it allocates, its
/// address and size written to the two out-parameters.
function give(data, ptrOut, sizeOut) {
  const ptr = data.length ? exports_.proxy_on_memory_allocate(data.length) : 0;
  refresh();
  if (data.length) u8.set(data, ptr);
  view.setUint32(ptrOut, ptr, true);
  view.setUint32(sizeOut, data.length, true);
  return OK;
}

function serializeMap(pairs) {
  const encoded = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + encoded.length * 8;
  for (const [k, v] of encoded) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, encoded.length, true);
  let at = 4 + encoded.length * 8;
  encoded.forEach(([k, v], i) => {
    view.setUint32(4 + i * 8, k.length, true);
    view.setUint32(8 + i * 8, v.length, true);
    out.set(k, at);
    at += k.length + 1;
    out.set(v, at);
    at += v.length + 1;
  });
  return out;
}

const u64 = (n) => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
};

// The simulated Envoy: one request in flight at a time, like one worker.
const MS = 1_000_000n;
let clock = 1_780_000_000_000n * MS;
let tickPeriod = 0n;
let nextTick = 0n;
let current = null; // { connection, requestHeaders, responseHeaders, ... }
const streams = new Map(); // token -> pending acks
let nextToken = 1;
let acks = [];
let localReplies = 0;

function uuid(i) {
  const hex = i.toString(16).padStart(12, "0");
  return `3f0e8a52-6c1d-4b7e-9a40-${hex}`;
}

// The request headers as Envoy hands them to the filter (it adds
// x-forwarded-proto and x-request-id); each request's id is written into
// one prepared map.
const requestMap = (() => {
  const headers = [
    [":authority", "127.0.0.1:10000"],
    [":path", opts.path],
    [":method", body ? "POST" : "GET"],
    [":scheme", "http"],
    ["x-forwarded-proto", "http"],
  ];
  if (body) {
    headers.push(["content-length", String(body.length)], ["content-type", "application/json"]);
  }
  headers.push(["x-request-id", uuid(0)]);
  return serializeMap(headers);
})();
const idAt = requestMap.length - 1 - 12;
function requestHeaders(i) {
  const hex = i.toString(16).padStart(12, "0");
  for (let k = 0; k < 12; k++) requestMap[idAt + k] = hex.charCodeAt(k);
  return requestMap;
}
const responseHeaders = serializeMap([
  [":status", "200"],
  ["content-length", "2"],
  ["content-type", "text/plain"],
  ["date", "Sun, 06 Dec 2026 08:00:00 GMT"],
  ["server", "envoy"],
  ["x-envoy-upstream-service-time", "0"],
]);

const connectionIds = Array.from({ length: opts.connections + 1 }, (_, i) => u64(i));
const fixedProperties = new Map([
  ["connection\0mtls", new Uint8Array([0])],
  ["response\0code", u64(200)],
  ["request\0size", u64(body ? body.length : 0)],
  ["response\0size", u64(2)],
]);
function property(path) {
  const connection = current?.connection ?? 0;
  switch (path) {
    case "connection\0id":
      return connectionIds[connection];
    case "source\0address":
      return enc.encode(`127.0.0.1:${40000 + connection}`);
    default:
      return fixedProperties.get(path) ?? null;
  }
}

/// Reads the top-level varint field `field` of a protobuf message.
function varintField(buf, field) {
  let at = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[at++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const tag = Number(varint());
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      if (tag >> 3 === field) return v;
    } else if (wire === 2) {
      const len = Number(varint()); // read before `at` is: `at += varint()` would not
      at += len;
    }
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else return null;
  }
  return null;
}
function ackFor(seq) {
  const out = [0x08];
  let v = seq;
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return new Uint8Array(out);
}

/// A header write, counted by map and header name.
const headerWrite = (kind) => (map, kptr, klen) => {
  count(named(`${kind} ${map === MAP_REQUEST ? "request" : "response"}`, cachedStr(kptr, klen)));
  return OK;
};
/// A host call that is only counted and answers `status`.
const counted = (name, status) => () => {
  count(name);
  return status;
};

let grpcReceive = null;
const env = {
  proxy_log(level, ptr, len) {
    count("log");
    if (level >= 3) console.error(`[wasm ${level}] ${str(ptr, len)}`);
    return OK;
  },
  proxy_get_current_time_nanoseconds(out) {
    count("get_current_time");
    mem().setBigUint64(out, clock, true);
    return OK;
  },
  proxy_set_tick_period_milliseconds(ms) {
    count("set_tick_period");
    tickPeriod = BigInt(ms) * MS;
    nextTick = clock + tickPeriod;
    return OK;
  },
  proxy_get_property(ptr, len, dataOut, sizeOut) {
    const path = cachedStr(ptr, len);
    count(named("get_property", path));
    const value = property(path);
    return value ? give(value, dataOut, sizeOut) : NOT_FOUND;
  },
  proxy_set_property: counted("set_property", OK),
  proxy_get_header_map_pairs(map, dataOut, sizeOut) {
    count(map === MAP_REQUEST ? "get_header_map_pairs request" : "get_header_map_pairs response");
    if (!current) return NOT_FOUND;
    const data = map === MAP_REQUEST ? current.requestHeaders : map === MAP_RESPONSE ? responseHeaders : null;
    return data ? give(data, dataOut, sizeOut) : NOT_FOUND;
  },
  proxy_get_header_map_value(map, kptr, klen, dataOut, sizeOut) {
    count(`get_header_map_value ${map}`);
    return NOT_FOUND;
  },
  proxy_replace_header_map_value: headerWrite("replace_header_map_value"),
  proxy_add_header_map_value: headerWrite("add_header_map_value"),
  proxy_remove_header_map_value: headerWrite("remove_header_map_value"),
  proxy_set_header_map_pairs: counted("set_header_map_pairs", OK),
  proxy_get_buffer_bytes(type, start, size, dataOut, sizeOut) {
    count(`get_buffer_bytes ${type}`);
    let data;
    if (type === BUF_PLUGIN_CONFIG) data = enc.encode(config);
    else if (type === BUF_VM_CONFIG) data = new Uint8Array(0);
    else if (type === BUF_GRPC) data = grpcReceive;
    else if (type === BUF_REQUEST_BODY && body) data = body;
    else if (type === BUF_RESPONSE_BODY) data = enc.encode("ok");
    if (!data) return NOT_FOUND;
    // Sizes are u32 (usize::MAX for "all"); JavaScript sees them signed.
    const end = Math.min(data.length, (start >>> 0) + (size >>> 0));
    return give(data.subarray(start >>> 0, end), dataOut, sizeOut);
  },
  proxy_set_buffer_bytes: counted("set_buffer_bytes", OK),
  proxy_send_local_response() {
    count("send_local_response");
    localReplies++;
    return OK;
  },
  proxy_define_metric(type, ptr, len, out) {
    count("define_metric");
    mem().setUint32(out, calls.get("define_metric"), true);
    return OK;
  },
  proxy_increment_metric: counted("increment_metric", OK),
  proxy_grpc_stream(sptr, slen, nptr, nlen, mptr, mlen, hptr, hlen, out) {
    count("grpc_stream");
    const token = nextToken++;
    streams.set(token, true);
    mem().setUint32(out, token, true);
    return OK;
  },
  proxy_grpc_send(token, ptr, len) {
    count("grpc_send");
    const seq = varintField(bytes(ptr, len), 3);
    if (seq !== null) acks.push([token, ackFor(seq)]);
    return OK;
  },
  proxy_grpc_cancel: counted("grpc_cancel", OK),
  proxy_grpc_close: counted("grpc_close", OK),
  proxy_grpc_call: counted("grpc_call", BAD_ARGUMENT),
  proxy_http_call: counted("http_call", BAD_ARGUMENT),
  proxy_get_status(codeOut, dataOut, sizeOut) {
    count("get_status");
    mem().setUint32(codeOut, 0, true);
    return give(new Uint8Array(0), dataOut, sizeOut);
  },
  proxy_get_shared_data: () => NOT_FOUND,
  proxy_set_shared_data: () => OK,
  proxy_register_shared_queue: () => OK,
  proxy_resolve_shared_queue: () => NOT_FOUND,
  proxy_enqueue_shared_queue: () => OK,
  proxy_dequeue_shared_queue: () => NOT_FOUND,
  proxy_done: () => OK,
  proxy_close_stream: () => OK,
  proxy_continue_stream: () => OK,
  proxy_call_foreign_function: () => NOT_FOUND,
  proxy_set_effective_context: () => OK,
};
const wasi = {
  random_get(ptr, len) {
    count("random_get");
    const out = bytes(ptr, len);
    for (let i = 0; i < len; i++) out[i] = (Math.random() * 256) | 0;
    return 0;
  },
  environ_sizes_get(countOut, sizeOut) {
    mem().setUint32(countOut, 0, true);
    mem().setUint32(sizeOut, 0, true);
    return 0;
  },
  environ_get: () => 0,
  clock_time_get(id, precision, out) {
    count("clock_time_get");
    mem().setBigUint64(out, clock, true);
    return 0;
  },
  fd_write(fd, iovs, n, out) {
    mem().setUint32(out, 0, true);
    return 0;
  },
  proc_exit(code) {
    throw new Error(`proc_exit(${code})`);
  },
};

const module = new WebAssembly.Module(readFileSync(opts.wasm));
const instance = new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi });
exports_ = instance.exports;
const x = exports_;
x._initialize?.();
const ROOT = 1;
x.proxy_on_context_create(ROOT, 0);
x.proxy_on_vm_start(ROOT, 0);
if (!x.proxy_on_configure(ROOT, enc.encode(config).length)) {
  console.error("the module refused its configuration");
  process.exit(1);
}
const setupCalls = new Map(calls);
calls.clear();

let context = ROOT + 1;
function tickAndAck() {
  if (tickPeriod > 0n && clock >= nextTick) {
    nextTick = clock + tickPeriod;
    x.proxy_on_tick(ROOT);
  }
  for (const [token, ack] of acks.splice(0)) {
    grpcReceive = ack;
    x.proxy_on_grpc_receive(ROOT, token, ack.length);
  }
}
function request(i) {
  const ctx = context++;
  current = { connection: 1 + (i % opts.connections), requestHeaders: requestHeaders(i) };
  x.proxy_on_context_create(ctx, ROOT);
  x.proxy_on_request_headers(ctx, 6, body ? 0 : 1);
  if (body) x.proxy_on_request_body(ctx, body.length, 1);
  clock += 40_000n;
  x.proxy_on_response_headers(ctx, 6, 0);
  x.proxy_on_response_body(ctx, 2, 1);
  x.proxy_on_log(ctx);
  x.proxy_on_done(ctx);
  // Envoy skips a callback the module does not export.
  x.proxy_on_delete?.(ctx);
  current = null;
  clock += 20_000n;
  tickAndAck();
}

// Warm up (V8 tiers the module up), then measure rounds.
for (let i = 0; i < 20000; i++) request(i);
calls.clear();
let done = 20000;
const perRound = [];
// --evict: see the head of this file.
const evictBuf = new Uint8Array(opts.evict);
function evict() {
  for (let i = 0; i < evictBuf.length; i += 64) evictBuf[i]++;
}
for (let r = 0; r < opts.rounds; r++) {
  let spent = 0n;
  if (opts.evict > 0) {
    for (let i = 0; i < opts.requests; i++) {
      evict();
      const t0 = process.hrtime.bigint();
      request(done + i);
      spent += process.hrtime.bigint() - t0;
    }
  } else {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < opts.requests; i++) request(done + i);
    spent = process.hrtime.bigint() - t0;
  }
  done += opts.requests;
  perRound.push(Number(spent) / opts.requests);
}
const total = opts.requests * opts.rounds;
const sorted = [...perRound].sort((a, b) => a - b);
console.log(`requests: ${total} in ${opts.rounds} rounds; local replies: ${localReplies}`);
console.log(
  `ns/request (module + simulated host), per round: ${perRound.map((n) => n.toFixed(0)).join(" ")}; median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)}; min ${sorted[0].toFixed(0)}`,
);
console.log("host calls per request:");
for (const [name, n] of [...calls].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${(n / total).toFixed(3).padStart(8)}  ${name}`);
}
console.log(`set-up host calls: ${[...setupCalls].map(([k, v]) => `${k}×${v}`).join(", ")}`);
