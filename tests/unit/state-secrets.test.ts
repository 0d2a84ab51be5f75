// Secrets are encrypted in the runner's state file, as Pulumi's passphrase secrets provider keeps
// them in a checkpoint: reading the file finds none of them; the runner reads them back.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Docker from "dockerode";
import { Deployment, lastOutputs } from "../../local-runner/engine";
import { RegistrationArgs } from "../../local-runner/program";
import { STATE_DIR, SavedState, loadState, removeState, resourceKey, saveState, stateFile } from "../../local-runner/state";
import { decrypt, encrypt, keyFilePath, secretsKey } from "../../local-runner/state-secrets";
import { FakeDocker } from "./fake-engine";

const STACK = "unit-state-secrets";
const SIG = "4dabf18193072939515e22adb298388d";
const wireSecret = (value: unknown) => ({ [SIG]: "1b47061264138c4ac30d75fd1eb44270", value });

function registration(type: string, name: string, inputs: Record<string, unknown>): RegistrationArgs {
  return { type, name, inputs, custom: true, details: { dependencies: [], parent: "", replaceOnChanges: [], ignoreChanges: [] } };
}

const saved = { ...process.env };
let config: string;
beforeEach(() => {
  config = fs.mkdtempSync(path.join(os.tmpdir(), "runner-config-"));
  process.env.XDG_CONFIG_HOME = config;
  delete process.env.PULUMI_CONFIG_PASSPHRASE;
  delete process.env.PULUMI_CONFIG_PASSPHRASE_FILE;
});
afterEach(() => {
  process.env = { ...saved };
  removeState(STACK);
});

async function stateWithSecrets(): Promise<SavedState> {
  const state: SavedState = { version: 2, resources: {} };
  const run = new Deployment(STACK, state, "tcp://fake:2375", () => undefined, true, { docker: () => new FakeDocker() as unknown as Docker });
  const pw = await run.register(registration("random:index/randomPassword:RandomPassword", "db-password", { length: 24, special: false }));
  await run.register(
    registration("docker:index/container:Container", "ctl", {
      name: "ctl",
      image: "slurm:abc",
      uploads: wireSecret([{ file: "/etc/munge/munge.key", contentBase64: "TVVOR0UtS0VZLVNFQ1JFVA==" }]),
      envs: ["PLAIN=1"],
    }),
  );
  state.outputs = { clusterName: "ubuntu", database: { user: "slurm", password: { secret: pw.state.result } } };
  saveState(STACK, state);
  return state;
}

