// src/gen/ is what scripts/generate.sh makes from proto/ now.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const rel = "raystack/raccoon/v1beta1";

function hasProtoc() {
  try {
    execFileSync("protoc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

test(
  "the committed generated code matches proto/",
  { skip: !hasProtoc() && "protoc is not installed" },
  () => {
    const out = mkdtempSync(join(tmpdir(), "raccoon-js-gen-"));
    try {
      execFileSync("sh", [join(root, "scripts", "generate.sh"), out], { stdio: "pipe" });
      const made = readdirSync(join(out, rel)).sort();
      assert.deepEqual(made, readdirSync(join(root, "src", "gen", rel)).sort());
      for (const f of made) {
        assert.equal(
          readFileSync(join(root, "src", "gen", rel, f), "utf8"),
          readFileSync(join(out, rel, f), "utf8"),
          `src/gen/${rel}/${f} differs from what scripts/generate.sh makes: run npm run generate`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
);
