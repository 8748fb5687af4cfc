/* Node harness for tests/unit/test_js_prep.py: runs ui/live_assets/prep.js on drawings.
 * stdin: [{"width": w, "height": h, "channels": 1 | 3 | 4, "data": "<base64 of the 8-bit pixels>",
 *          "opts": {...}}, ...]
 * stdout: [{"ok", "blank", "message", "pixels": "<base64>" | null,
 *           "steps": [{"caption", "width", "height", "channels", "data": "<base64>"}]}, ...]
 * A job with "repeat": R also times R more calls (bench/js_encoder.py): "times_ms": [R wall times],
 * "cpu_ms_per_call": CPU time (user + system) / R. */
const path = require("path");
const {vaePrepare} = require(path.join(__dirname, "..", "..", "ui", "live_assets", "prep.js"));

const cpuMs = (used) => (used.user + used.system) / 1000;
const b64 = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((job) => {
    const data = new Uint8ClampedArray(Buffer.from(job.data, "base64"));
    const out = vaePrepare({data, width: job.width, height: job.height, channels: job.channels}, job.opts || {});
    const times = [], cpu = process.cpuUsage();
    for (let i = 0; i < (job.repeat || 0); i++) {
      const t0 = process.hrtime.bigint();
      vaePrepare({data, width: job.width, height: job.height, channels: job.channels}, job.opts || {});
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const image = out.image ? Array.from(out.image) : null;
    return {ok: out.ok, blank: out.blank, message: out.message, pixels: out.pixels ? b64(out.pixels) : null, image,
            steps: out.steps.map((s) => ({caption: s.caption, width: s.width, height: s.height,
                                          channels: s.channels, data: b64(s.data)})),
            times_ms: times, cpu_ms_per_call: job.repeat ? cpuMs(process.cpuUsage(cpu)) / job.repeat : null};
  });
  process.stdout.write(JSON.stringify(results));
});