describe("secrets in the runner's state file", () => {
  it("are not in the file, and come back when the runner loads it", async () => {
    const state = await stateWithSecrets();
    const password = state.resources[resourceKey("random:index/randomPassword:RandomPassword", "db-password")].outputs.result as string;
    const text = fs.readFileSync(stateFile(STACK), "utf8");
    for (const secret of [password, "TVVOR0UtS0VZLVNFQ1JFVA=="]) expect(text).not.toContain(secret);
    expect(text).toContain("PLAIN=1");
    expect(text).toMatch(/"ciphertext": "v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+"/);

    const loaded = loadState(STACK);
    expect(loaded.resources[resourceKey("random:index/randomPassword:RandomPassword", "db-password")].outputs.result).toBe(password);
    expect(loaded.resources[resourceKey("docker:index/container:Container", "ctl")].inputs.uploads).toEqual([{ file: "/etc/munge/munge.key", contentBase64: "TVVOR0UtS0VZLVNFQ1JFVA==" }]);
    expect(lastOutputs(STACK, true)).toEqual({ clusterName: "ubuntu", database: { user: "slurm", password } });
    expect(lastOutputs(STACK, false)).toEqual({ clusterName: "ubuntu", database: { user: "slurm", password: "[secret]" } });
  });

  it("with no passphrase, use a key generated once in the user's config directory, 0600, outside the state directory", async () => {
    await stateWithSecrets();
    const key = keyFilePath();
    expect(key.startsWith(config)).toBe(true);
    expect(path.relative(STATE_DIR, key).startsWith("..")).toBe(true);
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
    const first = fs.readFileSync(key, "utf8");
    saveState(STACK, loadState(STACK));
    expect(fs.readFileSync(key, "utf8")).toBe(first);
  });

  describe("the key file, when two runners start at once", () => {
    // The module's fs is Node's own: a spy on it sees (and can interleave with) the runner's calls.
    const nodeFs = jest.requireActual("fs") as typeof import("fs");
    afterEach(() => jest.restoreAllMocks());

    it("is made by one of them, and the other uses that key rather than failing on EEXIST", () => {
      const theirs = Buffer.alloc(32, 7).toString("base64");
      const link = nodeFs.linkSync.bind(nodeFs);
      jest.spyOn(nodeFs, "linkSync").mockImplementation((from, to) => {
        nodeFs.writeFileSync(to, theirs, { mode: 0o600 }); // the other runner got there between our look and our link
        link(from, to);
      });
      expect(secretsKey(undefined).key.toString("base64")).toBe(theirs);
      expect(nodeFs.readdirSync(path.dirname(keyFilePath()))).toEqual([path.basename(keyFilePath())]); // our own copy is gone
    });

    it("is never seen half written: it is written whole under another name and linked into place", () => {
      const writes: string[] = [];
      const write = nodeFs.writeFileSync.bind(nodeFs);
      jest.spyOn(nodeFs, "writeFileSync").mockImplementation((file, ...rest) => {
        writes.push(String(file));
        write(file, ...rest);
      });
      const { key } = secretsKey(undefined);
      expect(key).toHaveLength(32);
      expect(writes).toHaveLength(1);
      expect(writes[0]).not.toBe(keyFilePath());
      expect(nodeFs.readFileSync(keyFilePath(), "utf8")).toBe(key.toString("base64"));
      expect(nodeFs.statSync(keyFilePath()).mode & 0o777).toBe(0o600);
    });
  });

  it("stay with the secrets provider the state was written with, as a Pulumi stack does", async () => {
    await stateWithSecrets();
    process.env.PULUMI_CONFIG_PASSPHRASE = "set later";
    expect(loadState(STACK).outputs).toMatchObject({ database: { password: { secret: expect.any(String) } } });
    saveState(STACK, loadState(STACK));
    expect(JSON.parse(fs.readFileSync(stateFile(STACK), "utf8")).secrets).toEqual({ type: "keyfile", path: keyFilePath() });
  });

  it("follow PULUMI_CONFIG_PASSPHRASE: the salt is in the file, and another passphrase cannot read them", async () => {
    process.env.PULUMI_CONFIG_PASSPHRASE = "correct horse";
    await stateWithSecrets();
    expect(JSON.parse(fs.readFileSync(stateFile(STACK), "utf8")).secrets).toEqual({ type: "passphrase", salt: expect.any(String) });
    expect(fs.existsSync(keyFilePath())).toBe(false);
    expect(loadState(STACK).outputs).toMatchObject({ database: { password: { secret: expect.any(String) } } });
    process.env.PULUMI_CONFIG_PASSPHRASE = "wrong";
    expect(() => loadState(STACK)).toThrow(/wrong PULUMI_CONFIG_PASSPHRASE/);
    delete process.env.PULUMI_CONFIG_PASSPHRASE;
    expect(() => loadState(STACK)).toThrow(/set PULUMI_CONFIG_PASSPHRASE/);
  }, 60_000);
});

describe("saving the state after each step", () => {
  it("keeps an unchanged secret's ciphertext within a run (no re-encryption of every secret at every step), a new value gets its own", () => {
    const { key } = secretsKey(undefined);
    const first = encrypt(key, { munge: "TVVOR0UtS0VZ" });
    expect(encrypt(Buffer.from(key), { munge: "TVVOR0UtS0VZ" })).toEqual(first);
    const other = encrypt(key, { munge: "T1RIRVI=" });
    expect(other.ciphertext).not.toBe(first.ciphertext);
    expect(other.ciphertext.split(":")[1]).not.toBe(first.ciphertext.split(":")[1]); // its own nonce
    expect(decrypt(key, first as { ciphertext: string })).toEqual({ munge: "TVVOR0UtS0VZ" });
    expect(decrypt(key, other as { ciphertext: string })).toEqual({ munge: "T1RIRVI=" });
  });

  it("does not rewrite the file for a step that changed nothing, and does for one that did", async () => {
    const state = await stateWithSecrets();
    const container = (env: string) =>
      registration("docker:index/container:Container", "ctl", {
        name: "ctl",
        image: "slurm:abc",
        uploads: wireSecret([{ file: "/etc/munge/munge.key", contentBase64: "TVVOR0UtS0VZLVNFQ1JFVA==" }]),
        envs: [env],
      });
    const fake = new FakeDocker();
    const run = () => new Deployment(STACK, state, "tcp://fake:2375", () => undefined, true, { docker: () => fake as unknown as Docker });
    await run().register(container("PLAIN=1"));
    removeState(STACK);
    await run().register(container("PLAIN=1"));
    expect(fs.existsSync(stateFile(STACK))).toBe(false);
    await run().register(container("PLAIN=2"));
    expect(fs.existsSync(stateFile(STACK))).toBe(true);
  });
});
