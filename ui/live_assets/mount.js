/* VAE Latent Lab: the live component's entry point (ui/live.py; after live.js and pad.js).
 * Streamlit calls it on mount and again whenever the data changes, with the same parentElement:
 * the instance for that element is kept and updated, and removed on unmount. */

const KINDS = {view: View, sliders: Sliders, pad: Pad, path: PathView};

export default function (component) {
  const {data, parentElement, setStateValue, setTriggerValue} = component;
  if (!data || !KINDS[data.kind]) return undefined;
  let inst = INSTANCES.get(parentElement);
  const fresh = !inst || !(inst instanceof KINDS[data.kind]);
  if (fresh) {
    if (inst) inst.destroy();
    inst = new KINDS[data.kind](parentElement);
    INSTANCES.set(parentElement, inst);
  }
  inst.api = {setStateValue, setTriggerValue};
  inst.last = data;
  try {
    inst.update(data, inst.api, fresh);
    inst.error.hidden = true;
  } catch (err) {
    console.error("VAE Latent Lab live component:", err);
    inst.fail(err, data);
  }
  return () => {
    if (INSTANCES.get(parentElement) === inst) {
      inst.destroy();
      INSTANCES.delete(parentElement);
    }
  };
}
