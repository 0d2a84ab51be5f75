// tls.PrivateKey through the runner's Deployment, as pulumi-tls (terraform-provider-tls) does it:
// the login node's SSH host key must be one sshd accepts, must survive every `up` that does not
// change its inputs (a replaced login container keeps its host key), and must stay secret.
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Docker from "dockerode";
import { Deployment, lastOutputs } from "../../local-runner/engine";
import { madeUpOutputs } from "../../local-runner/policy-check";
import { RegistrationArgs } from "../../local-runner/program";
import { inputEffect } from "../../local-runner/provider-table";
import { SavedState, loadState, removeState, resourceKey, saveState, stateFile } from "../../local-runner/state";
import { TLS_PRIVATE_KEY } from "../../local-runner/tls-private-key";
import { FakeDocker } from "./fake-engine";
import { SECRET_SIG, isWireSecret } from "./harness";

const STACK = "unit-tls-private-key";
const KEY = resourceKey(TLS_PRIVATE_KEY, "login-host-key");
type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What pulumi-tls's SDK lists as additionalSecretOutputs (node_modules/@pulumi/tls/privateKey.js). */
function sdkSecretOutputs(): string[] {
  const js = fs.readFileSync(require.resolve("@pulumi/tls/privateKey.js"), "utf8");
  return JSON.parse(/additionalSecretOutputs: (\[[^\]]*\])/.exec(js)![1]);
}

function registration(inputs: Inputs, details: Partial<RegistrationArgs["details"]> = {}): RegistrationArgs {
  return {
    type: TLS_PRIVATE_KEY,
    name: "login-host-key",
    inputs,
    custom: true,
    details: { dependencies: [], parent: "", replaceOnChanges: [], ignoreChanges: [], additionalSecretOutputs: sdkSecretOutputs(), ...details },
  };
}

let state: SavedState;
let fake: FakeDocker;
const saved = { ...process.env };
function deployment(apply = true): Deployment {
  return new Deployment(STACK, state, "tcp://fake:2375", () => undefined, apply, { docker: () => fake as unknown as Docker });
}
/** The outputs as the program gets them, secrets unwrapped. */
async function create(inputs: Inputs, run = deployment()): Promise<Inputs> {
  const { state: out } = await run.register(registration(inputs));
  return Object.fromEntries(Object.entries(out as Inputs).map(([k, v]) => [k, isWireSecret(v) ? v.value : v]));
}

let dir: string;
beforeEach(() => {
  state = { version: 2, resources: {} };
  fake = new FakeDocker();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-key-"));
  process.env.XDG_CONFIG_HOME = dir; // the state's secrets key goes here, not into the user's config
  delete process.env.PULUMI_CONFIG_PASSPHRASE;
  delete process.env.PULUMI_CONFIG_PASSPHRASE_FILE;
});
afterEach(() => {
  process.env = { ...saved };
  removeState(STACK);
  fs.rmSync(dir, { recursive: true, force: true });
});

