/* Node harness for tests/unit/test_js_decoder.py: runs ui/live_assets/decoder.js on latent points.
 * stdin: {"spec": {...}, "weights": "<base64 of spec.dtype values>", "z": [[...], ...],
 *         "classes": [c, ...] (optional: the class of each z, for a conditional decoder)}
 * stdout: {"images": [[C*H*W pixel means], ...]}
 * Or stdin {"halves": true}: stdout {"bits": [float32 bits of the 65536 half values, widened]}. */
const path = require("path");
const {vaeBase64ToBytes, vaeBytesToFloat32, vaeMakeDecoder} = require(
  path.join(__dirname, "..", "..", "ui", "live_assets", "decoder.js"));

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const job = JSON.parse(input);
  if (job.halves) {
    const bytes = new Uint8Array(2 * 65536), view = new DataView(bytes.buffer);
    for (let h = 0; h < 65536; h++) view.setUint16(2 * h, h, true);
    const floats = new DataView(vaeBytesToFloat32(bytes, "float16").buffer);
    const bits = Array.from({length: 65536}, (_, i) => floats.getUint32(4 * i, true));
    process.stdout.write(JSON.stringify({bits}));
    return;
  }
  const decoder = vaeMakeDecoder(job.spec, vaeBytesToFloat32(vaeBase64ToBytes(job.weights), job.spec.dtype));
  const images = job.z.map((z, i) => Array.from(decoder.decode(z, job.classes ? job.classes[i] : undefined)));
  process.stdout.write(JSON.stringify({images}));
});
