// Runs a wasm32-wasip1 program under Node's V8 (the engine Envoy embeds),
// so engine benchmarks can be measured as the filter runs them:
//   CARGO_TARGET_WASM32_WASIP1_RUNNER="node $PWD/tests/bench/wasi.mjs" \
//     cargo bench -p observatory-redact --bench redact --target wasm32-wasip1
// The program sees the working directory as `.` and the workspace's
// target/ as `/target` (CARGO_TARGET_DIR, where criterion keeps its data).
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { WASI } from "node:wasi";
import process from "node:process";

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error("usage: node wasi.mjs PROGRAM.wasm [ARGS...]");
  process.exit(2);
}
const target = fileURLToPath(new URL("../../target", import.meta.url));
const wasi = new WASI({
  version: "preview1",
  args: [file, ...args],
  env: { ...process.env, CARGO_TARGET_DIR: "/target" },
  preopens: { ".": process.cwd(), "/target": target },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
