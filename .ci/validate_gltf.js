// Validate glTF files with the Khronos glTF-Validator (npm package gltf-validator).
// Usage: node .ci/validate_gltf.js FILE... ; prints one JSON report per line:
//   {"file": ..., "numErrors": ..., "numWarnings": ..., "messages": [...]}
// The package is found in .ci/node_modules (installed by `npm ci --prefix .ci`, see .ci/run)
// or at the path in $TWIN3D_GLTF_VALIDATOR (a folder holding the package).
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require(process.env.TWIN3D_GLTF_VALIDATOR || "gltf-validator");

async function validate(file) {
  const data = new Uint8Array(fs.readFileSync(file));
  const report = await validator.validateBytes(data, {
    uri: path.basename(file),
    maxIssues: 0,
    writeTimestamp: false,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)), (err, buf) =>
          err ? reject(err.toString()) : resolve(new Uint8Array(buf)));
      }),
  });
  const issues = report.issues;
  return {
    file,
    numErrors: issues.numErrors,
    numWarnings: issues.numWarnings,
    numInfos: issues.numInfos,
    messages: issues.messages.map((m) => ({ code: m.code, severity: m.severity, message: m.message, pointer: m.pointer })),
    info: report.info,
  };
}

(async () => {
  let failed = false;
  for (const file of process.argv.slice(2)) {
    try {
      console.log(JSON.stringify(await validate(file)));
    } catch (err) {
      failed = true;
      console.log(JSON.stringify({ file, numErrors: -1, error: String(err) }));
    }
  }
  process.exit(failed ? 1 : 0);
})();
