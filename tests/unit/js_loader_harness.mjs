/* Node harness for tests/unit/test_js_loader.py: drives ui/live_assets/loader.js the way Streamlit
 * does (default export per mount / data change, cleanup on unmount) against a fake component
 * module that logs its calls, and prints the log of each scenario as JSON.
 * argv[2]: the loader's source file. */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import {pathToFileURL} from "node:url";

const dir = mkdtempSync(join(tmpdir(), "vae-loader-"));
const LOG = [];
globalThis.VAE_LOG = LOG;
globalThis.document = {
  baseURI: pathToFileURL(dir + "/").href,
  createElement: () => ({className: "", dataset: {}, textContent: "", removed: false, remove() { this.removed = true; }}),
};
const FAKE = `export default function (c) {
  globalThis.VAE_LOG.push(["mount", c.data]);
  return () => globalThis.VAE_LOG.push(["cleanup", c.data]);
}`;

async function loaderFor(moduleName, tag) {
  const src = readFileSync(process.argv[2], "utf8").replace("__VAE_MODULE_URL__", JSON.stringify(moduleName));
  const file = join(dir, `loader-${tag}.mjs`);
  writeFileSync(file, src);
  return (await import(pathToFileURL(file).href)).default;
}

function element(name) {
  return {name, children: [], appendChild(c) { this.children.push(c); }};
}

function component(el, data) {
  return {parentElement: el, data, setStateValue() {}, setTriggerValue: (event, value) => LOG.push([event, value])};
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

async function beforeAndAfterLoad() {
  writeFileSync(join(dir, "fake.mjs"), FAKE);
  const load = await loaderFor("fake.mjs", "ok");
  const a = element("a"), b = element("b");
  const out = {};
  const first = load(component(a, "a1"));
  const second = load(component(a, "a2"));  // an update before the import resolved
  load(component(b, "b1"))();  // mounted and unmounted before the import resolved
  out.pending = LOG.splice(0);
  await settle();
  out.loaded = LOG.splice(0);
  first();  // the superseded call's cleanup, late: a newer call owns the element
  out.lateCleanup = LOG.splice(0);
  const third = load(component(a, "a3"));  // loaded: runs at once
  out.sync = LOG.splice(0);
  second();
  out.staleCleanup = LOG.splice(0);
  third();
  out.unmount = LOG.splice(0);
  third();
  out.again = LOG.splice(0);
  return out;
}

async function failedImport() {
  const load = await loaderFor("later.mjs", "missing");
  const el = element("c");
  const out = {};
  load(component(el, "c1"));
  await settle();
  out.failed = LOG.splice(0);
  out.shown = el.children.map((c) => [c.className, c.dataset.testid, c.textContent, c.removed]);
  writeFileSync(join(dir, "later.mjs"), FAKE);
  const cleanup = load(component(el, "c2"));  // tries again
  await settle();
  out.retried = LOG.splice(0);
  out.errorRemoved = el.children.every((c) => c.removed);
  cleanup();
  out.unmount = LOG.splice(0);
  return out;
}

console.error = () => {};  // the loader logs the failed import; the log below says it all
try {
  const result = {ok: await beforeAndAfterLoad(), failing: await failedImport()};
  process.stdout.write(JSON.stringify(result));
} finally {
  rmSync(dir, {recursive: true, force: true});
}
