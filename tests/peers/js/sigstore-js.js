// sigstore-js (@sigstore/verify, @sigstore/sign, @sigstore/oci) as a peer of vouch, for
// tests/tests/peers.rs.
//
//   node sigstore-js.js verify --bundle B --trusted-root T (--key PUB.pem [--ignore-tlog] |
//       --identity SAN --issuer URL) [--tlog-threshold N] ARTIFACT
//   node sigstore-js.js sign --algorithm ecdsa-p256|ecdsa-p384|ed25519 --bundle OUT
//       --public-key OUT.pem [--dsse] FILE      (with --dsse, FILE is an in-toto statement)
//   node sigstore-js.js sign-keyless --url http://127.0.0.1:PORT --identity SUBJECT
//       --issuer ISSUER_URL [--no-tlog] [--tsa] [--dsse] --bundle OUT FILE
//   node sigstore-js.js oci-attach --registry 127.0.0.1:PORT --repository REPO
//       --digest sha256:HEX --bundle B [--predicate-type URI] [--plain-http]
//
// verify: --tlog-threshold N asks for N log entries (default 1; 0 accepts a bundle whose only
// time source is an RFC 3161 timestamp).
// sign-keyless: signs with an ephemeral P-256 key and a certificate from the Fulcio at URL (the
// sigstore-mock.js server), for an unsigned OIDC token with iss ISSUER_URL and sub SUBJECT;
// logs a hashedrekord (dsse with --dsse) entry in the Rekor v1 at URL unless --no-tlog; adds an
// RFC 3161 timestamp from the TSA at URL with --tsa. Writes a v0.3 bundle with the leaf
// certificate.
// oci-attach: pushes bundle B as an OCI referrer of the image manifest REPO@DIGEST as GitHub's
// actions/attest does (@sigstore/oci attachArtifactToImage: an empty config, the bundle as the
// one layer, artifactType the bundle's media type, the dev.sigstore.bundle.content and
// .predicateType annotations; the tag-schema index is updated when the registry has no
// referrers API), anonymously; prints the referrer manifest's digest.
//
// Exit 0 on success; otherwise the library's error on stderr and exit 1.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { parseArgs } = require('util');
const { BUNDLE_V03_MEDIA_TYPE, bundleFromJSON, bundleToJSON } = require('@sigstore/bundle');
const { attachArtifactToImage } = require('@sigstore/oci');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const {
  DSSEBundleBuilder,
  FulcioSigner,
  MessageSignatureBundleBuilder,
  RekorWitness,
  TSAWitness,
} = require('@sigstore/sign');
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
  if (o['tlog-threshold'] !== undefined) options.tlogThreshold = Number(o['tlog-threshold']);
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

// An OIDC identity token with the given claims, unsigned (`alg: none`): the mock Fulcio decodes
// the token without verifying it.
function unsignedToken(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

async function signKeyless(o, file) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: o.issuer, sub: o.identity, aud: 'sigstore', iat: now, exp: now + 600 };
  const token = unsignedToken(claims);
  // FulcioSigner makes the ephemeral key, proves its possession by signing the token's subject,
  // and signs with the certificate Fulcio returns.
  const signer = new FulcioSigner({
    fulcioBaseURL: o.url,
    identityProvider: { getToken: async () => token },
  });
  const witnesses = [];
  if (!o['no-tlog']) witnesses.push(new RekorWitness({ rekorBaseURL: o.url, entryType: 'dsse' }));
  if (o.tsa) witnesses.push(new TSAWitness({ tsaBaseURL: o.url }));
  const Builder = o.dsse ? DSSEBundleBuilder : MessageSignatureBundleBuilder;
  let bundle = await new Builder({ signer, witnesses }).create({
    data: fs.readFileSync(file),
    type: o.dsse ? 'application/vnd.in-toto+json' : undefined,
  });
  // The message-signature builder writes v0.2 bundles, with the certificate as a one-element
  // chain (as npm still wants); v0.3 carries the leaf certificate alone.
  const material = bundle.verificationMaterial;
  if (material.content.$case === 'x509CertificateChain') {
    const [certificate] = material.content.x509CertificateChain.certificates;
    bundle = {
      ...bundle,
      mediaType: BUNDLE_V03_MEDIA_TYPE,
      verificationMaterial: { ...material, content: { $case: 'certificate', certificate } },
    };
  }
  fs.writeFileSync(o.bundle, JSON.stringify(bundleToJSON(bundle)));
  console.log(`signed ${bundle.mediaType}`);
}

async function ociAttach(o) {
  // @sigstore/oci has no option for the scheme: it speaks plain HTTP to localhost and
  // 127.0.0.1 (with or without --plain-http), HTTPS to any other host.
  const host = new URL(`http://${o.registry}`).hostname;
  if (o['plain-http'] && host !== 'localhost' && host !== '127.0.0.1') {
    throw new Error(`@sigstore/oci uses HTTPS for ${host} (plain HTTP for loopback names only)`);
  }
  // As actions/attest pushes it: the serialized bundle, its media type as the artifact type.
  const bundle = bundleFromJSON(readJSON(o.bundle));
  const json = bundleToJSON(bundle);
  const annotations = { 'dev.sigstore.bundle.content': 'message-signature' };
  if (bundle.content.$case === 'dsseEnvelope') {
    const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString('utf8'));
    annotations['dev.sigstore.bundle.content'] = 'dsse-envelope';
    const predicateType = o['predicate-type'] || statement.predicateType;
    annotations['dev.sigstore.bundle.predicateType'] = predicateType;
  } else if (o['predicate-type']) {
    annotations['dev.sigstore.bundle.predicateType'] = o['predicate-type'];
  }
  // No credentials: @sigstore/oci then skips its sign-in, an upload probe that wants a 200 or a
  // 401 challenge (an open registry answers 202, which it cannot parse).
  const descriptor = await attachArtifactToImage({
    credentials: undefined,
    imageName: `${o.registry}/${o.repository}`,
    imageDigest: o.digest,
    artifact: Buffer.from(JSON.stringify(json)),
    mediaType: json.mediaType,
    annotations,
    fetchOpts: { timeout: 30000, retry: 3 },
  });
  console.log(descriptor.digest);
}

const flags = [
  'bundle',
  'trusted-root',
  'key',
  'identity',
  'issuer',
  'algorithm',
  'public-key',
  'tlog-threshold',
  'url',
  'registry',
  'repository',
  'digest',
  'predicate-type',
];
const switches = ['ignore-tlog', 'dsse', 'no-tlog', 'tsa', 'plain-http'];
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ...Object.fromEntries(flags.map((f) => [f, { type: 'string' }])),
    ...Object.fromEntries(switches.map((f) => [f, { type: 'boolean' }])),
  },
});
const [command, file] = positionals;
const commands = { verify, sign, 'sign-keyless': signKeyless, 'oci-attach': ociAttach };
Promise.resolve()
  .then(() => {
    if (!commands[command]) {
      throw new Error(`unknown command ${command} (${Object.keys(commands).join(', ')})`);
    }
    return commands[command](values, file);
  })
  .catch((e) => {
    // @sigstore/sign and @sigstore/oci wrap the service's error as the cause.
    const cause = e.cause && e.cause.message ? ` (${e.cause.message})` : '';
    console.error(`${e.name}${e.code ? ` [${e.code}]` : ''}: ${e.message}${cause}`);
    process.exit(1);
  });
