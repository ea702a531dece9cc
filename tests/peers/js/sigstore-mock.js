// A keyless Sigstore instance for vouch's tests: the Fulcio CA (with its CT log), Rekor v1 and
// RFC 3161 timestamp authority handlers of @sigstore/mock, served over HTTP by one server on
// 127.0.0.1 (port chosen by the kernel), with fresh P-256 keys for each service at every start.
//
//   node sigstore-mock.js --trusted-root OUT.json [--signing-config OUT.json]
//
// Writes OUT.json, a trusted_root.json (protobuf-specs JSON) describing exactly this instance's
// keys and certificates, with URLs pointing at the server (and the signing config, v0.2, naming
// its services), then prints one line `listening on 127.0.0.1:PORT` and serves until SIGTERM or
// SIGINT (exit 0). Errors before that line go to stderr, exit 1.
//
//   POST /api/v2/signingCert            Fulcio: a certificate for the request's public key, for
//                                       an OIDC token that is decoded, never verified (any
//                                       unsigned token works); the proof of possession is checked
//   POST /api/v1/log/entries            Rekor v1: hashedrekord and dsse 0.0.1 entries, checked and
//                                       stored as the real Rekor does (see canonicalBody)
//   GET  /api/v1/log/entries/UUID       an entry logged here, as the POST returned it
//   GET  /api/v1/log/entries?logIndex=N
//   GET  /api/v1/log/publicKey          the log's key (PEM)
//   POST /api/v1/timestamp              TSA: an RFC 3161 response for a DER TimeStampReq
//                                       (application/timestamp-query, as RFC 3161 clients send
//                                       it) or for {artifactHash, hashAlgorithm[, nonce,
//                                       certificates]} (JSON, as sigstore-js sends it)
//
// What @sigstore/mock issues:
// - Fulcio: a leaf certificate valid 10 minutes, signed (ECDSA P-256, SHA-384) directly by a
//   self-signed root "CN=sigstore,O=sigstore.mock" valid a year; an empty subject, a critical
//   SAN that is a URI holding the token's `sub` claim (whatever it looks like; never an email
//   SAN); the token's `iss` in both issuer extensions, 1.3.6.1.4.1.57264.1.1 (raw bytes) and
//   .1.8 (DER UTF8String); key usage digitalSignature, EKU codeSigning; an embedded SCT from the
//   mock CT log; the same serial number (0x11182004) every time.
// - Rekor: a random logIndex, a SET over the entry, and an inclusion proof as if the entry were
//   alone in a tree of size 1 (proof logIndex 0, a checkpoint "127.0.0.1:PORT - TREE_ID" with a
//   random tree id, signed with the log key).
// - TSA: a response signed by "CN=tsa signing" (issued by the root "CN=tsa", same key),
//   without certificates unless asked for; its time in whole seconds (see the TSA route).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const { parseArgs } = require('util');
// @sigstore/mock's own ASN.1 and PKI libraries (its dependencies), to read DER TSA requests.
const asn1js = require('asn1js');
const pkijs = require('pkijs');
const {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
} = require('@sigstore/mock');
const {
  HashAlgorithm,
  PublicKeyDetails,
  ServiceSelector,
  SigningConfig,
  TrustedRoot,
} = require('@sigstore/protobuf-specs');

const OPERATOR = 'sigstore.mock';
const sha256 = (data) => crypto.createHash('sha256').update(data).digest();

// PEM as Go's encoding/pem writes it (64-column lines, final newline), which is what the real
// Fulcio returns and the real Rekor stores; @sigstore/mock writes one unbroken line.
const toPEM = (type, der) =>
  `-----BEGIN ${type}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${type}-----\n`;

// A key given as PEM (a certificate or a public key): the parsed key, and its PEM as Rekor's
// `CanonicalValue` re-encodes it.
function parseKeyPEM(pem) {
  if (pem.includes('-----BEGIN CERTIFICATE-----')) {
    const cert = new crypto.X509Certificate(pem);
    return { key: cert.publicKey, canonical: toPEM('CERTIFICATE', cert.raw) };
  }
  const key = crypto.createPublicKey(pem);
  return { key, canonical: toPEM('PUBLIC KEY', key.export({ type: 'spki', format: 'der' })) };
}

