/* Node harness for tests/unit/test_js_encoder.py (and bench/js_encoder.py): runs
 * ui/live_assets/encoder.js on images.
 * stdin: {"spec": {...}, "weights": "<base64 of spec.dtype values>", "x": [[C*H*W values], ...],
 *         "labels": [class per image] (conditional models) | absent,
 *         "repeat": R (optional: time R calls of the first image)}
 * stdout: {"mean": [[D values], ...], "logvar": [[D values], ...],
 *          with repeat: "times_ms": [R wall times], "cpu_ms_per_call": CPU time (user + system) / R}
 * A bad spec, weights or label exits 1 with the error on stderr. */
const path = require("path");
const assets = path.join(__dirname, "..", "..", "ui", "live_assets");
const {vaeBase64ToBytes, vaeBytesToFloat32} = require(path.join(assets, "decoder.js"));
const {vaeMakeEncoder} = require(path.join(assets, "encoder.js"));

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const job = JSON.parse(input);
  const encoder = vaeMakeEncoder(job.spec, vaeBytesToFloat32(vaeBase64ToBytes(job.weights), job.spec.dtype));
  const labels = job.labels || [];
  const mean = [], logvar = [];
  job.x.forEach((x, i) => {
    const out = encoder.encode(Float64Array.from(x), labels[i]);
    mean.push(Array.from(out.mean));
    logvar.push(Array.from(out.logvar));
  });
  const result = {mean, logvar};
  if (job.repeat) {
    const x = Float64Array.from(job.x[0]);
    for (let i = 0; i < 20; i++) encoder.encode(x, labels[0]);  // warm up the JIT
    result.times_ms = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < job.repeat; i++) {
      const t0 = process.hrtime.bigint();
      encoder.encode(x, labels[0]);
      result.times_ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const used = process.cpuUsage(cpu);
    result.cpu_ms_per_call = (used.user + used.system) / 1000 / job.repeat;
  }
  process.stdout.write(JSON.stringify(result));
});
