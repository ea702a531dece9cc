// sigstore-js (@sigstore/verify, @sigstore/sign) as a peer of vouch, for tests/tests/peers.rs.
//
//   node sigstore-js.js verify --bundle B --trusted-root T (--key PUB.pem [--ignore-tlog] |
//       --identity SAN --issuer URL) ARTIFACT
//   node sigstore-js.js sign --algorithm ecdsa-p256|ecdsa-p384|ed25519 --bundle OUT
//       --public-key OUT.pem [--dsse] FILE      (with --dsse, FILE is an in-toto statement)
//
// Exit 0 on success; otherwise the library's error on stderr and exit 1.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { parseArgs } = require('util');
const { bundleFromJSON, bundleToJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { DSSEBundleBuilder, MessageSignatureBundleBuilder } = require('@sigstore/sign');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

// A key's id as cosign and vouch hint it: base64 of the SHA-256 of its DER SubjectPublicKeyInfo.
const keyId = (key) =>
  crypto.createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('base64');
const readJSON = (path) => JSON.parse(fs.readFileSync(path, 'utf8'));

function verify(o, artifact) {
  const bundle = bundleFromJSON(readJSON(o.bundle));
  // Trust material: the trusted root, and the given key registered under its own key id, so
  // the bundle's hint must name it.
  const keys = {};
  if (o.key) {
    const key = crypto.createPublicKey(fs.readFileSync(o.key));
    keys[keyId(key)] = { rawBytes: key.export({ type: 'spki', format: 'der' }) };
  }
  const trust = toTrustMaterial(TrustedRoot.fromJSON(readJSON(o['trusted-root'])), keys);
  const options = o['ignore-tlog']
    ? { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0, timestampThreshold: 0 }
    : o.key ? { ctlogThreshold: 0 } : {};
  const policy = o.key ? undefined : { subjectAlternativeName: o.identity, extensions: { issuer: o.issuer } };
  const data = fs.readFileSync(artifact);
  new Verifier(trust, options).verify(toSignedEntity(bundle, data), policy);
  // @sigstore/verify checks a DSSE envelope's signature only; matching its in-toto statement's
  // subjects to the artifact is left to the caller (as npm does), so this script does it.
  if (bundle.content.$case === 'dsseEnvelope') {
    const digest = crypto.createHash('sha256').update(data).digest('hex');
    const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8'));
    if (!(statement.subject || []).some((s) => s.digest && s.digest.sha256 === digest)) {
      throw new Error(`no subject of the in-toto statement has digest sha256:${digest}`);
    }
  }
  console.log('verified');
}

async function sign(o, file) {
  const [type, curve, hash] = {
    'ecdsa-p256': ['ec', { namedCurve: 'P-256' }, 'sha256'],
    'ecdsa-p384': ['ec', { namedCurve: 'P-384' }, 'sha384'],
    ed25519: ['ed25519', {}, null],
  }[o.algorithm];
  const { publicKey, privateKey } = crypto.generateKeyPairSync(type, curve);
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  fs.writeFileSync(o['public-key'], pem);
  // A local key-based signer; no witnesses, so no log entry and no timestamp.
  const signer = {
    sign: async (data) => ({
      signature: crypto.sign(hash, data, privateKey),
      key: { $case: 'publicKey', publicKey: pem, hint: keyId(publicKey) },
    }),
  };
  const Builder = o.dsse ? DSSEBundleBuilder : MessageSignatureBundleBuilder;
  const bundle = await new Builder({ signer, witnesses: [] }).create({
    data: fs.readFileSync(file),
    type: o.dsse ? 'application/vnd.in-toto+json' : undefined,
  });
  fs.writeFileSync(o.bundle, JSON.stringify(bundleToJSON(bundle)));
  console.log(`signed ${bundle.mediaType}`);
}

const flags = ['bundle', 'trusted-root', 'key', 'identity', 'issuer', 'algorithm', 'public-key'];
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ...Object.fromEntries(flags.map((f) => [f, { type: 'string' }])),
    'ignore-tlog': { type: 'boolean' },
    dsse: { type: 'boolean' },
  },
});
const [command, file] = positionals;
Promise.resolve()
  .then(() => ({ verify, sign })[command](values, file))
  .catch((e) => {
    console.error(`${e.name}${e.code ? ` [${e.code}]` : ''}: ${e.message}`);
    process.exit(1);
  });
