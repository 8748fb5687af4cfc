/* Node harness for tests/unit/test_js_path.py: runs ui/live_assets/path.js's vaePathPoint.
 * stdin: {"cases": [{"z0": [...], "z1": [...], "t": [t, ...], "method": "linear" | "spherical"}, ...]}
 * stdout: {"points": [[[z_t values], ...] per case]} */
const path = require("path");
const {vaePathPoint} = require(path.join(__dirname, "..", "..", "ui", "live_assets", "path.js"));

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const job = JSON.parse(input);
  const points = job.cases.map((c) => c.t.map((t) => vaePathPoint(c.z0, c.z1, t, c.method)));
  process.stdout.write(JSON.stringify({points}));
});