// Rekor decodes base64 strictly (standard alphabet, padded).
function b64(text, what) {
  if (
    typeof text !== 'string' ||
    !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)
  ) {
    throw new Error(`${what} is not base64`);
  }
  return Buffer.from(text, 'base64');
}

// ECDSA verification of a signature over a digest the caller computed (what Rekor does for
// hashedrekord entries); Node's crypto only verifies over a message it hashes itself.
const CURVES = {
  prime256v1: {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  },
  secp384r1: {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
  },
};

function verifyEcdsaDigest(key, digest, signature) {
  const curve = CURVES[key.asymmetricKeyDetails && key.asymmetricKeyDetails.namedCurve];
  if (key.asymmetricKeyType !== 'ec' || !curve) {
    throw new Error(
      'the mock Rekor checks hashedrekord signatures of ECDSA P-256 and P-384 keys only',
    );
  }
  const { p, n } = curve;
  const mod = (a, m) => ((a % m) + m) % m;
  const inverse = (a, m) => {
    let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
    }
    return mod(s0, m);
  };
  // Affine points on y^2 = x^3 - 3x + b; null is the point at infinity.
  const add = (P, Q) => {
    if (!P) return Q;
    if (!Q) return P;
    let l;
    if (P[0] === Q[0]) {
      if (mod(P[1] + Q[1], p) === 0n) return null;
      l = mod((3n * P[0] * P[0] - 3n) * inverse(2n * P[1], p), p);
    } else {
      l = mod((Q[1] - P[1]) * inverse(Q[0] - P[0], p), p);
    }
    const x = mod(l * l - P[0] - Q[0], p);
    return [x, mod(l * (P[0] - x) - P[1], p)];
  };
  const multiply = (k, P) => {
    let R = null;
    for (; k > 0n; k >>= 1n, P = add(P, P)) if (k & 1n) R = add(R, P);
    return R;
  };
  // The DER signature, SEQUENCE { INTEGER r, INTEGER s } (short lengths only: P-256, P-384).
  const int = (at) => {
    if (signature[at] !== 0x02) throw new Error('the signature is not DER ECDSA');
    const length = signature[at + 1];
    return [
      BigInt(`0x${signature.subarray(at + 2, at + 2 + length).toString('hex') || '0'}`),
      at + 2 + length,
    ];
  };
  if (signature[0] !== 0x30 || signature[1] !== signature.length - 2) return false;
  const [r, next] = int(2);
  const [s, end] = int(next);
  if (end !== signature.length || r <= 0n || r >= n || s <= 0n || s >= n) return false;
  // e: the digest's leftmost bits, as many as the order has.
  const bits = n.toString(2).length;
  let e = BigInt(`0x${digest.toString('hex')}`);
  if (digest.length * 8 > bits) e >>= BigInt(digest.length * 8 - bits);
  const jwk = key.export({ format: 'jwk' });
  const point = (v) => BigInt(`0x${Buffer.from(v, 'base64url').toString('hex')}`);
  const w = inverse(s, n);
  const X = add(
    multiply(mod(e * w, n), [curve.gx, curve.gy]),
    multiply(mod(r * w, n), [point(jwk.x), point(jwk.y)]),
  );
  return X !== null && mod(X[0], n) === r;
}

// DSSE's pre-authentication encoding.
const pae = (type, body) =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);

