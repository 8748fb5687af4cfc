/* VAE Latent Lab: the live component's loader, inlined by ui/live.py under serve.py. It imports the
 * component's module (decoder.js, live.js, pad.js, mount.js) from a cacheable URL and forwards each
 * call to its default export: before the import resolves only an element's latest call runs, and
 * not at all after its cleanup; a cleanup acts only while no newer call owns the element. A
 * failed import shows why, reports "failed", and the next call tries again. */

const MODULE_URL = new URL(__VAE_MODULE_URL__, document.baseURI).href;
const SLOTS = new WeakMap();  // parentElement -> {seq, cleanup, error}
let loaded = null;   // the imported module
let loading = null;  // its import, while in flight

function load() {
  if (!loading) {
    loading = import(MODULE_URL).then((mod) => {
      if (typeof mod.default !== "function") throw new Error("the live component's module has no default export");
      loaded = mod;
      return mod;
    });
    loading.catch(() => { loading = null; });  // the next call imports again
  }
  return loading;
}

function run(mod, component, slot) {
  if (slot.error) {
    slot.error.remove();
    slot.error = null;
  }
  slot.cleanup = mod.default(component);
}

function failed(component, slot, err) {
  const msg = `could not load the live component's code (${err && err.message ? err.message : err})`;
  console.error("VAE Latent Lab live component:", err);
  if (!slot.error) {
    slot.error = document.createElement("div");
    slot.error.className = "live-error";
    slot.error.dataset.testid = "liveError";
    component.parentElement.appendChild(slot.error);
  }
  slot.error.textContent = `Live decoding stopped: ${msg}`;
  component.setTriggerValue("failed", msg);
}

export default function (component) {
  const el = component.parentElement;
  let slot = SLOTS.get(el);
  if (!slot) {
    slot = {seq: 0, cleanup: null, error: null};
    SLOTS.set(el, slot);
  }
  const seq = ++slot.seq;
  if (loaded) {
    run(loaded, component, slot);
  } else {
    load().then(
      (mod) => { if (slot.seq === seq) run(mod, component, slot); },
      (err) => { if (slot.seq === seq) failed(component, slot, err); });
  }
  return () => {
    if (slot.seq !== seq) return;  // a newer call owns the element
    slot.seq++;  // a call still waiting for the module never runs
    SLOTS.delete(el);
    if (slot.error) slot.error.remove();
    const cleanup = slot.cleanup;
    slot.cleanup = null;
    if (typeof cleanup === "function") cleanup();
  };
}
