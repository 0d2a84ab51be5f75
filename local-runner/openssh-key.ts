// OpenSSH's own key formats, written from their description (OpenSSH's PROTOCOL.key for the private
// key file, RFC 4253 section 6.6 and RFC 5656 section 3.1 for the public key blob, RFC 4251 section 5
// for the wire types). The runner needs them for tls.PrivateKey's privateKeyOpenssh and
// publicKeyOpenssh outputs, which sshd reads as a host key; Node's crypto writes neither.
import * as crypto from "crypto";

/** RFC 4251 uint32: four bytes, big-endian. */
function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** RFC 4251 string: a uint32 length, then the bytes. */
function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

/**
 * RFC 4251 mpint from an unsigned big-endian number: leading zero bytes dropped, one zero byte put
 * back when the top bit is set (the value is two's complement, and ours are never negative).
 */
function mpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  const body = unsigned.subarray(start);
  return sshString(body.length > 0 && body[0] & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

/** The key's parts, as OpenSSH names its key types and curves. */
interface SshParts {
  /** "ssh-ed25519", "ssh-rsa" or "ecdsa-sha2-nistp256/384/521". */
  keyType: string;
  /** The public key blob (RFC 4253 6.6 / RFC 5656 3.1). */
  publicBlob: Buffer;
  /** The private fields that follow the key type in PROTOCOL.key's private section. */
  privateFields: Buffer;
}

/** OpenSSL's curve names (Node's namedCurve) to OpenSSH's. */
const CURVES: Record<string, string> = { prime256v1: "nistp256", secp384r1: "nistp384", secp521r1: "nistp521" };

const b64u = (s: string | undefined) => Buffer.from(s ?? "", "base64url");

/** Whether OpenSSH has a key type for this key: ECDSA on P-224 has none (nor in Go's x/crypto/ssh). */
export function sshSupports(key: crypto.KeyObject): boolean {
  if (key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "rsa") return true;
  if (key.asymmetricKeyType !== "ec") return false;
  return (key.asymmetricKeyDetails?.namedCurve ?? "") in CURVES;
}

function sshParts(privateKey: crypto.KeyObject): SshParts {
  if (!sshSupports(privateKey)) throw new Error(`OpenSSH has no key type for this ${privateKey.asymmetricKeyType} key`);
  const jwk = privateKey.export({ format: "jwk" });
  switch (privateKey.asymmetricKeyType) {
    case "ed25519": {
      // PROTOCOL.key keeps the 64-byte secret as OpenSSH and NaCl hold it: the seed, then the public key.
      const pub = b64u(jwk.x);
      return {
        keyType: "ssh-ed25519",
        publicBlob: Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]),
        privateFields: Buffer.concat([sshString(pub), sshString(Buffer.concat([b64u(jwk.d), pub]))]),
      };
    }
    case "rsa": {
      const [n, e] = [b64u(jwk.n), b64u(jwk.e)];
      return {
        keyType: "ssh-rsa",
        // The public blob has e before n; the private section n before e.
        publicBlob: Buffer.concat([sshString("ssh-rsa"), mpint(e), mpint(n)]),
        privateFields: Buffer.concat([mpint(n), mpint(e), mpint(b64u(jwk.d)), mpint(b64u(jwk.qi)), mpint(b64u(jwk.p)), mpint(b64u(jwk.q))]),
      };
    }
    default: {
      const curve = CURVES[privateKey.asymmetricKeyDetails!.namedCurve!];
      const keyType = `ecdsa-sha2-${curve}`;
      // SEC1 uncompressed point; JWK pads x and y to the field's size, as the point needs.
      const point = Buffer.concat([Buffer.from([4]), b64u(jwk.x), b64u(jwk.y)]);
      return {
        keyType,
        publicBlob: Buffer.concat([sshString(keyType), sshString(curve), sshString(point)]),
        privateFields: Buffer.concat([sshString(curve), sshString(point), mpint(b64u(jwk.d))]),
      };
    }
  }
}

/** The public key blob OpenSSH fingerprints and writes into authorized_keys. */
export function publicKeyBlob(privateKey: crypto.KeyObject): Buffer {
  return sshParts(privateKey).publicBlob;
}

/**
 * One authorized_keys line without a comment, newline-terminated: what Go's
 * ssh.MarshalAuthorizedKey writes, and so what terraform-provider-tls stores.
 */
export function authorizedKey(privateKey: crypto.KeyObject): string {
  const { keyType, publicBlob } = sshParts(privateKey);
  return `${keyType} ${publicBlob.toString("base64")}\n`;
}

/** `ssh-keygen -l` style: "SHA256:" and the digest in base64 without padding. */
export function fingerprintSha256(blob: Buffer): string {
  return `SHA256:${crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** `ssh-keygen -l -E md5` style, without its "MD5:" prefix: hex pairs joined by colons. */
export function fingerprintMd5(blob: Buffer): string {
  return crypto.createHash("md5").update(blob).digest("hex").match(/../g)!.join(":");
}

/** A PEM block with 64 characters a line, as Go's encoding/pem writes it. */
export function pemBlock(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * The unencrypted "openssh-key-v1" private key file (PROTOCOL.key): magic, cipher "none", kdf
 * "none", empty kdf options, one key, its public blob, then the private section: the same random
 * check number twice, the key type and private fields, the comment, and padding bytes 1, 2, 3, ...
 * up to a multiple of 8 (the block size when there is no cipher).
 */
export function opensshPrivateKey(privateKey: crypto.KeyObject, comment = ""): string {
  const { keyType, publicBlob, privateFields } = sshParts(privateKey);
  const check = crypto.randomBytes(4);
  const section = Buffer.concat([check, check, sshString(keyType), privateFields, sshString(comment)]);
  const padding = Buffer.from(Array.from({ length: (8 - (section.length % 8)) % 8 }, (_, i) => i + 1));
  const file = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(Buffer.alloc(0)),
    uint32(1),
    sshString(publicBlob),
    sshString(Buffer.concat([section, padding])),
  ]);
  return pemBlock("OPENSSH PRIVATE KEY", file);
}