// What the real Rekor v1 stores (and signs in the SET) for a proposed entry, after the checks it
// makes (rekor pkg/types/{hashedrekord,dsse}/v0.0.1/entry.go, Canonicalize): hashedrekord keeps
// the hash, the signature and the key, re-encoded; dsse keeps no envelope, only envelopeHash
// (of the envelope text as submitted), payloadHash, and each signature with the key that
// verifies it, sorted by signature. The mock's own Rekor would store the proposal as it is.
// Throws (a 400) on what Rekor refuses.
function canonicalBody(proposed) {
  const { kind, apiVersion, spec } = proposed;
  if (kind === 'hashedrekord' && apiVersion === '0.0.1') {
    const hash = (spec.data && spec.data.hash) || {};
    const size = { sha256: 32, sha384: 48, sha512: 64 }[hash.algorithm];
    if (
      !size ||
      typeof hash.value !== 'string' ||
      !new RegExp(`^[0-9a-fA-F]{${size * 2}}$`).test(hash.value)
    ) {
      throw new Error('invalid value for hash');
    }
    const signature = b64(spec.signature && spec.signature.content, 'signature.content');
    const pem = b64(
      spec.signature && spec.signature.publicKey && spec.signature.publicKey.content,
      'publicKey.content',
    );
    const { key, canonical } = parseKeyPEM(pem.toString('utf8'));
    if (!verifyEcdsaDigest(key, Buffer.from(hash.value, 'hex'), signature)) {
      throw new Error(
        'verifying signature: invalid signature when validating ASN.1 encoded signature',
      );
    }
    return {
      apiVersion,
      kind,
      spec: {
        data: { hash: { algorithm: hash.algorithm, value: hash.value } },
        signature: {
          content: signature.toString('base64'),
          publicKey: { content: Buffer.from(canonical).toString('base64') },
        },
      },
    };
  }
  if (kind === 'dsse' && apiVersion === '0.0.1') {
    const proposal = spec.proposedContent;
    if (
      !proposal ||
      typeof proposal.envelope !== 'string' ||
      !Array.isArray(proposal.verifiers) ||
      !proposal.verifiers.length
    ) {
      throw new Error('proposedContent with envelope and verifiers is required');
    }
    const envelope = JSON.parse(proposal.envelope);
    const payload = Buffer.from(envelope.payload || '', 'base64');
    const keys = proposal.verifiers.map((v) => parseKeyPEM(b64(v, 'verifier').toString('utf8')));
    const signatures = (envelope.signatures || []).map(({ sig }) => {
      const signer = keys.find(({ key }) =>
        crypto.verify(
          key.asymmetricKeyType === 'ec' ? 'sha256' : null,
          pae(envelope.payloadType, payload),
          key,
          Buffer.from(sig, 'base64'),
        ),
      );
      if (!signer) throw new Error('all signatures must have a key that verifies it');
      return { signature: sig, verifier: Buffer.from(signer.canonical).toString('base64') };
    });
    if (!signatures.length) throw new Error('the envelope has no signature');
    signatures.sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
    return {
      apiVersion,
      kind,
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256(proposal.envelope).toString('hex') },
        payloadHash: { algorithm: 'sha256', value: sha256(payload).toString('hex') },
        signatures,
      },
    };
  }
  throw new Error(
    `the mock Rekor takes hashedrekord and dsse 0.0.1 entries, not ${kind} ${apiVersion}`,
  );
}

// The Fulcio proof of possession: the token's subject (its email if it has one, as sigstore
// clients sign), signed with the requested key.
function checkProofOfPossession(body) {
  const request = JSON.parse(body);
  const token = request.credentials.oidcIdentityToken;
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  const publicKey = request.publicKeyRequest;
  if (!publicKey) return; // a CSR carries its own proof, which the mock does not check
  const key = crypto.createPublicKey(publicKey.publicKey.content);
  const proof = Buffer.from(publicKey.proofOfPossession || '', 'base64');
  if (!crypto.verify('sha256', Buffer.from(claims.email || claims.sub || ''), key, proof)) {
    throw new Error('The signature supplied in the request could not be verified');
  }
}