const HAVE_SSH_KEYGEN = spawnSync("ssh-keygen", ["-?"]).error === undefined;
const sshKeygen = (args: string[], input?: string) => {
  const r = spawnSync("ssh-keygen", args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

/** OpenSSH's own reading of privateKeyOpenssh: the public key, the fingerprint, and a signature it checks. */
function opensshReads(out: Inputs): { publicKey: string; fingerprint: string; signed: boolean } {
  const file = path.join(dir, "ssh_host_key");
  fs.writeFileSync(file, out.privateKeyOpenssh, { mode: 0o600 });
  const publicKey = sshKeygen(["-y", "-f", file]);
  const fingerprint = sshKeygen(["-l", "-f", file]);
  // Signing uses the private half (for RSA its CRT parts, for ED25519 the seed); the check uses the public key in the signature.
  fs.writeFileSync(path.join(dir, "data"), "host key check");
  sshKeygen(["-Y", "sign", "-q", "-f", file, "-n", "file", path.join(dir, "data")]);
  const signed = spawnSync("ssh-keygen", ["-Y", "check-novalidate", "-n", "file", "-s", path.join(dir, "data.sig")], { input: "host key check" }).status === 0;
  return { publicKey, fingerprint, signed };
}

describe("tls.PrivateKey: create", () => {
  it.each([
    ["ED25519", { algorithm: "ED25519" }, "256", "ED25519"],
    ["RSA (rsaBits defaults to 2048)", { algorithm: "RSA" }, "2048", "RSA"],
    ["ECDSA P256", { algorithm: "ECDSA", ecdsaCurve: "P256" }, "256", "ECDSA"],
    ["ECDSA P384", { algorithm: "ECDSA", ecdsaCurve: "P384" }, "384", "ECDSA"],
    ["ECDSA P521", { algorithm: "ECDSA", ecdsaCurve: "P521" }, "521", "ECDSA"],
  ])("%s: privateKeyOpenssh is a key OpenSSH reads back to publicKeyOpenssh and publicKeyFingerprintSha256", async (_what, inputs, bits, kind) => {
    const out = await create(inputs);
    expect(out.privateKeyOpenssh).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END OPENSSH PRIVATE KEY-----\n$/);
    if (!HAVE_SSH_KEYGEN) {
      console.warn("ssh-keygen is not installed: OpenSSH's reading of the key is not checked");
      return;
    }
    const read = opensshReads(out);
    expect(read.publicKey).toBe(out.publicKeyOpenssh); // no comment: the provider's key has none either
    // Bits, fingerprint, the key's (empty) comment, type.
    expect(read.fingerprint).toBe(`${bits} ${out.publicKeyFingerprintSha256}  (${kind})\n`);
    expect(read.signed).toBe(true);
  });

  it("writes every output in the provider's format", async () => {
    const out = await create({ algorithm: "ED25519" });
    expect(Object.keys(out).sort()).toEqual([
      "algorithm", "ecdsaCurve", "privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8", "publicKeyFingerprintMd5",
      "publicKeyFingerprintSha256", "publicKeyOpenssh", "publicKeyPem", "rsaBits",
    ]);
    // The schema's defaults are in state whatever the algorithm.
    expect(out).toMatchObject({ algorithm: "ED25519", ecdsaCurve: "P224", rsaBits: 2048 });
    // Go's ssh.MarshalAuthorizedKey: no comment, a newline at the end.
    expect(out.publicKeyOpenssh).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=*\n$/);
    expect(out.publicKeyFingerprintSha256).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(out.publicKeyFingerprintMd5).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    // ED25519's traditional PEM is PKCS#8 (x509.MarshalPKCS8PrivateKey), the public key PKIX.
    expect(out.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(out.privateKeyPemPkcs8).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(out.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
    const der = crypto.createPublicKey(out.privateKeyPem).export({ type: "spki", format: "der" });
    expect(crypto.createPublicKey(out.publicKeyPem).export({ type: "spki", format: "der" })).toEqual(der);
    // The id is hashForState of the public key's DER: its hex SHA-1 (DER with no white space at either end).
    const id = state.resources[KEY].id;
    if (!/[\s\x85\xa0]$/.test(der.toString("latin1"))) expect(id).toBe(crypto.createHash("sha1").update(der).digest("hex"));
  });

  it("uses the provider's traditional PEM per algorithm: PKCS#1 for RSA, SEC1 for ECDSA", async () => {
    expect((await create({ algorithm: "RSA", rsaBits: 1024 })).privateKeyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    state = { version: 2, resources: {} };
    expect((await create({ algorithm: "ECDSA", ecdsaCurve: "P256" })).privateKeyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
  });

  it("leaves the OpenSSH outputs empty for ECDSA P224 (the default curve), which OpenSSH has no key type for", async () => {
    const out = await create({ algorithm: "ECDSA" });
    expect(out).toMatchObject({ ecdsaCurve: "P224", privateKeyOpenssh: "", publicKeyOpenssh: "", publicKeyFingerprintMd5: "", publicKeyFingerprintSha256: "" });
    expect(crypto.createPrivateKey(out.privateKeyPem).asymmetricKeyDetails).toEqual({ namedCurve: "secp224r1" });
  });
});

describe("tls.PrivateKey: plans", () => {
  it.each(["algorithm", "rsaBits", "ecdsaCurve"])("a change to %s forces replacement", (input) => {
    expect(inputEffect(TLS_PRIVATE_KEY, input)).toBe("replace");
  });

  it("keeps the same key on the next up while its inputs do not change; rsaBits 2048 spelled out is the default", async () => {
    const first = await create({ algorithm: "ED25519" });
    const second = deployment();
    expect(await create({ algorithm: "ED25519" }, second)).toEqual(first);
    expect(second.changes).toEqual([]);
    expect(second.counts.same).toBe(1);
    // Loaded from the state file, as the next `npm run local:up` does.
    state = loadState(STACK);
    const third = deployment();
    expect(await create({ algorithm: "ED25519", rsaBits: 2048, ecdsaCurve: "P224" }, third)).toEqual(first);
    expect(third.changes).toEqual([]);
  });

  it("makes a new key when the algorithm changes, and deleting the old one touches nothing", async () => {
    const first = await create({ algorithm: "ED25519" });
    const run = deployment();
    const next = await create({ algorithm: "RSA" }, run);
    expect(run.changes).toEqual([`+-replace ${TLS_PRIVATE_KEY} login-host-key: algorithm (forces replacement)`]);
    expect(next.publicKeyOpenssh).toMatch(/^ssh-rsa /);
    expect(next.privateKeyPem).not.toBe(first.privateKeyPem);
    await run.deleteUndeclared();
    expect(state.pendingDeletes).toBeUndefined();
    expect(fake.calls).toEqual([]);
  });

  it("refresh reads nothing and destroy deletes nothing remote: the key lives only in state", async () => {
    const first = await create({ algorithm: "ED25519" });
    const refreshed = deployment();
    await refreshed.refresh();
    expect(state.resources[KEY].outputs).toEqual(first);
    await deployment().deleteUndeclared(); // nothing declared: as `pulumi destroy`
    expect(state.resources[KEY]).toBeUndefined();
    expect(fake.calls).toEqual([]);
  });

  it("shows a preview without creating a key", async () => {
    const run = deployment(false);
    const { state: out } = await run.register(registration({ algorithm: "ED25519" }));
    expect(run.changes).toEqual([`+ create  ${TLS_PRIVATE_KEY} login-host-key`]);
    expect((out as Inputs).privateKeyOpenssh).toBeUndefined();
    expect(state.resources[KEY]).toBeUndefined();
  });
});

describe("tls.PrivateKey: secrets", () => {
  it("marks the private encodings secret, as pulumi-tls's SDK asks, and nothing else", async () => {
    expect(sdkSecretOutputs().sort()).toEqual(["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"]);
    const { state: out } = await deployment().register(registration({ algorithm: "ED25519" }));
    const secret = Object.keys(out as Inputs).filter((k) => isWireSecret((out as Inputs)[k])).sort();
    expect(secret).toEqual(["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"]);
    // Even a registration without the SDK's option (the provider's schema says Sensitive) is encrypted in state.
    state = { version: 2, resources: {} };
    await deployment().register(registration({ algorithm: "ED25519" }, { additionalSecretOutputs: [] }));
    expect(state.resources[KEY].secretOutputs?.sort()).toEqual(["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"]);
  });

  it("are encrypted in the state file, come back on load, and stack outputs show them only with --show-secrets", async () => {
    const out = await create({ algorithm: "ED25519" });
    state.outputs = { login: { hostKeyFingerprint: out.publicKeyFingerprintSha256, hostKey: { secret: out.privateKeyOpenssh } } };
    saveState(STACK, state);
    const text = fs.readFileSync(stateFile(STACK), "utf8");
    const body = (pem: string) => pem.split("\n")[1];
    for (const k of ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"]) expect(text).not.toContain(body(out[k]));
    expect(text).not.toContain("OPENSSH PRIVATE KEY");
    expect(text).toContain(JSON.stringify(out.publicKeyOpenssh)); // public values stay readable
    expect(text).toContain(SECRET_SIG);

    expect(loadState(STACK).resources[KEY].outputs).toEqual(out);
    expect(lastOutputs(STACK, true)).toEqual({ login: { hostKeyFingerprint: out.publicKeyFingerprintSha256, hostKey: out.privateKeyOpenssh } });
    expect(lastOutputs(STACK, false)).toEqual({ login: { hostKeyFingerprint: out.publicKeyFingerprintSha256, hostKey: "[secret]" } });
  });
});

describe("tls.PrivateKey: what the provider refuses", () => {
  it.each([
    ["an unknown algorithm", { algorithm: "DSA" }, /Attribute algorithm value must be one of: \["RSA" "ECDSA" "ED25519"\], got: "DSA"/],
    ["a lower-case algorithm", { algorithm: "ed25519" }, /Attribute algorithm value must be one of/],
    ["an unknown curve, even when unused", { algorithm: "ED25519", ecdsaCurve: "P192" }, /Attribute ecdsa_curve value must be one of: \["P224" "P256" "P384" "P521"\], got: "P192"/],
  ])("refuses %s, in a preview too, and records nothing", async (_what, inputs, message) => {
    await expect(deployment(false).register(registration(inputs))).rejects.toThrow(message);
    await expect(deployment().register(registration(inputs))).rejects.toThrow(/the provider supports algorithm RSA, ECDSA, ED25519/);
    expect(state.resources[KEY]).toBeUndefined();
  });

  it("refuses an RSA key under 1024 bits when creating it, as Go's crypto/rsa does", async () => {
    await expect(deployment().register(registration({ algorithm: "RSA", rsaBits: 512 }))).rejects.toThrow(/512-bit keys are insecure/);
    expect(state.resources[KEY]).toBeUndefined();
  });
});

describe("tls.PrivateKey outside the runner's Deployment", () => {
  it("the offline policy check makes up a real key, and refuses an unknown algorithm", () => {
    const args = registration({ algorithm: "ED25519" });
    expect(madeUpOutputs(args).publicKeyOpenssh).toMatch(/^ssh-ed25519 /);
    expect(() => madeUpOutputs(registration({ algorithm: "DSA" }))).toThrow(/must be one of/);
  });
});
