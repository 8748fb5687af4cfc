/* Node harness for tests/unit/test_js_decoder.py: runs ui/live_assets/decoder.js on latent points.
 * stdin: {"spec": {...}, "weights": "<base64 float32>", "z": [[...], ...]}
 * stdout: {"images": [[C*H*W pixel means], ...]} */
const path = require("path");
const {vaeBase64ToFloat32, vaeMakeDecoder} = require(path.join(__dirname, "..", "..", "ui", "live_assets", "decoder.js"));

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const job = JSON.parse(input);
  const decoder = vaeMakeDecoder(job.spec, vaeBase64ToFloat32(job.weights));
  const images = job.z.map((z) => Array.from(decoder.decode(z)));
  process.stdout.write(JSON.stringify({images}));
});