async function main() {
  const { values: o } = parseArgs({
    options: { 'trusted-root': { type: 'string' }, 'signing-config': { type: 'string' } },
  });
  if (!o['trusted-root']) {
    throw new Error('usage: sigstore-mock.js --trusted-root OUT.json [--signing-config OUT.json]');
  }

  // Listen first: the log's checkpoints name the host and port it serves on.
  const routes = {};
  const server = http.createServer((req, res) => serve(routes, req, res));
  await new Promise((resolve, reject) =>
    server.once('error', reject).listen(0, '127.0.0.1', resolve),
  );
  const { address, port } = server.address();
  const base = `http://${address}:${port}`;

  const keyPair = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ctlog = await initializeCTLog(keyPair());
  const ca = await initializeCA(keyPair(), ctlog);
  const tlog = await initializeTLog(base, keyPair());
  // The TSA reads its clock through this Date, set before each request (see below).
  const tsaClock = new Date();
  const tsa = await initializeTSA(keyPair(), tsaClock);
  const fulcio = fulcioHandler(ca).fn;
  const rekor = rekorHandler(tlog).fn;
  const timestamp = tsaHandler(tsa).fn;
  const entries = new Map(); // UUID -> the {UUID: entry} Rekor returned
  const indexes = new Map(); // logIndex -> UUID

  routes['POST /api/v2/signingCert'] = async (bytes) => {
    const body = bytes.toString('utf8');
    checkProofOfPossession(body);
    const out = await fulcio(body);
    if (out.statusCode === 201) {
      const response = JSON.parse(out.response);
      const chain = response.signedCertificateEmbeddedSct.chain;
      chain.certificates = chain.certificates.map((pem) =>
        toPEM('CERTIFICATE', new crypto.X509Certificate(pem).raw),
      );
      out.response = JSON.stringify(response);
    }
    return out;
  };
  routes['POST /api/v1/log/entries'] = async (bytes) => {
    const out = await rekor(JSON.stringify(canonicalBody(JSON.parse(bytes.toString('utf8')))));
    if (out.statusCode !== 201) return out;
    // The entry's UUID, as in the real Rekor: the Merkle leaf hash of its body. The real Rekor
    // refuses a duplicate with 409 and the existing entry's location.
    const entry = Object.values(JSON.parse(out.response))[0];
    const uuid = sha256(
      Buffer.concat([Buffer.from([0]), Buffer.from(entry.body, 'base64')]),
    ).toString('hex');
    const location = `/api/v1/log/entries/${uuid}`;
    if (entries.has(uuid)) {
      const message = 'an equivalent entry already exists in the transparency log';
      return {
        statusCode: 409,
        response: JSON.stringify({ code: 409, message }),
        contentType: 'application/json',
        headers: { Location: location },
      };
    }
    const response = { [uuid]: entry };
    entries.set(uuid, response);
    indexes.set(entry.logIndex, uuid);
    return {
      ...out,
      response: JSON.stringify(response),
      headers: { Location: location, ETag: uuid },
    };
  };
  routes['GET /api/v1/log/entries'] = async (_, url) => {
    const uuid =
      url.pathname.split('/')[5] || indexes.get(Number(url.searchParams.get('logIndex')));
    const found = uuid && entries.get(uuid.slice(-64));
    return found
      ? { statusCode: 200, response: JSON.stringify(found), contentType: 'application/json' }
      : {
          statusCode: 404,
          response: JSON.stringify({ code: 404, message: 'entry not found' }),
          contentType: 'application/json',
        };
  };
  routes['GET /api/v1/log/publicKey'] = async () => ({
    statusCode: 200,
    response: toPEM('PUBLIC KEY', tlog.publicKey),
    contentType: 'application/x-pem-file',
  });
  // The TSA's genTime is in whole seconds. With milliseconds, pkijs writes the fraction as DER
  // requires, without trailing zeros (".5Z", ".89Z"), which @sigstore/core's parser refuses (it
  // takes exactly three digits): one timestamp in ten would not verify in sigstore-js.
  // Requests run one at a time, so that each reads the clock it set.
  let tsaQueue = Promise.resolve();
  // A DER request is answered by the same TSA, with the request's nonce echoed whole (the
  // mock's TSTInfo takes a JavaScript number, too small for the 128-bit nonces clients send).
  const derTimestamp = async (der) => {
    const request = pkijs.TimeStampReq.fromBER(new Uint8Array(der).buffer);
    const nonce = request.nonce ? Buffer.from(request.nonce.valueBlock.valueHexView) : null;
    const original = tsa.tstInfo.bind(tsa);
    tsa.tstInfo = (req) => {
      const info = original({ ...req, nonce: 1 });
      info.nonce = nonce ? new asn1js.Integer({ valueHex: nonce }) : undefined;
      return info;
    };
    try {
      const response = await tsa.timestamp({
        artifactHash: Buffer.from(request.messageImprint.hashedMessage.valueBlock.valueHexView),
        hashAlgorithmOID: request.messageImprint.hashAlgorithm.algorithmId,
        nonce: 1,
        policyOID: '1.3.6.1.4.1.57264.2',
        certReq: request.certReq || false,
      });
      return { statusCode: 201, response, contentType: 'application/timestamp-reply' };
    } finally {
      tsa.tstInfo = original;
    }
  };
  routes['POST /api/v1/timestamp'] = (body, _, headers) => {
    const der = (headers['content-type'] || '').startsWith('application/timestamp-query');
    const out = tsaQueue.then(() => {
      tsaClock.setTime(Math.floor(Date.now() / 1000) * 1000);
      return der ? derTimestamp(body) : timestamp(body.toString('utf8'));
    });
    tsaQueue = out.catch(() => {});
    return out;
  };

  // Every validity period starts an hour back: a log's integratedTime is in whole seconds, and
  // may fall before the moment the services started.
  const start = new Date(Date.now() - 60 * 60 * 1000);
  const logKey = (der) => ({
    rawBytes: der,
    keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
    validFor: { start },
  });
  const trustedRoot = TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: base,
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: logKey(tlog.publicKey),
        logId: { keyId: sha256(tlog.publicKey) },
        operator: OPERATOR,
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: base,
        certChain: { certificates: [{ rawBytes: ca.rootCertificate }] },
        validFor: { start },
        operator: OPERATOR,
      },
    ],
    // The CT log has no API here; its SCTs come embedded in Fulcio's certificates.
    ctlogs: [
      {
        baseUrl: base,
        hashAlgorithm: HashAlgorithm.SHA2_256,
        publicKey: logKey(ctlog.publicKey),
        logId: { keyId: ctlog.logID },
        operator: OPERATOR,
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'tsa' },
        uri: `${base}/api/v1/timestamp`,
        certChain: {
          certificates: [{ rawBytes: tsa.intCertificate }, { rawBytes: tsa.rootCertificate }],
        },
        validFor: { start },
        operator: OPERATOR,
      },
    ],
  });
  fs.writeFileSync(o['trusted-root'], `${JSON.stringify(trustedRoot, null, 2)}\n`);
  if (o['signing-config']) {
    const service = (url) => ({ url, majorApiVersion: 1, validFor: { start }, operator: OPERATOR });
    const config = SigningConfig.toJSON({
      mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
      caUrls: [service(base)],
      oidcUrls: [],
      rekorTlogUrls: [service(base)],
      rekorTlogConfig: { selector: ServiceSelector.ANY, count: 0 },
      tsaUrls: [service(`${base}/api/v1/timestamp`)],
      tsaConfig: { selector: ServiceSelector.ANY, count: 0 },
    });
    fs.writeFileSync(o['signing-config'], `${JSON.stringify(config, null, 2)}\n`);
  }

  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`listening on ${address}:${port}`);
}

// One request: routed by method and path (GET of entries by prefix), the body read whole; a
// handler's exception is a 400 with its message, as the mock's own handlers answer.
function serve(routes, req, res) {
  const url = new URL(req.url, 'http://localhost');
  const path =
    url.pathname.startsWith('/api/v1/log/entries/') && req.method === 'GET'
      ? '/api/v1/log/entries'
      : url.pathname;
  const route = routes[`${req.method} ${path}`];
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    let out;
    if (!route) {
      out = { statusCode: 404, response: `no route for ${req.method} ${url.pathname}` };
    } else {
      try {
        out = await route(Buffer.concat(chunks), url, req.headers);
      } catch (e) {
        out = { statusCode: 400, response: e.message };
      }
    }
    res.writeHead(out.statusCode, {
      'Content-Type': out.contentType || 'text/plain',
      ...out.headers,
    });
    res.end(out.response);
  });
}

main().catch((e) => {
  console.error(`sigstore-mock: ${e.message}`);
  process.exit(1);
});
