// An image's tag hashes its build context as Docker receives it (.dockerignore applied), as
// pulumi-docker's contextDigest does: what the Dockerfile can copy changes the tag, nothing else does.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { contextDigest, contextFiles } from "../../components/build-context";
import { PROJECT_ROOT } from "../../local-runner/program";

function context(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "build-context-"));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe("an image's build context", () => {
  it("is what .dockerignore lets through, re-included folders inside ignored ones included", () => {
    const dir = context({
      ".dockerignore": "*\n!Dockerfile\n!src/*.ts\n!node_modules/prom-client/\n",
      Dockerfile: "FROM x",
      "src/a.ts": "a",
      "src/notes.md": "n",
      "node_modules/prom-client/index.js": "p",
      "node_modules/left-pad/index.js": "l",
      "README.md": "r",
    });
    expect(contextFiles(dir)).toEqual(["Dockerfile", "node_modules/prom-client/index.js", "src/a.ts"]);
  });

  it("changes its digest when a sent file changes, and not when an ignored one does", () => {
    const files = { ".dockerignore": "*\n!Dockerfile\n!node_modules/prom-client/\n", Dockerfile: "FROM x", "node_modules/prom-client/index.js": "p", "README.md": "r" };
    const a = context(files);
    const b = context({ ...files, "node_modules/prom-client/index.js": "p2" });
    const c = context({ ...files, "README.md": "r2" });
    const digest = (d: string) => contextDigest(d, path.join(d, "Dockerfile"));
    expect(digest(b)).not.toBe(digest(a));
    expect(digest(c)).toBe(digest(a));
  });

  it("covers the npm packages the exporter image copies from the project's node_modules", () => {
    const files = contextFiles(PROJECT_ROOT);
    expect(files).toEqual(expect.arrayContaining(["node_modules/prom-client/package.json", "shared/images/slurm-exporter/Dockerfile"]));
    expect(files.some((f) => f.startsWith("components/") || f.startsWith("node_modules/jest/"))).toBe(false);
  });
});
