// Summarises a V8 CPU profile of tests/bench/vm.mjs (`node --cpu-prof`):
// self time by function, and the share of the module's wasm code, of the
// simulated host's JavaScript and of the garbage collector.
//   node tests/bench/vm-profile.mjs PROFILE.cpuprofile [TOP]
// Wasm functions carry their names when the module keeps its name section
// (CARGO_PROFILE_RELEASE_STRIP=false); Rust's mangled names are shortened.
import { readFileSync } from "node:fs";
import process from "node:process";

const [file, top = "30"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node vm-profile.mjs PROFILE.cpuprofile [TOP]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8"));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

/// `_ZN4core3fmt5write17h0123456789abcdefE` → `core::fmt::write`.
function demangle(name) {
  const m = /^_ZN(.*)17h[0-9a-f]{16}E$/.exec(name);
  if (!m) return name;
  const parts = [];
  let rest = m[1];
  while (rest.length) {
    const len = /^\d+/.exec(rest);
    if (!len) break;
    const n = Number(len[0]);
    parts.push(rest.slice(len[0].length, len[0].length + n));
    rest = rest.slice(len[0].length + n);
  }
  return parts
    .join("::")
    .replace(/\$LT\$/g, "<")
    .replace(/\$GT\$/g, ">")
    .replace(/\$u20\$/g, " ")
    .replace(/\$u7b\$/g, "{")
    .replace(/\$u7d\$/g, "}")
    .replace(/\$RF\$/g, "&")
    .replace(/\$C\$/g, ",")
    .replace(/\.\./g, "::");
}

const byFunction = new Map();
const byKind = new Map();
let total = 0;
for (const [id, t] of self) {
  const frame = nodes.get(id).callFrame;
  const url = frame.url ?? "";
  const isWasm = frame.functionName.startsWith("$") || url.startsWith("wasm://") || /^wasm-function/.test(frame.functionName);
  const name = isWasm ? demangle(frame.functionName.replace(/^\$/, "")) : `${frame.functionName || "(anonymous)"} ${url.split("/").pop()}:${frame.lineNumber + 1}`;
  const kind = isWasm
    ? "module (wasm)"
    : frame.functionName.startsWith("wasm-to-js") || frame.functionName.startsWith("js-to-wasm")
      ? "wasm/JS transitions"
      : frame.functionName === "(garbage collector)"
        ? "garbage collector"
        : ["(idle)", "(program)", "(root)"].includes(frame.functionName)
          ? "other"
          : "simulated host (JavaScript)";
  byFunction.set(name, (byFunction.get(name) ?? 0) + t);
  byKind.set(kind, (byKind.get(kind) ?? 0) + t);
  total += t;
}
// Time inside each callback Envoy makes (the module's exports
// `proxy_on_*`), host calls and garbage collection during it included.
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const byCallback = new Map();
for (const [id, t] of self) {
  let callback = null;
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const name = nodes.get(at).callFrame.functionName.replace(/^\$/, "");
    if (name.startsWith("proxy_on_")) callback = name;
  }
  if (callback) byCallback.set(callback, (byCallback.get(callback) ?? 0) + t);
}
const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)} %`;
console.log("self time by kind:");
for (const [k, t] of [...byKind].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(t)}  ${k}`);
console.log("time in each callback (host calls included):");
for (const [k, t] of [...byCallback].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(t)}  ${k}`);
console.log(`self time by function (top ${top}):`);
for (const [k, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`  ${pct(t)}  ${k}`);
}
