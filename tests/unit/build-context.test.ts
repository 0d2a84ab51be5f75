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

describe("the context the runner sends to Docker", () => {
  it("holds exactly the files the tag hashes, and nothing from the folders it leaves out", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tar = require("tar-stream");
    const { DockerResources } = await import("../../local-runner/docker-resources");
    const sent: string[] = [];
    const folders: string[] = [];
    const docker = {
      buildImage: async (stream: NodeJS.ReadableStream) => {
        const extract = tar.extract();
        extract.on("entry", (header: { name: string; type: string }, body: NodeJS.ReadableStream, next: () => void) => {
          if (header.type === "file") sent.push(header.name);
          else folders.push(header.name);
          body.on("end", next);
          body.resume();
        });
        await new Promise((resolve) => {
          extract.on("finish", resolve);
          stream.pipe(extract);
        });
        return "stream";
      },
      modem: { followProgress: (_s: unknown, done: (err: null, out: unknown[]) => void) => done(null, []) },
      getImage: () => ({ inspect: async () => ({ Id: "sha256:1" }) }),
    };
    const resources = new DockerResources(docker as never, () => undefined);
    await resources.buildImage({ imageName: "x:1", skipPush: true, build: { context: ".", dockerfile: "shared/images/slurm-exporter/Dockerfile" } });
    expect(new Set(sent)).toEqual(new Set(contextFiles(PROJECT_ROOT)));
    expect(sent.length).toBe(contextFiles(PROJECT_ROOT).length);
    expect(sent).toContain("node_modules/typescript/lib/typescript.js");
    // No folder of what is left out is walked and sent (empty folders of node_modules, .git).
    const parents = new Set(sent.flatMap((f) => f.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"))));
    expect(folders.filter((d) => !parents.has(d.replace(/\/$/, "")))).toEqual([]);
    expect(sent.filter((f) => /^(\.git|dist|\.local-state)\//.test(f) || f.startsWith("node_modules/ts-node/") || f.startsWith("node_modules/typescript/lib/tsc"))).toEqual([]);
  });
});
