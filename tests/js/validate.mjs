// Validates glTF/GLB files with the Khronos glTF-Validator; prints one JSON report per file:
// {"file", "errors", "warnings", "infos", "hints", "messages": [...]}.
// Usage: node tests/js/validate.mjs FILE.glb [...]
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const validator = require("gltf-validator");

for (const file of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(await readFile(file)), { maxIssues: 100 });
  const i = report.issues;
  console.log(JSON.stringify({
    file, errors: i.numErrors, warnings: i.numWarnings, infos: i.numInfos, hints: i.numHints,
    messages: i.messages.map((m) => `${["ERROR", "WARNING", "INFO", "HINT"][m.severity]} ${m.code} ${m.pointer ?? ""}: ${m.message}`),
  }));
}
