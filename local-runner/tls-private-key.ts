// tls:index/privateKey:PrivateKey as pulumi-tls does it (it bundles hashicorp/terraform-provider-tls,
// internal/provider/resource_private_key.go and common_key.go): the same checks of the inputs, the
// same defaults, and the same outputs in the same formats. The key exists only in state: creating
// it generates it, reading and deleting it touch nothing.
import * as crypto from "crypto";
import { authorizedKey, fingerprintMd5, fingerprintSha256, opensshPrivateKey, pemBlock, publicKeyBlob, sshSupports } from "./openssh-key";

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey";

const ALGORITHMS = ["RSA", "ECDSA", "ED25519"];
/** The provider's curve names, and OpenSSL's for Node. */
const CURVES: Record<string, string> = { P224: "secp224r1", P256: "prime256v1", P384: "secp384r1", P521: "secp521r1" };

const known = (v: unknown) => v !== undefined && v !== null && (typeof v === "string" || typeof v === "number");

/** The framework validator's message (stringvalidator.OneOf), as the provider's Check reports it. */
function oneOf(name: string, attribute: string, value: unknown, allowed: string[]): void {
  if (!known(value) || allowed.includes(String(value))) return;
  throw new Error(
    `${name}: Invalid Attribute Value Match: Attribute ${attribute} value must be one of: [${allowed.map((a) => `"${a}"`).join(" ")}], ` +
      `got: ${JSON.stringify(value)} (the provider supports algorithm ${ALGORITHMS.join(", ")}; ecdsaCurve ${Object.keys(CURVES).join(", ")})`,
  );
}

/**
 * The provider's Check and plan: algorithm and ecdsaCurve must be values it knows (even when
 * ecdsaCurve is not used), rsaBits a whole number; rsaBits defaults to 2048 and ecdsaCurve to
 * P224, so leaving one out and setting its default are the same plan. Values not known yet
 * (a preview) are passed as they are.
 */
export function checkPrivateKeyInputs(name: string, inputs: Inputs): Inputs {
  oneOf(name, "algorithm", inputs.algorithm, ALGORITHMS);
  oneOf(name, "ecdsa_curve", inputs.ecdsaCurve, Object.keys(CURVES));
  if (typeof inputs.rsaBits === "number" && !Number.isInteger(inputs.rsaBits)) {
    throw new Error(`${name}: rsaBits must be a whole number of bits, got ${inputs.rsaBits}`);
  }
  return { ...inputs, rsaBits: inputs.rsaBits ?? 2048, ecdsaCurve: inputs.ecdsaCurve ?? "P224" };
}

function generate(inputs: Inputs): crypto.KeyObject {
  switch (inputs.algorithm) {
    case "RSA":
      // Go 1.24 and later (pulumi-tls is built with Go 1.25) refuse RSA keys under 1024 bits.
      if (inputs.rsaBits < 1024) {
        throw new Error(`Unable to generate Key from configuration: crypto/rsa: ${inputs.rsaBits}-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)`);
      }
      return crypto.generateKeyPairSync("rsa", { modulusLength: inputs.rsaBits, publicExponent: 65537 }).privateKey;
    case "ECDSA":
      return crypto.generateKeyPairSync("ec", { namedCurve: CURVES[inputs.ecdsaCurve] }).privateKey;
    case "ED25519":
      return crypto.generateKeyPairSync("ed25519").privateKey;
    default:
      throw new Error(`Invalid Key Algorithm: Key Algorithm ${JSON.stringify(inputs.algorithm)} is not supported`);
  }
}

/** Go's strings.TrimSpace on bytes: ASCII white space at both ends, Unicode white space runes at the end. */
function goTrimSpace(bytes: Buffer): Buffer {
  const ascii = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);
  let start = 0;
  while (start < bytes.length && ascii(bytes[start])) start++;
  let end = bytes.length;
  for (;;) {
    if (end > start && ascii(bytes[end - 1])) end--;
    // U+0085 and U+00A0 (two bytes), the spaces from U+1680 on (three); an invalid sequence is no space.
    else if (end - start >= 2 && bytes[end - 2] === 0xc2 && (bytes[end - 1] === 0x85 || bytes[end - 1] === 0xa0)) end -= 2;
    else if (end - start >= 3 && isWideSpace(bytes.subarray(end - 3, end))) end -= 3;
    else return bytes.subarray(start, end);
  }
}

function isWideSpace(three: Buffer): boolean {
  const text = three.toString("utf8");
  if (text.length !== 1 || Buffer.byteLength(text) !== 3) return false;
  const c = text.charCodeAt(0);
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/**
 * Create: a new key and every encoding of it. privateKeyPem is PKCS#1 for RSA, SEC1 for ECDSA and
 * PKCS#8 for ED25519; the OpenSSH values and fingerprints are "" for ECDSA P224, which OpenSSH
 * has no key type for. The id is the hex SHA-1 of the public key's DER (the provider's hashForState).
 */
export function createPrivateKey(checked: Inputs): { id: string; outputs: Inputs } {
  const key = generate(checked);
  const publicKey = crypto.createPublicKey(key);
  const der = publicKey.export({ type: "spki", format: "der" });
  const traditional = { RSA: "pkcs1", ECDSA: "sec1", ED25519: "pkcs8" }[checked.algorithm as string] as "pkcs1" | "sec1" | "pkcs8";
  const ssh = sshSupports(key);
  const blob = ssh ? publicKeyBlob(key) : undefined;
  const outputs: Inputs = {
    algorithm: checked.algorithm,
    ecdsaCurve: checked.ecdsaCurve,
    rsaBits: checked.rsaBits,
    privateKeyPem: key.export({ type: traditional, format: "pem" }) as string,
    privateKeyPemPkcs8: key.export({ type: "pkcs8", format: "pem" }) as string,
    privateKeyOpenssh: ssh ? opensshPrivateKey(key) : "",
    publicKeyPem: pemBlock("PUBLIC KEY", der),
    publicKeyOpenssh: ssh ? authorizedKey(key) : "",
    publicKeyFingerprintMd5: blob ? fingerprintMd5(blob) : "",
    publicKeyFingerprintSha256: blob ? fingerprintSha256(blob) : "",
  };
  return { id: crypto.createHash("sha1").update(goTrimSpace(der)).digest("hex"), outputs };
}
