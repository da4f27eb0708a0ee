/**
 * ed25519 signing of package manifests with node:crypto. Keys are PEM files: the private key PKCS#8
 * (`vmcts keygen` writes one, mode 0600), the public key SPKI. A public key may also be given as the
 * base64 of its DER SPKI (the form the manifest carries). Fingerprints are "SHA256:" + unpadded
 * base64 of the SHA-256 of the DER SPKI (the OpenSSH style), short enough to compare by eye.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Manifest, type ManifestSignature, manifestSigningBytes } from './manifest.ts';

/** A key file that cannot be read or is not an ed25519 key. */
export class SigningKeyError extends Error {
  override name = 'SigningKeyError';
}

export function generateSigningKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function readKeyFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new SigningKeyError(`${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

function requireEd25519(key: KeyObject, where: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new SigningKeyError(`${where}: an ${key.asymmetricKeyType ?? 'unknown'} key; vmcts signs with ed25519 keys (make one with \`vmcts keygen\`)`);
  return key;
}

/** The ed25519 private key in PEM file `file`. */
export function loadPrivateKey(file: string): KeyObject {
  const data = readKeyFile(file, 'signing key');
  let key: KeyObject;
  try {
    key = createPrivateKey(data);
  } catch (e) {
    throw new SigningKeyError(`signing key ${file}: not a PEM private key (${(e as Error).message})`);
  }
  return requireEd25519(key, `signing key ${file}`);
}

/** A public key from PEM/base64 text (a private key PEM gives its public half). */
export function parsePublicKey(text: string, where = 'public key'): KeyObject {
  const t = text.trim();
  let key: KeyObject;
  try {
    if (t.startsWith('-----BEGIN')) key = createPublicKey(t);
    else key = createPublicKey({ key: Buffer.from(t, 'base64'), format: 'der', type: 'spki' });
  } catch (e) {
    throw new SigningKeyError(`${where}: not a PEM or base64 SPKI public key (${(e as Error).message})`);
  }
  return requireEd25519(key, where);
}

/** The ed25519 public key in file `file` (PEM SPKI, base64 SPKI, or a private key PEM). */
export function loadPublicKey(file: string): KeyObject {
  return parsePublicKey(readKeyFile(file, 'public key').toString('utf8'), `public key ${file}`);
}

export function spkiBase64(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' }).toString('base64');
}

export function fingerprint(key: KeyObject | string): string {
  const der = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.from(spkiBase64(key), 'base64');
  return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;
}

/** The manifest with its signature (any previous signature replaced). */
export function signManifest(m: Manifest, privateKey: KeyObject): Manifest {
  const { signature: _old, ...unsigned } = m;
  const value = sign(null, manifestSigningBytes(unsigned as Manifest), privateKey).toString('base64');
  const signature: ManifestSignature = { algorithm: 'ed25519', publicKey: spkiBase64(privateKey), value };
  return { ...unsigned, signature } as Manifest;
}

/** Whether the manifest's signature holds for its own public key (or for `publicKey` when given). */
export function signatureHolds(m: Manifest, publicKey?: KeyObject): boolean {
  if (!m.signature) return false;
  try {
    const key = publicKey ?? parsePublicKey(m.signature.publicKey, 'manifest signature.publicKey');
    return verify(null, manifestSigningBytes(m), key, Buffer.from(m.signature.value, 'base64'));
  } catch {
    return false;
  }
}
