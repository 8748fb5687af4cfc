/* VAE Latent Lab: points on the path between two latent codes, as vae/explore.py's interpolate_at.
 *
 * lerp:  z_t = (1 - t) z0 + t z1;
 * slerp: z_t = sin((1 - t) w) / sin w * z0 + sin(t w) / sin w * z1,  cos w = z0.z1 / (|z0| |z1|)
 *        (Shoemake 1985; White 2016), falling back to lerp when |z0| or |z1| < 1e-8 or
 *        |sin w| < 1e-6 ((anti)parallel codes), the same thresholds as vae.explore.slerp.
 * Part of the live component (ui/live.py joins it after decoder.js) and loaded by Node in
 * tests/unit/test_js_path.py. Computed in float64.
 */

function vaeLerp(z0, z1, t) {
  /* (D,), (D,), a number -> (D,): (1 - t) z0 + t z1. */
  return z0.map((a, i) => (1 - t) * a + t * z1[i]);
}

function vaeSlerp(z0, z1, t) {
  /* (D,), (D,), a number -> (D,): spherical interpolation with vae.explore.slerp's fallbacks. */
  let dot = 0, s0 = 0, s1 = 0;
  for (let i = 0; i < z0.length; i++) {
    dot += z0[i] * z1[i];
    s0 += z0[i] * z0[i];
    s1 += z1[i] * z1[i];
  }
  const n0 = Math.sqrt(s0), n1 = Math.sqrt(s1);
  if (n0 < 1e-8 || n1 < 1e-8) return vaeLerp(z0, z1, t);
  const omega = Math.acos(Math.min(1, Math.max(-1, dot / (n0 * n1))));
  const so = Math.sin(omega);
  if (Math.abs(so) < 1e-6) return vaeLerp(z0, z1, t);
  const a = Math.sin((1 - t) * omega) / so, b = Math.sin(t * omega) / so;
  return z0.map((v, i) => a * v + b * z1[i]);
}

function vaePathPoint(z0, z1, t, method) {
  /* The point at fraction t of the path z0 -> z1: method "linear" (lerp) or "spherical" (slerp). */
  if (z0.length !== z1.length) throw new Error(`the path's ends differ in length (${z0.length}, ${z1.length})`);
  if (method === "linear") return vaeLerp(z0, z1, t);
  if (method === "spherical") return vaeSlerp(z0, z1, t);
  throw new Error(`method must be 'linear' or 'spherical', got ${method}`);
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = {vaeLerp, vaeSlerp, vaePathPoint};
}
